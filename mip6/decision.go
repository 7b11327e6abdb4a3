package mip6

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

// Context is what the caller knows about a Binding Update beyond its bytes.
type Context struct {
	// Identity is the peer identity the IPsec SA carrying the Binding
	// Update was authenticated with (IKEv2 IDi); it is stored in the
	// binding.
	Identity string
	// AuthorizedHoA is the home address that identity may register: the
	// address the home agent assigned in CFG_REPLY, or that the PAD/lease
	// ties to it (RFC 4877 §4.2, RFC 6275 §5.1). A Binding Update for any
	// other home address is silently discarded (DropNotAuthorized).
	AuthorizedHoA netip.Addr
	// AuthorizedIPv4HoA is the IPv4 home address the identity may use
	// (DSMIPv6, RFC 5555 §4.5); the zero Addr means none.
	AuthorizedIPv4HoA netip.Addr
	// InTunnel says the packet arrived inside the ESP tunnel (the
	// all-in-tunnel form of RFC 4877 §3): the inner source is the home
	// address, no Home Address option is needed, and the care-of address
	// comes from the Alternate Care-of Address option.
	InTunnel bool
	// AddressUnique says the home address is known not to be in use on the
	// home link (e.g. leased from a shared store), so a new binding needs
	// no Duplicate Address Detection.
	AddressUnique bool
	// UDPSource is the outer source address and port of a Binding Update
	// that arrived UDP-encapsulated (DSMIPv6, RFC 5555 §4.1); the zero
	// value means it did not. The BA then carries a NAT Detection option.
	UDPSource netip.AddrPort
}

// Verdict is the outcome of a Binding Update.
type Verdict uint8

// Verdicts.
const (
	// Dropped: the Binding Update was silently discarded (Decision.Drop
	// says why); nothing is sent.
	Dropped Verdict = iota
	// Accepted: the binding was created, refreshed or deregistered; carry
	// out Decision.Actions.
	Accepted
	// Rejected: a Binding Acknowledgement with Decision.Status ≥ 128 goes
	// back; the binding did not change (an existing entry stores the
	// sequence number of a BU that passed validation, RFC 6275 §9.5.1).
	Rejected
	// Pending: a new binding waits for Duplicate Address Detection
	// (ActionDAD); report the result with CompleteDAD. Nothing is sent yet.
	Pending
)

// String returns the verdict's name.
func (v Verdict) String() string {
	switch v {
	case Dropped:
		return "dropped"
	case Accepted:
		return "accepted"
	case Rejected:
		return "rejected"
	case Pending:
		return "pending"
	}
	return "Verdict(" + strconv.Itoa(int(v)) + ")"
}

// Action is a set of things the caller must do for a binding. When several
// are set, do them in the order of the constants, and send the Binding
// Acknowledgement last: "store the binding before sending the BA".
type Action uint16

// Actions.
const (
	// ActionDAD: run Duplicate Address Detection for the home address on
	// the home link, then call CompleteDAD (RFC 6275 §10.3.1).
	ActionDAD Action = 1 << iota
	// ActionDADLinkLocal: DAD also for the link-local address derived from
	// the home address (L bit).
	ActionDADLinkLocal
	// ActionInstallRoute: route the home address to the care-of address
	// (or the tunnel it came through), replacing any route it had.
	ActionInstallRoute
	// ActionDefendHoA: start proxy Neighbor Discovery for the home
	// address: an unsolicited NA with O = 1, then answer NS (RFC 6275 §10.4.1).
	ActionDefendHoA
	// ActionDefendLinkLocal: the same for the derived link-local address (L bit).
	ActionDefendLinkLocal
	// ActionDefendIPv4HoA: proxy ARP for Binding.IPv4HoA (RFC 5555 §4.5).
	ActionDefendIPv4HoA
	// ActionMoveKeyManagement: move the IKE SA's peer endpoint from
	// Decision.PreviousCoA to the binding's care-of address (K = 1,
	// RFC 6275 §10.3.1).
	ActionMoveKeyManagement
	// ActionDiscardKeyManagement: discard IKE connections to
	// Decision.PreviousCoA (K = 0, RFC 6275 §10.3.1).
	ActionDiscardKeyManagement
	// ActionStopDefending: stop proxy ND for the home address.
	ActionStopDefending
	// ActionStopDefendingLinkLocal: stop proxy ND for the link-local address.
	ActionStopDefendingLinkLocal
	// ActionStopDefendingIPv4HoA: stop proxy ARP for the IPv4 home address.
	ActionStopDefendingIPv4HoA
	// ActionRemoveRoute: remove the route of the home address.
	ActionRemoveRoute
	// ActionSendBA: send the Binding Acknowledgement (Decision.AppendBA).
	ActionSendBA
)

