package ikecrypto

import (
	"bytes"
	"errors"
	"testing"
)

// NIST CAVP SP 800-135 IKEv2 KDF, HMAC-SHA-1, tcId 100 (vectors.md §1).
var nist = struct {
	ni, nr, gir, girNew  string
	spii, spir           uint64
	skeyseed, dkm        string
	childDKM, childDHDKM string
	rekeySKEYSEED        string
}{
	ni:       "32b50d5f4a3763f3",
	nr:       "9206a04b26564cb1",
	spii:     0x34c9e7c188868785,
	spir:     0x3ff77d760d2b2199,
	gir:      "4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52",
	girNew:   "863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330",
	skeyseed: "a9a7b222b59f8f48645f28a1db5b5f5d7479cba7",
	dkm: `a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002
	      a2a63080e514a062768b76606f9fa5e992204fc5a670bde3f10d6b027113936a
	      5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd1119
	      8af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435
	      a7a56cc4`,
	childDKM: `8059e3ee8810e6c3a91bc8bcd2a7a41151b8d0e6ae239c7b38093ad85ef4c581
	      1a8e7b5d1cdabd9560b2d5e092d1f24e2d4b85eccdf0ad0dc9abd94b51ee7181
	      4ca6dbc8bb51b6309f5b9545c7eb35cf5580b1e521a8fe20754a2d883ba0c2cf
	      285f524aea6545b33106bc03e614296d319d41d4b50b3f510b1c0a22f3e66499
	      4d234cb4`,
	childDHDKM: `bb43244c1860ad65ee1e211ffe8bb3661750c8f89cb9f547df7f4fa61d373016
	      28190e38c66232eab4b3ab14c400a5197dd3730ed4820a8a10394d51e1c04000
	      52f63ebd36b0e7ef53aaed31eba4a5080d7d4b5666023a8bbb5ffb7857240f9a
	      05884d1b7d2f933708450b7b3288f1fc863ab49fa901227cffc06e27899c7054
	      d56fd74c`,
	rekeySKEYSEED: "63e81194946ebd05df7df5ebf5d8750056bf1f1d",
}

func TestSKEYSEEDNIST(t *testing.T) {
	prf := mustPRF(t, PRFHMACSHA1)
	got := SKEYSEED(prf, unhex(t, nist.ni), unhex(t, nist.nr), unhex(t, nist.gir))
	if want := unhex(t, nist.skeyseed); !bytes.Equal(got, want) {
		t.Errorf("SKEYSEED = %x, want %x", got, want)
	}
}

// The seven keys are consecutive slices of prf+(SKEYSEED, Ni|Nr|SPIi|SPIr),
// in the order SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr, each of the
// size its transform needs (RFC 7296 §2.14). NIST gives the first 132 octets.
func TestDeriveKeysNIST(t *testing.T) {
	s := mustSuite(t, EncrAESCBC, 128, IntegHMACSHA2_256_128, PRFHMACSHA1)
	k, err := s.DeriveKeys(unhex(t, nist.skeyseed), unhex(t, nist.ni), unhex(t, nist.nr), nist.spii, nist.spir)
	if err != nil {
		t.Fatal(err)
	}
	sizes := []struct {
		name string
		key  []byte
		want int
	}{{"SK_d", k.SKd, 20}, {"SK_ai", k.SKai, 32}, {"SK_ar", k.SKar, 32}, {"SK_ei", k.SKei, 16},
		{"SK_er", k.SKer, 16}, {"SK_pi", k.SKpi, 20}, {"SK_pr", k.SKpr, 20}}
	var all []byte
	for _, sz := range sizes {
		if len(sz.key) != sz.want {
			t.Errorf("%s has %d octets, want %d", sz.name, len(sz.key), sz.want)
		}
		all = append(all, sz.key...)
	}
	if len(all) != s.KeyMaterialSize() {
		t.Errorf("keys total %d octets, KeyMaterialSize says %d", len(all), s.KeyMaterialSize())
	}
	dkm := unhex(t, nist.dkm)
	if !bytes.Equal(all[:len(dkm)], dkm) {
		t.Errorf("SK_d|SK_ai|... = %x\nwant prefix       %x", all[:len(dkm)], dkm)
	}
	if want := dkm[:20]; !bytes.Equal(k.SKd, want) {
		t.Errorf("SK_d = %x, want %x", k.SKd, want)
	}
}

