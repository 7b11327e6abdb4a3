// Package store is the lease store of the home agent service: which home
// address (HoA) belongs to which authenticated identity, which home agent
// (member) serves it, and which home agents are alive.
//
// # The contract
//
// Store (Leases + Members) is consumed by the home agent runtime; two
// backends implement it and one conformance suite (storetest) holds both
// to the same behaviour:
//
//   - boltstore: embedded, the default. One bbolt file in the data
//     directory; leases and revisions survive restarts; members are kept
//     in memory (a single home agent has only itself). No setup.
//   - etcdstore: several home agents sharing one etcd cluster
//     (go.etcd.io/etcd/client/v3). Members are published under etcd
//     leases and disappear when their keep-alive stops.
//
// Choose boltstore for one home agent, etcdstore as soon as there are two:
// only etcd lets home agents see each other's leases and memberships,
// which make-before-break moves, placement and takeover need. The embedded
// file cannot be shared between processes.
//
// # Leases
//
// A Lease maps a HoA to an Identity, an Owner (the member ID of the home
// agent serving it) and a State:
//
//	          Acquire                MarkMoving(to)
//	(none) ----------> bound <------------------------> moving
//	                   |  ^   CancelMove / Transfer(to)   |
//	           Release |  |                               | Release
//	                   v  | Acquire (same identity,       v
//	                released   or a reclaim by another) released
//
// Takeover moves a bound or moving lease to a new owner once the old
// owner is no longer a member. Acquire is sticky: an identity gets its
// previous address back, from any member, as long as no other identity
// reclaimed it; the identity index holds one lease per identity and
// address family (IPv6 home addresses, and IPv4 home addresses from a
// pool). The rules are documented on Leases.Acquire.
//
// # Consistency
//
// Every write of a lease record gets a new Revision, larger than every
// earlier one of that store (etcd: the key's ModRevision; boltstore: a
// counter persisted with the records). Transitions are compare-and-swap
// operations on the Revision the caller read: a transition succeeds only
// if nobody wrote the record since, else it fails with ErrConflict and
// the *LeaseError carries the current record. Hence the invariant: no
// home address is ever owned by two members — every change of Owner is
// a CAS, and two callers that read the same Revision cannot both win.
// Allocation is race-free across clients: a new address is created with
// an atomic "create only if absent" (etcd: a Txn requiring ModRevision 0,
// i.e. no key yet, for the address's lease key; boltstore: the single
// writer's transaction).
//
// Takeover checks that the owner's membership has lapsed in the same
// atomic step that writes the new owner (etcd: a Txn comparing the
// member key's CreateRevision with 0). A home agent whose own membership
// ended (Membership.Done) must stop serving: others may take its leases.
//
// Reads (Lease, IdentityLease, List) are linearizable in both backends.
// Watches (WatchLeases, WatchMembers) start from a snapshot (Current) and
// deliver every later change in order, without gaps; a watcher that falls
// behind is dropped with ErrWatchLagged and watches again.
//
// Move deadlines are compared with the store's clock: the writing member's
// clock for etcd, the process clock for boltstore. Members' clocks must
// agree to well under the move grace period.
//
// # Errors
//
// Errors wrap one sentinel (ErrNotFound, ErrConflict, ErrState,
// ErrOwnedElsewhere, ErrOwnerAlive, ErrPoolExhausted, ErrAddressInUse,
// ErrInvalid, ErrCorrupt, ErrWatchLagged, ErrClosed, ErrUnavailable; see
// Sentinel) or the context's error. The runtime maps them to the wire:
// ErrPoolExhausted to INTERNAL_ADDRESS_FAILURE (RFC 7296 §3.15.4),
// ErrOwnedElsewhere to a redirect at IKE_AUTH (RFC 5685 §6) or a
// transfer, a lost CAS to a new decision on the current record, and
// ErrUnavailable (the outcome of a write unknown) to a read before any
// retry.
//
// # Tracing
//
// storetrace.Wrap adds an OpenTelemetry span to every call and carries a
// move's trace context through the lease record (Lease.TraceContext).
package store
