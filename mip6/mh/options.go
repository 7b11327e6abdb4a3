package mh

import (
	"encoding/binary"
	"iter"
	"net/netip"
)

// Options is the mobility option area of a message (RFC 6275 §6.2): a
// sequence of Type-Length-Value options, possibly with Pad1 and PadN.
//
// A parsed message's Options is a view into the received bytes, checked by
// the message parser. To build one, append option values to it:
//
//	var opts mh.Options
//	opts = mh.MobileNodeIdentifier{Subtype: mh.MNIdentifierNAI, Identifier: nai}.Append(opts)
//	opts = mh.AlternateCoA{Addr: coa}.Append(opts)
//
// Padding is not needed there: a message's Append drops any Pad1/PadN,
// places each option at its alignment (RFC 6275 §6.2.1) counted from the
// start of the Mobility Header, and pads the header to a multiple of 8
// octets. The order of the options is kept; the Mobile Node Identifier must
// come before, and Binding Authorization Data last of, all options
// (RFC 4283 §3.2, RFC 6275 §6.2).
//
// The accessors return the first option of their type. An area that does
// not parse yields the options before the fault.
type Options []byte

// Option is one mobility option as it is on the wire: its type and its
// data (the octets after the Length field). Unknown options travel as
// Option values.
type Option struct {
	Type OptionType
	Data []byte
}

// Len is the option's length on the wire, Type and Length included. Data
// beyond 255 octets is not encoded.
func (o Option) Len() int { return 2 + min(len(o.Data), 255) }

// Append appends the option (Type, Length, Data) to b.
func (o Option) Append(b []byte) []byte {
	d := o.Data[:min(len(o.Data), 255)]
	b = append(b, byte(o.Type), byte(len(d)))
	return append(b, d...)
}

// next decodes the option at b[i:]. Pad1 has nil Data. n is the octets the
// option occupies; ok is false if it overruns b.
func nextOption(b []byte, i int) (opt Option, n int, ok bool) {
	if b[i] == byte(OptPad1) {
		return Option{Type: OptPad1}, 1, true
	}
	if i+2 > len(b) {
		return Option{}, 0, false
	}
	l := int(b[i+1])
	if i+2+l > len(b) {
		return Option{}, 0, false
	}
	return Option{Type: OptionType(b[i]), Data: b[i+2 : i+2+l : i+2+l]}, 2 + l, true
}

// All yields the options in order, without Pad1 and PadN, and stops at the
// first one that overruns the area.
func (o Options) All() iter.Seq[Option] {
	return func(yield func(Option) bool) {
		for i := 0; i < len(o); {
			opt, n, ok := nextOption(o, i)
			if !ok {
				return
			}
			i += n
			if opt.Type == OptPad1 || opt.Type == OptPadN {
				continue
			}
			if !yield(opt) {
				return
			}
		}
	}
}

// Find returns the first option of type t (Pad1 and PadN are never found).
func (o Options) Find(t OptionType) (Option, bool) {
	for i := 0; i < len(o); {
		opt, n, ok := nextOption(o, i)
		if !ok {
			break
		}
		if opt.Type == t && t != OptPad1 && t != OptPadN {
			return opt, true
		}
		i += n
	}
	return Option{}, false
}

// validDataLen reports whether l is an allowed data length for options of
// type t; types this package does not know accept any length.
func validDataLen(t OptionType, l int) bool {
	switch t {
	case OptBindingRefreshAdvice:
		return l == 2
	case OptAlternateCoA:
		return l == 16
	case OptNonceIndices:
		return l == 4
	case OptMobileNodeIdentifier:
		return l >= 1
	case OptIPv4HomeAddress, OptIPv4AddressAck, OptNATDetection, OptIPv4CoA:
		return l == 6
	}
	return true
}

// check verifies that every option lies within the area and that known
// options have the length their RFC gives. base is the offset of the area
// in the Mobility Header, for the error.
func (o Options) check(base int, what string) error {
	for i := 0; i < len(o); {
		opt, n, ok := nextOption(o, i)
		if !ok {
			return parseError(ErrOption, base+i, what)
		}
		if opt.Type != OptPad1 && !validDataLen(opt.Type, len(opt.Data)) {
			return parseError(ErrOption, base+i, what)
		}
		i += n
	}
	return nil
}

