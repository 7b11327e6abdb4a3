package ikecrypto

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
)

// prfSpec is one row of the PRF catalog.
type prfSpec struct {
	id      PRFID
	newHash func() hash.Hash
	size    int // output octets, also the preferred key length (RFC 4868 §4)
}

var prfCatalog = [...]prfSpec{
	{PRFHMACSHA1, sha1.New, sha1.Size},
	{PRFHMACSHA2_256, sha256.New, sha256.Size},
	{PRFHMACSHA2_384, sha512.New384, sha512.Size384},
	{PRFHMACSHA2_512, sha512.New, sha512.Size},
}

// maxPRFPlusBlocks is the prf+ limit: the counter octet runs from 0x01 to 0xff
// (RFC 7296 §2.13).
const maxPRFPlusBlocks = 255

// PRF is a pseudorandom function transform (RFC 7296 §2.13): HMAC with a
// SHA-1 or SHA-2 hash (RFC 2104, RFC 4868). A PRF is an immutable catalog
// entry, safe for concurrent use; obtain one from LookupPRF. The zero PRF is
// not usable.
type PRF struct{ s *prfSpec }

// LookupPRF returns the PRF with the given transform ID, or an error wrapping
// ErrUnsupportedTransform.
func LookupPRF(id PRFID) (PRF, error) {
	for i := range prfCatalog {
		if prfCatalog[i].id == id {
			return PRF{&prfCatalog[i]}, nil
		}
	}
	return PRF{}, fmt.Errorf("%v: %w", id, ErrUnsupportedTransform)
}

// ID returns the PRF transform ID.
func (p PRF) ID() PRFID { return p.s.id }

// Type returns TransformTypePRF.
func (p PRF) Type() TransformType { return TransformTypePRF }

// TransformID returns the transform ID as it appears in an SA payload.
func (p PRF) TransformID() uint16 { return uint16(p.s.id) }

// KeyBits returns 0: PRF transforms carry no Key Length attribute.
func (p PRF) KeyBits() int { return 0 }

// String returns the IANA name of the PRF.
func (p PRF) String() string { return p.s.id.String() }

// Size returns the length of one PRF output in octets.
func (p PRF) Size() int { return p.s.size }

// KeySize returns the PRF's preferred key length in octets, the length of
// SK_d, SK_pi and SK_pr (RFC 7296 §2.14). For HMAC it is the output length
// (RFC 4868 §4).
func (p PRF) KeySize() int { return p.s.size }

// Sum returns prf(key, data[0] | data[1] | ...) (RFC 7296 §2.13).
func (p PRF) Sum(key []byte, data ...[]byte) []byte {
	mac := hmac.New(p.s.newHash, key)
	for _, d := range data {
		mac.Write(d)
	}
	return mac.Sum(make([]byte, 0, p.s.size))
}

// Plus returns the first n octets of prf+(key, seed[0] | seed[1] | ...)
// (RFC 7296 §2.13):
//
//	prf+(K, S) = T1 | T2 | T3 | ...
//	T1 = prf(K, S | 0x01), Tn = prf(K, T(n-1) | S | n)
//
// The counter is one octet, so at most 255 blocks can be produced; asking for
// more returns an error wrapping ErrKeyLength.
func (p PRF) Plus(key []byte, n int, seed ...[]byte) ([]byte, error) {
	size := p.s.size
	if n < 0 || n > maxPRFPlusBlocks*size {
		return nil, fmt.Errorf("%v: prf+ of %d octets exceeds 255 blocks: %w", p.s.id, n, ErrKeyLength)
	}
	blocks := (n + size - 1) / size
	out := make([]byte, 0, blocks*size)
	mac := hmac.New(p.s.newHash, key)
	var counter [1]byte
	var prev []byte
	for i := 1; i <= blocks; i++ {
		mac.Reset()
		mac.Write(prev)
		for _, s := range seed {
			mac.Write(s)
		}
		counter[0] = byte(i)
		mac.Write(counter[:])
		out = mac.Sum(out) // capacity is reserved: prev stays valid
		prev = out[len(out)-size:]
	}
	// The octets of the last block beyond n are key material nobody owns:
	// wipe them, so that wiping the n octets returned wipes it all.
	clear(out[n:])
	return out[:n:n], nil
}