var actionNames = [...]string{
	"dad", "dad-link-local", "install-route", "defend-hoa", "defend-link-local",
	"defend-ipv4-hoa", "move-key-management", "discard-key-management",
	"stop-defending", "stop-defending-link-local", "stop-defending-ipv4-hoa",
	"remove-route", "send-ba",
}

// String lists the actions, "install-route|defend-hoa|send-ba".
func (a Action) String() string {
	if a == 0 {
		return "none"
	}
	var parts []string
	for i, n := range actionNames {
		if a&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, "|")
}

// DropReason says why a message was discarded without an answer.
type DropReason uint8

// Drop reasons. Each is counted in Stats.Drops.
const (
	DropNone DropReason = iota
	// DropMalformed: the packet or message did not parse.
	DropMalformed
	// DropChecksum: the Mobility Header checksum failed (RFC 6275 §9.2).
	DropChecksum
	// DropSourceNotUnicast: no answer may go to the source (RFC 6275 §9.5.4).
	DropSourceNotUnicast
	// DropHoANotRoutable: the home address is not unicast routable
	// (RFC 6275 §9.5.1).
	DropHoANotRoutable
	// DropCoANotRoutable: the care-of address is not unicast routable
	// (RFC 6275 §6.1.7).
	DropCoANotRoutable
	// DropNotAuthorized: the home address is not the one the SA's identity
	// may register (RFC 4877 §4.2, RFC 6275 §5.1, §9.5.1).
	DropNotAuthorized
	// DropNoHomeAddressOption: a home registration sent natively from away
	// lacks the Home Address option (RFC 6275 §10.3.1).
	DropNoHomeAddressOption
	// DropNonceIndices: a home registration carries Nonce Indices
	// (RFC 6275 §9.5.1).
	DropNonceIndices
	// DropNoAuthorizationData: a correspondent registration lacks Nonce
	// Indices or Binding Authorization Data (RFC 6275 §9.5.1).
	DropNoAuthorizationData
	// DropDADInProgress: a Binding Update for a binding whose DAD runs; it
	// updated the pending request and is answered when DAD completes.
	DropDADInProgress
	// DropUnknownType: an unknown MH Type (answered with a Binding Error
	// when the rate limit allows).
	DropUnknownType
	// DropParameterProblem: bad Payload Proto or Header Len (answered with
	// ICMPv6 Parameter Problem by the caller).
	DropParameterProblem
	// DropNotForHomeAgent: a message a home agent does not act on.
	DropNotForHomeAgent
	dropReasons
)

var dropNames = [...]string{
	"none", "malformed", "checksum", "source-not-unicast", "hoa-not-routable",
	"coa-not-routable", "not-authorized", "no-home-address-option", "nonce-indices",
	"no-authorization-data", "dad-in-progress", "unknown-type", "parameter-problem",
	"not-for-home-agent",
}

// String returns the reason's name.
func (r DropReason) String() string {
	if int(r) < len(dropNames) {
		return dropNames[r]
	}
	return "DropReason(" + strconv.Itoa(int(r)) + ")"
}

// BindingState is the state of a binding cache entry.
type BindingState uint8

// Binding states.
const (
	// StateValid: a home registration in force.
	StateValid BindingState = iota + 1
	// StateDADPending: a new registration waiting for DAD.
	StateDADPending
	// StateDeregistered: deregistered and kept, invalid, until
	// MAX_DELETE_BCE_TIMEOUT so late Binding Updates get status 135.
	StateDeregistered
)

