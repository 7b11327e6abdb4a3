package mh

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// IPv6 Next Header values used by this file.
const (
	protoHopByHop = 0
	protoRouting  = 43
	protoFragment = 44
	protoDstOpts  = 60
)

// DefaultHopLimit is the Hop Limit [AppendPacket] writes when IPv6.HopLimit
// is zero.
const DefaultHopLimit = 64

// optHomeAddress is the Home Address destination option type, 0xC9: "skip
// not", "discard and send ICMP unless multicast", data does not change en
// route (RFC 6275 §6.3).
const optHomeAddress = 0xC9

// IPv6 describes the IPv6 header of a packet carrying a Mobility Header and
// the two Mobile IPv6 extension headers that may come with it.
//
// Inside the ESP tunnel (RFC 4877 §3, the form this project uses) neither
// extension header is present: a Binding Update goes HoA → HA with an
// Alternate Care-of Address option, the Binding Acknowledgement HA → HoA.
// Natively a Binding Update goes CoA → HA with HAO = HoA, and the answer
// HA → CoA with RH2 = HoA (RFC 6275 §9.5.4, §11.7.1).
type IPv6 struct {
	Src, Dst netip.Addr // the addresses in the IPv6 header
	HopLimit uint8      // zero means DefaultHopLimit when building
	// HAO is the address of the Home Address destination option
	// (RFC 6275 §6.3); the zero Addr means the packet has none.
	HAO netip.Addr
	// RH2 is the address of the type 2 routing header (RFC 6275 §6.4);
	// the zero Addr means the packet has none.
	RH2 netip.Addr
	// RH2Processed is set by ParsePacket when the routing header's
	// Segments Left is 0, i.e. the node that captured the packet already
	// swapped RH2 and Dst. AppendPacket always writes Segments Left 1.
	RH2Processed bool
}

// PseudoHeader returns the addresses of the checksum pseudo-header: the
// source after Home Address option processing (HAO if present, else Src)
// and the final destination (RH2 if present and not yet processed, else
// Dst) (RFC 6275 §6.1.1).
func (ip IPv6) PseudoHeader() (src, dst netip.Addr) {
	src, dst = ip.Src, ip.Dst
	if ip.HAO.IsValid() {
		src = ip.HAO
	}
	if ip.RH2.IsValid() && !ip.RH2Processed {
		dst = ip.RH2
	}
	return src, dst
}

// HoA returns the home address the packet speaks for, as a receiver
// determines it for a Binding Update (RFC 6275 §9.5.1): the Home Address
// option if present, else the source.
func (ip IPv6) HoA() netip.Addr {
	if ip.HAO.IsValid() {
		return ip.HAO
	}
	return ip.Src
}

// HeadersLen is the length of the IPv6 header and the extension headers
// AppendPacket writes for ip.
func (ip IPv6) HeadersLen() int {
	n := 40
	if ip.RH2.IsValid() {
		n += 24
	}
	if ip.HAO.IsValid() {
		n += 24
	}
	return n
}

// AppendPacket appends a whole IPv6 packet carrying m: the IPv6 header,
// the type 2 routing header and Home Address destination option if ip has
// them (in that order, RFC 6275 §6.3), then the Mobility Header with its
// checksum computed over ip.PseudoHeader().
func AppendPacket[M Message](b []byte, ip IPv6, m M) []byte {
	b = ip.AppendHeaders(b, m.Len())
	start := len(b)
	b = m.Append(b)
	src, dst := ip.PseudoHeader()
	SetChecksum(b[start:], src, dst)
	return b
}

// AppendHeaders appends the IPv6 header, with the payload length for a
// Mobility Header of mhLen octets, and the extension headers of ip (see
// AppendPacket). Append the Mobility Header after it and set its checksum
// over ip.PseudoHeader(); AppendPacket does all three.
func (ip IPv6) AppendHeaders(b []byte, mhLen int) []byte {
	nh := byte(ProtoMH)
	hlim := ip.HopLimit
	if hlim == 0 {
		hlim = DefaultHopLimit
	}
	first := nh
	if ip.HAO.IsValid() {
		first = protoDstOpts
	}
	if ip.RH2.IsValid() {
		first = protoRouting
	}
	b = binary.BigEndian.AppendUint32(b, 6<<28)
	b = binary.BigEndian.AppendUint16(b, uint16(ip.HeadersLen()-40+mhLen))
	b = append(b, first, hlim)
	s, d := ip.Src.As16(), ip.Dst.As16()
	b = append(append(b, s[:]...), d[:]...)
	if ip.RH2.IsValid() {
		next := nh
		if ip.HAO.IsValid() {
			next = protoDstOpts
		}
		b = Type2RoutingHeader{NextHeader: next, SegmentsLeft: 1, HoA: ip.RH2}.Append(b)
	}
	if ip.HAO.IsValid() {
		b = HomeAddressOption{NextHeader: nh, HoA: ip.HAO}.Append(b)
	}
	return b
}

