package wire

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
)

func parseCPValue(b []byte) (CP, error) {
	var cp CP
	err := ParseCP(b, &cp)
	return cp, err
}

// A mobile node's CFG_REQUEST (RFC 4877 §9, RFC 5026 §5.3.2): an empty
// INTERNAL_IP6_ADDRESS or its previous home address, an empty
// MIP6_HOME_PREFIX, an IPv4 address, and an attribute this package keeps
// raw.
func TestCPRequest(t *testing.T) {
	cp := CP{Type: CFGRequest, Attributes: []CFGAttribute{
		{Type: CFGInternalIP6Address},
		{Type: CFGInternalIP6Address, Addr: netip.MustParseAddr("2001:db8:1::1234"), PrefixLen: 64},
		{Type: CFGMIP6HomePrefix},
		{Type: CFGInternalIP4Address, Addr: netip.MustParseAddr("192.0.2.7")},
		{Type: CFGApplicationVersion, Value: []byte("mip6ha")},
	}}
	want := unhex(t, `01 000000
		0008 0000
		0008 0011 20010db8000100000000000000001234 40
		0010 0000
		0001 0004 c0000207
		0007 0006 6d6970366861`)
	if got := cp.Append(nil); !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
	if cp.Len() != len(want) {
		t.Errorf("Len %d, want %d", cp.Len(), len(want))
	}
	got, err := parseCPValue(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cp) {
		t.Errorf("parsed %+v\nwant %+v", got, cp)
	}
}

// RFC 7296 §3.15.1: the Reserved bit is ignored on receipt.
func TestCPReservedBitIgnored(t *testing.T) {
	cp, err := parseCPValue(unhex(t, "02 000000 8001 0004 c0000207"))
	if err != nil {
		t.Fatal(err)
	}
	if a := cp.Attributes[0]; a.Type != CFGInternalIP4Address || a.Addr != netip.MustParseAddr("192.0.2.7") {
		t.Errorf("attribute %+v", a)
	}
}

func TestParseCPRejects(t *testing.T) {
	tests := []struct {
		name   string
		hex    string
		offset int
	}{
		{"short", "01 0000", 0},
		{"truncated attribute", "01 000000 0008 00", 4},
		{"Length beyond payload", "01 000000 0001 0005 c0000207", 6},
		{"INTERNAL_IP4_ADDRESS of 5 octets", "01 000000 0001 0005 c000020700", 6},
		{"INTERNAL_IP6_ADDRESS of 16 octets", "01 000000 0008 0010 20010db8000100000000000000001234", 6},
		{"MIP6_HOME_PREFIX of 17 octets", "01 000000 0010 0011 20010db8000100000000000000000000 40", 6},
		{"prefix length 129", "01 000000 0008 0011 20010db8000100000000000000001234 81", 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cp CP
			syntaxAt(t, ParseCP(unhex(t, tt.hex), &cp), PayloadCP, tt.offset)
		})
	}
}

func FuzzParseCP(f *testing.F) {
	for _, b := range seedBodies(f, PayloadCP) {
		f.Add(b)
	}
	f.Add(unhex(f, "01 000000 0008 0000 0010 0000 0001 0004 c0000207 0007 0006 6d6970366861 000f 0011 20010db8000100000000000000000000 40"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStable(t, data, parseCPValue, CP.Len, CP.Append, func(a, b CP) bool { return reflect.DeepEqual(a, b) })
	})
}
