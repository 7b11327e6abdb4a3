package ikecrypto

import (
	"bytes"
	"crypto"
	"errors"
	"testing"
)

// fuzzOpeners returns the inbound SKs the SK fuzz targets choose from: the
// keys of the three golden vectors first (so their messages are meaningful
// seeds), then one per catalog suite.
func fuzzOpeners(t testing.TB) []*SK {
	t.Helper()
	cbc := mustSuite(t, EncrAESCBC, 128, IntegHMACSHA2_256_128, PRFHMACSHA2_256)
	gcm := mustSuite(t, EncrAESGCM16, 128, IntegNone, PRFHMACSHA2_256)
	chacha := mustSuite(t, EncrChaCha20Poly1305, 0, IntegNone, PRFHMACSHA2_256)
	var out []*SK
	for _, c := range []struct {
		s          Suite
		enc, integ []byte
	}{
		{cbc, unhex(t, capturedCBC.sker), unhex(t, capturedCBC.skar)},
		{gcm, unhex(t, gcmVectors.ske), nil},
		{chacha, unhex(t, chachaVector.ske), nil},
	} {
		sk, err := c.s.NewSK(c.enc, c.integ, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sk)
	}
	for _, s := range allSuites(t) {
		_, opener := newSKPair(t, s)
		out = append(out, opener)
	}
	return out
}

// FuzzSKOpen feeds arbitrary messages to Open: it must never panic, and what
// it returns must be a part of the message after the IV.
func FuzzSKOpen(f *testing.F) {
	openers := fuzzOpeners(f)
	f.Add(uint8(0), unhex(f, capturedCBC.msg), uint16(32))
	f.Add(uint8(1), unhex(f, gcmVectors.msgA), uint16(32))
	f.Add(uint8(1), unhex(f, gcmVectors.msgB), uint16(32))
	f.Add(uint8(2), unhex(f, chachaVector.msg), uint16(32))
	for i, s := range allSuites(f) {
		sealer, _ := newSKPair(f, s)
		for _, n := range []int{0, 15, 16, 200} {
			msg, err := sealer.Seal(header(sealer, n), bytes.Repeat([]byte{0x29}, n))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(3+i), msg, uint16(32))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, msg []byte, body uint16) {
		sk := openers[int(which)%len(openers)]
		orig := bytes.Clone(msg)
		pt, err := sk.Open(msg, int(body))
		if err != nil {
			if !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrPadding) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if int(body)+sk.ivSize+len(pt) > len(msg) {
			t.Fatalf("plaintext of %d octets from a %d-octet message at %d", len(pt), len(msg), body)
		}
		if !bytes.Equal(msg[:body], orig[:body]) {
			t.Fatal("Open changed the authenticated prefix")
		}
	})
}

// FuzzSKSealOpen seals fuzzer-chosen payloads and checks the round trip and
// that one flipped bit, anywhere, is caught.
func FuzzSKSealOpen(f *testing.F) {
	suites := allSuites(f)
	f.Add(uint8(0), []byte("inner payloads"), uint16(0))
	f.Add(uint8(3), bytes.Repeat([]byte{0}, 16), uint16(300))
	f.Add(uint8(5), []byte{}, uint16(7))
	f.Fuzz(func(t *testing.T, which uint8, inner []byte, flip uint16) {
		if len(inner) > 4000 {
			return
		}
		s := suites[int(which)%len(suites)]
		sealer, opener := newSKPair(t, s)
		msg, err := sealer.Seal(header(sealer, len(inner)), inner)
		if err != nil {
			t.Fatal(err)
		}
		bit := int(flip) % (8 * len(msg))
		bad := bytes.Clone(msg)
		bad[bit/8] ^= 1 << (bit % 8)
		got, err := opener.Open(msg, ikeHeaderLen+4)
		if err != nil || !bytes.Equal(got, inner) {
			t.Fatalf("%v: round trip: %x, %v", s, got, err)
		}
		if _, err := opener.Open(bad, ikeHeaderLen+4); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("%v: bit %d flipped: err = %v", s, bit, err)
		}
	})
}

// FuzzSharedSecret feeds arbitrary peer Key Exchange Data to every group: no
// panic, and a secret only of the group's size.
func FuzzSharedSecret(f *testing.F) {
	ids := []DHGroup{MODP2048, ECP256, ECP384, ECP521, Curve25519}
	keys := make([]*PrivateKey, len(ids))
	for i, id := range ids {
		g := mustGroup(f, id)
		k, err := g.GenerateKey(&countingReader{next: 3})
		if err != nil {
			f.Fatal(err)
		}
		keys[i] = k
		peer, err := g.GenerateKey(&countingReader{next: 77})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), peer.PublicValue())
	}
	for _, v := range ecpVectors {
		f.Add(uint8(int(v.group)-int(ECP256)+1), unhex(f, v.grx+v.gry))
	}
	f.Add(uint8(4), unhex(f, "0be7c1f5aad87d7e448662673298a443478b859745179eaf564c79c0ef6eee25"))
	f.Fuzz(func(t *testing.T, which uint8, peer []byte) {
		k := keys[int(which)%len(keys)]
		z, err := k.SharedSecret(peer)
		if err != nil {
			if !errors.Is(err, ErrInvalidKeyExchange) {
				t.Fatalf("unexpected error class: %v", err)
			}
			if k.Group().CheckPublicValue(peer) == nil && k.Group().ID() != Curve25519 {
				t.Fatalf("CheckPublicValue accepts what SharedSecret refused: %v", err)
			}
			return
		}
		if len(z) != k.Group().SharedSecretSize() {
			t.Fatalf("%v: secret of %d octets", k.Group(), len(z))
		}
		if err := k.Group().CheckPublicValue(peer); err != nil {
			t.Fatalf("CheckPublicValue refuses what SharedSecret accepted: %v", err)
		}
	})
}

