package wire

import (
	"errors"
	"reflect"
	"testing"
)

// Fuzz targets of the payloads whose body is a header and opaque data.

func FuzzParseKE(f *testing.F) {
	for _, b := range seedBodies(f, PayloadKE) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStable(t, data, ParseKE, KE.Len, KE.Append, func(a, b KE) bool { return reflect.DeepEqual(a, b) })
	})
}

func FuzzParseNonce(f *testing.F) {
	for _, b := range seedBodies(f, PayloadNonce) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStable(t, data, ParseNonce, Nonce.Len, Nonce.Append, func(a, b Nonce) bool { return reflect.DeepEqual(a, b) })
	})
}

func FuzzParseCert(f *testing.F) {
	f.Add(Cert{Encoding: CertX509Signature, Data: []byte{0x30, 0x82, 0x01, 0x0a}}.Append(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStable(t, data, ParseCert, Cert.Len, Cert.Append, func(a, b Cert) bool { return reflect.DeepEqual(a, b) })
	})
}

func FuzzParseCertReq(f *testing.F) {
	f.Add(CertReq{Encoding: CertX509Signature, Authorities: make([]byte, 40)}.Append(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStable(t, data, ParseCertReq, CertReq.Len, CertReq.Append, func(a, b CertReq) bool { return reflect.DeepEqual(a, b) })
	})
}

func FuzzParseAuth(f *testing.F) {
	for _, b := range seedBodies(f, PayloadAUTH) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStable(t, data, ParseAuth, Auth.Len, Auth.Append, func(a, b Auth) bool { return reflect.DeepEqual(a, b) })
	})
}

func FuzzParseDigitalSignature(f *testing.F) {
	f.Add(unhex(f, "0c 300a06082a8648ce3d040302 3045022100"))
	f.Add(unhex(f, "0f 300d06092a864886f70d01010b0500"))
	f.Fuzz(func(t *testing.T, data []byte) {
		enc := func(s DigitalSignature, b []byte) []byte {
			out, err := s.Append(b)
			if err != nil {
				t.Fatalf("parsed signature does not encode: %v", err)
			}
			return out
		}
		checkStable(t, data, ParseDigitalSignature, DigitalSignature.Len, enc,
			func(a, b DigitalSignature) bool { return reflect.DeepEqual(a, b) })
	})
}

func FuzzParseHashAlgorithms(f *testing.F) {
	f.Add(AppendHashAlgorithms(nil, HashSHA2_256, HashSHA2_384, HashSHA2_512, HashIdentity))
	f.Fuzz(func(t *testing.T, data []byte) {
		enc := func(l HashAlgorithms, b []byte) []byte {
			for h := range l.All() {
				b = AppendHashAlgorithms(b, h)
			}
			return b
		}
		length := func(l HashAlgorithms) int { return 2 * l.Count() }
		checkStable(t, data, ParseHashAlgorithms, length, enc, func(a, b HashAlgorithms) bool { return string(a) == string(b) })
	})
}

func TestShortBodies(t *testing.T) {
	for _, tt := range []struct {
		payload PayloadType
		err     error
	}{
		{PayloadKE, func() error { _, err := ParseKE([]byte{0, 31, 0}); return err }()},
		{PayloadAUTH, func() error { _, err := ParseAuth([]byte{2, 0, 0}); return err }()},
		{PayloadCERT, func() error { _, err := ParseCert(nil); return err }()},
		{PayloadCERTREQ, func() error { _, err := ParseCertReq(nil); return err }()},
		{PayloadNonce, func() error { _, err := ParseNonce(make([]byte, 257)); return err }()},
	} {
		var se *SyntaxError
		if !errors.As(tt.err, &se) || se.Payload != tt.payload {
			t.Errorf("%v: %v", tt.payload, tt.err)
		}
	}
}
