package wire

import (
	"reflect"
	"testing"
)

func FuzzParseNonce(f *testing.F) {
	for _, b := range seedBodies(f, PayloadNonce) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStable(t, data, ParseNonce, Nonce.Len, Nonce.Append, func(a, b Nonce) bool { return reflect.DeepEqual(a, b) })
	})
}