// String returns the state's name.
func (s BindingState) String() string {
	switch s {
	case StateValid:
		return "valid"
	case StateDADPending:
		return "dad-pending"
	case StateDeregistered:
		return "deregistered"
	}
	return "BindingState(" + strconv.Itoa(int(s)) + ")"
}

// Binding is a snapshot of a binding cache entry.
type Binding struct {
	HoA      netip.Addr
	CoA      netip.Addr
	HA       netip.Addr // the home agent address the mobile node registered with
	Identity string
	State    BindingState
	Sequence uint16     // last accepted sequence number
	Flags    mh.BUFlags // flags of the last accepted Binding Update
	// Expires is when the binding ends; for StateDeregistered entries, when
	// the entry is forgotten; for StateDADPending, when DAD times out.
	Expires time.Time
	// InTunnel says the binding was registered through the ESP tunnel.
	InTunnel bool
	// Switching says a Home Agent Switch was sent: lifetime extensions
	// are refused with status 129 (RFC 5142 §5.3).
	Switching bool
	// IPv4HoA is the DSMIPv6 IPv4 home address, if registered.
	IPv4HoA netip.Addr
	// UDPSource is the outer address and port of a UDP-encapsulated
	// (DSMIPv6) registration; answers and data go there.
	UDPSource netip.AddrPort
}

// maxBAOptions is room for the options a home agent adds to a BA:
// Binding Refresh Advice (4), IPv4 Address Ack (8), NAT Detection (8).
const maxBAOptions = 20

// Decision is the outcome of a Binding Update at the home agent.
type Decision struct {
	Verdict Verdict
	// Status is the Binding Acknowledgement status (Accepted, Rejected).
	Status mh.Status
	// Drop says why a Dropped Binding Update was discarded.
	Drop DropReason
	// Actions to carry out, in the order of the Action constants.
	Actions Action
	// Binding is the entry after the decision: the new state for Accepted
	// and Pending, the unchanged entry (if any) for Rejected.
	Binding Binding
	// PreviousCoA is the care-of address before this Binding Update, for
	// ActionMoveKeyManagement and ActionDiscardKeyManagement; for a new
	// binding it is the home address (RFC 6275 §10.3.1).
	PreviousCoA netip.Addr
	// SwitchAcknowledged says this deregistration answered a Home Agent
	// Switch (RFC 5142 §6.1).
	SwitchAcknowledged bool
	// Reply is the addressing of the Binding Acknowledgement: back to the
	// Binding Update's source, with a type 2 routing header holding the
	// home address if the BU had a Home Address option (RFC 6275 §9.5.4).
	Reply mh.IPv6

	ba      mh.BindingAck // without options: they are in baOpts
	baOpts  [maxBAOptions]byte
	baOptsN uint8
}

// BindingAck returns the Binding Acknowledgement to send (meaningful when
// Actions has ActionSendBA). Its options refer to d.
func (d *Decision) BindingAck() mh.BindingAck {
	ba := d.ba
	ba.Options = d.baOpts[:d.baOptsN:d.baOptsN]
	return ba
}

// AppendBA appends the whole IPv6 packet of the Binding Acknowledgement
// (Reply, then the Mobility Header with its checksum) to b. It appends
// nothing unless Actions has ActionSendBA.
func (d *Decision) AppendBA(b []byte) []byte {
	if d.Actions&ActionSendBA == 0 {
		return b
	}
	ba := d.BindingAck()
	b = d.Reply.AppendHeaders(b, ba.Len())
	start := len(b)
	b = ba.Append(b) // not through the generic AppendPacket: d would escape
	src, dst := d.Reply.PseudoHeader()
	mh.SetChecksum(b[start:], src, dst)
	return b
}

// Outgoing is a Mobility Header message to send and its addressing.
type Outgoing struct {
	IP      mh.IPv6
	Message mh.Message
}

// AppendPacket appends the whole IPv6 packet to b (nothing if Message is nil).
func (o Outgoing) AppendPacket(b []byte) []byte {
	if o.Message == nil {
		return b
	}
	return mh.AppendPacket(b, o.IP, o.Message)
}
