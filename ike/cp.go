package ike

import (
	"net/netip"
	"slices"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// The configuration concern (RFC 7296 §2.19, §3.15; RFC 5026 §5.3, §8.2):
// CFG_REQUEST from the initiator, CFG_REPLY from the responder.

// cpRequest returns the initiator's CFG_REQUEST, nil if it asks nothing.
func cpRequest(r CPRequest) *wire.CP {
	if r.Empty() {
		return nil
	}
	cp := &wire.CP{Type: wire.CFGRequest}
	if r.IPv6 || r.SuggestIPv6.IsValid() {
		a := wire.CFGAttribute{Type: wire.CFGInternalIP6Address}
		if r.SuggestIPv6.IsValid() {
			a.Addr, a.PrefixLen = r.SuggestIPv6.Addr(), uint8(r.SuggestIPv6.Bits())
		}
		cp.Attributes = append(cp.Attributes, a)
	}
	if r.IPv4 || r.SuggestIPv4.IsValid() {
		cp.Attributes = append(cp.Attributes, wire.CFGAttribute{Type: wire.CFGInternalIP4Address, Addr: r.SuggestIPv4})
	}
	if r.DNS {
		if r.IPv6 || r.SuggestIPv6.IsValid() || !r.IPv4 {
			cp.Attributes = append(cp.Attributes, wire.CFGAttribute{Type: wire.CFGInternalIP6DNS})
		}
		if r.IPv4 || r.SuggestIPv4.IsValid() {
			cp.Attributes = append(cp.Attributes, wire.CFGAttribute{Type: wire.CFGInternalIP4DNS})
		}
	}
	if r.HomePrefix {
		cp.Attributes = append(cp.Attributes, wire.CFGAttribute{Type: wire.CFGMIP6HomePrefix})
	}
	return cp
}

// parseCPRequest returns the peer's CFG_REQUEST, nil if it sent none.
func parseCPRequest(in *inbound) *AddressRequest {
	p, ok := in.first(wire.PayloadCP)
	if !ok {
		return nil
	}
	var cp wire.CP
	if err := wire.ParseCP(p.Body, &cp); err != nil || cp.Type != wire.CFGRequest {
		return nil
	}
	req := &AddressRequest{Attributes: slices.Clone(cp.Attributes)}
	for i := range req.Attributes {
		a := &req.Attributes[i]
		a.Value = slices.Clone(a.Value)
		switch a.Type {
		case wire.CFGInternalIP6Address:
			req.IPv6 = true
			if a.Addr.IsValid() && !a.Addr.IsUnspecified() {
				req.SuggestedIPv6 = netip.PrefixFrom(a.Addr, int(a.PrefixLen))
			}
		case wire.CFGInternalIP4Address:
			req.IPv4 = true
			if a.Addr.IsValid() && !a.Addr.IsUnspecified() {
				req.SuggestedIPv4 = a.Addr
			}
		case wire.CFGInternalIP6DNS:
			req.DNS6 = true
		case wire.CFGInternalIP4DNS:
			req.DNS4 = true
		case wire.CFGMIP6HomePrefix:
			req.HomePrefix = true
			if a.Addr.IsValid() && !a.Addr.IsUnspecified() {
				req.SuggestedHomePrefix = netip.PrefixFrom(a.Addr, int(a.PrefixLen))
			}
		}
	}
	return req
}

// cpReply returns the CFG_REPLY for what was assigned, answering only the
// attribute types that were requested (RFC 7296 §3.15.1).
func cpReply(req *AddressRequest, a Assignment) *wire.CP {
	cp := &wire.CP{Type: wire.CFGReply}
	if req.IPv6 && a.IPv6.IsValid() {
		cp.Attributes = append(cp.Attributes, wire.CFGAttribute{Type: wire.CFGInternalIP6Address, Addr: a.IPv6.Addr(), PrefixLen: uint8(a.IPv6.Bits())})
	}
	if req.IPv4 && a.IPv4.IsValid() {
		cp.Attributes = append(cp.Attributes, wire.CFGAttribute{Type: wire.CFGInternalIP4Address, Addr: a.IPv4})
	}
	for _, d := range a.DNS {
		switch {
		case d.Is6() && !d.Is4In6() && req.DNS6:
			cp.Attributes = append(cp.Attributes, wire.CFGAttribute{Type: wire.CFGInternalIP6DNS, Addr: d})
		case (d.Is4() || d.Is4In6()) && req.DNS4:
			cp.Attributes = append(cp.Attributes, wire.CFGAttribute{Type: wire.CFGInternalIP4DNS, Addr: d.Unmap()})
		}
	}
	if req.HomePrefix && a.HomePrefix.IsValid() {
		cp.Attributes = append(cp.Attributes, wire.CFGAttribute{Type: wire.CFGMIP6HomePrefix, Addr: a.HomePrefix.Addr(), PrefixLen: uint8(a.HomePrefix.Bits()), Lifetime: a.HomePrefixLifetime})
	}
	return cp
}

// assignmentRequested reports whether a gives at least one address the
// request asked for.
func assignmentAnswers(req *AddressRequest, a Assignment) bool {
	return req.IPv6 && a.IPv6.IsValid() || req.IPv4 && a.IPv4.IsValid() || req.HomePrefix && a.HomePrefix.IsValid()
}

// parseCPReply returns what a CFG_REPLY assigns, nil if there is none.
func parseCPReply(in *inbound) *Assignment {
	p, ok := in.first(wire.PayloadCP)
	if !ok {
		return nil
	}
	var cp wire.CP
	if err := wire.ParseCP(p.Body, &cp); err != nil || cp.Type != wire.CFGReply {
		return nil
	}
	a := &Assignment{}
	for _, at := range cp.Attributes {
		if !at.Addr.IsValid() {
			continue
		}
		switch at.Type {
		case wire.CFGInternalIP6Address:
			if !a.IPv6.IsValid() {
				a.IPv6 = netip.PrefixFrom(at.Addr, int(at.PrefixLen))
			}
		case wire.CFGInternalIP4Address:
			if !a.IPv4.IsValid() {
				a.IPv4 = at.Addr
			}
		case wire.CFGInternalIP6DNS, wire.CFGInternalIP4DNS:
			a.DNS = append(a.DNS, at.Addr)
		case wire.CFGMIP6HomePrefix:
			a.HomePrefix, a.HomePrefixLifetime = netip.PrefixFrom(at.Addr, int(at.PrefixLen)), at.Lifetime
		}
	}
	return a
}
