package mh

import (
	"errors"
	"strconv"
)

// Sentinel errors. Parsers return them wrapped in a *[ParseError] that
// records where the problem is; test with errors.Is.
var (
	// ErrTruncated: the buffer ends before the header or message it
	// announces.
	ErrTruncated = errors.New("truncated")
	// ErrChecksum: the Mobility Header checksum does not verify; the
	// message MUST be silently discarded (RFC 6275 §9.2).
	ErrChecksum = errors.New("bad Mobility Header checksum")
	// ErrUnknownType: the MH Type is not known; the receiver discards the
	// message and sends a Binding Error with status 2 (RFC 6275 §9.2).
	ErrUnknownType = errors.New("unrecognized MH Type")
	// ErrPayloadProto: Payload Proto is not 59; the receiver discards the
	// message and SHOULD send ICMPv6 Parameter Problem code 0 pointing at
	// it (RFC 6275 §9.2).
	ErrPayloadProto = errors.New("Payload Proto is not IPPROTO_NONE")
	// ErrHeaderLen: Header Len is below the length of the message type;
	// the receiver discards the message and SHOULD send ICMPv6 Parameter
	// Problem code 0 pointing at it (RFC 6275 §9.2).
	ErrHeaderLen = errors.New("Header Len below the message's length")
	// ErrWrongType: a typed parser was handed a message of another type.
	ErrWrongType = errors.New("wrong MH Type for this parser")
	// ErrOption: a mobility option overruns the message or a known option
	// has a length its RFC does not allow.
	ErrOption = errors.New("malformed mobility option")
	// ErrIPv6: the IPv6 header or an extension header is malformed.
	ErrIPv6 = errors.New("malformed IPv6 packet")
	// ErrNotMH: the IPv6 packet does not carry a Mobility Header.
	ErrNotMH = errors.New("no Mobility Header in the packet")
)

// ParseError is a parse failure: which rule failed (Err, one of the
// sentinels above), where (Offset, in octets from the start of the buffer
// given to the parser) and in what.
type ParseError struct {
	Err    error  // the sentinel
	Offset int    // offset of the offending field
	What   string // the element being parsed, e.g. "Binding Update"
}

// Error describes the failure: "mh: <what>: <rule> at offset <n>".
func (e *ParseError) Error() string {
	return "mh: " + e.What + ": " + e.Err.Error() + " at offset " + strconv.Itoa(e.Offset)
}

// Unwrap returns the sentinel.
func (e *ParseError) Unwrap() error { return e.Err }

func parseError(err error, off int, what string) error {
	return &ParseError{Err: err, Offset: off, What: what}
}