// FuzzParseDigitalSignature parses arbitrary Authentication Data: no panic,
// a known scheme and a non-empty signature that is the tail of the input.
func FuzzParseDigitalSignature(f *testing.F) {
	for i := range schemeTable {
		p := &schemeTable[i]
		f.Add(append(append([]byte{byte(len(p.algID))}, p.algID...), 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01))
	}
	f.Add(unhex(f, "0f300d06092a864886f70d0101050500aa"))
	f.Add(unhex(f, "40303e06092a864886f70d01010a3031a00b300906052b0e03021a0500a118301606092a864886f70d010108300906052b0e03021a0500a203020114a303020101aa"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := ParseDigitalSignature(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedAuthData) && !errors.Is(err, ErrAuthenticationFailed) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if ds.Scheme.spec() == nil || len(ds.Signature) == 0 || !bytes.HasSuffix(data, ds.Signature) {
			t.Fatalf("parsed %+v from %x", ds, data)
		}
		if !ds.Scheme.spec().pss && ds.SaltLength != 0 {
			t.Fatalf("salt length on %v", ds.Scheme)
		}
	})
}

// FuzzVerifyAuthData runs arbitrary Authentication Data through the
// signature methods with the OpenSSL test keys: it never panics and accepts
// no signature value but the OpenSSL ones, which are the seeds. (Fixed
// signatures keep the accepted set the same in every fuzzing worker.) The
// AlgorithmIdentifier in front of a method 14 signature may take another
// accepted encoding (NULL or absent parameters, another PSS salt length).
func FuzzVerifyAuthData(f *testing.F) {
	rsaKey := parseKey(f, "rsa2048-key.pem")
	ecKey := parseKey(f, "p256-key.pem")
	signed := readTestdata(f, "signed-octets.bin")
	prefixed := func(s SignatureScheme, sig []byte) []byte {
		return append(append([]byte{byte(len(s.AlgorithmIdentifier()))}, s.AlgorithmIdentifier()...), sig...)
	}
	cases := []struct {
		pub    crypto.PublicKey
		method AuthMethod
		seed   []byte
	}{
		{rsaKey.Public(), AuthRSASignature, readTestdata(f, "rsa-pkcs1-sha1.sig")},
		{ecKey.Public(), AuthECDSASHA256P256, readTestdata(f, "ecdsa-p256-sha256.raw")},
		{ecKey.Public(), AuthDigitalSignature, prefixed(ECDSAWithSHA256, readTestdata(f, "ecdsa-p256-sha256.der"))},
		{rsaKey.Public(), AuthDigitalSignature, prefixed(SHA256WithRSA, readTestdata(f, "rsa-pkcs1-sha256.sig"))},
		{rsaKey.Public(), AuthDigitalSignature, prefixed(RSAPSSWithSHA256, readTestdata(f, "rsa-pss-sha256.sig"))},
	}
	// signatureValue returns the part of the data that is the signature.
	signatureValue := func(method AuthMethod, data []byte) []byte {
		if method != AuthDigitalSignature {
			return data
		}
		ds, err := ParseDigitalSignature(data)
		if err != nil {
			return nil
		}
		return ds.Signature
	}
	valid := map[string]bool{}
	for i, c := range cases {
		valid[string(signatureValue(c.method, c.seed))] = true
		f.Add(uint8(i), c.seed)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		c := cases[int(which)%len(cases)]
		err := VerifyAuthData(c.pub, c.method, data, signed, allHashes)
		if err == nil && !valid[string(signatureValue(c.method, data))] {
			t.Fatalf("%v accepted data nobody signed: %x", c.method, data)
		}
		if err != nil && !errors.Is(err, ErrAuthenticationFailed) && !errors.Is(err, ErrMalformedAuthData) {
			t.Fatalf("unexpected error class: %v", err)
		}
	})
}

// FuzzSameDN compares arbitrary octets as distinguished names: it must
// never panic, must be symmetric, and a name is the same as itself exactly
// when it parses and is not empty.
func FuzzSameDN(f *testing.F) {
	for _, seed := range [][2]string{
		{"3026310b3009060355040613024445311730150603550403130e6d6e2e6578616d706c652e6e6574",
			"3026310b3009060355040613024445311730150603550403" + "0c0e6d6e2e6578616d706c652e6e6574"},
		{"30243110300e060355040a13074578616d706c653110300e060355040313076d616c6c6f7279",
			"30223120300e060355040313076d616c6c6f7279300e060355040a13074578616d706c65"},
		{"3000", "3000"},
	} {
		f.Add(unhex(f, seed[0]), unhex(f, seed[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ab, ba := sameDN(a, b), sameDN(b, a)
		if ab != ba {
			t.Fatalf("sameDN(a, b) = %v, sameDN(b, a) = %v", ab, ba)
		}
		dn, ok := parseDN(a)
		if self := sameDN(a, a); self != (ok && len(dn) > 0) {
			t.Fatalf("sameDN(a, a) = %v for a name that parses %v with %d RDNs", self, ok, len(dn))
		}
	})
}
