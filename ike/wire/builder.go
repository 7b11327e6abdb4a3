package wire

import "encoding/binary"

// Builder encodes an IKE message, or a bare payload chain, into a caller's
// buffer. Add appends one payload, writes its generic header and chains its
// type into the previous Next Payload field; Finish fills in the message
// Length. The first error sticks: later calls do nothing and Finish or
// FinishSK report it, so call sites need no error checks in between.
//
// A protected message ends with an SK payload whose inner payloads are
// encoded in place, where the cipher will encrypt them:
//
//	var b wire.Builder
//	b.Reset(buf[:0], wire.HeaderFields{SPIi: i, SPIr: r, ExchangeType: wire.ExchangeIKEAuth, Flags: wire.FlagInitiator, MessageID: 1})
//	b.BeginSK(ivLen)
//	b.Add(&idi) // inner payloads, in order
//	b.Add(&auth)
//	e, err := b.FinishSK(blockSize, icvLen) // padding, Pad Length, ICV room; all lengths final
//	iv, content, icv, _ := e.Split(ivLen, icvLen)
//	// crypto: fill iv, encrypt content in place, write icv
//	// (AEAD: Seal(content[:0], nonce, content, e.AssociatedData()))
//	datagram := b.Bytes()
//
// Add takes an interface, so passing a payload struct by value boxes it (one
// small allocation). To keep a hot path allocation-free, pass pointers to
// payload values that live in reused storage.
//
// A Builder is not safe for concurrent use. Its zero value must be Reset
// before use.
type Builder struct {
	buf   []byte
	start int // offset of the message (or chain) in buf
	np    int // offset in buf of the Next Payload octet the next type goes into; -1 before the first payload of a bare chain
	chain bool
	first PayloadType
	sk    int // offset in buf of the SK or SKF generic header
	skHdr int // length of that header: 4 (SK) or 8 (SKF)
	iv    int // IV length reserved after it
	state builderState
	err   error
}

type builderState uint8

const (
	stateOpen     builderState = iota // adding unencrypted payloads
	stateSK                           // adding inner payloads after BeginSK
	stateFragment                     // SKF content written, FinishSK next
	stateClosed                       // an SK or SKF payload ended the chain
)

// Reset starts a message with header h, appended to buf (which may already
// hold a prefix such as the non-ESP marker; Bytes returns it too). The
// NextPayload and Length fields of h are ignored: the Builder fills them in.
func (b *Builder) Reset(buf []byte, h HeaderFields) {
	h.NextPayload, h.Length = PayloadNone, HeaderLen
	*b = Builder{buf: h.Append(buf), start: len(buf), np: len(buf) + 16, sk: -1}
}

// ResetChain starts a bare payload chain (no IKE header) appended to buf, for
// instance the inner payloads of a message that will be fragmented. First
// returns the type of its first payload.
func (b *Builder) ResetChain(buf []byte) {
	*b = Builder{buf: buf, start: len(buf), np: -1, chain: true, sk: -1}
}

// Add appends payload p. SK and SKF payloads can only be added as RawPayload
// (re-encoding an already protected message) and must come last; to build a
// protected message use BeginSK or BeginSKF.
func (b *Builder) Add(p Payload) {
	if b.err != nil {
		return
	}
	if b.state != stateOpen && b.state != stateSK {
		b.err = valueError("payload %v added after the Encrypted payload", p.PayloadType())
		return
	}
	if v, ok := p.(validator); ok {
		if err := v.validate(); err != nil {
			b.err = err
			return
		}
	}
	t := p.PayloadType()
	n := p.Len()
	if n > maxBodyLen {
		b.err = valueError("%v payload body of %d octets exceeds %d", t, n, maxBodyLen)
		return
	}
	var next PayloadType
	var flags byte
	raw, isRaw := p.(RawPayload)
	if ptr, ok := p.(*RawPayload); ok {
		raw, isRaw = *ptr, true
	}
	if isRaw && raw.Critical {
		flags = 0x80
	}
	if t == PayloadSK || t == PayloadSKF {
		if !isRaw || b.state != stateOpen {
			b.err = valueError("%v payload must be built with BeginSK or BeginSKF", t)
			return
		}
		next = raw.Next
		b.state = stateClosed
	}
	off := b.link(t)
	b.buf = append(b.buf, byte(next), flags, byte((n+genericHeaderLen)>>8), byte(n+genericHeaderLen))
	b.buf = p.Append(b.buf)
	if got := len(b.buf) - off - genericHeaderLen; got != n {
		b.err = valueError("%v payload: Len %d but Append wrote %d octets", t, n, got)
	}
}

// BeginSK appends the header of an Encrypted payload and ivLen zero octets
// for the IV; the payloads added afterwards are its inner payloads, in order.
// An SK with no inner payload (an empty INFORMATIONAL) is valid.
func (b *Builder) BeginSK(ivLen int) {
	if !b.canBegin(PayloadSK, ivLen) {
		return
	}
	b.sk, b.skHdr, b.iv = b.link(PayloadSK), genericHeaderLen, ivLen
	b.buf = append(b.buf, 0, 0, 0, 0)
	b.np = b.sk // the first inner payload's type goes into the SK header
	b.buf = append(b.buf, make([]byte, ivLen)...)
	b.state = stateSK
}

