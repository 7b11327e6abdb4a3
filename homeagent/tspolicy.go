package homeagent

import (
	"errors"
	"net/netip"
	"slices"

	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// homeTSPolicy is the home agent's traffic selector narrowing (RFC 7296
// §2.9): a peer's TSi is narrowed to the inner addresses we assigned it
// (HoA/128, its IPv4 address /32), so that no peer can claim addresses that
// are not its own, and TSr to the prefixes we serve (local-ts). A peer that
// was assigned nothing gets no CHILD_SA (TS_UNACCEPTABLE): the home agent
// only routes addresses it leased.
type homeTSPolicy struct {
	local []wire.TrafficSelector // empty: any
}

var errNoAssignment = errors.New("no inner address assigned: the home agent only carries leased addresses")

// Narrow implements ike.TSPolicy.
func (p homeTSPolicy) Narrow(req ike.TSRequest) (tsi, tsr []wire.TrafficSelector, err error) {
	for _, a := range []netip.Addr{req.Assignment.IPv6.Addr(), req.Assignment.IPv4} {
		if a.IsValid() {
			tsi = append(tsi, intersectTS(req.TSi, []wire.TrafficSelector{wire.AddrSelector(a)})...)
		}
	}
	if !req.Assignment.IPv6.IsValid() && !req.Assignment.IPv4.IsValid() {
		return nil, nil, errNoAssignment
	}
	if len(p.local) == 0 {
		tsr = append(tsr, req.TSr...)
	} else {
		tsr = intersectTS(req.TSr, p.local)
	}
	return tsi, tsr, nil
}

// selectorsOf returns address-range selectors (any protocol, any port) for
// prefixes.
func selectorsOf(ps []netip.Prefix) []wire.TrafficSelector {
	ts := make([]wire.TrafficSelector, 0, len(ps))
	for _, p := range ps {
		ts = append(ts, wire.PrefixSelector(p))
	}
	return ts
}

// intersectTS returns the non-empty intersections of each selector of as
// with each of bs, each once.
func intersectTS(as, bs []wire.TrafficSelector) []wire.TrafficSelector {
	var r []wire.TrafficSelector
	for _, a := range as {
		for _, b := range bs {
			if x, ok := intersectSelector(a, b); ok && !slices.ContainsFunc(r, func(y wire.TrafficSelector) bool { return sameSelector(x, y) }) {
				r = append(r, x)
			}
		}
	}
	return r
}

func sameSelector(a, b wire.TrafficSelector) bool {
	return a.Type == b.Type && a.IPProtocol == b.IPProtocol && a.StartPort == b.StartPort && a.EndPort == b.EndPort &&
		a.StartAddr == b.StartAddr && a.EndAddr == b.EndAddr
}

// intersectSelector returns the packets both a and b select: the same
// selector type, the protocol of the more specific one, the overlap of the
// port ranges (OPAQUE ports only meet themselves or any port) and of the
// address ranges.
func intersectSelector(a, b wire.TrafficSelector) (wire.TrafficSelector, bool) {
	if a.Type != b.Type || (a.Type != wire.TSIPv4AddrRange && a.Type != wire.TSIPv6AddrRange) {
		return wire.TrafficSelector{}, false
	}
	r := wire.TrafficSelector{Type: a.Type}
	switch {
	case a.IPProtocol == 0:
		r.IPProtocol = b.IPProtocol
	case b.IPProtocol == 0 || a.IPProtocol == b.IPProtocol:
		r.IPProtocol = a.IPProtocol
	default:
		return wire.TrafficSelector{}, false
	}
	opaque := func(t wire.TrafficSelector) bool { return t.StartPort > t.EndPort }
	anyPort := func(t wire.TrafficSelector) bool { return t.StartPort == 0 && t.EndPort == 0xffff }
	switch {
	case opaque(a) && (opaque(b) || anyPort(b)):
		r.StartPort, r.EndPort = a.StartPort, a.EndPort
	case opaque(b) && anyPort(a):
		r.StartPort, r.EndPort = b.StartPort, b.EndPort
	case opaque(a) || opaque(b):
		return wire.TrafficSelector{}, false
	default:
		r.StartPort, r.EndPort = max(a.StartPort, b.StartPort), min(a.EndPort, b.EndPort)
		if r.StartPort > r.EndPort {
			return wire.TrafficSelector{}, false
		}
	}
	r.StartAddr, r.EndAddr = a.StartAddr, a.EndAddr
	if r.StartAddr.Less(b.StartAddr) {
		r.StartAddr = b.StartAddr
	}
	if b.EndAddr.Less(r.EndAddr) {
		r.EndAddr = b.EndAddr
	}
	if r.EndAddr.Less(r.StartAddr) {
		return wire.TrafficSelector{}, false
	}
	return r, true
}
