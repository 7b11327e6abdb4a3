package ikecrypto

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "openssl", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseKey(t testing.TB, name string) crypto.Signer {
	t.Helper()
	block, _ := pem.Decode(readTestdata(t, name))
	if block == nil {
		t.Fatalf("%s: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}

var (
	ecKeysOnce sync.Once
	ecKeys     map[string]*ecdsa.PrivateKey
)

// testECKeys returns one ECDSA key per curve, generated once per run.
func testECKeys(t testing.TB) map[string]*ecdsa.PrivateKey {
	ecKeysOnce.Do(func() {
		ecKeys = map[string]*ecdsa.PrivateKey{}
		for name, c := range map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()} {
			k, err := ecdsa.GenerateKey(c, rand.Reader)
			if err != nil {
				panic(err)
			}
			ecKeys[name] = k
		}
	})
	return ecKeys
}

var allHashes = []HashAlgorithm{HashSHA2_256, HashSHA2_384, HashSHA2_512}

// RFC 7427 App. A (vectors.md §6) for the schemes the RFC prints; the
// PSS SHA-384/512 forms follow A.4.3 with the hash and salt changed and
// were checked with `openssl asn1parse`.
func TestAlgorithmIdentifierBlobs(t *testing.T) {
	tests := []struct {
		scheme SignatureScheme
		blob   string
	}{
		{SHA256WithRSA, "300d06092a864886f70d01010b0500"},
		{SHA384WithRSA, "300d06092a864886f70d01010c0500"},
		{SHA512WithRSA, "300d06092a864886f70d01010d0500"},
		{ECDSAWithSHA256, "300a06082a8648ce3d040302"},
		{ECDSAWithSHA384, "300a06082a8648ce3d040303"},
		{ECDSAWithSHA512, "300a06082a8648ce3d040304"},
		{RSAPSSWithSHA256, `3046 06092a864886f70d01010a 3039
			a00f 300d 0609608648016503040201 0500
			a11c 301a 06092a864886f70d010108 300d 0609608648016503040201 0500
			a203 020120
			a303 020101`},
		{RSAPSSWithSHA384, `3046 06092a864886f70d01010a 3039
			a00f 300d 0609608648016503040202 0500
			a11c 301a 06092a864886f70d010108 300d 0609608648016503040202 0500
			a203 020130
			a303 020101`},
		{RSAPSSWithSHA512, `3046 06092a864886f70d01010a 3039
			a00f 300d 0609608648016503040203 0500
			a11c 301a 06092a864886f70d010108 300d 0609608648016503040203 0500
			a203 020140
			a303 020101`},
	}
	for _, tc := range tests {
		want := unhex(t, tc.blob)
		if got := tc.scheme.AlgorithmIdentifier(); !bytes.Equal(got, want) {
			t.Errorf("%v: %x\nwant %x", tc.scheme, got, want)
		}
		// And the parser maps the blob back to the scheme.
		scheme, salt, err := parseAlgorithmIdentifier(want)
		if err != nil || scheme != tc.scheme {
			t.Errorf("parse %v blob: %v, %v", tc.scheme, scheme, err)
		}
		if tc.scheme >= RSAPSSWithSHA256 && salt != cryptoHash(tc.scheme.Hash()).Size() {
			t.Errorf("%v: salt length %d", tc.scheme, salt)
		}
	}
	if SignatureScheme(0).AlgorithmIdentifier() != nil || SignatureScheme(99).Hash() != 0 {
		t.Error("unknown schemes have an AlgorithmIdentifier or hash")
	}
}

// Blobs RFC 7427 App. A lists that must not be accepted: SHA-1 (RFC 8247
// §3.2 MUST NOT), DSA, and PSS with empty or default (SHA-1) parameters.
func TestAlgorithmIdentifierRefused(t *testing.T) {
	for name, blob := range map[string]string{
		"sha1WithRSAEncryption (A.1.1)": "300d06092a864886f70d0101050500",
		"dsa-with-sha1 (A.2.1)":         "3009 06072a8648ce380403",
		"dsa-with-sha256 (A.2.2)":       "300b 0609608648016503040302",
		"ecdsa-with-sha1 (A.3.1)":       "3009 06072a8648ce3d0401",
		"PSS empty parameters (A.4.1)":  "300d06092a864886f70d01010a3000",
		"PSS default parameters (A.4.2)": `303e06092a864886f70d01010a3031a00b300906052b0e03021a0500a118301606092a864886f70d010108
			300906052b0e03021a0500a203020114a303020101`,
		"PSS SHA-256 with MGF1 SHA-1": `303d 06092a864886f70d01010a 3030
			a00f 300d 0609608648016503040201 0500
			a118 3016 06092a864886f70d010108 3009 06052b0e03021a 0500
			a203 020120`,
	} {
		_, _, err := parseAlgorithmIdentifier(unhex(t, blob))
		if !errors.Is(err, ErrAuthenticationFailed) {
			t.Errorf("%s: err = %v, want ErrAuthenticationFailed", name, err)
		}
	}
}

func TestParseDigitalSignatureMalformed(t *testing.T) {
	ecdsa256 := "0c300a06082a8648ce3d040302"
	for name, data := range map[string]string{
		"empty":                        "",
		"length past the end":          "0d300a06082a8648ce3d040302",
		"no signature value":           ecdsa256,
		"length shorter than the blob": "0b300a06082a8648ce3d040302aa",
		"not a SEQUENCE":               "0c310a06082a8648ce3d040302aa",
		"trailing garbage in the blob": "0e300a06082a8648ce3d0403020000aa",
		"parameters that are not NULL": "0e300c06082a8648ce3d0403020101aa",
		"PSS trailerField 2":           "48" + "3046 06092a864886f70d01010a 3039 a00f 300d 0609608648016503040201 0500 a11c 301a 06092a864886f70d010108 300d 0609608648016503040201 0500 a203 020120 a303 020102" + "aa",
		"PSS negative salt":            "48" + "3046 06092a864886f70d01010a 3039 a00f 300d 0609608648016503040201 0500 a11c 301a 06092a864886f70d010108 300d 0609608648016503040201 0500 a203 0201e0 a303 020101" + "aa",
		"PSS parameters out of order":  "48" + "3046 06092a864886f70d01010a 3039 a11c 301a 06092a864886f70d010108 300d 0609608648016503040201 0500 a00f 300d 0609608648016503040201 0500 a203 020120 a303 020101" + "aa",
	} {
		_, err := ParseDigitalSignature(unhex(t, data))
		var e *Error
		if !errors.As(err, &e) || e.NotifyType() != 24 || !errors.Is(err, ErrMalformedAuthData) {
			t.Errorf("%s: err = %v, want ErrMalformedAuthData (AUTHENTICATION_FAILED)", name, err)
		}
	}
	// The other encodings of absent parameters RFC 7427 §3 mentions are
	// tolerated: NULL after an ECDSA OID, nothing after an RSA OID.
	for name, data := range map[string]string{
		"ECDSA with NULL":  "0e300c06082a8648ce3d0403020500aa",
		"RSA without NULL": "0d300b06092a864886f70d01010baa",
	} {
		if _, err := ParseDigitalSignature(unhex(t, data)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Signatures made by OpenSSL verify, and the deterministic RSA PKCS #1 v1.5
// ones are reproduced byte for byte.
func TestSignaturesOpenSSL(t *testing.T) {
	rsaKey := parseKey(t, "rsa2048-key.pem")
	ecKey := parseKey(t, "p256-key.pem")
	msg := readTestdata(t, "signed-octets.bin")
	prefixed := func(s SignatureScheme, sig []byte) []byte {
		return append(append([]byte{byte(len(s.AlgorithmIdentifier()))}, s.AlgorithmIdentifier()...), sig...)
	}
	tests := []struct {
		name   string
		pub    crypto.PublicKey
		method AuthMethod
		data   []byte
		signer crypto.Signer // reproduces data exactly when set
		scheme SignatureScheme
	}{
		{"RSA method 1 (SHA-1)", rsaKey.Public(), AuthRSASignature, readTestdata(t, "rsa-pkcs1-sha1.sig"), rsaKey, 0},
		{"sha256WithRSAEncryption", rsaKey.Public(), AuthDigitalSignature,
			prefixed(SHA256WithRSA, readTestdata(t, "rsa-pkcs1-sha256.sig")), rsaKey, SHA256WithRSA},
		{"RSASSA-PSS SHA-256", rsaKey.Public(), AuthDigitalSignature,
			prefixed(RSAPSSWithSHA256, readTestdata(t, "rsa-pss-sha256.sig")), nil, 0},
		{"ecdsa-with-SHA256 (DER)", ecKey.Public(), AuthDigitalSignature,
			prefixed(ECDSAWithSHA256, readTestdata(t, "ecdsa-p256-sha256.der")), nil, 0},
		{"ECDSA method 9 (r|s)", ecKey.Public(), AuthECDSASHA256P256, readTestdata(t, "ecdsa-p256-sha256.raw"), nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := VerifyAuthData(tc.pub, tc.method, tc.data, msg, allHashes); err != nil {
				t.Fatalf("verify: %v", err)
			}
			bad := bytes.Clone(msg)
			bad[0] ^= 1
			if err := VerifyAuthData(tc.pub, tc.method, tc.data, bad, allHashes); !errors.Is(err, ErrAuthenticationFailed) {
				t.Fatalf("other signed octets: err = %v", err)
			}
			if tc.signer != nil {
				got, err := SignAuthData(nil, tc.signer, tc.method, tc.scheme, msg)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tc.data) {
					t.Errorf("signed\n%x\nwant (OpenSSL)\n%x", got, tc.data)
				}
			}
		})
	}
}

// Every method and scheme signs and verifies with keys of the right kind,
// and the ECDSA methods 9-11 produce fixed-size r | s.
func TestSignVerifyRoundTrip(t *testing.T) {
	rsaKey := parseKey(t, "rsa2048-key.pem")
	ec := testECKeys(t)
	msg := []byte("InitiatorSignedOctets")
	tests := []struct {
		signer  crypto.Signer
		method  AuthMethod
		scheme  SignatureScheme
		rawSize int
	}{
		{rsaKey, AuthRSASignature, 0, 256},
		{ec["P-256"], AuthECDSASHA256P256, 0, 64},
		{ec["P-384"], AuthECDSASHA384P384, 0, 96},
		{ec["P-521"], AuthECDSASHA512P521, 0, 132},
		{ec["P-256"], AuthDigitalSignature, ECDSAWithSHA256, 0},
		{ec["P-256"], AuthDigitalSignature, ECDSAWithSHA512, 0}, // any hash on any curve (X9.62 truncation)
		{ec["P-384"], AuthDigitalSignature, ECDSAWithSHA384, 0},
		{ec["P-521"], AuthDigitalSignature, ECDSAWithSHA512, 0},
		{rsaKey, AuthDigitalSignature, SHA256WithRSA, 0},
		{rsaKey, AuthDigitalSignature, SHA384WithRSA, 0},
		{rsaKey, AuthDigitalSignature, SHA512WithRSA, 0},
		{rsaKey, AuthDigitalSignature, RSAPSSWithSHA256, 0},
		{rsaKey, AuthDigitalSignature, RSAPSSWithSHA384, 0},
		{rsaKey, AuthDigitalSignature, RSAPSSWithSHA512, 0},
	}
	for _, tc := range tests {
		name := tc.method.String() + "/" + tc.scheme.String()
		data, err := SignAuthData(rand.Reader, tc.signer, tc.method, tc.scheme, msg)
		if err != nil {
			t.Errorf("%s: sign: %v", name, err)
			continue
		}
		if tc.rawSize != 0 && len(data) != tc.rawSize {
			t.Errorf("%s: %d octets, want %d", name, len(data), tc.rawSize)
		}
		if tc.method == AuthDigitalSignature {
			ds, err := ParseDigitalSignature(data)
			if err != nil || ds.Scheme != tc.scheme {
				t.Errorf("%s: parsed as %v, %v", name, ds.Scheme, err)
			}
		}
		if err := VerifyAuthData(tc.signer.Public(), tc.method, data, msg, allHashes); err != nil {
			t.Errorf("%s: verify: %v", name, err)
		}
		// Flip one bit in each of a spread of octets: the AlgorithmIdentifier,
		// both ends, and every 31st octet of the signature.
		for i := 0; i < len(data); i++ {
			if i > 24 && i%31 != 0 && i != len(data)-1 {
				continue
			}
			bad := bytes.Clone(data)
			bad[i] ^= 0x01
			if err := VerifyAuthData(tc.signer.Public(), tc.method, bad, msg, allHashes); err == nil {
				t.Errorf("%s: verified with octet %d flipped", name, i)
				break
			}
		}
	}
}

// RFC 7427 §3-§4: method 14 only after SIGNATURE_HASH_ALGORITHMS, and only
// with a hash this side announced.
func TestVerifyDigitalSignatureAnnouncedHashes(t *testing.T) {
	k := testECKeys(t)["P-256"]
	msg := []byte("octets")
	data, err := SignAuthData(nil, k, AuthDigitalSignature, ECDSAWithSHA384, msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, announced := range [][]HashAlgorithm{nil, {HashSHA2_256}, {HashSHA1, HashSHA2_512}} {
		if err := VerifyAuthData(k.Public(), AuthDigitalSignature, data, msg, announced); !errors.Is(err, ErrAuthenticationFailed) {
			t.Errorf("announced %v: err = %v, want ErrAuthenticationFailed", announced, err)
		}
	}
	if err := VerifyAuthData(k.Public(), AuthDigitalSignature, data, msg, []HashAlgorithm{HashSHA2_384}); err != nil {
		t.Errorf("announced SHA2-384: %v", err)
	}
}

// The key in the certificate must be of the kind the method or scheme
// names: a peer cannot pass an RSA signature off as ECDSA and so on.
func TestVerifyKeyMismatch(t *testing.T) {
	rsaKey := parseKey(t, "rsa2048-key.pem")
	ec := testECKeys(t)
	msg := []byte("octets")
	ecSig, err := SignAuthData(nil, ec["P-256"], AuthDigitalSignature, ECDSAWithSHA256, msg)
	if err != nil {
		t.Fatal(err)
	}
	rsaSig, err := SignAuthData(nil, rsaKey, AuthDigitalSignature, SHA256WithRSA, msg)
	if err != nil {
		t.Fatal(err)
	}
	raw256, err := SignAuthData(nil, ec["P-256"], AuthECDSASHA256P256, 0, msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		pub    crypto.PublicKey
		method AuthMethod
		data   []byte
	}{
		{"ECDSA scheme, RSA key", rsaKey.Public(), AuthDigitalSignature, ecSig},
		{"RSA scheme, ECDSA key", ec["P-256"].Public(), AuthDigitalSignature, rsaSig},
		{"method 9, P-384 key", ec["P-384"].Public(), AuthECDSASHA256P256, raw256},
		{"method 10, P-256 signature", ec["P-256"].Public(), AuthECDSASHA384P384, raw256},
		{"method 9, short r|s", ec["P-256"].Public(), AuthECDSASHA256P256, raw256[:63]},
		{"method 1, ECDSA key", ec["P-256"].Public(), AuthRSASignature, raw256},
		{"PSK method", rsaKey.Public(), AuthSharedKeyMIC, rsaSig},
		{"unknown method", rsaKey.Public(), 200, rsaSig},
	} {
		if err := VerifyAuthData(c.pub, c.method, c.data, msg, allHashes); !errors.Is(err, ErrAuthenticationFailed) && !errors.Is(err, ErrMalformedAuthData) {
			t.Errorf("%s: err = %v, want an authentication failure", c.name, err)
		}
	}
}

func TestSignKeyMismatch(t *testing.T) {
	rsaKey := parseKey(t, "rsa2048-key.pem")
	ec := testECKeys(t)
	for _, c := range []struct {
		name   string
		signer crypto.Signer
		method AuthMethod
		scheme SignatureScheme
	}{
		{"method 1 with ECDSA", ec["P-256"], AuthRSASignature, 0},
		{"method 9 with P-384", ec["P-384"], AuthECDSASHA256P256, 0},
		{"method 11 with RSA", rsaKey, AuthECDSASHA512P521, 0},
		{"ECDSA scheme with RSA", rsaKey, AuthDigitalSignature, ECDSAWithSHA256},
		{"PSS with ECDSA", ec["P-256"], AuthDigitalSignature, RSAPSSWithSHA256},
		{"no scheme", rsaKey, AuthDigitalSignature, 0},
		{"PSK method", rsaKey, AuthSharedKeyMIC, 0},
	} {
		if _, err := SignAuthData(nil, c.signer, c.method, c.scheme, []byte("x")); !errors.Is(err, ErrSignatureKey) {
			t.Errorf("%s: err = %v, want ErrSignatureKey", c.name, err)
		}
	}
}

func TestChooseSignatureScheme(t *testing.T) {
	rsaKey := parseKey(t, "rsa2048-key.pem")
	ec := testECKeys(t)
	tests := []struct {
		name string
		pub  crypto.PublicKey
		peer []HashAlgorithm
		pss  bool
		want SignatureScheme
	}{
		{"P-256, all", ec["P-256"].Public(), allHashes, false, ECDSAWithSHA256},
		{"P-384, all", ec["P-384"].Public(), allHashes, false, ECDSAWithSHA384},
		{"P-521, all", ec["P-521"].Public(), allHashes, false, ECDSAWithSHA512},
		{"P-384, 256 and 512", ec["P-384"].Public(), []HashAlgorithm{HashSHA2_512, HashSHA2_256}, false, ECDSAWithSHA256},
		{"P-256, only 512", ec["P-256"].Public(), []HashAlgorithm{HashSHA2_512}, false, ECDSAWithSHA512},
		{"RSA", rsaKey.Public(), allHashes, false, SHA256WithRSA},
		{"RSA, only 384", rsaKey.Public(), []HashAlgorithm{HashSHA1, HashSHA2_384}, false, SHA384WithRSA},
		{"RSA-PSS", rsaKey.Public(), allHashes, true, RSAPSSWithSHA256},
		{"RSA-PSS, only 512", rsaKey.Public(), []HashAlgorithm{HashSHA2_512}, true, RSAPSSWithSHA512},
	}
	for _, tc := range tests {
		got, err := ChooseSignatureScheme(tc.pub, tc.peer, tc.pss)
		if err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := ChooseSignatureScheme(ec["P-256"].Public(), []HashAlgorithm{HashSHA1}, false); !errors.Is(err, ErrSignatureKey) {
		t.Errorf("SHA-1 only: err = %v", err)
	}
	if _, err := ChooseSignatureScheme(rsaKey.Public(), nil, false); !errors.Is(err, ErrSignatureKey) {
		t.Errorf("no hashes: err = %v", err)
	}
	if _, err := ChooseSignatureScheme("not a key", allHashes, false); !errors.Is(err, ErrSignatureKey) {
		t.Errorf("unknown key: err = %v", err)
	}
}

// A hand-made r | s with leading zero octets (small r) still verifies: r and
// s are left-padded, never shortened.
func TestECDSARawFromDERPadding(t *testing.T) {
	der := unhex(t, "3008 020101 020300ff01") // r = 1, s = 0xff01
	raw, err := ecdsaRawFromDER(der, 32)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 64)
	want[31] = 1
	want[62], want[63] = 0xff, 0x01
	if !bytes.Equal(raw, want) {
		t.Errorf("raw = %x", raw)
	}
	for _, bad := range []string{"3006020100020101", "30060201010201", "3008020101020300ff0100"} {
		if _, err := ecdsaRawFromDER(unhex(t, bad), 32); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// brokenSigner fails every signature, as an HSM that went away would.
type brokenSigner struct{ crypto.Signer }

func (brokenSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("token removed")
}

func TestSignerFailure(t *testing.T) {
	rsaKey := brokenSigner{parseKey(t, "rsa2048-key.pem")}
	ecKey := brokenSigner{testECKeys(t)["P-256"]}
	for _, c := range []struct {
		signer crypto.Signer
		method AuthMethod
		scheme SignatureScheme
	}{
		{rsaKey, AuthRSASignature, 0},
		{ecKey, AuthECDSASHA256P256, 0},
		{rsaKey, AuthDigitalSignature, RSAPSSWithSHA256},
	} {
		if _, err := SignAuthData(nil, c.signer, c.method, c.scheme, []byte("x")); !errors.Is(err, ErrSigner) {
			t.Errorf("%v: err = %v, want ErrSigner", c.method, err)
		}
	}
}
