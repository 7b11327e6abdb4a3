package wire

import "encoding/binary"

// Builder encodes an IKE message, or a bare payload chain, into a caller's
// buffer. Add appends one payload, writes its generic header and chains its
// type into the previous Next Payload field; Finish fills in the message
// Length. The first error sticks: later calls do nothing and Finish or
// FinishSK report it, so call sites need no error checks in between.
//
// A protected message ends with an SK payload whose inner payloads are
// encoded in place, right after the SK header, where the cipher will encrypt
// them. With a Sealer (ikecrypto.SK) the whole flow is:
//
//	var b wire.Builder
//	b.Reset(buf[:0], wire.HeaderFields{SPIi: i, SPIr: r, ExchangeType: wire.ExchangeIKEAuth, Flags: wire.FlagInitiator, MessageID: 1})
//	b.BeginSK()
//	b.Add(&idi) // inner payloads, in order
//	b.Add(&auth)
//	datagram, err := b.Seal(sk) // final lengths, then IV | ciphertext | ICV
//
// FinishSK is the lower-level alternative for a caller that runs the cipher
// itself: it lays out IV, Padding, Pad Length and ICV room and returns the
// Encrypted layout to fill in place.
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
	if t == PayloadNone {
		b.err = valueError("payload of type 0 (No Next Payload)")
		return
	}
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

// BeginSK appends the header of an Encrypted payload (RFC 7296 §3.14); the
// payloads added afterwards are its inner payloads, in order, encoded right
// after the header. Seal or FinishSK completes it. An SK with no inner
// payload (an empty INFORMATIONAL) is valid.
func (b *Builder) BeginSK() {
	if !b.canBegin(PayloadSK) {
		return
	}
	b.sk, b.skHdr = b.link(PayloadSK), genericHeaderLen
	b.buf = append(b.buf, 0, 0, 0, 0)
	b.np = b.sk // the first inner payload's type goes into the SK header
	b.state = stateSK
}

// BeginSKF appends an Encrypted Fragment payload (RFC 7383 §2.5) with the
// fragment's content after its header; Seal or FinishSK completes it. The
// header given to Reset is the original message's, as the RFC requires.
func (b *Builder) BeginSKF(f Fragment) {
	if !b.canBegin(PayloadSKF) {
		return
	}
	if err := f.validate(); err != nil {
		b.err = err
		return
	}
	b.sk, b.skHdr = b.link(PayloadSKF), genericHeaderLen+skfFieldsLen
	b.buf = append(b.buf, byte(f.Next), 0, 0, 0)
	b.buf = binary.BigEndian.AppendUint16(b.buf, f.Number)
	b.buf = binary.BigEndian.AppendUint16(b.buf, f.Total)
	b.buf = append(b.buf, f.Content...)
	b.state = stateFragment
}

func (b *Builder) canBegin(t PayloadType) bool {
	switch {
	case b.err != nil:
		return false
	case b.chain || b.state != stateOpen:
		b.err = valueError("%v payload must be the one Encrypted payload of a message", t)
		return false
	}
	return true
}

// Sealer protects an Encrypted payload in one direction of an IKE SA; the
// crypto layer's SK type (ikecrypto.SK) implements it.
type Sealer interface {
	// Overhead returns how many octets sealing n octets of inner payloads
	// adds after the SK or SKF header: IV, Padding, Pad Length and ICV.
	Overhead(n int) int
	// Seal appends IV | encrypted content | ICV to msg, the message
	// through the SK or SKF header with final lengths, encrypting
	// plaintext, the inner payloads, which may sit right after msg in the
	// same array; it returns the complete message.
	Seal(msg, plaintext []byte) ([]byte, error)
}

// Seal completes the SK or SKF payload started by BeginSK or BeginSKF with s:
// it sets the payload and message lengths to their final values, which
// s.Overhead determines, then lets s encrypt the inner payloads in place. It
// returns the whole buffer, prefix included: the datagram to send. If the
// buffer given to Reset has room for the sealed message, nothing is
// allocated.
func (b *Builder) Seal(s Sealer) ([]byte, error) {
	if !b.canFinish() {
		return nil, b.err
	}
	body := b.sk + b.skHdr
	n := len(b.buf) - body
	if err := b.setLengths(n + s.Overhead(n)); err != nil {
		return nil, err
	}
	b.state = stateClosed
	msg, err := s.Seal(b.buf[b.start:body], b.buf[body:])
	if err != nil {
		b.err = err
		return nil, err
	}
	if len(msg) > 0 && &msg[0] == &b.buf[b.start] {
		b.buf = b.buf[:b.start+len(msg)]
	} else { // the sealer needed a bigger array
		b.buf = append(b.buf[:b.start:b.start], msg...)
	}
	return b.buf, nil
}

