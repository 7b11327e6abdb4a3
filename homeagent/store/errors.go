package store

import (
	"errors"
	"fmt"
	"net/netip"
)

// Sentinel errors. Every error a Store returns wraps exactly one of them
// (test with errors.Is, or ask Sentinel), often inside a *LeaseError that
// carries the record as the store saw it; or it is the context's error
// when the call's context ended before the call was made.
var (
	// ErrNotFound: no lease for the address or identity, no such member.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: the compare-and-swap lost; the record changed since the
	// caller read it (its Revision differs from the expected one). Read the
	// record again (LeaseError.Lease holds the current one) and decide anew.
	ErrConflict = errors.New("store: revision conflict")
	// ErrState: the record is at the expected revision but its state or
	// owner does not allow the transition (for example Transfer of a lease
	// that is not moving to the caller, or a move whose deadline passed).
	ErrState = errors.New("store: transition not allowed in this state")
	// ErrOwnedElsewhere: Acquire found the identity's lease bound at (or
	// moving to) another member. The runtime redirects the node there,
	// transfers the lease (Transfer, when it is moving to this member) or
	// takes it over (Takeover, when the owner's membership expired).
	ErrOwnedElsewhere = errors.New("store: lease owned by another member")
	// ErrOwnerAlive: Takeover refused because the lease's owner is still a
	// live member.
	ErrOwnerAlive = errors.New("store: owner is a live member")
	// ErrPoolExhausted: no free address is left in the pool. The runtime
	// answers INTERNAL_ADDRESS_FAILURE (RFC 7296 §3.15.4, notify 36).
	ErrPoolExhausted = errors.New("store: address pool exhausted")
	// ErrAddressInUse: the required address is leased to another identity.
	ErrAddressInUse = errors.New("store: address in use by another identity")
	// ErrInvalid: the request itself is malformed (empty identity or owner,
	// invalid pool, address of the wrong family, TTL too short).
	ErrInvalid = errors.New("store: invalid request")
	// ErrCorrupt: a stored record or key cannot be decoded.
	ErrCorrupt = errors.New("store: corrupt record")
	// ErrWatchLagged: a watcher fell so far behind that the store dropped
	// its watch (or the backend compacted the history it needed). Watch
	// again: the new watch's Current is the state to resume from.
	ErrWatchLagged = errors.New("store: watch fell behind")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrUnavailable: the backend failed (etcd unreachable or without a
	// leader, a disk error). A write may or may not have been applied:
	// read the record again before deciding.
	ErrUnavailable = errors.New("store: backend unavailable")
)

// sentinels lists every sentinel, for Sentinel.
var sentinels = []error{
	ErrNotFound, ErrConflict, ErrState, ErrOwnedElsewhere, ErrOwnerAlive, ErrPoolExhausted,
	ErrAddressInUse, ErrInvalid, ErrCorrupt, ErrWatchLagged, ErrClosed, ErrUnavailable,
}

// Sentinel returns the sentinel of this package that err wraps, or nil.
func Sentinel(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

// LeaseError is the error of a lease operation. It wraps one of the
// sentinels and carries the lease as the store read it, so that a caller
// that lost a compare-and-swap can decide again without another read.
type LeaseError struct {
	// Op is the operation: "acquire", "lease", "release", "mark-moving",
	// "cancel-move", "transfer", "takeover", "set-attributes".
	Op string
	// HoA is the home address concerned, if known.
	HoA netip.Addr
	// Lease is the record as read when the operation failed; its HoA is
	// invalid when there was none.
	Lease Lease
	// Err is the sentinel (ErrConflict, ErrState, ...).
	Err error
	// Detail says what was wrong, for people.
	Detail string
}

// Error returns "op hoa: sentinel: detail".
func (e *LeaseError) Error() string {
	s := e.Op
	if e.HoA.IsValid() {
		s += " " + e.HoA.String()
	}
	s += ": " + e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the sentinel.
func (e *LeaseError) Unwrap() error { return e.Err }

// Errorf returns a *LeaseError for op on l wrapping sentinel, with a
// formatted detail. Backends use it; the HoA is taken from l when valid,
// else from hoa.
func Errorf(op string, hoa netip.Addr, l Lease, sentinel error, format string, args ...any) *LeaseError {
	if l.HoA.IsValid() {
		hoa = l.HoA
	}
	return &LeaseError{Op: op, HoA: hoa, Lease: l, Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}