func TestKEYMATNIST(t *testing.T) {
	prf := mustPRF(t, PRFHMACSHA1)
	skd := unhex(t, nist.dkm)[:20]
	ni, nr := unhex(t, nist.ni), unhex(t, nist.nr)
	got, err := KEYMAT(prf, skd, nil, ni, nr, 132)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, nist.childDKM); !bytes.Equal(got, want) {
		t.Errorf("KEYMAT without PFS = %x\nwant %x", got, want)
	}
	got, err = KEYMAT(prf, skd, unhex(t, nist.girNew), ni, nr, 132)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, nist.childDHDKM); !bytes.Equal(got, want) {
		t.Errorf("KEYMAT with PFS = %x\nwant %x", got, want)
	}
}

func TestRekeySKEYSEEDNIST(t *testing.T) {
	prf := mustPRF(t, PRFHMACSHA1)
	skd := unhex(t, nist.dkm)[:20]
	got := RekeySKEYSEED(prf, skd, unhex(t, nist.girNew), unhex(t, nist.ni), unhex(t, nist.nr))
	if want := unhex(t, nist.rekeySKEYSEED); !bytes.Equal(got, want) {
		t.Errorf("rekey SKEYSEED = %x, want %x", got, want)
	}
}

// Key sizes per suite (RFC 7296 §2.14, RFC 5282 §7.1, RFC 7634 §3): AEAD
// SK_e carries a 4-octet salt and SK_a is empty.
func TestSuiteKeySizes(t *testing.T) {
	tests := []struct {
		encr       EncrID
		keyBits    int
		integ      IntegID
		prf        PRFID
		ske, ska   int
		skd, total int
	}{
		{EncrAESGCM16, 128, IntegNone, PRFHMACSHA2_256, 20, 0, 32, 3*32 + 2*20},
		{EncrAESGCM16, 256, IntegNone, PRFHMACSHA2_256, 36, 0, 32, 3*32 + 2*36},
		{EncrChaCha20Poly1305, 0, IntegNone, PRFHMACSHA2_512, 36, 0, 64, 3*64 + 2*36},
		{EncrAESCBC, 128, IntegHMACSHA2_256_128, PRFHMACSHA2_256, 16, 32, 32, 3*32 + 2*16 + 2*32},
		{EncrAESCBC, 192, IntegHMACSHA2_384_192, PRFHMACSHA2_384, 24, 48, 48, 3*48 + 2*24 + 2*48},
		{EncrAESCBC, 256, IntegHMACSHA2_512_256, PRFHMACSHA2_512, 32, 64, 64, 3*64 + 2*32 + 2*64},
	}
	for _, tc := range tests {
		s := mustSuite(t, tc.encr, tc.keyBits, tc.integ, tc.prf)
		k, err := s.DeriveKeys(repeat(1, 32), repeat(2, 32), repeat(3, 32), 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(k.SKei) != tc.ske || len(k.SKer) != tc.ske || len(k.SKai) != tc.ska || len(k.SKar) != tc.ska ||
			len(k.SKd) != tc.skd || len(k.SKpi) != tc.skd || len(k.SKpr) != tc.skd {
			t.Errorf("%v: SK_e %d/%d SK_a %d/%d SK_d %d SK_p %d/%d, want SK_e %d SK_a %d SK_d/SK_p %d",
				s, len(k.SKei), len(k.SKer), len(k.SKai), len(k.SKar), len(k.SKd), len(k.SKpi), len(k.SKpr), tc.ske, tc.ska, tc.skd)
		}
		if s.KeyMaterialSize() != tc.total {
			t.Errorf("%v: KeyMaterialSize = %d, want %d", s, s.KeyMaterialSize(), tc.total)
		}
		// The keys must not share storage in a way that lets one grow into the next.
		if cap(k.SKd) != len(k.SKd) {
			t.Errorf("%v: SK_d has spare capacity %d", s, cap(k.SKd)-len(k.SKd))
		}
	}
}

// RFC 5282 §8 and RFC 7634 §4: AEAD goes without INTEG; a block cipher
// needs one. Key lengths outside the catalog are refused.
func TestNewSuiteCombinations(t *testing.T) {
	bad := []struct {
		encr    EncrID
		keyBits int
		integ   IntegID
		prf     PRFID
	}{
		{EncrAESGCM16, 128, IntegHMACSHA2_256_128, PRFHMACSHA2_256},
		{EncrAESCBC, 128, IntegNone, PRFHMACSHA2_256},
		{EncrAESGCM16, 192, IntegNone, PRFHMACSHA2_256},
		{EncrAESGCM16, 0, IntegNone, PRFHMACSHA2_256},
		{EncrAESCBC, 0, IntegHMACSHA2_256_128, PRFHMACSHA2_256},
		{EncrChaCha20Poly1305, 256, IntegNone, PRFHMACSHA2_256},
		{3, 0, IntegHMACSHA2_256_128, PRFHMACSHA2_256}, // 3DES
		{EncrAESCBC, 128, 2, PRFHMACSHA2_256},          // HMAC-SHA1-96
		{EncrAESGCM16, 128, IntegNone, 4},              // AES128-XCBC
	}
	for _, b := range bad {
		_, err := NewSuite(b.encr, b.keyBits, b.integ, b.prf)
		var e *Error
		if !errors.Is(err, ErrUnsupportedTransform) || !errors.As(err, &e) || e.NotifyType() != 14 {
			t.Errorf("NewSuite(%v, %d, %v, %v) err = %v, want ErrUnsupportedTransform (NO_PROPOSAL_CHOSEN)", b.encr, b.keyBits, b.integ, b.prf, err)
		}
	}
}

func TestLookup(t *testing.T) {
	good := []struct {
		t       TransformType
		id      uint16
		keyBits int
		want    string
	}{
		{TransformTypeENCR, 20, 256, "AES-GCM-16-256"},
		{TransformTypeENCR, 12, 192, "AES-CBC-192"},
		{TransformTypeENCR, 28, 0, "CHACHA20-POLY1305"},
		{TransformTypePRF, 7, 0, "PRF_HMAC_SHA2_512"},
		{TransformTypeINTEG, 13, 0, "AUTH_HMAC_SHA2_384_192"},
		{TransformTypeDH, 31, 0, "CURVE_25519"},
		{TransformTypeDH, 21, 0, "ECP_521"},
	}
	for _, g := range good {
		tr, err := Lookup(g.t, g.id, g.keyBits)
		if err != nil {
			t.Errorf("Lookup(%v, %d, %d): %v", g.t, g.id, g.keyBits, err)
			continue
		}
		if tr.String() != g.want || tr.Type() != g.t || tr.TransformID() != g.id || tr.KeyBits() != g.keyBits {
			t.Errorf("Lookup(%v, %d, %d) = %v %v %d %d", g.t, g.id, g.keyBits, tr, tr.Type(), tr.TransformID(), tr.KeyBits())
		}
	}
	bad := []struct {
		t       TransformType
		id      uint16
		keyBits int
	}{
		{TransformTypePRF, 5, 256}, // Key Length on a fixed-length transform
		{TransformTypeDH, 2, 0},
		{TransformTypeDH, 15, 0},
		{TransformTypeINTEG, 2, 0},
		{TransformTypeESN, 0, 0},
		{9, 1, 0},
	}
	for _, b := range bad {
		if _, err := Lookup(b.t, b.id, b.keyBits); !errors.Is(err, ErrUnsupportedTransform) {
			t.Errorf("Lookup(%v, %d, %d) err = %v, want ErrUnsupportedTransform", b.t, b.id, b.keyBits, err)
		}
	}
}

// RFC 7296 §2.17: initiator-to-responder keys first, and within one SA the
// encryption key before the integrity key.
func TestSplitKEYMATOrder(t *testing.T) {
	esp, err := LookupESP(EncrAESGCM16, 128, IntegNone)
	if err != nil {
		t.Fatal(err)
	}
	if esp.EncrKeySize() != 20 || esp.IntegKeySize() != 0 || esp.KEYMATSize() != 40 || esp.SaltSize() != 4 {
		t.Fatalf("AES-GCM-16-128 ESP sizes %d/%d/%d", esp.EncrKeySize(), esp.IntegKeySize(), esp.KEYMATSize())
	}
	km := make([]byte, 40)
	for i := range km {
		km[i] = byte(i)
	}
	k, err := esp.SplitKEYMAT(km)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.EncrI, km[:20]) || !bytes.Equal(k.EncrR, km[20:40]) || len(k.IntegI) != 0 || len(k.IntegR) != 0 {
		t.Errorf("split = %x %x %x %x", k.EncrI, k.IntegI, k.EncrR, k.IntegR)
	}
	if _, err := esp.SplitKEYMAT(km[:39]); !errors.Is(err, ErrKeyLength) {
		t.Errorf("short KEYMAT: err = %v, want ErrKeyLength", err)
	}

	// The same order with separate integrity keys, through an internal
	// suite (the ESP catalog itself holds only AEAD ciphers).
	cbcEncr, err := LookupEncr(EncrAESCBC, 128)
	if err != nil {
		t.Fatal(err)
	}
	sha256Integ, err := LookupInteg(IntegHMACSHA2_256_128)
	if err != nil {
		t.Fatal(err)
	}
	cbc := ESPSuite{encr: cbcEncr.s, integ: sha256Integ.s}
	km = make([]byte, cbc.KEYMATSize())
	for i := range km {
		km[i] = byte(i)
	}
	k, err = cbc.SplitKEYMAT(km)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.EncrI, km[0:16]) || !bytes.Equal(k.IntegI, km[16:48]) ||
		!bytes.Equal(k.EncrR, km[48:64]) || !bytes.Equal(k.IntegR, km[64:96]) {
		t.Errorf("CBC split = %x %x %x %x", k.EncrI, k.IntegI, k.EncrR, k.IntegR)
	}
}

