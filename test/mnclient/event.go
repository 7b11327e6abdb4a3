package mnclient

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// Event kinds, the "event" member of each JSON line.
const (
	EventTUN            = "tun"             // the TUN device exists (TUN)
	EventAttached       = "attached"        // IKE SA up (SPIs, Local, Remote, Peer, NATT, Suite)
	EventNATDetected    = "nat_detected"    // NAT between us and the gateway (LocalBehindNAT, PeerBehindNAT, Forced)
	EventHomeAddress    = "home_address"    // addresses from CFG_REPLY, configured on the TUN (Address, IPv4)
	EventChildInstalled = "child_installed" // CHILD_SA in the dataplane (InSPI, OutSPI, LocalTS, RemoteTS, Encap)
	EventChildRekeyed   = "child_rekeyed"   // (OldInSPI, OldOutSPI, InSPI, OutSPI)
	EventChildDeleted   = "child_deleted"   // (InSPI, OutSPI, Reason)
	EventIKERekeyed     = "ike_rekeyed"     // (OldSPIs, SPIs, ByUs)
	EventPeerMoved      = "peer_moved"      // the gateway's address or port changed (Remote)
	EventDetached       = "detached"        // IKE SA gone (Reason, Error)
	EventError          = "error"           // something failed (Error)

	// Binding events (HoA in Address, the home agent address in HomeAgent,
	// the Binding Update's sequence number in Sequence).
	EventBindingAccepted      = "binding_accepted"        // a BA accepted a new registration or care-of address (Lifetime, Status, CoA, LatencyMS, K)
	EventBindingRefreshed     = "binding_refreshed"       // a BA accepted a lifetime refresh (Lifetime, Status)
	EventBindingRejected      = "binding_rejected"        // a BA refused the Binding Update (StatusCode, Status)
	EventBindingNoResponse    = "binding_no_response"     // retransmissions reached MAX_BINDACK_TIMEOUT; they go on
	EventBindingExpired       = "binding_expired"         // the lifetime ended before a refresh was acknowledged
	EventBindingError         = "binding_error"           // a Binding Error arrived (From, StatusCode)
	EventDeregistered         = "deregistered"            // the deregistration (lifetime 0) was acknowledged (Status)
	EventHomeAgentSwitch      = "home_agent_switch"       // a Home Agent Switch arrived (From, Addresses)
	EventCareOfAddressChanged = "care_of_address_changed" // our outer address towards the home agent changed (CoA, OldCoA)

	// EventSwitched ends a make-before-break move to another home agent
	// after a Home Agent Switch (handover.go): From and To are the old and
	// the new home agent, Address the home address kept, Remote the new
	// home agent's IKE endpoint, DurationMS the time from the Home Agent
	// Switch to the deregistration at the old home agent, GapMS the longest
	// time without an inner packet delivered to the node meanwhile, TraceID
	// the move's trace.
	EventSwitched = "switched"
)

