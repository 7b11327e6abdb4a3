// Package ike implements IKEv2 (RFC 7296) with the redirect mechanism
// (RFC 5685) as sans-I/O state machines for the initiator and the responder.
//
// The package does no I/O, starts no goroutines, reads no clock and keeps no
// global mutable state: callers feed received datagrams, timer ticks and
// commands, each with the current time, and carry out the datagrams,
// CHILD_SA operations and events it returns. Randomness comes from
// Config.Rand, so a test replays a transcript exactly. The wire codec is
// ike/wire, the cryptography ike/ikecrypto.
//
// # Objects
//
// An SA is one IKE SA with its CHILD_SAs, seen from one side. It is not safe
// for concurrent use: one goroutine (a runtime shard) owns it. An initiator
// SA comes from NewInitiator and starts with Initiate; a responder SA comes
// from a Responder, the responder's first-packet path, which is safe for
// concurrent use: it parses a first IKE_SA_INIT request, asks the Redirector
// (RFC 5685) before any cookie or D-H group check, answers COOKIE,
// INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN, UNSUPPORTED_CRITICAL_PAYLOAD and
// INVALID_MAJOR_VERSION statelessly, and creates the SA when the request is
// acceptable.
//
// # Driving an SA
//
// Inputs:
//
//	sa.Receive(now, datagram)   a datagram routed to the SA
//	sa.Tick(now)                at or after Ready().Deadline
//	commands                    Initiate, CreateChild, RekeyIKE, RekeyChild, Delete,
//	                            DeleteChild, CheckLiveness, Redirect, UpdatePeer, Close
//
// Output: after any input, if sa.HasReady(), take r := sa.Ready(), then
//
//  1. apply r.ChildOps in order (install the inbound SA before the response
//     that completes a CHILD_SA goes out; a rekey swaps the outbound SA);
//  2. handle r.Events (routing changes first: IKERekeyed adds a local SPI,
//     IKERetired removes one, IKEDown removes the SA);
//  3. send r.Datagrams (with the non-ESP marker when Datagram.NATT is set)
//     and the NAT r.Keepalives;
//  4. arm a timer for r.Deadline;
//
// and call sa.Advance(). Everything in a Ready belongs to the caller.
//
// # Key material
//
// An SA wipes the secrets it holds once nothing can need them: a D-H
// private key when its exchange is answered or given up, SKEYSEED and g^ir
// once the keys are derived, the keys of an IKE SA when it is retired after
// a rekey or the SA ends (no message is then received, retransmitted or
// answered from the cache on it), the KEYMAT of a CHILD_SA when it is
// removed. The keys in a ChildOp are a copy made for the runtime: it wipes
// them with ChildSA.ZeroKeys once the dataplane holds its own. Cipher state
// inside the standard library cannot be wiped (see ike/ikecrypto).
//
// # Routing
//
// The runtime routes a received IKE message by LocalSPI(msg): our SPI of the
// pair, SPIr when the I flag is set, SPIi otherwise. SA.LocalSPI gives it
// for a new SA; IKERekeyed and IKERetired report changes. A first
// IKE_SA_INIT request (LocalSPI 0) goes to the Responder, except that a
// retransmission of the request that created a half-open SA goes to that SA,
// found by SA.InitKey (SPIi and peer address): the SA answers it from its
// cache (RFC 7296 §2.1). On the NAT-T port the runtime strips the non-ESP
// marker and sets Datagram.NATT; the SA decides when to move there (after
// NAT detection, RFC 7296 §2.23) and says so on each Datagram.
//
// # Hooks
//
// Callers implement Credentials (identity, keys and the PAD),
// AddressAssigner (CP: INTERNAL_IP6_ADDRESS, INTERNAL_IP4_ADDRESS, DNS,
// MIP6_HOME_PREFIX), TSPolicy (traffic selector narrowing), Redirector (RFC
// 5685 decisions at IKE_SA_INIT and IKE_AUTH) and SPIAllocator. Hooks are
// called from the goroutine driving the SA (the Redirector's AtInit from
// Responder.Handle's).
//
// The design, the event list and the integration rules are in
// docs/ike.md.
package ike
