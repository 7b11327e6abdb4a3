package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func parseSAValue(b []byte) (SA, error) {
	var sa SA
	err := ParseSA(b, &sa)
	return sa, err
}

// The ESP example of RFC 7296 §3.3, encoded by hand from the §3.3.1, §3.3.2
// and §3.3.5 layouts.
func TestSAExampleRFC7296(t *testing.T) {
	sa := SA{Proposals: []Proposal{
		{Number: 1, ProtocolID: ProtocolESP, SPI: []byte{0x05, 0x23, 0x57, 0xbb}, Transforms: []Transform{
			EncrTransform(EncrAESCBC, 128), EncrTransform(EncrAESCBC, 192), EncrTransform(EncrAESCBC, 256),
			IntegTransform(IntegHMACSHA1_96), IntegTransform(IntegAESXCBC96),
			ESNTransform(ESNOn), ESNTransform(ESNNone),
		}},
		{Number: 2, ProtocolID: ProtocolESP, SPI: []byte{0x35, 0xa1, 0xd6, 0xf2}, Transforms: []Transform{
			EncrTransform(EncrAESGCM8, 128), EncrTransform(EncrAESGCM8, 256),
			ESNTransform(ESNOn), ESNTransform(ESNNone),
		}},
	}}
	want := unhex(t, `
		02 00 0050 01 03 04 07 052357bb
		   03 00 000c 01 00 000c 800e 0080
		   03 00 000c 01 00 000c 800e 00c0
		   03 00 000c 01 00 000c 800e 0100
		   03 00 0008 03 00 0002
		   03 00 0008 03 00 0005
		   03 00 0008 05 00 0001
		   00 00 0008 05 00 0000
		00 00 0034 02 03 04 04 35a1d6f2
		   03 00 000c 01 00 0012 800e 0080
		   03 00 000c 01 00 0012 800e 0100
		   03 00 0008 05 00 0001
		   00 00 0008 05 00 0000`)
	if got := sa.Append(nil); !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
	if sa.Len() != len(want) {
		t.Errorf("Len %d, want %d", sa.Len(), len(want))
	}
	got, err := parseSAValue(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sa) {
		t.Errorf("parsed %+v\nwant %+v", got, sa)
	}
}

func TestParseSARejects(t *testing.T) {
	transform := "00 00 0008 01 00 0014"
	tests := []struct {
		name   string
		hex    string
		offset int
	}{
		{"no proposals", "", 0},
		{"truncated proposal", "00 00 0008 01 01 00", 0},
		{"Proposal Length below 8", "00 00 0007 01 01 00 01" + transform, 2},
		{"Proposal Length beyond SA", "00 00 0011 01 01 00 01" + transform, 2},
		{"Last Substruc 2 on last proposal", "02 00 0010 01 01 00 01" + transform, 0},
		{"Last Substruc 0 on a middle proposal", "00 00 0010 01 01 00 01" + transform + "00 00 0010 02 01 00 01" + transform, 0},
		{"SPI Size beyond proposal", "00 00 0010 01 03 09 01" + transform, 6},
		{"no transforms", "00 00 0008 01 01 00 00", 7},
		{"Num Transforms too high", "00 00 0010 01 01 00 02" + transform, 7},
		{"Last Substruc 3 on last transform", "00 00 0010 01 01 00 01 03 00 0008 01 00 0014", 8},
		{"Transform Length below 8", "00 00 0010 01 01 00 01 00 00 0007 01 00 0014", 10},
		{"attribute beyond transform", "00 00 0014 01 01 00 01 00 00 000c 01 00 000c 0001 0001", 18},
		{"truncated attribute", "00 00 0012 01 01 00 01 00 00 000a 01 00 000c 800e", 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sa SA
			err := ParseSA(unhex(t, tt.hex), &sa)
			syntaxAt(t, err, PayloadSA, tt.offset)
		})
	}
}

// RFC 7296 §3.3.5–3.3.6: Key Length is interpreted when it is the first
// attribute; anything else is kept raw, and round-trips.
func TestTransformAttributes(t *testing.T) {
	tests := []struct {
		name    string
		attrs   string
		keyLen  uint16
		raw     string
		stringV string
	}{
		{"key length", "800e0100", 256, "", "ENCR_AES_CBC/256"},
		{"unknown TV attribute kept raw", "800e0080 8011 0001", 128, "80110001", "ENCR_AES_CBC/128+attributes"},
		{"unknown TLV attribute", "0011 0002 abcd", 0, "00110002abcd", "ENCR_AES_CBC+attributes"},
		{"key length not first", "8011 0001 800e 0080", 0, "80110001800e0080", "ENCR_AES_CBC+attributes"},
		{"key length 0", "800e 0000", 0, "800e0000", "ENCR_AES_CBC+attributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attrs := unhex(t, tt.attrs)
			body := append(unhex(t, "00 00 0000 01 01 00 01 00 00 0000 01 00 000c"), attrs...)
			body[3] = byte(len(body))
			body[11] = byte(len(body) - 8)
			sa, err := parseSAValue(body)
			if err != nil {
				t.Fatal(err)
			}
			tr := sa.Proposals[0].Transforms[0]
			if tr.KeyLength != tt.keyLen || !bytes.Equal(tr.Attributes, unhex(t, tt.raw)) {
				t.Errorf("KeyLength %d Attributes %x", tr.KeyLength, tr.Attributes)
			}
			if tr.String() != tt.stringV {
				t.Errorf("String %q, want %q", tr.String(), tt.stringV)
			}
			if out := sa.Append(nil); !bytes.Equal(out, body) {
				t.Errorf("round trip %x, want %x", out, body)
			}
		})
	}
}

func TestParseSAReusesStorage(t *testing.T) {
	big := initRequestPayloads()[0].(*SA).Append(nil)
	small := SA{Proposals: []Proposal{{Number: 1, ProtocolID: ProtocolESP, SPI: []byte{1, 2, 3, 4},
		Transforms: []Transform{EncrTransform(EncrAESGCM16, 256), ESNTransform(ESNNone)}}}}.Append(nil)
	var sa SA
	if err := ParseSA(big, &sa); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(50, func() {
		if err := ParseSA(small, &sa); err != nil || len(sa.Proposals) != 1 || len(sa.Proposals[0].Transforms) != 2 {
			t.Fatalf("small SA: %v %+v", err, sa)
		}
		if err := ParseSA(big, &sa); err != nil || len(sa.Proposals) != 3 {
			t.Fatalf("big SA: %v", err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per parse into reused storage", allocs)
	}
}

func FuzzParseSA(f *testing.F) {
	for _, b := range seedBodies(f, PayloadSA) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStable(t, data, parseSAValue, SA.Len, SA.Append, func(a, b SA) bool { return reflect.DeepEqual(a, b) })
	})
}

func TestBuilderRejectsMalformedRawAttributes(t *testing.T) {
	var b Builder
	b.ResetChain(nil)
	b.Add(SA{Proposals: []Proposal{{Number: 1, ProtocolID: ProtocolIKE, Transforms: []Transform{
		{Type: TransformEncr, ID: uint16(EncrAESCBC), Attributes: []byte{0x00, 0x11, 0x00, 0x05, 1}},
	}}}})
	if !errors.Is(b.Err(), ErrInvalidValue) {
		t.Errorf("error %v, want ErrInvalidValue", b.Err())
	}
}
