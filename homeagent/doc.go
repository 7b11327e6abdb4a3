// Package homeagent is the home agent service: the IKE runtime that owns
// sockets, goroutines and timers and drives the ike state machines (Runtime,
// shared with the mobile node client), and the home agent built on it
// (Service): home addresses leased from the store (LeasePool), Binding
// Updates inside the tunnel answered with the mip6 binding cache, home
// addresses defended on the home link (homelink), the admin API backend and
// telemetry.
//
// # The home agent
//
//	svc, err := homeagent.NewService(cfg, homeagent.ServiceOptions{Telemetry: tel})
//	err = svc.Run(ctx) // until ctx ends, then a graceful shutdown
//
// docs/architecture.md draws the flows; docs/operations.md is the
// operator's view.
//
// # The cluster
//
// With the etcd store, several Services form one cluster (docs/cluster.md).
// Each publishes its member record (addresses, site, capacity, live load,
// health, draining) and follows the others' through the store's watch into
// its placement view (package policy), on which the Redirector, explain,
// re-evaluation of bindings, moves and drains decide. A move of a node to
// another member is make-before-break: the lease is marked moving, the
// node is told (a Home Agent Switch with a HandoverOption, or an
// INFORMATIONAL REDIRECT for a VPN-only peer), the new member transfers the
// lease by compare-and-swap when the node arrives and defends the address
// when it accepts its Binding Update, and the old member sees the lease
// change in its lease watch. A member whose record lapsed loses its leases
// to the members its nodes return to (takeover).
//
// # The IKE runtime
//
// Runtime drives IKE SAs (package ike, sans-I/O) over the user-space
// dataplane (homeagent/dataplane: UDP 500/4500, ESP in UDP, TUN). It serves
// as the responder of a home agent and initiates IKE SAs for the mobile node
// client (test/mnclient), both through one API:
//
//	rt, err := homeagent.New(cfg, homeagent.Options{Logger: log})
//	go rt.Run(ctx)                       // until ctx ends: then deletes every SA
//	id, err := rt.Initiate(ctx, homeagent.Peer{Remote: ha, Request: ike.CPRequest{IPv6: true}})
//	err = rt.RekeyChild(ctx, id, 0)      // RekeyIKE, Delete, DeleteChild, CheckLiveness, SAs, Stats
//
// Config holds the runtime's settings (each field names the key of
// package homeagent/config that sets it); Options the wiring (logger,
// device, address pool, credentials, an event Observer, the Mobility Header
// intercept, tracer and metrics).
//
// # Shards
//
// IKE SAs live in shards: one goroutine each, which owns its SAs without
// locks. Every local IKE SPI carries its shard (SPI mod number of shards,
// chosen by the shard's ike.SPIAllocator), so the socket goroutines hand a
// received message to its shard by its SPI alone; a first IKE_SA_INIT
// request (our SPI still zero) goes to the shard of a hash of the
// initiator's SPI, which also receives its retransmissions and its retry
// with a COOKIE. Each shard has its own ike.Responder (the first-packet
// path), so the SAs it creates, and the IKE SAs they rekey into, keep SPIs
// of the shard; the shards' half-open counts are summed for the COOKIE
// threshold, and a shard whose inbox is half full demands COOKIEs too.
// Inboxes are bounded: a full one drops the message and counts it. Each
// shard arms one timer, for the earliest deadline of its SAs. Commands
// (Initiate, rekeys, deletes, the dataplane's sequence-number rekey
// requests, INITIAL_CONTACT closes from other shards) reach a shard through
// a mailbox that never blocks and never drops.
//
// After every input the shard carries out the SA's ike.Ready in the order
// the engine prescribes: CHILD_SA operations first (each half becomes a
// dataplane.SA; an outbound SA also routes its remote selectors into the
// TUN device), then events (routing of new and retired SPIs, addresses given
// back to the AddressPool, log lines, the Observer), then the datagrams,
// written in one batch per wake-up.
//
// # Redirect
//
// RFC 5685 comes in through Options.Redirect (RedirectOptions, which the
// Service fills in from ike.redirect.* and cluster.*): a Redirector on the
// placement policy of a ClusterView, asked by the engine at IKE_SA_INIT and
// IKE_AUTH; anycast addresses; the grace period; handover tickets.
// A first IKE_SA_INIT request that is redirected needs no SA, so the
// socket goroutine that read it answers it at once (ike.Responder.Redirect),
// the batch's answers in one write; the others go to their shard, as above.
// Runtime.Redirect redirects an established SA. docs/redirect.md.
//
// # Shutdown
//
// When Run's context ends, every shard deletes its established IKE SAs
// (telling the peers), closes the others, and waits up to
// Config.ShutdownTimeout for the answers before closing what is left; then
// the dataplane stops, which closes the sockets and the TUN device. Run
// returns after every goroutine it started has ended.
package homeagent
