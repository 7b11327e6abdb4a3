package wire

import (
	"encoding/binary"
	"strings"
)

// HeaderLen is the length of the IKE header (RFC 7296 §3.1).
const HeaderLen = 28

// Version is the version octet this package writes: major version 2 in the
// high nibble, minor version 0 (RFC 7296 §3.1).
const Version = 0x20

// Header is a view of the 28-octet IKE header (RFC 7296 §3.1). The accessors
// require len(h) >= HeaderLen, which ParseHeader guarantees.
type Header []byte

// ParseHeader checks the IKE header at the start of b and returns a view of
// it. It rejects input shorter than 28 octets and a Length field below 28
// with a *SyntaxError, and a major version other than 2 with a *VersionError;
// in the version case the returned header is valid, so a responder can read
// the SPIs and Message ID for its INVALID_MAJOR_VERSION answer (RFC 7296
// §2.5). The minor version and the reserved flag bits are ignored, as the RFC
// requires. ParseHeader does not compare Length with len(b); ParseMessage
// does.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return nil, syntaxError(PayloadNone, len(b), "message shorter than the 28-octet IKE header")
	}
	h := Header(b[:HeaderLen:HeaderLen])
	if h.MajorVersion() != 2 {
		return h, &VersionError{Version: h.Version()}
	}
	if h.Length() < HeaderLen {
		return h, syntaxError(PayloadNone, 24, "Length smaller than the IKE header")
	}
	return h, nil
}

// SPIi returns the IKE SA Initiator's SPI.
func (h Header) SPIi() uint64 { return binary.BigEndian.Uint64(h[0:8]) }

// SPIr returns the IKE SA Responder's SPI (0 in a first IKE_SA_INIT request).
func (h Header) SPIr() uint64 { return binary.BigEndian.Uint64(h[8:16]) }

// NextPayload returns the type of the first payload.
func (h Header) NextPayload() PayloadType { return PayloadType(h[16]) }

// Version returns the version octet: major version in the high nibble, minor
// version in the low nibble.
func (h Header) Version() uint8 { return h[17] }

// MajorVersion returns the major version (2 for IKEv2).
func (h Header) MajorVersion() uint8 { return h[17] >> 4 }

// MinorVersion returns the minor version, which receivers ignore.
func (h Header) MinorVersion() uint8 { return h[17] & 0x0f }

// ExchangeType returns the exchange type.
func (h Header) ExchangeType() ExchangeType { return ExchangeType(h[18]) }

// Flags returns the flags octet.
func (h Header) Flags() Flags { return Flags(h[19]) }

// MessageID returns the Message ID.
func (h Header) MessageID() uint32 { return binary.BigEndian.Uint32(h[20:24]) }

// Length returns the Length field: the whole message, header included.
func (h Header) Length() uint32 { return binary.BigEndian.Uint32(h[24:28]) }

// Fields returns the header's fields as a value, for instance to build a
// response from a request's header.
func (h Header) Fields() HeaderFields {
	return HeaderFields{
		SPIi:         h.SPIi(),
		SPIr:         h.SPIr(),
		NextPayload:  h.NextPayload(),
		ExchangeType: h.ExchangeType(),
		Flags:        h.Flags(),
		MessageID:    h.MessageID(),
		Length:       h.Length(),
	}
}

// HeaderFields holds the fields of an IKE header for encoding.
type HeaderFields struct {
	SPIi, SPIr   uint64
	NextPayload  PayloadType // filled in by Builder
	ExchangeType ExchangeType
	Flags        Flags
	MessageID    uint32
	Length       uint32 // filled in by Builder
}

// Append appends the 28-octet header with version 2.0 to b.
func (f HeaderFields) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, f.SPIi)
	b = binary.BigEndian.AppendUint64(b, f.SPIr)
	b = append(b, byte(f.NextPayload), Version, byte(f.ExchangeType), byte(f.Flags))
	b = binary.BigEndian.AppendUint32(b, f.MessageID)
	return binary.BigEndian.AppendUint32(b, f.Length)
}

// Flags is the flags octet of the IKE header (RFC 7296 §3.1).
type Flags uint8

// Header flags (RFC 7296 §3.1). The other bits are sent as zero and ignored.
const (
	// FlagInitiator (I) is set in messages sent by the original initiator
	// of the IKE SA (the peer that initiated its latest rekey).
	FlagInitiator Flags = 0x08
	// FlagVersion (V) announces a higher major version; IKEv2 sends it
	// cleared and ignores it.
	FlagVersion Flags = 0x10
	// FlagResponse (R) marks a response.
	FlagResponse Flags = 0x20
)

// Initiator reports whether the I flag is set.
func (f Flags) Initiator() bool { return f&FlagInitiator != 0 }

// Response reports whether the R flag is set.
func (f Flags) Response() bool { return f&FlagResponse != 0 }

// Version reports whether the V flag (higher major version available) is
// set; IKEv2 ignores it on receipt.
func (f Flags) Version() bool { return f&FlagVersion != 0 }

// String returns the set flags as in "I|R", or "0" when none is set.
func (f Flags) String() string {
	var s []string
	if f&FlagInitiator != 0 {
		s = append(s, "I")
	}
	if f&FlagVersion != 0 {
		s = append(s, "V")
	}
	if f&FlagResponse != 0 {
		s = append(s, "R")
	}
	if len(s) == 0 {
		return "0"
	}
	return strings.Join(s, "|")
}

// ExchangeType is the Exchange Type of the IKE header (RFC 7296 §3.1).
type ExchangeType uint8

// Exchange types.
const (
	ExchangeIKESAInit        ExchangeType = 34 // IKE_SA_INIT (RFC 7296)
	ExchangeIKEAuth          ExchangeType = 35 // IKE_AUTH (RFC 7296)
	ExchangeCreateChildSA    ExchangeType = 36 // CREATE_CHILD_SA (RFC 7296)
	ExchangeInformational    ExchangeType = 37 // INFORMATIONAL (RFC 7296)
	ExchangeIKESessionResume ExchangeType = 38 // IKE_SESSION_RESUME (RFC 5723 §4.3.2)
	ExchangeIKEIntermediate  ExchangeType = 43 // IKE_INTERMEDIATE (RFC 9242)
)

var exchangeNames = map[ExchangeType]string{
	ExchangeIKESAInit:        "IKE_SA_INIT",
	ExchangeIKEAuth:          "IKE_AUTH",
	ExchangeCreateChildSA:    "CREATE_CHILD_SA",
	ExchangeInformational:    "INFORMATIONAL",
	ExchangeIKESessionResume: "IKE_SESSION_RESUME",
	ExchangeIKEIntermediate:  "IKE_INTERMEDIATE",
}

// String returns the IANA name of the exchange type.
func (t ExchangeType) String() string { return name(exchangeNames, t, "ExchangeType") }
