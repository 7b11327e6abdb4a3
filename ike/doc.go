// Package ike implements IKEv2 (RFC 7296) with the redirect mechanism
// (RFC 5685) as sans-I/O state machines for the initiator and the responder.
//
// The package does no I/O: callers feed received datagrams and timer ticks,
// and carry out the datagrams, CHILD_SA installations and events it returns.
package ike
