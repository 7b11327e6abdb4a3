// Package leaseop holds the lease transition rules shared by every backend
// of the store contract: what each operation requires of the record it
// read and what it writes. A backend reads the record, calls the rule, and
// writes the result with a compare-and-swap on the revision it read.
package leaseop

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

// Operation names, as they appear in store.LeaseError.Op.
const (
	OpAcquire       = "acquire"
	OpLease         = "lease"
	OpRelease       = "release"
	OpMarkMoving    = "mark-moving"
	OpCancelMove    = "cancel-move"
	OpTransfer      = "transfer"
	OpTakeover      = "takeover"
	OpSetAttributes = "set-attributes"
)

// check fails with ErrConflict when cur is not at expected, and with
// ErrNotFound when there is no record.
func check(op string, hoa netip.Addr, cur store.Lease, expected store.Revision) error {
	if !cur.HoA.IsValid() {
		return store.Errorf(op, hoa, cur, store.ErrNotFound, "no lease")
	}
	if cur.Revision != expected {
		return store.Errorf(op, hoa, cur, store.ErrConflict, "record is at revision %d, caller read %d", cur.Revision, expected)
	}
	return nil
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

func cloneAttributes(a store.Attributes) store.Attributes {
	return store.Attributes{CareOf: a.CareOf, TicketHash: cloneBytes(a.TicketHash)}
}

// clearMove returns l without move fields (bound or released).
func clearMove(l store.Lease) store.Lease {
	l.MovingTo = ""
	l.Deadline = time.Time{}
	l.TicketHash = nil
	return l
}

// New returns a fresh bound lease of hoa for the request.
func New(req store.AcquireRequest, hoa netip.Addr, now time.Time) store.Lease {
	return store.Lease{
		HoA: hoa, Identity: req.Identity, Owner: req.Owner, State: store.StateBound,
		Attributes: cloneAttributes(req.Attributes), CreatedAt: now, UpdatedAt: now,
	}
}

// Bind returns the released lease cur bound again, to the request's
// identity and owner. When the identity differs (a reclaimed address) the
// lease starts afresh.
func Bind(cur store.Lease, req store.AcquireRequest, now time.Time) store.Lease {
	if cur.Identity != req.Identity {
		return New(req, cur.HoA, now)
	}
	l := clearMove(cur)
	l.Owner, l.State, l.UpdatedAt = req.Owner, store.StateBound, now
	l.Attributes = cloneAttributes(req.Attributes)
	return l
}

// Validate checks an AcquireRequest.
func Validate(req store.AcquireRequest) error {
	if req.Identity == "" || req.Owner == "" {
		return store.Errorf(OpAcquire, req.Suggested, store.Lease{}, store.ErrInvalid, "identity and owner are required")
	}
	if len(req.Identity) > store.MaxIdentityLen {
		return store.Errorf(OpAcquire, req.Suggested, store.Lease{}, store.ErrInvalid, "identity of %d octets, at most %d", len(req.Identity), store.MaxIdentityLen)
	}
	if err := req.Pool.Validate(); err != nil {
		return store.Errorf(OpAcquire, req.Suggested, store.Lease{}, store.ErrInvalid, "%v", err)
	}
	if req.RequireSuggested && !req.Pool.Contains(req.Suggested) {
		return store.Errorf(OpAcquire, req.Suggested, store.Lease{}, store.ErrInvalid, "required address %v is not in pool %v", req.Suggested, req.Pool)
	}
	return nil
}

// Step is what Acquire does after looking at the identity's lease and at
// the suggested address.
type Step uint8

// Acquire steps.
const (
	// Keep: return the identity's lease unchanged.
	Keep Step = iota + 1
	// BindExisting: bind the identity's released lease to the owner.
	BindExisting
	// TakeSuggested: create the lease of the suggested address (no record)
	// or reclaim it (released record).
	TakeSuggested
	// Allocate: pick a free address of the pool.
	Allocate
)

// PlanAcquire decides the first steps of Acquire (store.Leases.Acquire
// documents the rules). mine is the identity's lease in the pool's family
// (HoA invalid when none; a backend passes none when its index entry is
// stale, i.e. the lease it names belongs to another identity); suggested
// is the record of req.Suggested (HoA invalid when there is none or when
// req.Suggested is not in the pool).
func PlanAcquire(req store.AcquireRequest, mine, suggested store.Lease) (Step, error) {
	if mine.HoA.IsValid() {
		if req.RequireSuggested && mine.HoA != req.Suggested {
			return 0, store.Errorf(OpAcquire, req.Suggested, mine, store.ErrState, "identity %q holds %v in this family", req.Identity, mine.HoA)
		}
		switch {
		case mine.State == store.StateReleased:
			return BindExisting, nil
		case mine.Owner == req.Owner:
			return Keep, nil
		case mine.State == store.StateMoving:
			return 0, store.Errorf(OpAcquire, mine.HoA, mine, store.ErrOwnedElsewhere, "moving from %q to %q", mine.Owner, mine.MovingTo)
		default:
			return 0, store.Errorf(OpAcquire, mine.HoA, mine, store.ErrOwnedElsewhere, "bound at %q", mine.Owner)
		}
	}
	if req.Pool.Contains(req.Suggested) {
		if !suggested.HoA.IsValid() || suggested.State == store.StateReleased {
			return TakeSuggested, nil
		}
		if req.RequireSuggested {
			return 0, store.Errorf(OpAcquire, req.Suggested, suggested, store.ErrAddressInUse, "leased to another identity")
		}
	}
	return Allocate, nil
}

// Exhausted is the error of an Acquire that found no free address.
func Exhausted(req store.AcquireRequest) error {
	return store.Errorf(OpAcquire, netip.Addr{}, store.Lease{}, store.ErrPoolExhausted, "no free address in %v for %q", req.Pool, req.Identity)
}

// Release applies Release to cur.
func Release(cur store.Lease, hoa netip.Addr, expected store.Revision, now time.Time) (store.Lease, error) {
	if err := check(OpRelease, hoa, cur, expected); err != nil {
		return cur, err
	}
	if !cur.Served() {
		return cur, store.Errorf(OpRelease, hoa, cur, store.ErrState, "lease is %s", cur.State)
	}
	l := clearMove(cur)
	l.Owner, l.State, l.UpdatedAt = "", store.StateReleased, now
	return l, nil
}

// MarkMoving applies MarkMoving to cur.
func MarkMoving(cur store.Lease, hoa netip.Addr, expected store.Revision, m store.Move, now time.Time) (store.Lease, error) {
	if m.From == "" || m.To == "" || m.From == m.To || m.Deadline.IsZero() {
		return cur, store.Errorf(OpMarkMoving, hoa, cur, store.ErrInvalid, "a move needs distinct From and To and a deadline")
	}
	if err := check(OpMarkMoving, hoa, cur, expected); err != nil {
		return cur, err
	}
	if !cur.Served() || cur.Owner != m.From {
		return cur, store.Errorf(OpMarkMoving, hoa, cur, store.ErrState, "lease is %s at %q, not served by %q", cur.State, cur.Owner, m.From)
	}
	l := cur
	l.State, l.MovingTo, l.Deadline = store.StateMoving, m.To, m.Deadline
	l.TraceContext, l.TicketHash, l.UpdatedAt = m.TraceContext, cloneBytes(m.TicketHash), now
	return l, nil
}

// CancelMove applies CancelMove to cur.
func CancelMove(cur store.Lease, hoa netip.Addr, expected store.Revision, now time.Time) (store.Lease, error) {
	if err := check(OpCancelMove, hoa, cur, expected); err != nil {
		return cur, err
	}
	if cur.State != store.StateMoving {
		return cur, store.Errorf(OpCancelMove, hoa, cur, store.ErrState, "lease is %s", cur.State)
	}
	l := clearMove(cur)
	l.State, l.UpdatedAt = store.StateBound, now
	return l, nil
}

// Transfer applies Transfer to cur.
func Transfer(cur store.Lease, hoa netip.Addr, expected store.Revision, to string, now time.Time) (store.Lease, error) {
	if to == "" {
		return cur, store.Errorf(OpTransfer, hoa, cur, store.ErrInvalid, "no member to transfer to")
	}
	if err := check(OpTransfer, hoa, cur, expected); err != nil {
		return cur, err
	}
	if cur.State != store.StateMoving || cur.MovingTo != to {
		return cur, store.Errorf(OpTransfer, hoa, cur, store.ErrState, "lease is %s (to %q), not moving to %q", cur.State, cur.MovingTo, to)
	}
	if now.After(cur.Deadline) {
		return cur, store.Errorf(OpTransfer, hoa, cur, store.ErrState, "move deadline %s passed", cur.Deadline.Format(time.RFC3339Nano))
	}
	l := clearMove(cur)
	l.Owner, l.State, l.UpdatedAt = to, store.StateBound, now
	return l, nil
}

// Takeover applies Takeover to cur; ownerAlive says whether cur's owner is
// a member now.
func Takeover(cur store.Lease, hoa netip.Addr, expected store.Revision, owner string, ownerAlive bool, now time.Time) (store.Lease, error) {
	if owner == "" {
		return cur, store.Errorf(OpTakeover, hoa, cur, store.ErrInvalid, "no member to take over")
	}
	if err := check(OpTakeover, hoa, cur, expected); err != nil {
		return cur, err
	}
	if !cur.Served() || cur.Owner == owner {
		return cur, store.Errorf(OpTakeover, hoa, cur, store.ErrState, "lease is %s at %q", cur.State, cur.Owner)
	}
	if ownerAlive {
		return cur, store.Errorf(OpTakeover, hoa, cur, store.ErrOwnerAlive, "%q is a live member", cur.Owner)
	}
	l := clearMove(cur)
	l.Owner, l.State, l.UpdatedAt = owner, store.StateBound, now
	return l, nil
}

// SetAttributes applies SetAttributes to cur.
func SetAttributes(cur store.Lease, hoa netip.Addr, expected store.Revision, a store.Attributes, now time.Time) (store.Lease, error) {
	if err := check(OpSetAttributes, hoa, cur, expected); err != nil {
		return cur, err
	}
	l := cur
	l.Attributes, l.UpdatedAt = cloneAttributes(a), now
	return l, nil
}

// Reclaimable reports whether l may be given to another identity, and
// Older orders reclaim candidates: the least recently released first.
func Reclaimable(l store.Lease) bool { return l.State == store.StateReleased }

// Older reports whether a was released before b (ties: lower address).
func Older(a, b store.Lease) bool {
	if !a.UpdatedAt.Equal(b.UpdatedAt) {
		return a.UpdatedAt.Before(b.UpdatedAt)
	}
	return a.HoA.Less(b.HoA)
}
