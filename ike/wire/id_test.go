package wire

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
)

func TestID(t *testing.T) {
	for _, tt := range []struct {
		addr string
		typ  IDType
		hex  string
		s    string
	}{
		{"192.0.2.1", IDIPv4Addr, "01 000000 c0000201", "ID_IPV4_ADDR:192.0.2.1"},
		{"::ffff:192.0.2.1", IDIPv4Addr, "01 000000 c0000201", "ID_IPV4_ADDR:192.0.2.1"},
		{"2001:db8:1::1234", IDIPv6Addr, "05 000000 20010db8000100000000000000001234", "ID_IPV6_ADDR:2001:db8:1::1234"},
	} {
		id := IDFromAddr(netip.MustParseAddr(tt.addr))
		if got := id.Append(nil); id.Type != tt.typ || !bytes.Equal(got, unhex(t, tt.hex)) {
			t.Errorf("%s: %v %x", tt.addr, id.Type, got)
		}
		if a, ok := id.Addr(); !ok || a != netip.MustParseAddr(tt.addr).Unmap() || id.String() != tt.s {
			t.Errorf("%s: Addr %v %v, String %q", tt.addr, a, ok, id.String())
		}
	}
	fqdn := ID{Type: IDFQDN, Data: []byte("mn.example")}
	if _, ok := fqdn.Addr(); ok || fqdn.String() != "ID_FQDN:mn.example" {
		t.Errorf("FQDN identity %v", fqdn)
	}
	// The payload types wrap the same body.
	if IDi(fqdn).PayloadType() != PayloadIDi || IDr(fqdn).PayloadType() != PayloadIDr ||
		!bytes.Equal(IDi(fqdn).Append(nil), IDr(fqdn).Append(nil)) {
		t.Error("IDi and IDr differ in body")
	}
	_, err := ParseID([]byte{2, 0, 0})
	syntaxAt(t, err, PayloadIDi, 0)
}

func FuzzParseID(f *testing.F) {
	for _, b := range append(seedBodies(f, PayloadIDi), seedBodies(f, PayloadIDr)...) {
		f.Add(b)
	}
	f.Add(IDFromAddr(netip.MustParseAddr("2001:db8::1")).Append(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStable(t, data, ParseID, ID.Len, ID.Append, func(a, b ID) bool { return reflect.DeepEqual(a, b) })
		if id, err := ParseID(data); err == nil {
			_ = id.String()
		}
	})
}
