package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/policy"
)

// Status is the home agent's state in brief (GET /v1/status).
type Status struct {
	// Member is this home agent's cluster.member_id, Site its site.
	Member string `json:"member"`
	Site   string `json:"site"`
	// Version is the program's version, if known.
	Version string `json:"version,omitempty"`
	// StartedAt is when the runtime started.
	StartedAt time.Time `json:"started_at"`
	// Listen are the local UDP endpoints IKE is served on.
	Listen []netip.AddrPort `json:"listen"`
	// Store is the lease store backend: "embedded" or "etcd".
	Store string `json:"store"`
	// Dataplane is the packet path: "user-space" or "xfrm".
	Dataplane string `json:"dataplane"`
	// Healthy is the home agent's own verdict (dataplane up, store
	// reachable); Draining is set while it moves its nodes away.
	Healthy  bool `json:"healthy"`
	Draining bool `json:"draining"`
	// IKESAs counts established IKE SAs, HalfOpen those waiting for
	// IKE_AUTH, ChildSAs the CHILD_SAs.
	IKESAs   int `json:"ike_sas"`
	HalfOpen int `json:"half_open"`
	ChildSAs int `json:"child_sas"`
	// Bindings counts binding cache entries in force.
	Bindings int `json:"bindings"`
	// Leases counts the leases this home agent owns; Capacity is how many
	// nodes it serves at most.
	Leases   int `json:"leases"`
	Capacity int `json:"capacity"`
	// Members counts the live members of the cluster, this one included.
	Members int `json:"members"`
}

// Binding is a mobile node served by this home agent: its IKE SA and, for a
// Mobile IPv6 node, its binding cache entry (GET /v1/bindings). A VPN-only
// peer (no Binding Update, e.g. a stock strongSwan client) has no CoA,
// State or Lifetime.
type Binding struct {
	// Identity is the peer's authenticated IKE identity (IDi).
	Identity string `json:"identity"`
	// HoA is the home address.
	HoA netip.Addr `json:"hoa"`
	// CoA is the care-of address from the Binding Update (Alternate
	// Care-of Address option); behind a NAT a private address.
	CoA netip.Addr `json:"coa,omitzero"`
	// Remote is the peer's outer address and port as the home agent sees
	// them, after any NAT.
	Remote netip.AddrPort `json:"remote"`
	// NAT reports that IKE detected a NAT between the peer and us (RFC
	// 7296 §2.23).
	NAT bool `json:"nat"`
	// State is the binding cache entry's state ("valid", "dad-pending",
	// "deregistered"), or "" for a VPN-only peer.
	State string `json:"state,omitempty"`
	// Lifetime is the binding's remaining lifetime.
	Lifetime Seconds `json:"lifetime_remaining"`
	// Since is when the binding (or, without one, the IKE SA) started.
	Since time.Time `json:"since"`
	// IKESPI is the IKE SA's SPI pair.
	IKESPI IKESPIs `json:"ike_spi"`
	// ChildSAs are the CHILD_SAs' SPIs.
	ChildSAs []ChildSA `json:"child_sas"`
}

// IKESPIs is the SPI pair of an IKE SA (RFC 7296 §3.1).
type IKESPIs struct {
	Initiator IKESPI `json:"initiator"`
	Responder IKESPI `json:"responder"`
}

// ChildSA is a CHILD_SA by the SPIs of its two ESP SAs.
type ChildSA struct {
	Inbound  ESPSPI `json:"inbound"`
	Outbound ESPSPI `json:"outbound"`
}

// IKESPI is an IKE SPI; its text form is 16 hexadecimal digits, as
// strongSwan and tshark show it.
type IKESPI uint64

// String returns the SPI as 16 hexadecimal digits.
func (s IKESPI) String() string { return fmt.Sprintf("%016x", uint64(s)) }

// MarshalText encodes the SPI as 16 hexadecimal digits.
func (s IKESPI) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes 16 hexadecimal digits.
func (s *IKESPI) UnmarshalText(b []byte) error {
	v, err := parseHex(b, 16)
	*s = IKESPI(v)
	return err
}

// ESPSPI is an ESP SPI; its text form is 8 hexadecimal digits.
type ESPSPI uint32

