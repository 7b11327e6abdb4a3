package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// TS is the body of a Traffic Selector payload (RFC 7296 §3.13): a packet
// matches if it matches one selector of TSi and one of TSr. The TSi and TSr
// payload types wrap it.
type TS struct {
	Selectors []TrafficSelector
}

// TSi is the Traffic Selector - Initiator payload.
type TSi TS

// TSr is the Traffic Selector - Responder payload.
type TSr TS

// TrafficSelector is one Traffic Selector (RFC 7296 §3.13.1).
//
// Ports carry the ICMP, ICMPv6 and Mobility Header conventions of RFC 4301
// §4.4.1.1: ICMP type in the high octet and code in the low octet; MH type in
// the high octet with the low octet 0 (BU 0x0500, BA 0x0600). See
// MHTypeRange. Any port is 0–65535, OPAQUE only is 65535–0.
type TrafficSelector struct {
	Type TSType
	// IPProtocol is the IP Protocol ID, 0 for any.
	IPProtocol uint8
	// StartPort and EndPort bound the port range (inclusive).
	StartPort, EndPort uint16
	// StartAddr and EndAddr bound the address range (inclusive); IPv4 for
	// TSIPv4AddrRange, IPv6 for TSIPv6AddrRange.
	StartAddr, EndAddr netip.Addr
	// Raw holds a whole selector of a type this package does not know (TS
	// Type, second octet and Selector Length included); it is empty for
	// types 7 and 8.
	Raw []byte
}

// Well-known IP protocol numbers for selectors.
const (
	IPProtocolICMP   = 1
	IPProtocolTCP    = 6
	IPProtocolUDP    = 17
	IPProtocolICMPv6 = 58
	IPProtocolMH     = 135 // IPv6 Mobility Header (RFC 6275)
)

// AddrSelector returns a selector for the single address a, any protocol and
// any port (an IPv4-mapped address becomes an IPv4 selector).
func AddrSelector(a netip.Addr) TrafficSelector {
	a = a.Unmap()
	return TrafficSelector{Type: tsTypeOf(a), EndPort: 0xffff, StartAddr: a, EndAddr: a}
}

// PrefixSelector returns a selector for the addresses of p, any protocol and
// any port.
func PrefixSelector(p netip.Prefix) TrafficSelector {
	p = p.Masked()
	first := p.Addr()
	last := first.AsSlice()
	for i := p.Bits(); i < len(last)*8; i++ {
		last[i/8] |= 0x80 >> (i % 8)
	}
	end, _ := netip.AddrFromSlice(last)
	return TrafficSelector{Type: tsTypeOf(first), EndPort: 0xffff, StartAddr: first, EndAddr: end}
}

func tsTypeOf(a netip.Addr) TSType {
	if a.Is4() {
		return TSIPv4AddrRange
	}
	return TSIPv6AddrRange
}

// MHTypeRange returns the port range that selects the Mobility Header types
// first through last (RFC 7296 §3.13.1, RFC 4301 §4.4.1.1): the type in the
// high octet, the low octet zero.
func MHTypeRange(first, last uint8) (start, end uint16) {
	return uint16(first) << 8, uint16(last) << 8
}

// MHTypes returns the Mobility Header types a protocol-135 selector covers.
func (ts TrafficSelector) MHTypes() (first, last uint8, ok bool) {
	if ts.IPProtocol != IPProtocolMH {
		return 0, 0, false
	}
	return uint8(ts.StartPort >> 8), uint8(ts.EndPort >> 8), true
}

// String formats the selector as "proto [start-end] addr..addr".
func (ts TrafficSelector) String() string {
	if len(ts.Raw) != 0 {
		return fmt.Sprintf("%v %x", ts.Type, ts.Raw)
	}
	return fmt.Sprintf("%d [%d-%d] %v..%v", ts.IPProtocol, ts.StartPort, ts.EndPort, ts.StartAddr, ts.EndAddr)
}

// ParseTS parses the body of a TSi or TSr payload (its errors name TSi)
// into dst, reusing dst.Selectors. It checks that Number of TSs is at least 1 and matches the
// selectors present, and that selectors of types 7 and 8 are 16 and 40
// octets long (RFC 7296 §3.13). Selectors of other types are kept in Raw.
func ParseTS(b []byte, dst *TS) error { return parseTS(PayloadTSi, b, dst) }

