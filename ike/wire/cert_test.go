package wire

import (
	"reflect"
	"testing"
)

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