// Check reports whether the area is well formed: every option within it,
// known options of the right length.
func (o Options) Check() error { return o.check(0, "mobility options") }

// alignment returns the alignment xn+y of an option type
// (RFC 6275 §6.2.4-§6.2.7, RFC 5555 §3); 1n+0 means none.
func alignment(t OptionType) (x, y int) {
	switch t {
	case OptBindingRefreshAdvice, OptNonceIndices:
		return 2, 0
	case OptAlternateCoA:
		return 8, 6
	case OptBindingAuthorizationData:
		return 8, 2 // implicit: last option, no trailing padding (RFC 6275 §6.2.7)
	case OptIPv4HomeAddress, OptIPv4AddressAck, OptNATDetection, OptIPv4CoA:
		return 4, 0
	}
	return 1, 0
}

func padBefore(off int, t OptionType) int {
	x, y := alignment(t)
	return ((y-off)%x + x) % x
}

func appendPad(b []byte, n int) []byte {
	switch {
	case n == 1:
		return append(b, byte(OptPad1))
	case n >= 2:
		b = append(b, byte(OptPadN), byte(n-2))
		for range n - 2 {
			b = append(b, 0)
		}
	}
	return b
}

// areaLen is the length of the option area starting at Mobility Header
// offset start once aligned and padded so the header ends on a multiple of
// 8 octets.
func (o Options) areaLen(start int) int {
	off := start
	for i := 0; i < len(o); {
		opt, n, ok := nextOption(o, i)
		if !ok {
			break
		}
		i += n
		if opt.Type == OptPad1 || opt.Type == OptPadN {
			continue
		}
		off += padBefore(off, opt.Type) + opt.Len()
	}
	off += (8 - off%8) % 8
	return off - start
}

// appendArea appends the option area as areaLen describes it.
func (o Options) appendArea(b []byte, start int) []byte {
	off := start
	for i := 0; i < len(o); {
		opt, n, ok := nextOption(o, i)
		if !ok {
			break
		}
		i += n
		if opt.Type == OptPad1 || opt.Type == OptPadN {
			continue
		}
		p := padBefore(off, opt.Type)
		b = appendPad(b, p)
		b = opt.Append(b)
		off += p + opt.Len()
	}
	return appendPad(b, (8-off%8)%8)
}

// BindingRefreshAdvice is the Binding Refresh Advice option (type 2,
// RFC 6275 §6.2.4): in a Binding Acknowledgement from the home agent, or
// in a Home Agent Switch (RFC 5142 §4).
type BindingRefreshAdvice struct {
	// Interval is the time until the mobile node SHOULD refresh its home
	// registration (in a Home Agent Switch: until the binding is deleted),
	// in units of 4 seconds.
	Interval Lifetime
}

// Len is the option's length on the wire (4).
func (BindingRefreshAdvice) Len() int { return 4 }

// Append appends the option to b.
func (o BindingRefreshAdvice) Append(b []byte) []byte {
	return binary.BigEndian.AppendUint16(append(b, byte(OptBindingRefreshAdvice), 2), uint16(o.Interval))
}

// BindingRefreshAdvice returns the first Binding Refresh Advice option.
func (o Options) BindingRefreshAdvice() (BindingRefreshAdvice, bool) {
	opt, ok := o.Find(OptBindingRefreshAdvice)
	if !ok || len(opt.Data) != 2 {
		return BindingRefreshAdvice{}, false
	}
	return BindingRefreshAdvice{Interval: Lifetime(binary.BigEndian.Uint16(opt.Data))}, true
}

// AlternateCoA is the Alternate Care-of Address option (type 3,
// RFC 6275 §6.2.5). Home registrations from away MUST carry it
// (RFC 6275 §11.7.1, RFC 4877 §4.3); it is how the care-of address travels
// in a Binding Update sent inside the ESP tunnel (RFC 4877 §3).
type AlternateCoA struct {
	Addr netip.Addr // an IPv6 address
}

// Len is the option's length on the wire (18).
func (AlternateCoA) Len() int { return 18 }

// Append appends the option to b.
func (o AlternateCoA) Append(b []byte) []byte {
	a := o.Addr.As16()
	return append(append(b, byte(OptAlternateCoA), 16), a[:]...)
}

