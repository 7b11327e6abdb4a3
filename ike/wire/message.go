package wire

import (
	"encoding/binary"
	"errors"
)

// Message is a parsed IKE message: a view of the header and of each payload.
// Its slices are reused by the next ParseMessage into the same Message, so a
// receive loop that keeps one Message per goroutine parses without
// allocating.
type Message struct {
	// Header is a view of the IKE header.
	Header Header
	// Payloads is the unencrypted payload chain in message order. If the
	// message is protected, the last element is the SK or SKF payload.
	Payloads Payloads
	// Inner holds the payloads found inside the SK payload once Open or
	// ParseDecrypted has succeeded; ParseMessage empties it.
	Inner Payloads

	raw []byte
}

// ParseMessage parses the IKE message b (without the non-ESP marker of port
// 4500) into dst, reusing dst's storage. The payloads are views of b: b must
// stay unchanged while dst is in use.
//
// The checks are those of RFC 7296 §2.5, §3.1 and §3.2: header (see
// ParseHeader), Length equal to len(b), every Payload Length inside the
// message, no octets after the last payload, an SK or SKF payload only as the
// last payload, and the body syntax of every known payload (so the typed
// parsers cannot fail on dst.Payloads afterwards). An unknown payload with
// the critical bit set fails with a *CriticalPayloadError; an unknown payload
// without it is kept as a RawPayload. Other malformed input fails with a
// *SyntaxError whose Offset counts from the start of b. On error dst holds
// what was parsed before the error; on a *VersionError dst.Header is valid.
func ParseMessage(b []byte, dst *Message) error {
	dst.raw = b
	dst.Header = nil
	dst.Payloads = dst.Payloads[:0]
	dst.Inner = dst.Inner[:0]
	h, err := ParseHeader(b)
	dst.Header = h
	if err != nil {
		return err
	}
	if uint64(h.Length()) != uint64(len(b)) {
		return syntaxError(PayloadNone, 24, "Length does not match the size of the message")
	}
	dst.Payloads, err = parseChain(b, HeaderLen, h.NextPayload(), dst.Payloads, false)
	return err
}

// ParsePayloads parses a payload chain that starts with a payload of type
// first, appending to dst, for instance the content of a decrypted SK payload
// (whose first type is the SK payload's Next Payload field) or the
// reassembled content of SKF fragments. The chain must fill b exactly and must
// not contain SK or SKF payloads (RFC 7296 §3.1). The other checks and the
// error types are those of ParseMessage, with offsets counted from the start
// of b.
func ParsePayloads(b []byte, first PayloadType, dst Payloads) (Payloads, error) {
	return parseChain(b, 0, first, dst, true)
}

// Bytes returns the message as passed to ParseMessage.
func (m *Message) Bytes() []byte { return m.raw }

// Encrypted returns the layout of the message's SK or SKF payload, which
// ParseMessage has checked to be the last payload. It reports false if the
// message has neither.
func (m *Message) Encrypted() (Encrypted, bool) {
	if len(m.Payloads) == 0 {
		return Encrypted{}, false
	}
	p := m.Payloads[len(m.Payloads)-1]
	switch p.Type {
	case PayloadSK:
		return Encrypted{Message: m.raw, Next: p.Next, body: p.Offset + genericHeaderLen}, true
	case PayloadSKF:
		return Encrypted{
			Message:        m.raw,
			Next:           p.Next,
			FragmentNumber: binary.BigEndian.Uint16(p.Body[0:2]),
			TotalFragments: binary.BigEndian.Uint16(p.Body[2:4]),
			body:           p.Offset + genericHeaderLen + skfFieldsLen,
		}, true
	}
	return Encrypted{}, false
}

// errFragment reports Open or ParseDecrypted on an SKF fragment, which the
// caller must reassemble first.
var errFragment = errors.New("ike/wire: an SKF fragment is opened by itself and reassembled before parsing")

// encrypted returns the layout of the message's SK payload, or a
// *SyntaxError if the message has none (a message that must be protected
// but is not).
func (m *Message) encrypted() (Encrypted, error) {
	e, ok := m.Encrypted()
	switch {
	case !ok:
		return e, syntaxError(PayloadSK, len(m.raw), "message has no Encrypted payload")
	case e.FragmentNumber != 0:
		return e, errFragment
	}
	return e, nil
}

// Opener verifies and decrypts the Encrypted payload of a received message;
// the crypto layer's SK type (ikecrypto.SK) implements it.
type Opener interface {
	// Open authenticates msg, whose Encrypted payload body (the IV) starts
	// at offset body, decrypts it in place and returns the inner payloads
	// without Padding and Pad Length.
	Open(msg []byte, body int) ([]byte, error)
}