// String returns the SPI as 8 hexadecimal digits.
func (s ESPSPI) String() string { return fmt.Sprintf("%08x", uint32(s)) }

// MarshalText encodes the SPI as 8 hexadecimal digits.
func (s ESPSPI) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes 8 hexadecimal digits.
func (s *ESPSPI) UnmarshalText(b []byte) error {
	v, err := parseHex(b, 8)
	*s = ESPSPI(v)
	return err
}

func parseHex(b []byte, digits int) (uint64, error) {
	if len(b) != digits {
		return 0, fmt.Errorf("SPI %q: want %d hexadecimal digits", b, digits)
	}
	v, err := strconv.ParseUint(string(b), 16, 64)
	if err != nil {
		return 0, fmt.Errorf("SPI %q: want %d hexadecimal digits", b, digits)
	}
	return v, nil
}

// Seconds is a duration that JSON carries as a number of seconds.
type Seconds time.Duration

// MarshalJSON encodes the duration as seconds, with millisecond precision.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, math.Round(time.Duration(s).Seconds()*1000)/1000, 'f', -1, 64), nil
}

// UnmarshalJSON decodes a number of seconds.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("seconds: %w", err)
	}
	if math.IsNaN(f) || math.Abs(f) > math.MaxInt64/float64(time.Second) {
		return errors.New("seconds: out of range")
	}
	*s = Seconds(time.Duration(f * float64(time.Second)))
	return nil
}

// String returns the duration rounded to the second, e.g. "9m30s".
func (s Seconds) String() string { return time.Duration(s).Round(time.Second).String() }

