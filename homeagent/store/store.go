package store

import (
	"context"
	"net/netip"
	"time"
)

// Store is the lease store contract. The home agent runtime consumes it
// (it is declared here, beside its backends, only because the runtime's
// own package is younger than this one); boltstore and etcdstore implement
// it, and storetest.Run holds both to the same behaviour.
//
// Every method is safe for concurrent use, honours its context, and
// returns errors that wrap the sentinels of this package.
type Store interface {
	Leases
	Members
	// Close releases the store. Watches end with ErrClosed; memberships
	// stop being kept alive (they lapse after their TTL, they are not
	// withdrawn: call Leave first on an orderly shutdown).
	Close() error
}

// Leases is the lease half of the contract.
//
// Every change of a lease record gets a new Revision. The transitions
// (Release, MarkMoving, CancelMove, Transfer, Takeover, SetAttributes) are
// compare-and-swap operations: they take the Revision the caller read and
// fail with ErrConflict if the record changed since, so no home address is
// ever owned by two members. Each returns the record as written. Errors
// are checked in this order: a malformed request (ErrInvalid), no record
// (ErrNotFound), a stale revision (ErrConflict), then the state rules
// (ErrState, ErrOwnerAlive).
type Leases interface {
	// Acquire returns the lease of req.Identity in req.Pool's family,
	// owned by req.Owner, creating or binding it as needed:
	//
	//  1. An identity's existing lease wins (stickiness): when released it
	//     is bound again to req.Owner; when already served by req.Owner it
	//     is returned unchanged; when served by another member (or moving
	//     to another), Acquire fails with ErrOwnedElsewhere and the
	//     *LeaseError carries the lease. With RequireSuggested, a lease for
	//     another address fails with ErrState.
	//  2. Else a Suggested address inside the pool is honoured when it is
	//     free or released (a released address of another identity is
	//     reclaimed). When another identity's lease serves it, Acquire
	//     fails with ErrAddressInUse if RequireSuggested is set, and falls
	//     through to 3 otherwise.
	//  3. Else a free address of the pool: never-leased addresses first
	//     (the embedded store takes the lowest; etcd one of the lowest, to
	//     spread concurrent allocators), then the least recently released
	//     one. None left: ErrPoolExhausted.
	//
	// Allocation is race-free: concurrent Acquires, from one client or
	// many, never hand out one address twice. A backend that keeps losing
	// allocation races (etcd under heavy contention) gives up with
	// ErrConflict; the caller may try again.
	Acquire(ctx context.Context, req AcquireRequest) (Lease, error)

	// Lease returns the lease of hoa, or ErrNotFound.
	Lease(ctx context.Context, hoa netip.Addr) (Lease, error)
	// IdentityLease returns identity's lease of family f (the identity
	// index holds one per identity and family), or ErrNotFound.
	IdentityLease(ctx context.Context, identity string, f Family) (Lease, error)
	// List returns the leases that match f, ordered by address (IPv4
	// before IPv6).
	List(ctx context.Context, f Filter) ([]Lease, error)

	// Release ends service of the lease: state released, no owner. The
	// address stays reserved for the identity until another needs it.
	// Allowed from bound or moving.
	Release(ctx context.Context, hoa netip.Addr, expected Revision) (Lease, error)
	// MarkMoving records that m.From (the owner) hands the lease to m.To
	// before m.Deadline, with the move's trace context and ticket hash.
	// Allowed from bound, or from moving to re-target a move.
	MarkMoving(ctx context.Context, hoa netip.Addr, expected Revision, m Move) (Lease, error)
	// CancelMove returns a moving lease to bound at its owner (the move
	// lapsed or was called off).
	CancelMove(ctx context.Context, hoa netip.Addr, expected Revision) (Lease, error)
	// Transfer makes to the owner of a lease that is moving to it, before
	// the deadline: bound at to, the move's trace context kept, its ticket
	// hash cleared. The deadline is compared with the clock of the process
	// that calls Transfer (the backend's Now option, default time.Now), not
	// a clock of the store: the members' clocks must agree to well within
	// a move's grace period.
	Transfer(ctx context.Context, hoa netip.Addr, expected Revision, to string) (Lease, error)
	// Takeover makes owner the owner of a bound or moving lease whose
	// owner is no longer a member (its membership lapsed or left). It
	// fails with ErrOwnerAlive while the owner is a member. The check and
	// the write are one atomic step.
	Takeover(ctx context.Context, hoa netip.Addr, expected Revision, owner string) (Lease, error)
	// SetAttributes replaces the lease's attributes (care-of address,
	// ticket hash) without changing its owner or state.
	SetAttributes(ctx context.Context, hoa netip.Addr, expected Revision, a Attributes) (Lease, error)

	// WatchLeases returns every lease and then every change, in revision
	// order, until ctx ends. The old home agent of a move watches for
	// its leases changing owner.
	WatchLeases(ctx context.Context) (*Watch[Lease], error)
}

// Members is the membership half of the contract.
type Members interface {
	// Join publishes m and keeps it alive with the given TTL until Leave,
	// until ctx ends, or until the store closes. Backends round the TTL up
	// to their granularity (etcd: whole seconds). Joining again with the
	// same ID replaces the record.
	Join(ctx context.Context, m Member, ttl time.Duration) (Membership, error)
	// Member returns the live member id, or ErrNotFound.
	Member(ctx context.Context, id string) (Member, error)
	// MemberList returns the live members, ordered by ID.
	MemberList(ctx context.Context) ([]Member, error)
	// WatchMembers returns the live members and then every change: a join
	// or update is an event, a lapse or leave is a Deleted event.
	WatchMembers(ctx context.Context) (*Watch[Member], error)
}