// AlternateCoA returns the first Alternate Care-of Address option.
func (o Options) AlternateCoA() (AlternateCoA, bool) {
	opt, ok := o.Find(OptAlternateCoA)
	if !ok || len(opt.Data) != 16 {
		return AlternateCoA{}, false
	}
	return AlternateCoA{Addr: netip.AddrFrom16([16]byte(opt.Data))}, true
}

// NonceIndices is the Nonce Indices option (type 4, RFC 6275 §6.2.6),
// valid only in Binding Updates to a correspondent node.
type NonceIndices struct {
	Home, CareOf uint16
}

// Len is the option's length on the wire (6).
func (NonceIndices) Len() int { return 6 }

// Append appends the option to b.
func (o NonceIndices) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(append(b, byte(OptNonceIndices), 4), o.Home)
	return binary.BigEndian.AppendUint16(b, o.CareOf)
}

// NonceIndices returns the first Nonce Indices option.
func (o Options) NonceIndices() (NonceIndices, bool) {
	opt, ok := o.Find(OptNonceIndices)
	if !ok || len(opt.Data) != 4 {
		return NonceIndices{}, false
	}
	return NonceIndices{Home: binary.BigEndian.Uint16(opt.Data), CareOf: binary.BigEndian.Uint16(opt.Data[2:])}, true
}

// BindingAuthorizationData is the Binding Authorization Data option
// (type 5, RFC 6275 §6.2.7); it MUST be the last option.
type BindingAuthorizationData struct {
	Authenticator []byte // at most 255 octets
}

// Len is the option's length on the wire.
func (o BindingAuthorizationData) Len() int { return 2 + min(len(o.Authenticator), 255) }

// Append appends the option to b.
func (o BindingAuthorizationData) Append(b []byte) []byte {
	return Option{Type: OptBindingAuthorizationData, Data: o.Authenticator}.Append(b)
}

// BindingAuthorizationData returns the first Binding Authorization Data
// option; the authenticator is a view into the message.
func (o Options) BindingAuthorizationData() (BindingAuthorizationData, bool) {
	opt, ok := o.Find(OptBindingAuthorizationData)
	if !ok {
		return BindingAuthorizationData{}, false
	}
	return BindingAuthorizationData{Authenticator: opt.Data}, true
}

// MobileNodeIdentifier is the Mobile Node Identifier option (type 8,
// RFC 4283 §3), for example the NAI user@realm with subtype
// [MNIdentifierNAI].
type MobileNodeIdentifier struct {
	Subtype    MNIdentifierSubtype
	Identifier []byte // at most 254 octets
}

// Len is the option's length on the wire.
func (o MobileNodeIdentifier) Len() int { return 3 + min(len(o.Identifier), 254) }

// Append appends the option to b.
func (o MobileNodeIdentifier) Append(b []byte) []byte {
	id := o.Identifier[:min(len(o.Identifier), 254)]
	b = append(b, byte(OptMobileNodeIdentifier), byte(1+len(id)), byte(o.Subtype))
	return append(b, id...)
}

// MobileNodeIdentifier returns the first Mobile Node Identifier option;
// the identifier is a view into the message.
func (o Options) MobileNodeIdentifier() (MobileNodeIdentifier, bool) {
	opt, ok := o.Find(OptMobileNodeIdentifier)
	if !ok || len(opt.Data) < 1 {
		return MobileNodeIdentifier{}, false
	}
	return MobileNodeIdentifier{Subtype: MNIdentifierSubtype(opt.Data[0]), Identifier: opt.Data[1:]}, true
}

func put4(b []byte, a netip.Addr) []byte {
	if a.Is4() || a.Is4In6() {
		v := a.Unmap().As4()
		return append(b, v[:]...)
	}
	return append(b, 0, 0, 0, 0)
}

// IPv4HomeAddress is the IPv4 Home Address option of a Binding Update
// (type 29, RFC 5555 §3.1.1).
type IPv4HomeAddress struct {
	PrefixLen uint8      // 32 for one address; 0 is invalid (6 bits on the wire)
	P         bool       // the mobile node requests a mobile network prefix
	Addr      netip.Addr // 0.0.0.0 asks the home agent to assign one
}

// Len is the option's length on the wire (8).
func (IPv4HomeAddress) Len() int { return 8 }

