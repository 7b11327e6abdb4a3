package wire

import "iter"

// PayloadType identifies a payload in the Next Payload field of the IKE
// header and of the generic payload header (RFC 7296 §3.2).
type PayloadType uint8

// Payload types (RFC 7296 §3.2, RFC 7383 §2.5).
const (
	PayloadNone     PayloadType = 0  // No Next Payload
	PayloadSA       PayloadType = 33 // Security Association
	PayloadKE       PayloadType = 34 // Key Exchange
	PayloadIDi      PayloadType = 35 // Identification - Initiator
	PayloadIDr      PayloadType = 36 // Identification - Responder
	PayloadCERT     PayloadType = 37 // Certificate
	PayloadCERTREQ  PayloadType = 38 // Certificate Request
	PayloadAUTH     PayloadType = 39 // Authentication
	PayloadNonce    PayloadType = 40 // Nonce (Ni, Nr)
	PayloadNotify   PayloadType = 41 // Notify (N)
	PayloadDelete   PayloadType = 42 // Delete (D)
	PayloadVendorID PayloadType = 43 // Vendor ID (V)
	PayloadTSi      PayloadType = 44 // Traffic Selector - Initiator
	PayloadTSr      PayloadType = 45 // Traffic Selector - Responder
	PayloadSK       PayloadType = 46 // Encrypted and Authenticated
	PayloadCP       PayloadType = 47 // Configuration
	PayloadEAP      PayloadType = 48 // Extensible Authentication
	PayloadSKF      PayloadType = 53 // Encrypted and Authenticated Fragment (RFC 7383)
)

var payloadNames = map[PayloadType]string{
	PayloadNone:     "NONE",
	PayloadSA:       "SA",
	PayloadKE:       "KE",
	PayloadIDi:      "IDi",
	PayloadIDr:      "IDr",
	PayloadCERT:     "CERT",
	PayloadCERTREQ:  "CERTREQ",
	PayloadAUTH:     "AUTH",
	PayloadNonce:    "Nonce",
	PayloadNotify:   "N",
	PayloadDelete:   "D",
	PayloadVendorID: "V",
	PayloadTSi:      "TSi",
	PayloadTSr:      "TSr",
	PayloadSK:       "SK",
	PayloadCP:       "CP",
	PayloadEAP:      "EAP",
	PayloadSKF:      "SKF",
}

// String returns the RFC 7296 notation of the payload type.
func (t PayloadType) String() string { return name(payloadNames, t, "PayloadType") }

// Known reports whether this package understands the payload type. The
// critical bit is ignored on known payloads and honoured on the others
// (RFC 7296 §2.5).
func (t PayloadType) Known() bool {
	return t >= PayloadSA && t <= PayloadEAP || t == PayloadSKF
}

// genericHeaderLen is the length of the generic payload header (RFC 7296 §3.2).
const genericHeaderLen = 4

// maxBodyLen is the longest payload body the 2-octet Payload Length can
// describe.
const maxBodyLen = 0xffff - genericHeaderLen

// Payload is implemented by every payload type of this package and by
// RawPayload. Len and Append cover the payload body: everything after the
// generic payload header, which the Builder writes.
type Payload interface {
	// PayloadType returns the type written in the previous Next Payload
	// field.
	PayloadType() PayloadType
	// Len returns the length of the body Append writes.
	Len() int
	// Append appends the body to b and returns the extended slice.
	Append(b []byte) []byte
}

// validator is implemented by payloads whose fields can hold values that do
// not fit the wire format; the Builder checks it before encoding.
type validator interface {
	validate() error
}

// RawPayload is one payload as found in a message: its generic header fields
// and a view of its body. ParseMessage and ParsePayloads produce it for every
// payload, known or not; the typed parsers (ParseSA, ParseNotify, ...) decode
// its Body. Added to a Builder it is written back unchanged, critical bit
// included, which makes unknown payloads round-trip.
type RawPayload struct {
	// Type is the payload's type, taken from the previous Next Payload field.
	Type PayloadType
	// Next is the payload's own Next Payload field. For SK and SKF it is the
	// type of the first inner payload (RFC 7296 §3.14, RFC 7383 §2.5); the
	// Builder writes it back for those two types only.
	Next PayloadType
	// Critical is the critical bit (RFC 7296 §3.2).
	Critical bool
	// Offset is the position of the generic payload header in the parsed
	// message (ParseMessage) or chain (ParsePayloads).
	Offset int
	// Body is the payload after the generic header, a view of the input.
	Body []byte
}

// PayloadType returns p.Type.
func (p RawPayload) PayloadType() PayloadType { return p.Type }

// Len returns len(p.Body).
func (p RawPayload) Len() int { return len(p.Body) }

// Append appends p.Body to b.
func (p RawPayload) Append(b []byte) []byte { return append(b, p.Body...) }

// Payloads is an ordered payload chain as parsed.
type Payloads []RawPayload

// First returns the first payload of type t.
func (ps Payloads) First(t PayloadType) (RawPayload, bool) {
	for _, p := range ps {
		if p.Type == t {
			return p, true
		}
	}
	return RawPayload{}, false
}

// Notify returns the first Notify payload of type t. The chain must come from
// ParseMessage or ParsePayloads, which have checked the Notify syntax.
func (ps Payloads) Notify(t NotifyType) (Notify, bool) {
	for _, p := range ps {
		if p.Type != PayloadNotify {
			continue
		}
		if n, err := ParseNotify(p.Body); err == nil && n.Type == t {
			return n, true
		}
	}
	return Notify{}, false
}

// Notifies returns the Notify payloads of the chain in order. The chain must
// come from ParseMessage or ParsePayloads.
func (ps Payloads) Notifies() iter.Seq[Notify] {
	return func(yield func(Notify) bool) {
		for _, p := range ps {
			if p.Type != PayloadNotify {
				continue
			}
			if n, err := ParseNotify(p.Body); err == nil && !yield(n) {
				return
			}
		}
	}
}
