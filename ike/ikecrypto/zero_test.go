package ikecrypto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"
)

func isZero(b []byte) bool { return len(b) == 0 || bytes.Count(b, []byte{0}) == len(b) }

// Keys.Zero wipes all seven keys, in every suite; the SK protectors made
// before keep working (they hold their own key schedule): what one side
// seals, the other opens.
func TestKeysZero(t *testing.T) {
	for _, s := range allSuites(t) {
		k, err := s.DeriveKeys(repeat(7, 32), repeat(1, 8), repeat(2, 8), 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		enc, _, err := s.NewSKPair(k, true, &countingReader{})
		if err != nil {
			t.Fatal(err)
		}
		_, dec, err := s.NewSKPair(k, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		keys := [][]byte{k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr}
		for _, key := range keys {
			if len(key) > 0 && isZero(key) {
				t.Fatalf("%v: a key is zero before Zero", s)
			}
		}
		k.Zero()
		for i, key := range keys {
			if !isZero(key) {
				t.Errorf("%v: key %d not wiped: %x", s, i, key)
			}
		}
		inner := []byte("inner payloads")
		msg := sealable(enc, len(inner))
		body := len(msg)
		sealed, err := enc.Seal(msg, inner)
		if err != nil {
			t.Fatalf("%v: seal with an SK made before Zero: %v", s, err)
		}
		if pt, err := dec.Open(sealed, body); err != nil || !bytes.Equal(pt, inner) {
			t.Errorf("%v: open with an SK made before Zero: %q, %v", s, pt, err)
		}
	}
	var none *Keys
	none.Zero() // no keys yet: nothing to do
}

// sealable returns an IKE header and SK header whose IKE header Length says
// the message will carry n octets of inner payloads sealed by sk.
func sealable(sk *SK, n int) []byte {
	msg := make([]byte, ikeHeaderLen+4)
	binary.BigEndian.PutUint32(msg[ikeHeaderLengthOff:], uint32(len(msg)+n+sk.Overhead(n)))
	return msg
}

// prf+ wipes the octets of its last block that it does not return, so that
// wiping the key material it returns leaves nothing behind in the array.
func TestPRFPlusWipesUnusedTail(t *testing.T) {
	p := mustPRF(t, PRFHMACSHA2_256)
	out, err := p.Plus([]byte("key"), 40, []byte("seed")) // two blocks, 24 octets unused
	if err != nil {
		t.Fatal(err)
	}
	whole := unsafe.Slice(unsafe.SliceData(out), 64)
	if isZero(out) {
		t.Fatal("prf+ output is zero")
	}
	if !isZero(whole[40:]) {
		t.Errorf("octets beyond the requested length left in the array: %x", whole[40:])
	}
}

// recordingReader is a random source that remembers the buffer it filled.
type recordingReader struct {
	countingReader
	filled []byte
}

func (r *recordingReader) Read(p []byte) (int, error) {
	r.filled = p
	return r.countingReader.Read(p)
}

// PrivateKey.Zero destroys the private part in every group: the MODP
// exponent's words are overwritten, a curve key is dropped. The public value
// stays; SharedSecret then fails with ErrKeyZeroed. GenerateKey wipes the
// scalar it read from the random source.
func TestPrivateKeyZero(t *testing.T) {
	for _, id := range []DHGroup{MODP2048, ECP256, ECP384, ECP521, Curve25519} {
		g := mustGroup(t, id)
		rnd := &recordingReader{countingReader: countingReader{next: 1}}
		k, err := g.GenerateKey(rnd)
		if err != nil {
			t.Fatal(err)
		}
		if len(rnd.filled) == 0 || !isZero(rnd.filled) {
			t.Errorf("%v: scalar read from rand not wiped: %x", id, rnd.filled)
		}
		peer, err := g.GenerateKey(&countingReader{next: 100})
		if err != nil {
			t.Fatal(err)
		}
		secret, err := k.SharedSecret(peer.PublicValue())
		if err != nil || isZero(secret) {
			t.Fatalf("%v: shared secret %x, %v", id, secret, err)
		}
		public := bytes.Clone(k.PublicValue())
		x := k.x
		k.Zero()
		if x != nil {
			w := x.Bits()
			for _, word := range w[:cap(w)] {
				if word != 0 {
					t.Errorf("%v: MODP exponent not wiped", id)
					break
				}
			}
		}
		if k.x != nil || k.ecdh != nil {
			t.Errorf("%v: private key still referenced", id)
		}
		if !bytes.Equal(k.PublicValue(), public) {
			t.Errorf("%v: public value changed", id)
		}
		if _, err := k.SharedSecret(peer.PublicValue()); !errors.Is(err, ErrKeyZeroed) {
			t.Errorf("%v: SharedSecret after Zero: %v, want ErrKeyZeroed", id, err)
		}
		k.Zero() // twice is harmless
	}
	var none *PrivateKey
	none.Zero()
}