// Event is one line of the client's event stream: a JSON object whose
// "event" member names the kind; the other members depend on the kind
// (see the Event* constants) and are left out when empty.
type Event struct {
	Time  time.Time `json:"time"`
	Event string    `json:"event"`

	SPIs    string `json:"ike_spis,omitempty"`
	OldSPIs string `json:"old_ike_spis,omitempty"`
	ByUs    bool   `json:"by_us,omitempty"`
	Local   string `json:"local,omitempty"`
	Remote  string `json:"remote,omitempty"`
	Peer    string `json:"peer,omitempty"`
	NATT    bool   `json:"natt,omitempty"`
	Suite   string `json:"suite,omitempty"`

	LocalBehindNAT bool `json:"local_behind_nat,omitempty"`
	PeerBehindNAT  bool `json:"peer_behind_nat,omitempty"`
	Forced         bool `json:"forced,omitempty"`

	Address string   `json:"address,omitempty"`
	IPv4    string   `json:"ipv4,omitempty"`
	DNS     []string `json:"dns,omitempty"`

	InSPI     string   `json:"in_spi,omitempty"`
	OutSPI    string   `json:"out_spi,omitempty"`
	OldInSPI  string   `json:"old_in_spi,omitempty"`
	OldOutSPI string   `json:"old_out_spi,omitempty"`
	LocalTS   []string `json:"local_ts,omitempty"`
	RemoteTS  []string `json:"remote_ts,omitempty"`
	Encap     bool     `json:"encap,omitempty"`

	HomeAgent     string   `json:"home_agent,omitempty"`
	CoA           string   `json:"coa,omitempty"`
	OldCoA        string   `json:"old_coa,omitempty"`
	Sequence      int      `json:"sequence,omitempty"`
	Lifetime      int      `json:"lifetime,omitempty"` // seconds
	StatusCode    int      `json:"status_code,omitempty"`
	Status        string   `json:"status,omitempty"`
	KeyManagement bool     `json:"k,omitempty"`
	LatencyMS     float64  `json:"latency_ms,omitempty"`
	NATKeepalive  int      `json:"nat_keepalive,omitempty"` // seconds, from the BA's NAT Detection option
	From          string   `json:"from,omitempty"`
	Addresses     []string `json:"addresses,omitempty"`

	// Redirects (EventRedirected): the exchange, the new gateway's
	// endpoint and the identity the REDIRECT named.
	Stage  string `json:"stage,omitempty"`
	To     string `json:"to,omitempty"`
	Target string `json:"target,omitempty"`

	// Moves (EventHomeAgentSwitch, EventSwitched): how long the switch
	// took, the longest time without inner packets during it, and the
	// move's trace (W3C trace ID, 32 hex digits).
	DurationMS float64 `json:"duration_ms,omitempty"`
	GapMS      float64 `json:"gap_ms,omitempty"`
	TraceID    string  `json:"trace_id,omitempty"`

	TUN    string `json:"tun,omitempty"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

// JSONLines returns an event sink that writes each event as one JSON line
// to w; it is safe for concurrent use.
func JSONLines(w io.Writer) func(Event) {
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	return func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(e)
	}
}

// addrPort formats an endpoint, "" when there is none.
func addrPort(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func spiHex(spi uint32) string { return fmt.Sprintf("%08x", spi) }

func tsStrings(ts []wire.TrafficSelector) []string {
	r := make([]string, len(ts))
	for i, t := range ts {
		r[i] = t.String()
	}
	return r
}

// translate turns an IKE event into the client's event, if it is one the
// client reports.
func translate(e ike.Event, at time.Time) (Event, bool) {
	ev := Event{Time: at}
	switch x := e.(type) {
	case ike.IKEUp:
		ev.Event, ev.SPIs, ev.Peer, ev.NATT, ev.Suite = EventAttached, x.SPIs.String(), x.PeerID.String(), x.NATT, x.Suite
		ev.Local, ev.Remote = addrPort(x.Path.Local), addrPort(x.Path.Remote)
	case ike.NATDetected:
		ev.Event, ev.SPIs = EventNATDetected, x.SPIs.String()
		ev.LocalBehindNAT, ev.PeerBehindNAT, ev.Forced = x.LocalBehindNAT, x.PeerBehindNAT, x.Forced
		ev.Local, ev.Remote = addrPort(x.Path.Local), addrPort(x.Path.Remote)
	case ike.AddressAssigned:
		if !x.ToUs {
			return ev, false
		}
		ev.Event, ev.SPIs = EventHomeAddress, x.SPIs.String()
		if x.Assignment.IPv6.IsValid() {
			ev.Address = x.Assignment.IPv6.String()
		}
		if x.Assignment.IPv4.IsValid() {
			ev.IPv4 = x.Assignment.IPv4.String()
		}
		for _, d := range x.Assignment.DNS {
			ev.DNS = append(ev.DNS, d.String())
		}
	case ike.ChildUp:
		ev.Event, ev.SPIs = EventChildInstalled, x.SPIs.String()
		ev.InSPI, ev.OutSPI, ev.Encap = spiHex(x.Child.InSPI), spiHex(x.Child.OutSPI), x.Child.Encap
		ev.LocalTS, ev.RemoteTS = tsStrings(x.Child.LocalTS), tsStrings(x.Child.RemoteTS)
	case ike.ChildRekeyed:
		ev.Event, ev.SPIs = EventChildRekeyed, x.SPIs.String()
		ev.OldInSPI, ev.OldOutSPI = spiHex(x.Old.InSPI), spiHex(x.Old.OutSPI)
		ev.InSPI, ev.OutSPI = spiHex(x.New.InSPI), spiHex(x.New.OutSPI)
	case ike.ChildDown:
		ev.Event, ev.SPIs, ev.Reason = EventChildDeleted, x.SPIs.String(), x.Reason.String()
		ev.InSPI, ev.OutSPI = spiHex(x.Child.InSPI), spiHex(x.Child.OutSPI)
	case ike.IKERekeyed:
		ev.Event, ev.OldSPIs, ev.SPIs, ev.ByUs = EventIKERekeyed, x.Old.String(), x.New.String(), x.Initiator
	case ike.PeerMoved:
		ev.Event, ev.SPIs, ev.Remote = EventPeerMoved, x.SPIs.String(), addrPort(x.New.Remote)
	case ike.IKEDown:
		ev.Event, ev.SPIs, ev.Reason = EventDetached, x.SPIs.String(), x.Reason.String()
		if x.Err != nil {
			ev.Error = x.Err.Error()
		}
	case ike.ChildFailed:
		ev.Event, ev.SPIs, ev.Error = EventError, x.SPIs.String(), fmt.Sprintf("CHILD_SA failed: %v: %v", x.Notify, x.Err)
	case ike.AuthFailed:
		ev.Event, ev.SPIs, ev.Error = EventError, x.SPIs.String(), fmt.Sprintf("authentication failed (by peer: %v): %v", x.ByPeer, x.Err)
	default:
		return ev, false
	}
	return ev, true
}
