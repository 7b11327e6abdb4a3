package ike

import (
	"net/netip"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// Traffic selector arithmetic for narrowing (RFC 7296 §2.9).

var (
	anyIPv4 = wire.TrafficSelector{Type: wire.TSIPv4AddrRange, EndPort: 0xffff,
		StartAddr: netip.IPv4Unspecified(), EndAddr: netip.AddrFrom4([4]byte{255, 255, 255, 255})}
	anyIPv6 = wire.TrafficSelector{Type: wire.TSIPv6AddrRange, EndPort: 0xffff,
		StartAddr: netip.IPv6Unspecified(), EndAddr: netip.AddrFrom16([16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})}
)

// AnyTS returns selectors for every address of both families, any protocol
// and port.
func AnyTS() []wire.TrafficSelector { return []wire.TrafficSelector{anyIPv6, anyIPv4} }

// intersect returns the selector that a and b have in common.
func intersect(a, b wire.TrafficSelector) (wire.TrafficSelector, bool) {
	if a.Type != b.Type || a.Raw != nil || b.Raw != nil {
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
	if opaque(a) || opaque(b) {
		// OPAQUE ports (start > end) only meet themselves or "any".
		switch {
		case opaque(a) && (opaque(b) || anyPorts(b)):
			r.StartPort, r.EndPort = a.StartPort, a.EndPort
		case opaque(b) && anyPorts(a):
			r.StartPort, r.EndPort = b.StartPort, b.EndPort
		default:
			return wire.TrafficSelector{}, false
		}
	} else {
		r.StartPort, r.EndPort = max(a.StartPort, b.StartPort), min(a.EndPort, b.EndPort)
		if r.StartPort > r.EndPort {
			return wire.TrafficSelector{}, false
		}
	}
	r.StartAddr = maxAddr(a.StartAddr, b.StartAddr)
	r.EndAddr = minAddr(a.EndAddr, b.EndAddr)
	if r.EndAddr.Less(r.StartAddr) {
		return wire.TrafficSelector{}, false
	}
	return r, true
}

func opaque(t wire.TrafficSelector) bool   { return t.StartPort > t.EndPort }
func anyPorts(t wire.TrafficSelector) bool { return t.StartPort == 0 && t.EndPort == 0xffff }

func maxAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return b
	}
	return a
}

func minAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return a
	}
	return b
}

// intersectAll returns every non-empty intersection of a selector of as
// with one of bs, without duplicates. An empty bs means no restriction.
func intersectAll(as, bs []wire.TrafficSelector) []wire.TrafficSelector {
	if len(bs) == 0 {
		return cloneTS(as)
	}
	var r []wire.TrafficSelector
	for _, a := range as {
		for _, b := range bs {
			if x, ok := intersect(a, b); ok && !containsTS(r, x) {
				r = append(r, x)
			}
		}
	}
	return r
}

// covers reports whether outer contains every packet inner selects.
func covers(outer, inner wire.TrafficSelector) bool {
	x, ok := intersect(outer, inner)
	return ok && x.IPProtocol == inner.IPProtocol && x.StartPort == inner.StartPort && x.EndPort == inner.EndPort &&
		x.StartAddr == inner.StartAddr && x.EndAddr == inner.EndAddr
}

// subset reports whether every selector of inner lies within one of outer.
func subset(inner, outer []wire.TrafficSelector) bool {
	for _, i := range inner {
		ok := false
		for _, o := range outer {
			if covers(o, i) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func containsTS(ts []wire.TrafficSelector, x wire.TrafficSelector) bool {
	for _, t := range ts {
		if t.Type == x.Type && t.IPProtocol == x.IPProtocol && t.StartPort == x.StartPort && t.EndPort == x.EndPort &&
			t.StartAddr == x.StartAddr && t.EndAddr == x.EndAddr {
			return true
		}
	}
	return false
}

// cloneTS copies selectors so that they do not alias a parsed message.
func cloneTS(ts []wire.TrafficSelector) []wire.TrafficSelector {
	r := make([]wire.TrafficSelector, 0, len(ts))
	for _, t := range ts {
		t.Raw = nil
		if t.Type == wire.TSIPv4AddrRange || t.Type == wire.TSIPv6AddrRange {
			r = append(r, t)
		}
	}
	return r
}

// addrSelectors returns, for each assigned address, the requested
// selectors narrowed to that single address (RFC 7296 §2.9: TSi = the
// assigned address, e.g. HoA/128).
func addrSelectors(requested []wire.TrafficSelector, a Assignment) []wire.TrafficSelector {
	var narrowed []wire.TrafficSelector
	for _, addr := range []netip.Addr{a.IPv6.Addr(), a.IPv4} {
		if !addr.IsValid() {
			continue
		}
		narrowed = append(narrowed, intersectAll(requested, []wire.TrafficSelector{wire.AddrSelector(addr)})...)
	}
	return narrowed
}

// parseTS parses the TSi or TSr payload of a message.
func parseTS(in *inbound, t wire.PayloadType) ([]wire.TrafficSelector, bool) {
	p, ok := in.first(t)
	if !ok {
		return nil, false
	}
	var ts wire.TS
	if err := wire.ParseTS(p.Body, &ts); err != nil {
		return nil, false
	}
	return cloneTS(ts.Selectors), true
}
