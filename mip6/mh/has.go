package mh

import "net/netip"

// MaxHomeAgentSwitchAddresses is the most addresses a Home Agent Switch can
// carry: the "# of Addresses" octet allows 255, but a Mobility Header ends
// at [MaxLen] octets, which leaves room for 127.
const MaxHomeAgentSwitchAddresses = (MaxLen - hasFixed) / 16

// HomeAgentSwitch is the Home Agent Switch message (MH Type 12,
// RFC 5142 §4): the home agent asks the mobile node to register with
// another home agent.
//
//	6: # of Addresses   7: reserved   8: Home Agent Addresses (16 each)   8+16N: options
type HomeAgentSwitch struct {
	// Addresses are the alternate home agents, most preferred first. An
	// empty list tells the mobile node to run home agent discovery.
	// Append encodes at most MaxHomeAgentSwitchAddresses of them.
	Addresses []netip.Addr
	// Options may carry a Binding Refresh Advice: the time until this
	// home agent deletes the binding (RFC 5142 §5.1).
	Options Options
}

const hasFixed = 8

// Type returns [TypeHomeAgentSwitch].
func (HomeAgentSwitch) Type() Type { return TypeHomeAgentSwitch }

func (m HomeAgentSwitch) count() int { return min(len(m.Addresses), MaxHomeAgentSwitchAddresses) }

// Len is the length of the Mobility Header.
func (m HomeAgentSwitch) Len() int {
	start := hasFixed + 16*m.count()
	return start + m.Options.areaLen(start)
}

// Append appends the Mobility Header with a zero checksum.
func (m HomeAgentSwitch) Append(b []byte) []byte {
	n := m.count()
	b = appendHeader(b, TypeHomeAgentSwitch, m.Len())
	b = append(b, byte(n), 0)
	for _, a := range m.Addresses[:n] {
		a16 := a.As16()
		b = append(b, a16[:]...)
	}
	return m.Options.appendArea(b, hasFixed+16*n)
}

// ParseHomeAgentSwitch decodes a Home Agent Switch. Addresses is a new
// slice; Options is a view into h.
func ParseHomeAgentSwitch(h Header) (HomeAgentSwitch, error) {
	if err := h.body(TypeHomeAgentSwitch); err != nil {
		return HomeAgentSwitch{}, err
	}
	n := int(h[6])
	start := hasFixed + 16*n
	opts := Options(h[start:])
	if err := opts.check(start, "Home Agent Switch"); err != nil {
		return HomeAgentSwitch{}, err
	}
	var addrs []netip.Addr
	if n > 0 {
		addrs = make([]netip.Addr, n)
		for i := range addrs {
			addrs[i] = netip.AddrFrom16([16]byte(h[hasFixed+16*i:]))
		}
	}
	return HomeAgentSwitch{Addresses: addrs, Options: opts}, nil
}