// Open verifies and decrypts the message's SK payload with o and parses the
// inner payloads into m.Inner; the chain starts with the SK payload's Next
// Payload type. Errors from o (an ICV or tag that does not verify: drop the
// message silently, RFC 7296 §2.21.2) are returned as they are; a malformed
// inner chain yields the errors of ParsePayloads, with offsets counted from
// the start of the decrypted inner payloads. Decryption overwrites the
// message's SK payload in the caller's buffer. A message without an SK
// payload fails with a *SyntaxError. Fragments (SKF) are opened one by one
// with o.Open(e.Message, e.BodyOffset()), reassembled by the caller and
// parsed with ParsePayloads.
func (m *Message) Open(o Opener) error {
	e, err := m.encrypted()
	if err != nil {
		return err
	}
	inner, err := o.Open(e.Message, e.body)
	if err != nil {
		return err
	}
	m.Inner, err = ParsePayloads(inner, e.Next, m.Inner[:0])
	return err
}

// ParseDecrypted parses the decrypted content of the message's SK payload
// into m.Inner, for a caller that runs the cipher itself (see
// Encrypted.Split); Open does both steps with an Opener. plaintext is the
// decrypted content: the inner payloads, the Padding and the Pad Length
// octet (RFC 7296 §3.14); the chain starts with the SK payload's Next
// Payload type. Offsets in m.Inner and in errors count from the start of
// plaintext.
func (m *Message) ParseDecrypted(plaintext []byte) error {
	e, err := m.encrypted()
	if err != nil {
		return err
	}
	inner, err := TrimPadding(plaintext)
	if err != nil {
		return err
	}
	m.Inner, err = ParsePayloads(inner, e.Next, m.Inner[:0])
	return err
}

// parseChain walks the payload chain in b[off:] whose first payload has type
// t. In an inner chain SK and SKF are forbidden; in a message they end the
// chain and must end the message.
func parseChain(b []byte, off int, t PayloadType, dst Payloads, inner bool) (Payloads, error) {
	for t != PayloadNone {
		if len(b)-off < genericHeaderLen {
			return dst, syntaxError(t, off, "truncated generic payload header")
		}
		next := PayloadType(b[off])
		critical := b[off+1]&0x80 != 0
		n := int(binary.BigEndian.Uint16(b[off+2:]))
		if n < genericHeaderLen || n > len(b)-off {
			return dst, syntaxError(t, off+2, "Payload Length outside the message")
		}
		body := b[off+genericHeaderLen : off+n : off+n]
		if t.Known() {
			if err := checkBody(t, body); err != nil {
				return dst, relocate(err, off+genericHeaderLen)
			}
		} else if critical {
			return dst, &CriticalPayloadError{Type: t, Offset: off}
		}
		if t == PayloadSK || t == PayloadSKF {
			if inner {
				return dst, syntaxError(t, off, "Encrypted payload inside an Encrypted payload")
			}
			if off+n != len(b) {
				return dst, syntaxError(t, off, "Encrypted payload is not the last payload")
			}
		}
		dst = append(dst, RawPayload{Type: t, Next: next, Critical: critical, Offset: off, Body: body})
		if t == PayloadSK || t == PayloadSKF {
			return dst, nil
		}
		off += n
		t = next
	}
	if off != len(b) {
		return dst, syntaxError(PayloadNone, off, "octets after the last payload")
	}
	return dst, nil
}

// checkBody checks the syntax of the body of a known payload type.
func checkBody(t PayloadType, body []byte) error {
	var err error
	switch t {
	case PayloadSA:
		err = parseSA(body, nil)
	case PayloadKE:
		_, err = ParseKE(body)
	case PayloadIDi, PayloadIDr:
		_, err = parseID(t, body)
	case PayloadCERT:
		_, err = ParseCert(body)
	case PayloadCERTREQ:
		_, err = ParseCertReq(body)
	case PayloadAUTH:
		_, err = ParseAuth(body)
	case PayloadNonce:
		_, err = ParseNonce(body)
	case PayloadNotify:
		_, err = ParseNotify(body)
	case PayloadDelete:
		_, err = ParseDelete(body)
	case PayloadTSi, PayloadTSr:
		err = parseTS(t, body, nil)
	case PayloadCP:
		err = parseCP(body, nil)
	case PayloadSKF:
		err = checkSKF(body)
	}
	return err
}

// relocate moves the offset of a *SyntaxError found in a payload body to the
// coordinates of the enclosing message or chain.
func relocate(err error, base int) error {
	var se *SyntaxError
	if errors.As(err, &se) {
		se.Offset += base
	}
	return err
}