// maxExtensionHeaders bounds the extension headers ParsePacket walks.
const maxExtensionHeaders = 8

// ParsePacket parses an IPv6 packet that carries a Mobility Header: the
// IPv6 header, any Hop-by-Hop and Destination Options headers (noting a
// Home Address option), a type 2 routing header, and the Mobility Header,
// to which it applies the checks of [Header.Check] with the pseudo-header
// of ip.PseudoHeader(). Error offsets count from the start of b, so the
// offset of an [ErrPayloadProto] or [ErrHeaderLen] error is the pointer of
// the ICMPv6 Parameter Problem RFC 6275 §9.2 asks for.
//
// When the IPv6 header parsed, ip is returned even with an error, and h
// when the Mobility Header was framed: a receiver needs them to answer an
// unknown MH Type with a Binding Error. Fragments, other routing types with
// Segments Left > 0, and destination options that require discarding
// give [ErrIPv6]; any other upper layer gives [ErrNotMH].
func ParsePacket(b []byte) (ip IPv6, h Header, err error) {
	if len(b) < 40 {
		return ip, nil, parseError(ErrTruncated, len(b), "IPv6 header")
	}
	if b[0]>>4 != 6 {
		return ip, nil, parseError(ErrIPv6, 0, "IPv6 header")
	}
	end := 40 + int(binary.BigEndian.Uint16(b[4:6]))
	if end > len(b) {
		return ip, nil, parseError(ErrTruncated, 4, "IPv6 header")
	}
	b = b[:end:end]
	ip.Src = netip.AddrFrom16([16]byte(b[8:24]))
	ip.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	ip.HopLimit = b[7]
	nh, nhOff, off := b[6], 6, 40
	for range maxExtensionHeaders {
		switch nh {
		case ProtoMH:
			h, err = Parse(b[off:])
			if err != nil {
				return ip, nil, shift(err, off)
			}
			src, dst := ip.PseudoHeader()
			return ip, h, shift(h.Check(src, dst), off)
		case protoHopByHop, protoDstOpts:
			if nh == protoHopByHop && nhOff != 6 {
				return ip, nil, parseError(ErrIPv6, nhOff, "Hop-by-Hop Options header")
			}
			o, n, err := ParseHomeAddressOption(b[off:])
			if err != nil {
				return ip, nil, shift(err, off)
			}
			if o.HoA.IsValid() {
				if nh == protoHopByHop || ip.HAO.IsValid() {
					return ip, nil, parseError(ErrIPv6, off, "Home Address option")
				}
				ip.HAO = o.HoA
			}
			nh, nhOff, off = o.NextHeader, off, off+n
		case protoRouting:
			r, n, err := ParseType2RoutingHeader(b[off:])
			switch {
			case err == nil:
				if ip.RH2.IsValid() {
					return ip, nil, parseError(ErrIPv6, off, "type 2 routing header")
				}
				ip.RH2, ip.RH2Processed = r.HoA, r.SegmentsLeft == 0
			case errors.Is(err, errOtherRoutingType) && b[off+3] == 0:
				// Another routing type already consumed: ignore it (RFC 8200 §4.4).
			default:
				return ip, nil, shift(err, off)
			}
			nh, nhOff, off = b[off], off, off+n
		case protoFragment:
			return ip, nil, parseError(ErrIPv6, nhOff, "Fragment header")
		default:
			return ip, nil, parseError(ErrNotMH, nhOff, "IPv6 packet")
		}
	}
	return ip, nil, parseError(ErrIPv6, off, "IPv6 extension headers")
}

// shift moves the offset of a *ParseError by off.
func shift(err error, off int) error {
	if pe, ok := err.(*ParseError); ok {
		pe.Offset += off
	}
	return err
}

// HomeAddressOption is a Destination Options header (IPv6 Next Header 60)
// carrying the Home Address option (RFC 6275 §6.3): Next Header, Hdr Ext
// Len 2, a 4-octet PadN, then option 0xC9 with the home address at the
// 8n+6 alignment the RFC requires. 24 octets.
type HomeAddressOption struct {
	NextHeader uint8
	HoA        netip.Addr
}

