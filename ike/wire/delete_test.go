package wire

import (
	"bytes"
	"reflect"
	"testing"
)

func TestDelete(t *testing.T) {
	// RFC 7296 §3.11: the IKE SA has no SPIs; Child SAs list 4-octet SPIs.
	if got := DeleteIKESA().Append(nil); !bytes.Equal(got, unhex(t, "01 00 0000")) {
		t.Errorf("Delete IKE SA %x", got)
	}
	d := DeleteChildSAs(ProtocolESP, 0x748e93aa, 0x3b357617)
	want := unhex(t, "03 04 0002 748e93aa 3b357617")
	if got := d.Append(nil); !bytes.Equal(got, want) {
		t.Errorf("Delete ESP %x, want %x", got, want)
	}
	got, err := ParseDelete(want)
	if err != nil || got.Count() != 2 || !bytes.Equal(got.SPI(1), want[8:]) {
		t.Errorf("ParseDelete = %+v, %v", got, err)
	}
	for _, tt := range []struct {
		hex    string
		offset int
	}{
		{"03 04 00", 0},
		{"03 04 0002 748e93aa", 2},
		{"01 00 0001", 2},
		{"03 04 0001 748e93aa 00", 2},
	} {
		_, err := ParseDelete(unhex(t, tt.hex))
		syntaxAt(t, err, PayloadDelete, tt.offset)
	}
}

func FuzzParseDelete(f *testing.F) {
	for _, b := range seedBodies(f, PayloadDelete, DeleteChildSAs(ProtocolESP, 1, 2, 3)) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStable(t, data, ParseDelete, Delete.Len, Delete.Append, func(a, b Delete) bool { return reflect.DeepEqual(a, b) })
		if d, err := ParseDelete(data); err == nil {
			for i := range d.Count() {
				if len(d.SPI(i)) != int(d.SPISize) {
					t.Fatalf("SPI %d of %d octets", i, len(d.SPI(i)))
				}
			}
		}
	})
}
