package wire

import (
	"errors"
	"testing"
)

// Bodies shorter than their fixed fields, or nonces outside 16–256 octets,
// are malformed and name their payload.
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