// Lease is a lease of the store (GET /v1/leases): which identity a home
// address belongs to and which member serves it.
type Lease struct {
	HoA      netip.Addr       `json:"hoa"`
	Identity string           `json:"identity"`
	Owner    string           `json:"owner,omitempty"`
	State    store.LeaseState `json:"state"`
	// MovingTo and Deadline describe a make-before-break move in progress.
	MovingTo string    `json:"moving_to,omitempty"`
	Deadline time.Time `json:"deadline,omitzero"`
	// CareOf is the node's outer address and port, as recorded by its
	// owner.
	CareOf netip.AddrPort `json:"care_of,omitzero"`
	// TraceContext is the W3C traceparent of the latest move.
	TraceContext string    `json:"trace_context,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// Revision is the store revision of this version of the record.
	Revision int64 `json:"revision"`
}

// LeaseOf converts a store lease.
func LeaseOf(l store.Lease) Lease {
	return Lease{
		HoA: l.HoA, Identity: l.Identity, Owner: l.Owner, State: l.State,
		MovingTo: l.MovingTo, Deadline: l.Deadline, CareOf: l.CareOf,
		TraceContext: l.TraceContext, CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt,
		Revision: int64(l.Revision),
	}
}

// Member is a live member of the cluster (GET /v1/members).
type Member struct {
	ID       string           `json:"id"`
	Site     string           `json:"site"`
	Addrs    []netip.Addr     `json:"addrs"`
	NATAddrs []netip.AddrPort `json:"nat_addrs,omitempty"`
	Capacity int              `json:"capacity"`
	Load     int              `json:"load"`
	Healthy  bool             `json:"healthy"`
	Draining bool             `json:"draining"`
	// Heartbeat is when the member last wrote its record.
	Heartbeat time.Time `json:"heartbeat"`
	// Self marks the member that answered.
	Self bool `json:"self,omitempty"`
}

// MemberOf converts a store member record; self is the answering member's
// ID.
func MemberOf(m store.Member, self string) Member {
	return Member{
		ID: m.ID, Site: m.Site, Addrs: m.Addrs, NATAddrs: m.NATAddrs,
		Capacity: m.Capacity, Load: m.Load, Healthy: m.Healthy, Draining: m.Draining,
		Heartbeat: m.Heartbeat, Self: m.ID == self,
	}
}

// ExplainRequest asks where a client would be served (GET /v1/explain).
// With an identity the decision is the one at IKE_AUTH (RFC 5685 §6),
// where the identity's lease counts (or, for a node bound here, the
// re-evaluation of its binding); without, the one at IKE_SA_INIT.
type ExplainRequest struct {
	// Locator is the client's outer address as the home agent would see
	// it (after NAT). Required.
	Locator netip.Addr `json:"locator"`
	// Identity is the client's IKE identity, or "".
	Identity string `json:"identity,omitempty"`
	// Anycast says the request reached the cluster's anycast address.
	Anycast bool `json:"anycast,omitempty"`
	// RedirectedFrom is the address of a REDIRECTED_FROM notify, if any.
	RedirectedFrom netip.Addr `json:"redirected_from,omitzero"`
}

// Validate reports whether the request can be answered.
func (r ExplainRequest) Validate() error {
	if !r.Locator.IsValid() {
		return fmt.Errorf("%w: explain needs a locator (the client's address)", ErrInvalid)
	}
	return nil
}

// Explain is a placement decision with its scored table (the policy's
// Decision, embedded) and what it was asked.
type Explain struct {
	Request ExplainRequest `json:"request"`
	// Lease is the identity's lease the decision took into account, if
	// any.
	Lease *Lease `json:"lease,omitempty"`
	policy.Decision
}

// MoveRequest asks to move one node to another member (POST /v1/move):
// a Home Agent Switch for a node with a binding, an INFORMATIONAL REDIRECT
// for a VPN-only peer, make-before-break either way.
type MoveRequest struct {
	// Identity or HoA names the node: exactly one of them.
	Identity string     `json:"identity,omitempty"`
	HoA      netip.Addr `json:"hoa,omitzero"`
	// To is the member to move it to; "" or "best" lets the policy
	// choose, as a drain does.
	To string `json:"to,omitempty"`
}

// Validate reports whether the request names exactly one node.
func (r MoveRequest) Validate() error {
	switch {
	case r.Identity == "" && !r.HoA.IsValid():
		return fmt.Errorf("%w: move needs an identity or a home address", ErrInvalid)
	case r.Identity != "" && r.HoA.IsValid():
		return fmt.Errorf("%w: move takes an identity or a home address, not both", ErrInvalid)
	}
	return nil
}

// Move is a move that has started (the answer to POST /v1/move): the node
// is told to go, and the lease is marked moving until Deadline.
type Move struct {
	Identity string     `json:"identity"`
	HoA      netip.Addr `json:"hoa"`
	From     string     `json:"from"`
	To       string     `json:"to"`
	// Addr is the address of To the node was sent to.
	Addr netip.Addr `json:"addr"`
	// Method is "home-agent-switch" (RFC 5142) or "redirect" (RFC 5685
	// §5, for a peer without a binding).
	Method   string    `json:"method"`
	Deadline time.Time `json:"deadline"`
	// TraceID is the move's trace, to find it in the tracing backend.
	TraceID string `json:"trace_id,omitempty"`
}

// Move methods.
const (
	MethodHomeAgentSwitch = "home-agent-switch"
	MethodRedirect        = "redirect"
)

// DrainState is where a drain is.
type DrainState string

// Drain states.
const (
	// DrainIdle: no drain was started.
	DrainIdle DrainState = "idle"
	// DrainRunning: nodes are being moved away at the drain rate.
	DrainRunning DrainState = "draining"
	// DrainDone: every node that could be placed has moved.
	DrainDone DrainState = "done"
	// DrainCancelled: the operator stopped the drain.
	DrainCancelled DrainState = "cancelled"
)

// DrainStatus is the progress of a drain (GET, POST and DELETE
// /v1/drain).
type DrainStatus struct {
	State      DrainState `json:"state"`
	StartedAt  time.Time  `json:"started_at,omitzero"`
	FinishedAt time.Time  `json:"finished_at,omitzero"`
	// Rate is the pace of the moves, per second (cluster.drain_rate).
	Rate float64 `json:"rate"`
	// Total counts the nodes to move; Moved those that have moved (their
	// lease changed owner), Failed those whose move lapsed or failed,
	// Remaining the rest.
	Total     int `json:"total"`
	Moved     int `json:"moved"`
	Failed    int `json:"failed"`
	Remaining int `json:"remaining"`
	// Unplaced are the identities no other member can take (all full,
	// unhealthy, draining or unreachable); they stay.
	Unplaced []string `json:"unplaced,omitempty"`
	// Error says why the drain stopped, if it did on an error.
	Error string `json:"error,omitempty"`
}
