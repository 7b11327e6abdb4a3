package wire

import "encoding/binary"

// skfFieldsLen is the length of the Fragment Number and Total Fragments
// fields that follow the generic header of an SKF payload (RFC 7383 §2.5).
const skfFieldsLen = 4

// Encrypted is the layout of the Encrypted (SK, RFC 7296 §3.14) or Encrypted
// Fragment (SKF, RFC 7383 §2.5) payload that ends a message. It comes from
// Message.Encrypted on receipt and from Builder.FinishSK when sending, and it
// gives a cipher what it needs without copying (Builder.Seal and
// Message.Open hide it when the cipher is a Sealer or Opener):
//
//	Message = AssociatedData | Body
//	AssociatedData = IKE header | unencrypted payloads | SK header (4 octets)
//	                 (SKF: + Fragment Number + Total Fragments)
//	Body    = IV | encrypted content | ICV
//	content = inner payloads | Padding | Pad Length   (before encryption)
//
// AEAD ciphers authenticate AssociatedData (RFC 5282 §5.1; for SKF the
// associated data likewise runs up to the IV). Other ciphers compute the
// Integrity Checksum Data over Message[:len(Message)-icvLen]: the IKE header
// through the end of the ciphertext (RFC 7296 §3.14).
type Encrypted struct {
	// Message is the whole IKE message.
	Message []byte
	// Next is the Next Payload field of the SK or SKF header: the type of the
	// first inner payload, or 0 in SKF fragments after the first.
	Next PayloadType
	// FragmentNumber and TotalFragments are the SKF fields; both are 0 for
	// an SK payload.
	FragmentNumber, TotalFragments uint16

	body int // offset of the IV in Message
}

// AssociatedData returns the message from its first octet through the SK
// (or SKF) payload header: the AEAD associated data, with final lengths.
func (e Encrypted) AssociatedData() []byte { return e.Message[:e.body:e.body] }

// Body returns the IV, the encrypted content and the Integrity Checksum Data.
func (e Encrypted) Body() []byte { return e.Message[e.body:] }

// BodyOffset returns the offset of the body (the IV) in Message, which is
// also the length of the associated data.
func (e Encrypted) BodyOffset() int { return e.body }

// Split cuts the body into the IV, the encrypted content and the ICV, given
// the IV and ICV lengths of the negotiated transforms. The slices alias
// Message: the crypto layer decrypts or encrypts content in place, and an
// AEAD Seal of content writes its tag exactly over icv. Split fails with a
// *SyntaxError if the body is too short to hold the IV, the ICV and the Pad
// Length octet.
func (e Encrypted) Split(ivLen, icvLen int) (iv, content, icv []byte, err error) {
	body := e.Body()
	if ivLen < 0 || icvLen < 0 || len(body)-ivLen-icvLen < 1 {
		t := PayloadSK
		if e.FragmentNumber != 0 {
			t = PayloadSKF
		}
		return nil, nil, nil, syntaxError(t, e.body, "Encrypted payload too short for IV, Pad Length and ICV")
	}
	end := len(body) - icvLen
	return body[:ivLen:ivLen], body[ivLen:end], body[end:], nil
}

// TrimPadding removes the Padding and the Pad Length octet from decrypted SK
// or SKF content and returns the inner payloads (RFC 7296 §3.14). Any pad
// length that fits is accepted, as the RFC requires of receivers.
func TrimPadding(content []byte) ([]byte, error) {
	if len(content) == 0 {
		return nil, syntaxError(PayloadSK, 0, "decrypted content without Pad Length")
	}
	pad := int(content[len(content)-1])
	if pad+1 > len(content) {
		return nil, syntaxError(PayloadSK, len(content)-1, "Pad Length longer than the decrypted content")
	}
	return content[: len(content)-1-pad : len(content)-1-pad], nil
}

// padLength returns the minimal Pad Length that makes n octets of inner
// payloads, the padding and the Pad Length octet a multiple of blockSize
// (RFC 7296 §3.14).
func padLength(n, blockSize int) int {
	return (blockSize - (n+1)%blockSize) % blockSize
}

// Fragment is one IKE fragment to encode in an SKF payload (RFC 7383 §2.5).
type Fragment struct {
	// Next is the type of the first inner payload of the original message in
	// fragment 1, and must be 0 in the others.
	Next PayloadType
	// Number counts from 1 to Total.
	Number, Total uint16
	// Content is this fragment's chunk of the original SK content (the inner
	// payloads, before padding), split regardless of payload boundaries.
	Content []byte
}

func (f Fragment) validate() error {
	if f.Number == 0 || f.Total == 0 || f.Number > f.Total {
		return valueError("fragment %d of %d", f.Number, f.Total)
	}
	if f.Number > 1 && f.Next != PayloadNone {
		return valueError("fragment %d carries Next Payload %v; only fragment 1 may", f.Number, f.Next)
	}
	return nil
}

// checkSKF checks the Fragment Number and Total Fragments of an SKF body
// (RFC 7383 §2.5): both present, non-zero, number not above total.
func checkSKF(body []byte) error {
	if len(body) < skfFieldsLen {
		return syntaxError(PayloadSKF, 0, "missing Fragment Number and Total Fragments")
	}
	number := binary.BigEndian.Uint16(body[0:2])
	total := binary.BigEndian.Uint16(body[2:4])
	if number == 0 || total == 0 || number > total {
		return syntaxError(PayloadSKF, 0, "Fragment Number must be between 1 and Total Fragments")
	}
	return nil
}
