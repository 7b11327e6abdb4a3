package mh

import "encoding/binary"

// BindingUpdate is the Binding Update message (MH Type 5, RFC 6275 §6.1.7).
//
//	6: Sequence #   8: A|H|L|K|M|R|P|F + reserved   10: Lifetime   12: options
type BindingUpdate struct {
	Sequence uint16
	Flags    BUFlags
	// Lifetime is the requested lifetime in units of 4 seconds; zero asks
	// to delete the binding.
	Lifetime Lifetime
	// Options may carry Alternate Care-of Address, Mobile Node
	// Identifier, Nonce Indices, Binding Authorization Data and the
	// DSMIPv6 IPv4 Home Address and IPv4 Care-of Address options.
	Options Options
}

const buFixed = 12

// Type returns [TypeBindingUpdate].
func (BindingUpdate) Type() Type { return TypeBindingUpdate }

// Len is the length of the Mobility Header.
func (m BindingUpdate) Len() int { return buFixed + m.Options.areaLen(buFixed) }

// Append appends the Mobility Header with a zero checksum.
func (m BindingUpdate) Append(b []byte) []byte {
	b = appendHeader(b, TypeBindingUpdate, m.Len())
	b = binary.BigEndian.AppendUint16(b, m.Sequence)
	b = binary.BigEndian.AppendUint16(b, uint16(m.Flags))
	b = binary.BigEndian.AppendUint16(b, uint16(m.Lifetime))
	return m.Options.appendArea(b, buFixed)
}

// ParseBindingUpdate decodes a Binding Update; Options is a view into h.
func ParseBindingUpdate(h Header) (BindingUpdate, error) {
	if err := h.body(TypeBindingUpdate); err != nil {
		return BindingUpdate{}, err
	}
	opts := Options(h[buFixed:])
	if err := opts.check(buFixed, "Binding Update"); err != nil {
		return BindingUpdate{}, err
	}
	return BindingUpdate{
		Sequence: binary.BigEndian.Uint16(h[6:]),
		Flags:    BUFlags(binary.BigEndian.Uint16(h[8:])),
		Lifetime: Lifetime(binary.BigEndian.Uint16(h[10:])),
		Options:  opts,
	}, nil
}