// Append appends the option to b.
func (o IPv4HomeAddress) Append(b []byte) []byte {
	v := uint16(o.PrefixLen&0x3f) << 10
	if o.P {
		v |= 0x0200
	}
	b = binary.BigEndian.AppendUint16(append(b, byte(OptIPv4HomeAddress), 6), v)
	return put4(b, o.Addr)
}

// IPv4HomeAddress returns the first IPv4 Home Address option.
func (o Options) IPv4HomeAddress() (IPv4HomeAddress, bool) {
	opt, ok := o.Find(OptIPv4HomeAddress)
	if !ok || len(opt.Data) != 6 {
		return IPv4HomeAddress{}, false
	}
	return IPv4HomeAddress{
		PrefixLen: opt.Data[0] >> 2,
		P:         opt.Data[0]&0x02 != 0,
		Addr:      netip.AddrFrom4([4]byte(opt.Data[2:6])),
	}, true
}

// IPv4AddressAck is the IPv4 Address Acknowledgement option of a Binding
// Acknowledgement (type 30, RFC 5555 §3.2.1).
type IPv4AddressAck struct {
	Status    IPv4AckStatus
	PrefixLen uint8 // 6 bits on the wire; zero on failure
	Addr      netip.Addr
}

// Len is the option's length on the wire (8).
func (IPv4AddressAck) Len() int { return 8 }

// Append appends the option to b.
func (o IPv4AddressAck) Append(b []byte) []byte {
	b = append(b, byte(OptIPv4AddressAck), 6, byte(o.Status), (o.PrefixLen&0x3f)<<2)
	return put4(b, o.Addr)
}

// IPv4AddressAck returns the first IPv4 Address Acknowledgement option.
func (o Options) IPv4AddressAck() (IPv4AddressAck, bool) {
	opt, ok := o.Find(OptIPv4AddressAck)
	if !ok || len(opt.Data) != 6 {
		return IPv4AddressAck{}, false
	}
	return IPv4AddressAck{
		Status:    IPv4AckStatus(opt.Data[0]),
		PrefixLen: opt.Data[1] >> 2,
		Addr:      netip.AddrFrom4([4]byte(opt.Data[2:6])),
	}, true
}

// NATDetection is the NAT Detection option of a Binding Acknowledgement
// (type 31, RFC 5555 §3.2.2).
type NATDetection struct {
	// F tells the mobile node to use UDP encapsulation even without a NAT.
	F bool
	// RefreshTime is the suggested NAT binding refresh time in seconds;
	// 0 means none suggested, [NATNoKeepalives] that no NAT was detected.
	RefreshTime uint32
}

// NATNoKeepalives is the NAT Detection refresh time meaning "keepalives are
// not needed, no NAT was detected" (RFC 5555 §3.2.2).
const NATNoKeepalives = 0xffffffff

// Len is the option's length on the wire (8).
func (NATDetection) Len() int { return 8 }

// Append appends the option to b.
func (o NATDetection) Append(b []byte) []byte {
	var f byte
	if o.F {
		f = 0x80
	}
	b = append(b, byte(OptNATDetection), 6, f, 0)
	return binary.BigEndian.AppendUint32(b, o.RefreshTime)
}

// NATDetection returns the first NAT Detection option.
func (o Options) NATDetection() (NATDetection, bool) {
	opt, ok := o.Find(OptNATDetection)
	if !ok || len(opt.Data) != 6 {
		return NATDetection{}, false
	}
	return NATDetection{F: opt.Data[0]&0x80 != 0, RefreshTime: binary.BigEndian.Uint32(opt.Data[2:])}, true
}

// IPv4CoA is the IPv4 Care-of Address option of a Binding Update
// (type 32, RFC 5555 §3.1.2).
type IPv4CoA struct {
	Addr netip.Addr // an IPv4 address
}

// Len is the option's length on the wire (8).
func (IPv4CoA) Len() int { return 8 }

// Append appends the option to b.
func (o IPv4CoA) Append(b []byte) []byte {
	return put4(append(b, byte(OptIPv4CoA), 6, 0, 0), o.Addr)
}

// IPv4CoA returns the first IPv4 Care-of Address option.
func (o Options) IPv4CoA() (IPv4CoA, bool) {
	opt, ok := o.Find(OptIPv4CoA)
	if !ok || len(opt.Data) != 6 {
		return IPv4CoA{}, false
	}
	return IPv4CoA{Addr: netip.AddrFrom4([4]byte(opt.Data[2:6]))}, true
}
