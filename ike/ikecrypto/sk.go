package ikecrypto

import (
	"crypto/cipher"
	"crypto/hmac"
	cryptorand "crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"math"
	"slices"
)

// ikeHeaderLen is the length of the fixed IKE header; its Length field sits
// at octets 24..27 (RFC 7296 §3.1).
const (
	ikeHeaderLen       = 28
	ikeHeaderLengthOff = 24
)

// SK protects Encrypted payloads (RFC 7296 §3.14, RFC 5282 §3) in one
// direction of an IKE SA, under one key. An IKE SA has two: one that seals
// what it sends and one that opens what it receives (see Suite.NewSKPair).
//
// With an AEAD cipher the 8-octet IV is a per-SK counter, so an IV is never
// repeated under a key (RFC 5282 §3.1); with AES-CBC it is read from the
// injected random source (RFC 7296 §3.14). Make exactly one sealing SK per
// key and keep it for the life of the IKE SA: a second SK for the same key
// would start its counter again at 1 and repeat IVs. An SK is not safe for
// concurrent use: each IKE SA has a single owner.
type SK struct {
	aead  cipher.AEAD // AEAD ciphers
	nonce [12]byte    // salt | IV (RFC 5282 §4); the salt part is fixed
	seq   uint64      // IV of the last sealed message (AEAD)
	block cipher.Block
	mac   hash.Hash // HMAC for AES-CBC
	rand  io.Reader

	ivSize, tagSize, icvSize, blockSize int
	sum                                 [64]byte // scratch for the HMAC output
}

