package mh

import (
	"encoding/binary"
	"net/netip"
)

// fixedLen is the length of the fields common to every Mobility Header:
// Payload Proto, Header Len, MH Type, Reserved and Checksum.
const fixedLen = 6

// Header is a view of one Mobility Header (RFC 6275 §6.1.1): the octets
// from Payload Proto to the end of the last option, (HeaderLen+1)·8 long.
// [Parse] makes one from received bytes.
type Header []byte

// Parse frames the Mobility Header at the start of b: it checks that b
// holds the 8 octets every header has and the (HeaderLen+1)·8 octets this
// one announces, and returns the header view; len(h) is the number of
// octets consumed. It does not verify the checksum or the type ([Header.Check]).
func Parse(b []byte) (Header, error) {
	if len(b) < 8 {
		return nil, parseError(ErrTruncated, len(b), "Mobility Header")
	}
	n := (int(b[1]) + 1) * 8
	if n > len(b) {
		return nil, parseError(ErrTruncated, 1, "Mobility Header")
	}
	return Header(b[:n:n]), nil
}

// PayloadProto returns the Payload Proto field (offset 0).
func (h Header) PayloadProto() uint8 { return h[0] }

// HeaderLen returns the Header Len field (offset 1): the length in units of
// 8 octets, not counting the first 8.
func (h Header) HeaderLen() uint8 { return h[1] }

// Type returns the MH Type field (offset 2).
func (h Header) Type() Type { return Type(h[2]) }

// Checksum returns the Checksum field (offset 4).
func (h Header) Checksum() uint16 { return binary.BigEndian.Uint16(h[4:6]) }

// minLen is the smallest Mobility Header of a known type: its fixed message
// data rounded up to 8 octets (RFC 6275 §6.1, RFC 5142 §4). A Home Agent
// Switch also needs room for its addresses.
func (h Header) minLen() int {
	switch h.Type() {
	case TypeBindingRefreshRequest:
		return 8
	case TypeHomeTestInit, TypeCareOfTestInit, TypeBindingUpdate, TypeBindingAck:
		return 16
	case TypeHomeTest, TypeCareOfTest, TypeBindingError:
		return 24
	case TypeHomeAgentSwitch:
		return 8 + 16*int(h[6])
	}
	return 8
}

// Check applies the receive tests of RFC 6275 §9.2, in the RFC's order, to
// a header whose pseudo-header addresses are src and dst (see
// [IPv6.PseudoHeader]):
//
//   - a bad checksum gives [ErrChecksum]: discard silently;
//   - an unknown MH Type gives [ErrUnknownType]: discard, send a Binding
//     Error with status 2 ([BEUnrecognizedType]);
//   - Payload Proto other than 59 gives [ErrPayloadProto] (Offset 0) and a
//     Header Len too small for the type gives [ErrHeaderLen] (Offset 1):
//     discard, and SHOULD send ICMPv6 Parameter Problem code 0 pointing at
//     that offset.
//
// Message-specific checks (options) are made by the ParseXxx functions.
func (h Header) Check(src, dst netip.Addr) error {
	if len(h) < 8 {
		return parseError(ErrTruncated, len(h), "Mobility Header")
	}
	if !VerifyChecksum(h, src, dst) {
		return parseError(ErrChecksum, 4, "Mobility Header")
	}
	if !h.Type().Known() {
		return parseError(ErrUnknownType, 2, "Mobility Header")
	}
	if h.PayloadProto() != ProtoNone {
		return parseError(ErrPayloadProto, 0, "Mobility Header")
	}
	if len(h) < h.minLen() {
		return parseError(ErrHeaderLen, 1, h.Type().String())
	}
	return nil
}

// appendHeader appends the six common octets for a message of type t whose
// whole Mobility Header is n octets (a multiple of 8); the checksum is zero.
func appendHeader(b []byte, t Type, n int) []byte {
	return append(b, ProtoNone, byte(n/8-1), byte(t), 0, 0, 0)
}

// body checks that h is a header of type t at least as long as the type
// requires, for the typed parsers.
func (h Header) body(t Type) error {
	if len(h) < 8 {
		return parseError(ErrTruncated, len(h), t.String())
	}
	if h.Type() != t {
		return parseError(ErrWrongType, 2, t.String())
	}
	if len(h) < h.minLen() {
		return parseError(ErrHeaderLen, 1, t.String())
	}
	return nil
}
