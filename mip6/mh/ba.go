package mh

import "encoding/binary"

// BindingAck is the Binding Acknowledgement message (MH Type 6,
// RFC 6275 §6.1.8).
//
//	6: Status   7: K|R|P + reserved   8: Sequence #   10: Lifetime   12: options
type BindingAck struct {
	Status Status
	Flags  BAFlags
	// Sequence is copied from the Binding Update; with status 135 it is
	// the last sequence number the receiver accepted.
	Sequence uint16
	// Lifetime is the granted lifetime in units of 4 seconds (undefined
	// when the Binding Update was rejected).
	Lifetime Lifetime
	// Options may carry Binding Refresh Advice, Binding Authorization Data
	// and the DSMIPv6 IPv4 Address Acknowledgement and NAT Detection
	// options.
	Options Options
}

const baFixed = 12

// Type returns [TypeBindingAck].
func (BindingAck) Type() Type { return TypeBindingAck }

// Len is the length of the Mobility Header.
func (m BindingAck) Len() int { return baFixed + m.Options.areaLen(baFixed) }

// Append appends the Mobility Header with a zero checksum.
func (m BindingAck) Append(b []byte) []byte {
	b = appendHeader(b, TypeBindingAck, m.Len())
	b = append(b, byte(m.Status), byte(m.Flags))
	b = binary.BigEndian.AppendUint16(b, m.Sequence)
	b = binary.BigEndian.AppendUint16(b, uint16(m.Lifetime))
	return m.Options.appendArea(b, baFixed)
}

// ParseBindingAck decodes a Binding Acknowledgement; Options is a view into h.
func ParseBindingAck(h Header) (BindingAck, error) {
	if err := h.body(TypeBindingAck); err != nil {
		return BindingAck{}, err
	}
	opts := Options(h[baFixed:])
	if err := opts.check(baFixed, "Binding Acknowledgement"); err != nil {
		return BindingAck{}, err
	}
	return BindingAck{
		Status:   Status(h[6]),
		Flags:    BAFlags(h[7]),
		Sequence: binary.BigEndian.Uint16(h[8:]),
		Lifetime: Lifetime(binary.BigEndian.Uint16(h[10:])),
		Options:  opts,
	}, nil
}
