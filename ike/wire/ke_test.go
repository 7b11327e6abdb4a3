package wire

import (
	"reflect"
	"testing"
)

func FuzzParseKE(f *testing.F) {
	for _, b := range seedBodies(f, PayloadKE) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStable(t, data, ParseKE, KE.Len, KE.Append, func(a, b KE) bool { return reflect.DeepEqual(a, b) })
	})
}