// FinishSK completes the SK or SKF payload started by BeginSK or BeginSKF
// for a caller that runs the cipher itself: it opens ivLen zero octets for
// the IV before the inner payloads (or fragment content), appends the Padding
// (zeros, the minimum that makes the content a multiple of blockSize; 1 for
// AEAD and stream ciphers), the Pad Length octet and icvLen zero octets for
// the Integrity Checksum Data, then fills in the payload and message lengths
// (RFC 7296 §3.14). The returned layout is ready for the cipher: all lengths,
// and therefore the associated data, are final; Split gives the IV, content
// and ICV slices to fill in place, and Bytes the datagram afterwards.
func (b *Builder) FinishSK(ivLen, blockSize, icvLen int) (Encrypted, error) {
	if !b.canFinish() {
		return Encrypted{}, b.err
	}
	if ivLen < 0 || ivLen > 255 || blockSize < 1 || blockSize > 256 || icvLen < 0 || icvLen > 255 {
		b.err = valueError("IV length %d, block size %d, ICV length %d", ivLen, blockSize, icvLen)
		return Encrypted{}, b.err
	}
	body := b.sk + b.skHdr
	n := len(b.buf) - body
	pad := padLength(n, blockSize)
	if err := b.setLengths(ivLen + n + pad + 1 + icvLen); err != nil {
		return Encrypted{}, err
	}
	b.state = stateClosed
	b.buf = append(b.buf, make([]byte, ivLen+pad)...)
	copy(b.buf[body+ivLen:], b.buf[body:body+n])
	clear(b.buf[body : body+ivLen])
	clear(b.buf[body+ivLen+n:])
	b.buf = append(b.buf, byte(pad))
	b.buf = append(b.buf, make([]byte, icvLen)...)
	e := Encrypted{Message: b.buf[b.start:], Next: PayloadType(b.buf[b.sk]), body: body - b.start}
	if b.skHdr != genericHeaderLen {
		e.FragmentNumber = binary.BigEndian.Uint16(b.buf[b.sk+4:])
		e.TotalFragments = binary.BigEndian.Uint16(b.buf[b.sk+6:])
	}
	return e, nil
}

func (b *Builder) canFinish() bool {
	if b.err == nil && b.state != stateSK && b.state != stateFragment {
		b.err = valueError("SK payload finished without BeginSK or BeginSKF")
	}
	return b.err == nil
}

// setLengths writes the SK or SKF Payload Length and the message Length for
// an Encrypted payload whose body (after its header) will be bodyLen octets.
func (b *Builder) setLengths(bodyLen int) error {
	if n := b.skHdr + bodyLen; n > 0xffff {
		b.err = valueError("Encrypted payload of %d octets exceeds 65535", n)
		return b.err
	}
	binary.BigEndian.PutUint16(b.buf[b.sk+2:], uint16(b.skHdr+bodyLen))
	total := b.sk + b.skHdr + bodyLen - b.start
	if uint64(total) > 0xffffffff {
		b.err = valueError("message of %d octets", total)
		return b.err
	}
	binary.BigEndian.PutUint32(b.buf[b.start+24:], uint32(total))
	return nil
}

// Finish completes a message without an SK payload to fill (or a bare chain)
// and returns the whole buffer, including any prefix given to Reset.
func (b *Builder) Finish() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	if b.state == stateSK || b.state == stateFragment {
		b.err = valueError("Encrypted payload begun but not finished with Seal or FinishSK")
		return nil, b.err
	}
	if err := b.setLength(); err != nil {
		return nil, err
	}
	return b.buf, nil
}

// Bytes returns the buffer as built so far, including any prefix given to
// Reset. After FinishSK it is the datagram to send once the cipher has filled
// the IV, content and ICV in place.
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
