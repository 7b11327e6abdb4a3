package ikecrypto

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// unhex decodes hex that may contain spaces, newlines and "|" separators, as
// the vectors in the design documents are printed.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "", "|", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test vector: %v", err)
	}
	return b
}

// repeat returns n copies of octet b.
func repeat(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// countingReader returns 0x00, 0x01, 0x02, ... for deterministic randomness.
type countingReader struct{ next byte }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.next
		r.next++
	}
	return len(p), nil
}

func mustSuite(t testing.TB, encr EncrID, keyBits int, integ IntegID, prf PRFID) Suite {
	t.Helper()
	s, err := NewSuite(encr, keyBits, integ, prf)
	if err != nil {
		t.Fatalf("NewSuite(%v, %d, %v, %v): %v", encr, keyBits, integ, prf, err)
	}
	return s
}

func mustPRF(t testing.TB, id PRFID) PRF {
	t.Helper()
	p, err := LookupPRF(id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// allSuites lists every IKE suite the catalog can build, with a short name.
func allSuites(t testing.TB) []Suite {
	t.Helper()
	return []Suite{
		mustSuite(t, EncrAESGCM16, 128, IntegNone, PRFHMACSHA2_256),
		mustSuite(t, EncrAESGCM16, 256, IntegNone, PRFHMACSHA2_384),
		mustSuite(t, EncrChaCha20Poly1305, 0, IntegNone, PRFHMACSHA2_512),
		mustSuite(t, EncrAESCBC, 128, IntegHMACSHA2_256_128, PRFHMACSHA2_256),
		mustSuite(t, EncrAESCBC, 192, IntegHMACSHA2_384_192, PRFHMACSHA2_384),
		mustSuite(t, EncrAESCBC, 256, IntegHMACSHA2_512_256, PRFHMACSHA2_512),
	}
}
