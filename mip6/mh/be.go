package mh

import "net/netip"

// BindingError is the Binding Error message (MH Type 7, RFC 6275 §6.1.9).
//
//	6: Status   7: reserved   8: Home Address (16)   24: options
type BindingError struct {
	Status BEStatus
	// HoA is the Home Address option's address of the offending packet as
	// it was on the wire, or the unspecified address (::) when it had none.
	HoA     netip.Addr
	Options Options
}

const beFixed = 24

// Type returns [TypeBindingError].
func (BindingError) Type() Type { return TypeBindingError }

// Len is the length of the Mobility Header.
func (m BindingError) Len() int { return beFixed + m.Options.areaLen(beFixed) }

// Append appends the Mobility Header with a zero checksum. An invalid HoA is
// written as the unspecified address.
func (m BindingError) Append(b []byte) []byte {
	b = appendHeader(b, TypeBindingError, m.Len())
	a := m.HoA.As16()
	b = append(append(b, byte(m.Status), 0), a[:]...)
	return m.Options.appendArea(b, beFixed)
}

// ParseBindingError decodes a Binding Error; Options is a view into h.
func ParseBindingError(h Header) (BindingError, error) {
	if err := h.body(TypeBindingError); err != nil {
		return BindingError{}, err
	}
	opts := Options(h[beFixed:])
	if err := opts.check(beFixed, "Binding Error"); err != nil {
		return BindingError{}, err
	}
	return BindingError{
		Status:  BEStatus(h[6]),
		HoA:     netip.AddrFrom16([16]byte(h[8:24])),
		Options: opts,
	}, nil
}
