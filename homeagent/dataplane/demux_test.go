package dataplane

import (
	"bytes"
	"testing"
)

func TestClassify(t *testing.T) {
	esp := bytes.Repeat([]byte{0xab}, minESPLen)
	cases := []struct {
		name string
		b    []byte
		want Kind
	}{
		{"empty", nil, KindInvalid},
		{"keepalive", []byte{0xff}, KindKeepalive},
		{"one other octet", []byte{0x00}, KindInvalid},
		{"two octets 0xff", []byte{0xff, 0xff}, KindInvalid},
		{"marker only", []byte{0, 0, 0, 0}, KindInvalid},
		{"marker and IKE", append([]byte{0, 0, 0, 0}, make([]byte, 28)...), KindIKE},
		{"zero SPI is never ESP", append([]byte{0, 0, 0, 0}, esp...), KindIKE},
		{"SPI but too short for ESP", esp[:minESPLen-1], KindInvalid},
		{"ESP", esp, KindESP},
		{"SPI 1 (reserved, left to the SA lookup)", append([]byte{0, 0, 0, 1}, esp...), KindESP},
	}
	for _, c := range cases {
		if got := Classify(c.b); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
