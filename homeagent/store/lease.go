package store

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"
)

// Revision orders the changes of a store. Every write of a lease record
// gives it a new Revision, larger than any the store handed out before
// (etcd: the key's ModRevision; embedded: a persisted counter). A
// compare-and-swap names the Revision the caller read; the write succeeds
// only if the record still has it.
type Revision int64

// LeaseState is the life-cycle state of a lease.
type LeaseState uint8

// Lease states.
const (
	// StateBound: Owner serves the home address.
	StateBound LeaseState = iota + 1
	// StateMoving: Owner still serves the home address and has asked
	// MovingTo to take it over before Deadline (make-before-break move).
	StateMoving
	// StateReleased: nobody serves the address. It stays reserved for
	// Identity (stickiness) until another identity needs it.
	StateReleased
)

var stateNames = [...]string{StateBound: "bound", StateMoving: "moving", StateReleased: "released"}

// String returns the state's name.
func (s LeaseState) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return fmt.Sprintf("LeaseState(%d)", uint8(s))
}

// MarshalText encodes s as its name ("bound", "moving", "released").
func (s LeaseState) MarshalText() ([]byte, error) {
	if int(s) >= len(stateNames) || stateNames[s] == "" {
		return nil, fmt.Errorf("%w: lease state %d", ErrInvalid, uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText decodes a state name.
func (s *LeaseState) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n != "" && n == string(b) {
			*s = LeaseState(i)
			return nil
		}
	}
	return fmt.Errorf("%w: unknown lease state %q", ErrCorrupt, b)
}

// Family is an address family of home addresses.
type Family uint8

// Address families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// String returns "ipv4" or "ipv6".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return fmt.Sprintf("Family(%d)", uint8(f))
}

// FamilyOf returns the family of a, or 0 for an invalid address or an
// IPv4-mapped IPv6 address (home addresses are never mapped).
func FamilyOf(a netip.Addr) Family {
	switch {
	case a.Is4():
		return IPv4
	case a.Is6() && !a.Is4In6() && a.Zone() == "":
		return IPv6
	}
	return 0
}

// Lease binds a home address (HoA) to the authenticated identity it was
// assigned to and to the member (home agent) that serves it.
type Lease struct {
	// HoA is the home address: an IPv6 home address or an IPv4 home
	// address from a pool (DSMIPv6-style).
	HoA netip.Addr
	// Identity is the authenticated IKE identity (IDi) of the node.
	Identity string
	// Owner is the member ID of the home agent serving HoA; empty when
	// the lease is released.
	Owner string
	// State is bound, moving or released.
	State LeaseState
	// MovingTo is the member the lease is moving to, and Deadline the time
	// by which it must take it (StateMoving only).
	MovingTo string
	Deadline time.Time
	// TraceContext is the W3C traceparent of the latest move, carried so
	// that the new home agent's spans join the move's trace. Transfer
	// keeps it; the next MarkMoving replaces it.
	TraceContext string
	// Attributes are optional facts the owner records with the lease.
	Attributes
	// CreatedAt is when the lease was first created for Identity, and
	// UpdatedAt when the record last changed (store clock).
	CreatedAt, UpdatedAt time.Time
	// Revision is the store revision of this version of the record.
	Revision Revision
}

// Attributes are optional facts about a lease.
type Attributes struct {
	// CareOf is the node's current care-of address (outer address and
	// port as the home agent sees it); invalid when unknown.
	CareOf netip.AddrPort
	// TicketHash is a hash of the handover ticket issued for the current
	// move; the new home agent compares the ticket it is shown with it.
	TicketHash []byte
}

// Equal reports whether a and b carry the same attributes.
func (a Attributes) Equal(b Attributes) bool {
	return a.CareOf == b.CareOf && bytes.Equal(a.TicketHash, b.TicketHash)
}

// Family returns the address family of the lease's HoA.
func (l Lease) Family() Family { return FamilyOf(l.HoA) }

// Equal reports whether l and m are the same version of the same record.
func (l Lease) Equal(m Lease) bool {
	return l.HoA == m.HoA && l.Identity == m.Identity && l.Owner == m.Owner &&
		l.State == m.State && l.MovingTo == m.MovingTo && l.Deadline.Equal(m.Deadline) &&
		l.TraceContext == m.TraceContext && l.Attributes.Equal(m.Attributes) &&
		l.CreatedAt.Equal(m.CreatedAt) && l.UpdatedAt.Equal(m.UpdatedAt) && l.Revision == m.Revision
}

// Served reports whether some member serves the lease (bound or moving).
func (l Lease) Served() bool { return l.State == StateBound || l.State == StateMoving }

// String summarises the lease for logs.
func (l Lease) String() string {
	s := fmt.Sprintf("%s %s %q owner=%q rev=%d", l.HoA, l.State, l.Identity, l.Owner, l.Revision)
	if l.State == StateMoving {
		s += fmt.Sprintf(" to=%q deadline=%s", l.MovingTo, l.Deadline.Format(time.RFC3339Nano))
	}
	return s
}

// MaxIdentityLen is the longest identity a store accepts, in octets.
const MaxIdentityLen = 2048

// AcquireRequest asks for the home address of an identity.
type AcquireRequest struct {
	// Identity is the authenticated IKE identity; required, at most
	// MaxIdentityLen octets.
	Identity string
	// Owner is the member ID of the calling home agent; required.
	Owner string
	// Pool is where a new address comes from; its family is the family of
	// the lease (an identity has at most one lease per family).
	Pool Pool
	// Suggested is the address the node asked for (CFG_REQUEST), or
	// invalid for none. It is honoured when it is in Pool and free,
	// released, or already this identity's.
	Suggested netip.Addr
	// RequireSuggested makes Suggested the only acceptable answer: the
	// call fails with ErrAddressInUse instead of allocating another
	// address when another identity holds it.
	RequireSuggested bool
	// Attributes are recorded with a lease that Acquire creates or binds.
	Attributes Attributes
}

// Move describes a make-before-break move of a lease (MarkMoving).
type Move struct {
	// From is the member that owns the lease and starts the move.
	From string
	// To is the member that is to take the lease over.
	To string
	// Deadline is when the move lapses: after it, Transfer fails and
	// From cancels the move (CancelMove).
	Deadline time.Time
	// TraceContext is the W3C traceparent of the move's trace.
	TraceContext string
	// TicketHash is the hash of the handover ticket sent to the node.
	TicketHash []byte
}

// Filter selects leases in Leases. Zero fields match everything.
type Filter struct {
	// Owner selects the leases a member owns.
	Owner string
	// State selects leases in one state.
	State LeaseState
	// Identity selects the leases of one identity.
	Identity string
}

// Match reports whether l passes the filter.
func (f Filter) Match(l Lease) bool {
	return (f.Owner == "" || l.Owner == f.Owner) &&
		(f.State == 0 || l.State == f.State) &&
		(f.Identity == "" || l.Identity == f.Identity)
}