func TestLookupESP(t *testing.T) {
	for _, g := range []struct {
		encr    EncrID
		keyBits int
		size    int
	}{{EncrAESGCM16, 128, 20}, {EncrAESGCM16, 256, 36}, {EncrChaCha20Poly1305, 0, 36}} {
		esp, err := LookupESP(g.encr, g.keyBits, IntegNone)
		if err != nil {
			t.Errorf("LookupESP(%v, %d): %v", g.encr, g.keyBits, err)
			continue
		}
		if esp.EncrKeySize() != g.size || esp.KEYMATSize() != 2*g.size {
			t.Errorf("%v: key %d KEYMAT %d, want %d and %d", esp, esp.EncrKeySize(), esp.KEYMATSize(), g.size, 2*g.size)
		}
	}
	for _, b := range []struct {
		encr    EncrID
		keyBits int
		integ   IntegID
	}{{EncrAESCBC, 128, IntegHMACSHA2_256_128}, {EncrAESGCM16, 128, IntegHMACSHA2_256_128}, {EncrAESGCM16, 192, IntegNone}} {
		if _, err := LookupESP(b.encr, b.keyBits, b.integ); !errors.Is(err, ErrUnsupportedTransform) {
			t.Errorf("LookupESP(%v, %d, %v) err = %v, want ErrUnsupportedTransform", b.encr, b.keyBits, b.integ, err)
		}
	}
}

// DeriveChildKeys is KEYMAT followed by the split: with the NIST SK_d the
// first CHILD_SA keys are the first octets of the NIST child DKM.
func TestDeriveChildKeysNIST(t *testing.T) {
	esp, err := LookupESP(EncrAESGCM16, 256, IntegNone)
	if err != nil {
		t.Fatal(err)
	}
	prf := mustPRF(t, PRFHMACSHA1)
	skd := unhex(t, nist.dkm)[:20]
	k, err := esp.DeriveChildKeys(prf, skd, unhex(t, nist.girNew), unhex(t, nist.ni), unhex(t, nist.nr))
	if err != nil {
		t.Fatal(err)
	}
	dkm := unhex(t, nist.childDHDKM)
	if !bytes.Equal(k.EncrI, dkm[:36]) || !bytes.Equal(k.EncrR, dkm[36:72]) {
		t.Errorf("child keys %x %x, want %x %x", k.EncrI, k.EncrR, dkm[:36], dkm[36:72])
	}
}
