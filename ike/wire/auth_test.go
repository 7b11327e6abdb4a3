package wire

import (
	"reflect"
	"testing"
)

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