// Len is the header's length (24).
func (HomeAddressOption) Len() int { return 24 }

// Append appends the Destination Options header.
func (o HomeAddressOption) Append(b []byte) []byte {
	a := o.HoA.As16()
	b = append(b, o.NextHeader, 2, 1, 2, 0, 0, optHomeAddress, 16)
	return append(b, a[:]...)
}

// ParseHomeAddressOption parses the Destination Options (or Hop-by-Hop)
// header at the start of b and returns its Next Header and the address of
// its Home Address option (the zero Addr if it has none), and the header
// length. A second Home Address option, a Home Address option whose length
// is not 16, an option overrunning the header, and an unknown option whose
// action bits demand discarding (RFC 8200 §4.2) give [ErrIPv6].
func ParseHomeAddressOption(b []byte) (o HomeAddressOption, n int, err error) {
	const what = "Destination Options header"
	if len(b) < 8 {
		return o, 0, parseError(ErrTruncated, len(b), what)
	}
	n = (int(b[1]) + 1) * 8
	if n > len(b) {
		return o, 0, parseError(ErrTruncated, 1, what)
	}
	o.NextHeader = b[0]
	for i := 2; i < n; {
		t := b[i]
		if t == 0 { // Pad1
			i++
			continue
		}
		if i+2 > n || i+2+int(b[i+1]) > n {
			return o, 0, parseError(ErrIPv6, i, what)
		}
		l := int(b[i+1])
		switch {
		case t == 1: // PadN
		case t == optHomeAddress:
			if l != 16 || o.HoA.IsValid() {
				return o, 0, parseError(ErrIPv6, i, what)
			}
			o.HoA = netip.AddrFrom16([16]byte(b[i+2 : i+18]))
		case t>>6 != 0:
			return o, 0, parseError(ErrIPv6, i, what)
		}
		i += 2 + l
	}
	return o, n, nil
}

// Type2RoutingHeader is the type 2 routing header (IPv6 Next Header 43,
// RFC 6275 §6.4): Next Header, Hdr Ext Len 2, Routing Type 2, Segments
// Left, 4 reserved octets, the home address. 24 octets.
type Type2RoutingHeader struct {
	NextHeader   uint8
	SegmentsLeft uint8 // 1 when sent
	HoA          netip.Addr
}

// Len is the header's length (24).
func (Type2RoutingHeader) Len() int { return 24 }

// Append appends the routing header.
func (r Type2RoutingHeader) Append(b []byte) []byte {
	a := r.HoA.As16()
	b = append(b, r.NextHeader, 2, 2, r.SegmentsLeft, 0, 0, 0, 0)
	return append(b, a[:]...)
}

var errOtherRoutingType = errors.New("routing type other than 2")

// ParseType2RoutingHeader parses the routing header at the start of b and
// returns it and its length. It must be type 2 with Hdr Ext Len 2 and
// Segments Left 0 or 1 (RFC 6275 §6.4.1) or the error wraps [ErrIPv6]; a
// routing header of another type gives an error that also wraps ErrIPv6,
// with its length in n so that a caller may skip it.
func ParseType2RoutingHeader(b []byte) (r Type2RoutingHeader, n int, err error) {
	const what = "routing header"
	if len(b) < 8 {
		return r, 0, parseError(ErrTruncated, len(b), what)
	}
	n = (int(b[1]) + 1) * 8
	if n > len(b) {
		return r, 0, parseError(ErrTruncated, 1, what)
	}
	if b[2] != 2 {
		return r, n, &ParseError{Err: otherRoutingType{}, Offset: 2, What: what}
	}
	if b[1] != 2 || b[3] > 1 {
		return r, 0, parseError(ErrIPv6, 1, what)
	}
	return Type2RoutingHeader{NextHeader: b[0], SegmentsLeft: b[3], HoA: netip.AddrFrom16([16]byte(b[8:24]))}, n, nil
}

// otherRoutingType is the error of a routing header that is not type 2: it
// is both ErrIPv6 and errOtherRoutingType.
type otherRoutingType struct{}

// Error says the routing type is not 2.
func (otherRoutingType) Error() string { return errOtherRoutingType.Error() }

// Is matches ErrIPv6 and errOtherRoutingType.
func (otherRoutingType) Is(target error) bool {
	return target == ErrIPv6 || target == errOtherRoutingType
}