// NewSK returns an SK for one direction. encrKey is SK_ei or SK_er (with the
// salt for AEAD), integKey is SK_ai or SK_ar (empty for AEAD). rand supplies
// AES-CBC IVs and is not used by AEAD suites; nil means crypto/rand.Reader.
// Keys of the wrong length return an error wrapping ErrKeyLength.
func (s Suite) NewSK(encrKey, integKey []byte, rand io.Reader) (*SK, error) {
	e, a := s.encr.s, s.integ.s
	if len(encrKey) != e.keySize+e.saltSize || len(integKey) != a.keySize {
		return nil, fmt.Errorf("%v: SK_e of %d octets, SK_a of %d octets: %w", s, len(encrKey), len(integKey), ErrKeyLength)
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	sk := &SK{rand: rand, ivSize: e.ivSize, tagSize: e.tagSize, icvSize: a.icvSize, blockSize: e.blockSize}
	var err error
	if e.newAEAD != nil {
		sk.aead, err = e.newAEAD(encrKey[:e.keySize])
		copy(sk.nonce[:4], encrKey[e.keySize:])
	} else {
		sk.block, err = e.newBlock(encrKey)
		sk.mac = hmac.New(a.newHash, integKey)
	}
	if err != nil {
		return nil, fmt.Errorf("%v: %w", s, err)
	}
	return sk, nil
}

// Overhead returns how many octets sealing n octets of inner payloads adds
// after the 4-octet SK generic header: IV, padding, Pad Length and ICV (or
// AEAD tag). The SK Payload Length is therefore 4 + n + Overhead(n) and the
// message grows by n + Overhead(n) in Seal. The wire builder uses it to write
// the final lengths before sealing.
func (sk *SK) Overhead(n int) int {
	return sk.ivSize + sk.padded(n) - n + sk.tagSize + sk.icvSize
}

// padded returns the length of the plaintext once Padding and Pad Length are
// added: the minimum that aligns it to the block size (RFC 7296 §3.14). AEAD
// ciphers need no alignment and send Pad Length 0 (RFC 7634 §3).
func (sk *SK) padded(n int) int {
	return (n/sk.blockSize + 1) * sk.blockSize
}

// Seal encrypts and integrity-protects plaintext, the inner payloads, and
// appends IV | ciphertext | ICV to msg, returning the extended slice.
//
// msg must hold the complete message up to and including the Encrypted
// payload's generic header: the IKE header, any unencrypted payloads and the
// 4-octet SK header (8 octets for an SKF fragment), with the IKE header Length
// and the SK Payload Length already set to their final values, because they
// are authenticated (RFC 5282 §5.1, RFC 7296 §3.14). Seal checks the IKE
// header Length and returns an error wrapping ErrLength if it does not equal
// len(msg) + len(plaintext) + Overhead(len(plaintext)).
//
// plaintext may live in its own buffer or directly after msg in the same
// array (msg[len(msg):len(msg)+n], the encode-in-place pattern); it must not
// otherwise overlap msg.
//
// AEAD suites use the next counter value as IV and fail with an error
// wrapping ErrIVExhausted once 2^64-1 IVs have been used; AES-CBC reads a
// fresh IV from the random source.
func (sk *SK) Seal(msg, plaintext []byte) ([]byte, error) {
	n := len(msg)
	padded := sk.padded(len(plaintext))
	total := n + sk.ivSize + padded + sk.tagSize + sk.icvSize
	if n < ikeHeaderLen || int64(binary.BigEndian.Uint32(msg[ikeHeaderLengthOff:])) != int64(total) {
		return nil, fmt.Errorf("message of %d octets after sealing: %w", total, ErrLength)
	}
	if sk.aead != nil && sk.seq == math.MaxUint64 {
		return nil, ErrIVExhausted
	}
	out := slices.Grow(msg, total-n)[:n+sk.ivSize+padded]
	ivEnd := n + sk.ivSize
	// Move the plaintext first: it may start right at out[n:], where the
	// IV goes. copy handles the overlap.
	copy(out[ivEnd:], plaintext)
	pt := out[ivEnd:]
	padLen := padded - len(plaintext) - 1
	clear(pt[len(plaintext) : padded-1]) // Padding MAY contain any value; zeros.
	pt[padded-1] = byte(padLen)

	iv := out[n:ivEnd]
	if sk.aead != nil {
		sk.seq++
		binary.BigEndian.PutUint64(iv, sk.seq)
		copy(sk.nonce[4:], iv)
		return sk.aead.Seal(out[:ivEnd], sk.nonce[:], pt, out[:n]), nil
	}
	if _, err := io.ReadFull(sk.rand, iv); err != nil {
		return nil, fmt.Errorf("AES-CBC IV: %w: %w", ErrRandomSource, err)
	}
	cipher.NewCBCEncrypter(sk.block, iv).CryptBlocks(pt, pt)
	sk.mac.Reset()
	sk.mac.Write(out)
	icv := sk.mac.Sum(sk.sum[:0])[:sk.icvSize]
	return append(out, icv...), nil
}

// Open verifies and decrypts the Encrypted payload of a received message and
// returns the inner payloads, without Padding and Pad Length.
//
// msg is the whole IKE message (without the non-ESP marker) and body the
// offset of the first octet after the Encrypted payload's generic header (the
// IV); the Encrypted payload must run to the end of msg, as RFC 7296 §3.14
// requires of the last payload. Everything before body is authenticated as
// AEAD associated data (RFC 5282 §5.1); with AES-CBC the ICV covers the
// message from the IKE header to the end of the ciphertext.
//
// Decryption happens in place: the returned slice aliases msg, and msg[body:]
// is overwritten whether or not Open succeeds. A payload that is too short,
// misaligned or fails the ICV or tag check returns an error wrapping
// ErrIntegrity; the caller drops the message without answering (RFC 7296
// §2.21.2). A payload that authenticates but whose Pad Length exceeds the data
// returns an error wrapping ErrPadding. Any amount of padding up to 255 octets
// is accepted (RFC 5282 §3, RFC 7634 §3).
func (sk *SK) Open(msg []byte, body int) ([]byte, error) {
	if body < 0 || body > len(msg) {
		return nil, fmt.Errorf("encrypted payload at offset %d of a %d-octet message: %w", body, len(msg), ErrIntegrity)
	}
	data := msg[body:]
	var pt []byte
	if sk.aead != nil {
		if len(data) < sk.ivSize+1+sk.tagSize {
			return nil, fmt.Errorf("encrypted payload of %d octets: %w", len(data), ErrIntegrity)
		}
		copy(sk.nonce[4:], data[:sk.ivSize])
		ct := data[sk.ivSize:]
		var err error
		if pt, err = sk.aead.Open(ct[:0], sk.nonce[:], ct, msg[:body]); err != nil {
			return nil, fmt.Errorf("AEAD tag: %w", ErrIntegrity)
		}
	} else {
		ctLen := len(data) - sk.ivSize - sk.icvSize
		if ctLen < sk.blockSize || ctLen%sk.blockSize != 0 {
			return nil, fmt.Errorf("encrypted payload of %d octets: %w", len(data), ErrIntegrity)
		}
		end := len(msg) - sk.icvSize
		sk.mac.Reset()
		sk.mac.Write(msg[:end])
		want := sk.mac.Sum(sk.sum[:0])[:sk.icvSize]
		if subtle.ConstantTimeCompare(want, msg[end:]) != 1 {
			return nil, fmt.Errorf("ICV: %w", ErrIntegrity)
		}
		iv, ct := data[:sk.ivSize], data[sk.ivSize:sk.ivSize+ctLen]
		cipher.NewCBCDecrypter(sk.block, iv).CryptBlocks(ct, ct)
		pt = ct
	}
	padLen := int(pt[len(pt)-1])
	if padLen+1 > len(pt) {
		return nil, fmt.Errorf("Pad Length %d in %d octets: %w", padLen, len(pt), ErrPadding)
	}
	return pt[:len(pt)-1-padLen], nil
}