// BeginSKF appends an Encrypted Fragment payload (RFC 7383 §2.5) with room
// for the IV and the fragment's content; FinishSK completes it. The IKE
// header given to Reset is the original message's, as the RFC requires.
func (b *Builder) BeginSKF(f Fragment, ivLen int) {
	if !b.canBegin(PayloadSKF, ivLen) {
		return
	}
	if err := f.validate(); err != nil {
		b.err = err
		return
	}
	b.sk, b.skHdr, b.iv = b.link(PayloadSKF), genericHeaderLen+skfFieldsLen, ivLen
	b.buf = append(b.buf, byte(f.Next), 0, 0, 0)
	b.buf = binary.BigEndian.AppendUint16(b.buf, f.Number)
	b.buf = binary.BigEndian.AppendUint16(b.buf, f.Total)
	b.buf = append(b.buf, make([]byte, ivLen)...)
	b.buf = append(b.buf, f.Content...)
	b.state = stateFragment
}

func (b *Builder) canBegin(t PayloadType, ivLen int) bool {
	switch {
	case b.err != nil:
		return false
	case b.chain || b.state != stateOpen:
		b.err = valueError("%v payload must be the one Encrypted payload of a message", t)
	case ivLen < 0 || ivLen > 255:
		b.err = valueError("IV length %d", ivLen)
	default:
		return true
	}
	return false
}

// FinishSK completes the SK or SKF payload started by BeginSK or BeginSKF:
// it appends the Padding (zeros, the minimum that makes the content a
// multiple of blockSize; use 1 for AEAD and stream ciphers), the Pad Length
// octet and icvLen zero octets for the Integrity Checksum Data, then fills in
// the payload and message lengths. The returned layout is ready for the
// crypto layer: all lengths, and therefore the associated data, are final.
func (b *Builder) FinishSK(blockSize, icvLen int) (Encrypted, error) {
	if b.err != nil {
		return Encrypted{}, b.err
	}
	if b.state != stateSK && b.state != stateFragment {
		b.err = valueError("FinishSK without BeginSK or BeginSKF")
		return Encrypted{}, b.err
	}
	if blockSize < 1 || blockSize > 256 || icvLen < 0 {
		b.err = valueError("block size %d, ICV length %d", blockSize, icvLen)
		return Encrypted{}, b.err
	}
	t := PayloadType(PayloadSK)
	if b.skHdr != genericHeaderLen {
		t = PayloadSKF
	}
	body := b.sk + b.skHdr
	pad := padLength(len(b.buf)-body-b.iv, blockSize)
	b.buf = append(b.buf, make([]byte, pad)...)
	b.buf = append(b.buf, byte(pad))
	b.buf = append(b.buf, make([]byte, icvLen)...)
	if n := len(b.buf) - b.sk; n > 0xffff {
		b.err = valueError("%v payload of %d octets exceeds 65535", t, n)
		return Encrypted{}, b.err
	}
	binary.BigEndian.PutUint16(b.buf[b.sk+2:], uint16(len(b.buf)-b.sk))
	b.state = stateClosed
	if err := b.setLength(); err != nil {
		return Encrypted{}, err
	}
	msg := b.buf[b.start:]
	e := Encrypted{Message: msg, Next: PayloadType(b.buf[b.sk]), body: body - b.start}
	if t == PayloadSKF {
		e.FragmentNumber = binary.BigEndian.Uint16(b.buf[b.sk+4:])
		e.TotalFragments = binary.BigEndian.Uint16(b.buf[b.sk+6:])
	}
	return e, nil
}

// Finish completes a message without an SK payload to fill (or a bare chain)
// and returns the whole buffer, including any prefix given to Reset.
func (b *Builder) Finish() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	if b.state == stateSK || b.state == stateFragment {
		b.err = valueError("Encrypted payload begun but not finished with FinishSK")
		return nil, b.err
	}
	if err := b.setLength(); err != nil {
		return nil, err
	}
	return b.buf, nil
}

// Bytes returns the buffer as built so far, including any prefix given to
// Reset. After FinishSK it is the datagram to send once the crypto layer has
// filled the IV, content and ICV in place.
func (b *Builder) Bytes() []byte { return b.buf }

// First returns the type of the first payload of a bare chain started with
// ResetChain (PayloadNone while it is empty).
func (b *Builder) First() PayloadType { return b.first }

// Err returns the first error met, if any.
func (b *Builder) Err() error { return b.err }

// link writes t into the pending Next Payload field, returns the offset where
// the new payload starts and makes its Next Payload field the pending one.
func (b *Builder) link(t PayloadType) int {
	if b.np >= 0 {
		b.buf[b.np] = byte(t)
	} else {
		b.first = t
	}
	off := len(b.buf)
	b.np = off
	return off
}

func (b *Builder) setLength() error {
	if b.chain {
		return nil
	}
	n := len(b.buf) - b.start
	if uint64(n) > 0xffffffff {
		b.err = valueError("message of %d octets", n)
		return b.err
	}
	binary.BigEndian.PutUint32(b.buf[b.start+24:], uint32(n))
	return nil
}