// parseTS parses into dst, or only checks the syntax when dst is nil.
func parseTS(t PayloadType, b []byte, dst *TS) error {
	if dst != nil {
		dst.Selectors = dst.Selectors[:0]
	}
	if len(b) < 4 {
		return syntaxError(t, 0, "TS payload shorter than 4 octets")
	}
	want := int(b[0])
	if want == 0 {
		return syntaxError(t, 0, "Number of TSs is 0")
	}
	off, count := 4, 0
	for off < len(b) {
		if len(b)-off < 4 {
			return syntaxError(t, off, "truncated Traffic Selector")
		}
		n := int(binary.BigEndian.Uint16(b[off+2:]))
		if n < 4 || n > len(b)-off {
			return syntaxError(t, off+2, "Selector Length outside the TS payload")
		}
		s := b[off : off+n : off+n]
		ts := TrafficSelector{Type: TSType(s[0])}
		switch ts.Type {
		case TSIPv4AddrRange, TSIPv6AddrRange:
			alen := 4
			if ts.Type == TSIPv6AddrRange {
				alen = 16
			}
			if n != 8+2*alen {
				return syntaxError(t, off+2, "Selector Length does not match the TS Type")
			}
			ts.IPProtocol = s[1]
			ts.StartPort = binary.BigEndian.Uint16(s[4:6])
			ts.EndPort = binary.BigEndian.Uint16(s[6:8])
			ts.StartAddr, _ = netip.AddrFromSlice(s[8 : 8+alen])
			ts.EndAddr, _ = netip.AddrFromSlice(s[8+alen:])
		default:
			ts.Raw = s
		}
		if dst != nil {
			dst.Selectors = append(dst.Selectors, ts)
		}
		off += n
		count++
	}
	if count != want {
		return syntaxError(t, 0, "Number of TSs does not match the selectors present")
	}
	return nil
}

// Len returns the length of the selector.
func (ts TrafficSelector) Len() int {
	switch {
	case len(ts.Raw) != 0:
		return len(ts.Raw)
	case ts.Type == TSIPv4AddrRange:
		return 16
	}
	return 40
}

// Append appends the selector to b.
func (ts TrafficSelector) Append(b []byte) []byte {
	if len(ts.Raw) != 0 {
		return append(b, ts.Raw...)
	}
	b = append(b, byte(ts.Type), ts.IPProtocol)
	b = binary.BigEndian.AppendUint16(b, uint16(ts.Len()))
	b = binary.BigEndian.AppendUint16(b, ts.StartPort)
	b = binary.BigEndian.AppendUint16(b, ts.EndPort)
	if ts.Type == TSIPv4AddrRange {
		s, e := ts.StartAddr.As4(), ts.EndAddr.As4()
		return append(append(b, s[:]...), e[:]...)
	}
	s, e := ts.StartAddr.As16(), ts.EndAddr.As16()
	return append(append(b, s[:]...), e[:]...)
}

func (ts TrafficSelector) validate() error {
	if len(ts.Raw) != 0 {
		if len(ts.Raw) < 4 || TSType(ts.Raw[0]) != ts.Type ||
			int(binary.BigEndian.Uint16(ts.Raw[2:])) != len(ts.Raw) {
			return valueError("raw traffic selector does not carry its own type and length")
		}
		return nil
	}
	switch ts.Type {
	case TSIPv4AddrRange:
		if !ts.StartAddr.Is4() || !ts.EndAddr.Is4() {
			return valueError("TS_IPV4_ADDR_RANGE with addresses %v..%v", ts.StartAddr, ts.EndAddr)
		}
	case TSIPv6AddrRange:
		if !ts.StartAddr.Is6() || !ts.EndAddr.Is6() {
			return valueError("TS_IPV6_ADDR_RANGE with addresses %v..%v", ts.StartAddr, ts.EndAddr)
		}
	default:
		return valueError("traffic selector type %v without Raw encoding", ts.Type)
	}
	return nil
}

// Len returns the length of the TS payload body.
func (t TS) Len() int {
	n := 4
	for i := range t.Selectors {
		n += t.Selectors[i].Len()
	}
	return n
}

// Append appends the TS payload body to b.
func (t TS) Append(b []byte) []byte {
	b = append(b, byte(len(t.Selectors)), 0, 0, 0)
	for i := range t.Selectors {
		b = t.Selectors[i].Append(b)
	}
	return b
}

func (t TS) validate() error {
	if len(t.Selectors) == 0 || len(t.Selectors) > 255 {
		return valueError("TS payload with %d selectors", len(t.Selectors))
	}
	for i := range t.Selectors {
		if err := t.Selectors[i].validate(); err != nil {
			return err
		}
	}
	return nil
}

// PayloadType returns PayloadTSi.
func (TSi) PayloadType() PayloadType { return PayloadTSi }

// Len returns the length of the payload body.
func (t TSi) Len() int { return TS(t).Len() }

// Append appends the payload body to b.
func (t TSi) Append(b []byte) []byte { return TS(t).Append(b) }

func (t TSi) validate() error { return TS(t).validate() }

// PayloadType returns PayloadTSr.
func (TSr) PayloadType() PayloadType { return PayloadTSr }

// Len returns the length of the payload body.
func (t TSr) Len() int { return TS(t).Len() }

// Append appends the payload body to b.
func (t TSr) Append(b []byte) []byte { return TS(t).Append(b) }

func (t TSr) validate() error { return TS(t).validate() }

// TSType is the TS Type of a traffic selector (RFC 7296 §3.13.1).
type TSType uint8

// Traffic selector types (RFC 7296 §3.13.1).
const (
	TSIPv4AddrRange TSType = 7 // TS_IPV4_ADDR_RANGE
	TSIPv6AddrRange TSType = 8 // TS_IPV6_ADDR_RANGE
)

var tsNames = map[TSType]string{TSIPv4AddrRange: "TS_IPV4_ADDR_RANGE", TSIPv6AddrRange: "TS_IPV6_ADDR_RANGE"}

// String returns the RFC name of the type.
func (t TSType) String() string { return name(tsNames, t, "TSType") }
