package mh

// MaxLen is the longest Mobility Header: Header Len is one octet, so at
// most 256 units of 8 octets. Messages whose options make them longer
// cannot be encoded.
const MaxLen = 256 * 8

// Message is a Mobility Header message value: one of [BindingRefreshRequest],
// [HomeTestInit], [CareOfTestInit], [HomeTest], [CareOfTest],
// [BindingUpdate], [BindingAck], [BindingError] or [HomeAgentSwitch].
type Message interface {
	// Type is the message's MH Type.
	Type() Type
	// Len is the length of the whole Mobility Header, a multiple of 8.
	Len() int
	// Append appends the whole Mobility Header, options aligned and
	// padded, with a zero Checksum (see SetChecksum).
	Append(b []byte) []byte
}

// Decode parses the message in h (from [Parse]) into its value type. An
// MH Type this package does not know gives [ErrUnknownType]. Decode does
// not verify the checksum.
func Decode(h Header) (Message, error) {
	if len(h) < 8 {
		return nil, parseError(ErrTruncated, len(h), "Mobility Header")
	}
	switch h.Type() {
	case TypeBindingRefreshRequest:
		return decoded(ParseBindingRefreshRequest(h))
	case TypeHomeTestInit:
		return decoded(ParseHomeTestInit(h))
	case TypeCareOfTestInit:
		return decoded(ParseCareOfTestInit(h))
	case TypeHomeTest:
		return decoded(ParseHomeTest(h))
	case TypeCareOfTest:
		return decoded(ParseCareOfTest(h))
	case TypeBindingUpdate:
		return decoded(ParseBindingUpdate(h))
	case TypeBindingAck:
		return decoded(ParseBindingAck(h))
	case TypeBindingError:
		return decoded(ParseBindingError(h))
	case TypeHomeAgentSwitch:
		return decoded(ParseHomeAgentSwitch(h))
	}
	return nil, parseError(ErrUnknownType, 2, "Mobility Header")
}

func decoded[M Message](m M, err error) (Message, error) {
	if err != nil {
		return nil, err
	}
	return m, nil
}
