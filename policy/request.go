package policy

import (
	"net/netip"
	"time"
)

// Request is one of AtInit, AtAuth and Reevaluate: the input of
// Policy.Explain.
type Request interface {
	stage() Stage
}

// AtInit is an IKE_SA_INIT request from a client that announced
// REDIRECT_SUPPORTED or sent REDIRECTED_FROM (RFC 5685 §3): nothing but its
// locator is known, and nothing is authenticated.
type AtInit struct {
	// Remote is the client's outer source address as this home agent sees
	// it, after any NAT. It selects the client's site, the address family
	// of the redirect target, and spreads clients over equally good
	// members.
	Remote netip.Addr `json:"remote"`
	// Anycast is true when the request was sent to the cluster's anycast
	// address. RFC 5685 §4: such a request MUST be redirected to a unicast
	// address, possibly this home agent's own.
	Anycast bool `json:"anycast,omitempty"`
	// RedirectedFrom is the address in the client's REDIRECTED_FROM notify
	// (RFC 5685 §9.3), or the zero Addr. It is the member's unicast
	// address when a member redirected the client, or the anycast address.
	RedirectedFrom netip.Addr `json:"redirected_from,omitzero"`
	// PortCapable is true when the client announced that it follows a
	// redirect naming a port (this project's private-use GW Ident Types);
	// only such clients are sent to Member.NATAddrs.
	PortCapable bool `json:"port_capable,omitempty"`
}

// AtAuth is an IKE_AUTH request whose AUTH payload has been verified
// (RFC 5685 §6): the identity and where its lease lives are known.
//
// The anycast rule does not apply here: a client that announced redirect
// support was moved off the anycast address at IKE_SA_INIT already.
type AtAuth struct {
	// Remote, RedirectedFrom and PortCapable are as in AtInit.
	Remote         netip.Addr `json:"remote"`
	RedirectedFrom netip.Addr `json:"redirected_from,omitzero"`
	PortCapable    bool       `json:"port_capable,omitempty"`
	// Identity is the authenticated IDi (for Explain output only: the
	// decision depends on the lease, not on the name).
	Identity string `json:"identity,omitempty"`
	// LeaseOwner is the ID of the member holding the identity's lease, or
	// "" when it has none. An ID that is not in the view (a member that
	// has gone) counts as none.
	LeaseOwner string `json:"lease_owner,omitempty"`
	// LeaseMoving is the ID of the member the lease is being moved to
	// (handover in progress), or "".
	LeaseMoving string `json:"lease_moving,omitempty"`
}

// Binding is a node bound on this home agent (an entry in its binding
// cache, with the IKE SA that carries it).
type Binding struct {
	// Identity is the node's authenticated identity.
	Identity string `json:"identity"`
	// HoA is the node's home address.
	HoA netip.Addr `json:"hoa"`
	// CoA is the node's current care-of address (Alternate Care-of
	// Address option). Shown in Explain output; behind a NAT it is a
	// private address that says nothing about where the node is.
	CoA netip.Addr `json:"coa,omitzero"`
	// Remote is the outer source address of the node's traffic as this
	// home agent sees it, after any NAT. It selects the node's site, as
	// AtInit.Remote does.
	Remote netip.Addr `json:"remote"`
	// PortCapable is as in AtInit, remembered from the node's IKE SA.
	PortCapable bool `json:"port_capable,omitempty"`
	// ArrivedFrom is the ID of the member the node came from (it was
	// redirected or switched from there), or "".
	ArrivedFrom string `json:"arrived_from,omitempty"`
	// ArrivedAt is when the node arrived from ArrivedFrom.
	ArrivedAt time.Time `json:"arrived_at,omitzero"`
}

// Reevaluate asks whether a bound node should move: typically on each
// Binding Update, since its care-of address may have changed and another
// member may now be clearly nearer. Only distance moves a bound node (and
// this home agent becoming unable to keep it); load differences do not.
type Reevaluate struct {
	Binding Binding `json:"binding"`
	// Now is the current time, compared with Binding.ArrivedAt.
	Now time.Time `json:"now"`
}

func (AtInit) stage() Stage     { return StageInit }
func (AtAuth) stage() Stage     { return StageAuth }
func (Reevaluate) stage() Stage { return StageReevaluate }
