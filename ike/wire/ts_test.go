package wire

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
)

func parseTSValue(b []byte) (TS, error) {
	var ts TS
	err := ParseTS(b, &ts)
	return ts, err
}

func TestSelectorConstructors(t *testing.T) {
	s := PrefixSelector(netip.MustParsePrefix("2001:db8:1::1234/64"))
	if s.Type != TSIPv6AddrRange || s.StartAddr != netip.MustParseAddr("2001:db8:1::") ||
		s.EndAddr != netip.MustParseAddr("2001:db8:1::ffff:ffff:ffff:ffff") || s.StartPort != 0 || s.EndPort != 65535 {
		t.Errorf("PrefixSelector = %v", s)
	}
	s = PrefixSelector(netip.MustParsePrefix("192.0.2.0/25"))
	if s.Type != TSIPv4AddrRange || s.EndAddr != netip.MustParseAddr("192.0.2.127") {
		t.Errorf("PrefixSelector = %v", s)
	}
	s = AddrSelector(netip.MustParseAddr("::ffff:198.51.100.66"))
	if s.Type != TSIPv4AddrRange || s.StartAddr != s.EndAddr || !s.StartAddr.Is4() {
		t.Errorf("AddrSelector = %v", s)
	}
	// RFC 4877 §7.2: BU/BA selectors use MH types 5 and 6 in the high octet.
	if start, end := MHTypeRange(5, 6); start != 0x0500 || end != 0x0600 {
		t.Errorf("MHTypeRange(5, 6) = %#04x..%#04x", start, end)
	}
	if _, _, ok := AddrSelector(netip.MustParseAddr("2001:db8::1")).MHTypes(); ok {
		t.Error("MHTypes on a protocol-0 selector")
	}
}

// RFC 7296 §3.13.1 layout of a TS_IPV4_ADDR_RANGE selector, and an unknown
// selector type kept raw.
func TestTSEncoding(t *testing.T) {
	s := AddrSelector(netip.MustParseAddr("198.51.100.66"))
	s.IPProtocol, s.StartPort, s.EndPort = IPProtocolUDP, 100, 100
	seclabel := unhex(t, "0a 00 0008 6c61626c") // TS type 10, kept raw
	ts := TSi{Selectors: []TrafficSelector{s, {Type: 10, Raw: seclabel}}}
	want := unhex(t, "02 000000 | 07 11 0010 0064 0064 c6336442 c6336442 |"+"0a000008 6c61626c")
	if got := ts.Append(nil); !bytes.Equal(got, want) {
		t.Fatalf("encoded %x, want %x", got, want)
	}
	got, err := parseTSValue(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, TS(ts)) {
		t.Errorf("parsed %+v, want %+v", got, ts)
	}
}

func TestParseTSRejects(t *testing.T) {
	v4 := "07 00 0010 0000 ffff c0000201 c0000201"
	tests := []struct {
		name   string
		hex    string
		offset int
	}{
		{"short", "01 0000", 0},
		{"zero selectors", "00 000000", 0},
		{"count too high", "02 000000" + v4, 0},
		{"count too low", "01 000000" + v4 + v4, 0},
		{"IPv4 range of 40 octets", "01 000000 07 00 0028 0000 ffff" + "00000000000000000000000000000000 00000000000000000000000000000000", 6},
		{"IPv6 range of 16 octets", "01 000000 08 00 0010 0000 ffff c0000201 c0000201", 6},
		{"Selector Length beyond payload", "01 000000 07 00 0011 0000 ffff c0000201 c0000201", 6},
		{"truncated selector", "01 000000 07 00 00", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ts TS
			syntaxAt(t, ParseTS(unhex(t, tt.hex), &ts), PayloadTSi, tt.offset)
		})
	}
}

func FuzzParseTS(f *testing.F) {
	for _, b := range seedBodies(f, PayloadTSi) {
		f.Add(b)
	}
	for _, b := range seedBodies(f, PayloadTSr) {
		f.Add(b)
	}
	f.Add(unhex(f, "02 000000 07 11 0010 0064 0064 c6336442 c6336442 0a000008 6c61626c"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStable(t, data, parseTSValue, TS.Len, TS.Append, func(a, b TS) bool { return reflect.DeepEqual(a, b) })
	})
}
