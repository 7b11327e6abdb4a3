package mh

// BindingRefreshRequest is the Binding Refresh Request message (MH Type 0,
// RFC 6275 §6.1.2): it asks the mobile node to refresh its binding.
//
//	6: reserved (2)   8: options
type BindingRefreshRequest struct {
	Options Options
}

const brrFixed = 8

// Type returns [TypeBindingRefreshRequest].
func (BindingRefreshRequest) Type() Type { return TypeBindingRefreshRequest }

// Len is the length of the Mobility Header.
func (m BindingRefreshRequest) Len() int { return brrFixed + m.Options.areaLen(brrFixed) }

// Append appends the Mobility Header with a zero checksum.
func (m BindingRefreshRequest) Append(b []byte) []byte {
	b = appendHeader(b, TypeBindingRefreshRequest, m.Len())
	b = append(b, 0, 0)
	return m.Options.appendArea(b, brrFixed)
}

// ParseBindingRefreshRequest decodes a Binding Refresh Request; Options is a
// view into h.
func ParseBindingRefreshRequest(h Header) (BindingRefreshRequest, error) {
	if err := h.body(TypeBindingRefreshRequest); err != nil {
		return BindingRefreshRequest{}, err
	}
	opts := Options(h[brrFixed:])
	if err := opts.check(brrFixed, "Binding Refresh Request"); err != nil {
		return BindingRefreshRequest{}, err
	}
	return BindingRefreshRequest{Options: opts}, nil
}
