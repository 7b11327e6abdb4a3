package mh

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
)

// Addresses of ../shared/spec/vectors.md §10.
var (
	vecHA    = netip.MustParseAddr("2001:db8:1::1")
	vecHoA   = netip.MustParseAddr("2001:db8:1::1234")
	vecCoA   = netip.MustParseAddr("2001:db8:100::10")
	vecAltHA = netip.MustParseAddr("2001:db8:2::1")
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func opts(vals ...interface{ Append([]byte) []byte }) Options {
	var o Options
	for _, v := range vals {
		o = v.Append(o)
	}
	return o
}

// golden are the Mobility Header vectors of vectors.md §10: the message
// value, the pseudo-header addresses, and the complete header in hex.
var golden = []struct {
	name     string
	msg      Message
	src, dst netip.Addr
	hex      string
}{
	{
		name: "BU home registration A+H+K, ACoA",
		msg: BindingUpdate{Sequence: 1000, Flags: BUFlagA | BUFlagH | BUFlagK, Lifetime: 100,
			Options: opts(AlternateCoA{Addr: vecCoA})},
		src: vecHoA, dst: vecHA,
		hex: "3b0305004a8603e8d00000640100031020010db8010000000000000000000010",
	},
	{
		name: "BA accepted K, BRA 90",
		msg: BindingAck{Status: StatusAccepted, Flags: BAFlagK, Sequence: 1000, Lifetime: 100,
			Options: opts(BindingRefreshAdvice{Interval: 90})},
		src: vecHA, dst: vecHoA,
		hex: "3b0106004996008003e800640202005a",
	},
	{
		name: "BA 135 with last accepted sequence",
		msg:  BindingAck{Status: StatusSequenceOutOfWindow, Sequence: 999},
		src:  vecHA, dst: vecHoA,
		hex: "3b010600c4d4870003e7000001020000",
	},
	{
		name: "HAS one address",
		msg:  HomeAgentSwitch{Addresses: []netip.Addr{vecAltHA}},
		src:  vecHA, dst: vecHoA,
		hex: "3b020c001bf9010020010db8000200000000000000000001",
	},
	{
		name: "HAS no address",
		msg:  HomeAgentSwitch{},
		src:  vecHA, dst: vecHoA,
		hex: "3b000c004ac70000",
	},
	{
		name: "BU deregistration from home",
		msg:  BindingUpdate{Sequence: 1001, Flags: BUFlagA | BUFlagH},
		src:  vecHoA, dst: vecHA,
		hex: "3b0105008cd203e9c000000001020000",
	},
}

// TestGoldenVectorsEncode: every Mobility Header vector of vectors.md §10
// encodes byte for byte, Len agrees with Append.
func TestGoldenVectorsEncode(t *testing.T) {
	for _, g := range golden {
		t.Run(g.name, func(t *testing.T) {
			want := unhex(t, g.hex)
			got := g.msg.Append(nil)
			if len(got) != g.msg.Len() {
				t.Errorf("Len() = %d, Append wrote %d", g.msg.Len(), len(got))
			}
			SetChecksum(got, g.src, g.dst)
			if !bytes.Equal(got, want) {
				t.Errorf("encoded\n got %x\nwant %x", got, want)
			}
		})
	}
}

// TestGoldenVectorsParse: every vector parses, passes the RFC 6275 §9.2
// checks, and decodes to the message it was built from.
func TestGoldenVectorsParse(t *testing.T) {
	for _, g := range golden {
		t.Run(g.name, func(t *testing.T) {
			b := unhex(t, g.hex)
			h, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(h) != len(b) {
				t.Fatalf("Parse consumed %d of %d", len(h), len(b))
			}
			if err := h.Check(g.src, g.dst); err != nil {
				t.Fatalf("Check: %v", err)
			}
			m, err := Decode(h)
			if err != nil {
				t.Fatal(err)
			}
			if !equalMessages(m, g.msg) {
				t.Errorf("decoded %#v\nwant %#v", m, g.msg)
			}
		})
	}
}

// TestChecksumRejectsOneBitChange: flipping any single bit of any vector
// makes the checksum fail, and so does summing over the wire address
// instead of the home address (mip6.md trap 1).
func TestChecksumRejectsOneBitChange(t *testing.T) {
	for _, g := range golden {
		b := unhex(t, g.hex)
		for i := range len(b) * 8 {
			c := bytes.Clone(b)
			c[i/8] ^= 1 << (i % 8)
			if VerifyChecksum(c, g.src, g.dst) {
				t.Errorf("%s: bit %d flipped, checksum still verifies", g.name, i)
			}
		}
		if g.src == vecHoA && VerifyChecksum(b, vecCoA, g.dst) {
			t.Errorf("%s: verifies with the care-of address as source", g.name)
		}
		if g.dst == vecHoA && VerifyChecksum(b, g.src, vecCoA) {
			t.Errorf("%s: verifies with the care-of address as destination", g.name)
		}
		h, _ := Parse(b)
		c := bytes.Clone(h)
		c[len(c)-1] ^= 0x80
		if err := Header(c).Check(g.src, g.dst); !errors.Is(err, ErrChecksum) {
			t.Errorf("%s: Check after a bit flip = %v, want ErrChecksum", g.name, err)
		}
	}
}

// TestGoldenExtensionHeaders: the Home Address option and type 2 routing
// header that go with the vectors (vectors.md §10).
func TestGoldenExtensionHeaders(t *testing.T) {
	hao := unhex(t, "870201020000c91020010db8000100000000000000001234")
	if got := (HomeAddressOption{NextHeader: ProtoMH, HoA: vecHoA}).Append(nil); !bytes.Equal(got, hao) {
		t.Errorf("Home Address option\n got %x\nwant %x", got, hao)
	}
	o, n, err := ParseHomeAddressOption(hao)
	if err != nil || n != 24 || o.HoA != vecHoA || o.NextHeader != ProtoMH {
		t.Errorf("ParseHomeAddressOption = %+v, %d, %v", o, n, err)
	}
	rh2 := unhex(t, "870202010000000020010db8000100000000000000001234")
	if got := (Type2RoutingHeader{NextHeader: ProtoMH, SegmentsLeft: 1, HoA: vecHoA}).Append(nil); !bytes.Equal(got, rh2) {
		t.Errorf("type 2 routing header\n got %x\nwant %x", got, rh2)
	}
	r, n, err := ParseType2RoutingHeader(rh2)
	if err != nil || n != 24 || r.HoA != vecHoA || r.SegmentsLeft != 1 || r.NextHeader != ProtoMH {
		t.Errorf("ParseType2RoutingHeader = %+v, %d, %v", r, n, err)
	}
}

// TestGoldenPackets: a native BU (CoA → HA with a Home Address option) and
// BA (HA → CoA with a type 2 routing header) carry exactly the vector
// Mobility Headers, because the checksum is over the home address; parsing
// the packets gives back the addressing.
func TestGoldenPackets(t *testing.T) {
	cases := []struct {
		ip  IPv6
		g   int
		ext string
	}{
		{IPv6{Src: vecCoA, Dst: vecHA, HAO: vecHoA}, 0, "870201020000c91020010db8000100000000000000001234"},
		{IPv6{Src: vecHA, Dst: vecCoA, RH2: vecHoA}, 1, "870202010000000020010db8000100000000000000001234"},
		{IPv6{Src: vecHA, Dst: vecCoA, RH2: vecHoA}, 3, "870202010000000020010db8000100000000000000001234"},
		{IPv6{Src: vecHoA, Dst: vecHA}, 5, ""},
	}
	for _, c := range cases {
		g := golden[c.g]
		pkt := AppendPacket(nil, c.ip, g.msg)
		want := append(unhex(t, c.ext), unhex(t, g.hex)...)
		if !bytes.Equal(pkt[40:], want) {
			t.Errorf("%s: after the IPv6 header\n got %x\nwant %x", g.name, pkt[40:], want)
		}
		ip, h, err := ParsePacket(pkt)
		if err != nil {
			t.Fatalf("%s: ParsePacket: %v", g.name, err)
		}
		if ip != (IPv6{Src: c.ip.Src, Dst: c.ip.Dst, HopLimit: DefaultHopLimit, HAO: c.ip.HAO, RH2: c.ip.RH2}) {
			t.Errorf("%s: ParsePacket ip = %+v", g.name, ip)
		}
		if !bytes.Equal(h, unhex(t, g.hex)) {
			t.Errorf("%s: ParsePacket header %x", g.name, []byte(h))
		}
	}
}
