package homelink

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var digits strings.Builder
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "//")
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	testHoA = netip.MustParseAddr("2001:db8:1::50")
	testMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
)

// The layouts below are written out field by field from RFC 4861 §4.3 and
// §4.4 (and RFC 8200 §3 for the IPv6 header), not produced by the code.

// TestNeighborAdvertisementLayout checks the unsolicited advertisement a
// home agent multicasts for a home address (RFC 6275 §10.4.1): R = 0,
// S = 0, O = 1, Target = HoA, one Target Link-Layer Address option.
func TestNeighborAdvertisementLayout(t *testing.T) {
	want := unhex(t, `
		88 00 0000  // type 136, code 0, checksum (kernel's)
		20 000000  // R=0 S=0 O=1, reserved
		20010db8 00010000 00000000 00000050  // target
		02 01 020000000001  // option 2 (TLLA), length 1 (8 octets), MAC
	`)
	na := NeighborAdvertisement{Override: true, Target: testHoA, TargetLinkLayerAddress: testMAC}
	got := na.Append(nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("advertisement\n got %x\nwant %x", got, want)
	}
	if na.Len() != len(want) {
		t.Errorf("Len() = %d, want %d", na.Len(), len(want))
	}
}

func TestNeighborAdvertisementFlags(t *testing.T) {
	for _, tc := range []struct {
		na   NeighborAdvertisement
		want byte
	}{
		{NeighborAdvertisement{Router: true}, 0x80},
		{NeighborAdvertisement{Solicited: true}, 0x40},
		{NeighborAdvertisement{Override: true}, 0x20},
		{NeighborAdvertisement{Router: true, Solicited: true, Override: true}, 0xe0},
	} {
		b := tc.na.Append(nil)
		if b[4] != tc.want {
			t.Errorf("%+v: flags octet %#02x, want %#02x", tc.na, b[4], tc.want)
		}
		back, err := ParseNeighborAdvertisement(b)
		if err != nil {
			t.Fatal(err)
		}
		if back.Router != tc.na.Router || back.Solicited != tc.na.Solicited || back.Override != tc.na.Override {
			t.Errorf("flags %#02x parsed as %+v", tc.want, back)
		}
	}
}

// TestNeighborSolicitationLayout checks a solicitation for address
// resolution, with a Source Link-Layer Address option.
func TestNeighborSolicitationLayout(t *testing.T) {
	want := unhex(t, `
		87 00 0000  // type 135, code 0, checksum
		00000000  // reserved
		20010db8 00010000 00000000 00000050  // target
		01 01 020000000001  // option 1 (SLLA), length 1, MAC
	`)
	ns := NeighborSolicitation{Target: testHoA, SourceLinkLayerAddress: testMAC}
	if got := ns.Append(nil); !bytes.Equal(got, want) {
		t.Fatalf("solicitation\n got %x\nwant %x", got, want)
	}
	if ns.Len() != len(want) {
		t.Errorf("Len() = %d, want %d", ns.Len(), len(want))
	}
}

// TestDADSolicitationLayout checks the whole packet of Duplicate Address
// Detection (RFC 4862 §5.4.2): from ::, to the solicited-node address, Hop
// Limit 255, no option. The checksum was computed separately (a Python
// one's-complement sum over the RFC 8200 §8.1 pseudo-header).
func TestDADSolicitationLayout(t *testing.T) {
	want := unhex(t, `
		60000000 0018 3a ff  // version 6; payload 24; next header 58; hop limit 255
		00000000 00000000 00000000 00000000  // source ::
		ff020000 00000000 00000001 ff000050  // destination ff02::1:ff00:50
		87 00 4c4e 00000000  // NS, checksum 0x4c4e, reserved
		20010db8 00010000 00000000 00000050  // target
	`)
	if got := appendDADSolicitation(nil, testHoA); !bytes.Equal(got, want) {
		t.Fatalf("DAD packet\n got %x\nwant %x", got, want)
	}
}

func TestICMPv6Checksum(t *testing.T) {
	// The unsolicited advertisement above from fe80::1 to ff02::1
	// (checksum computed separately, as for the DAD packet).
	na := NeighborAdvertisement{Override: true, Target: testHoA, TargetLinkLayerAddress: testMAC}
	got := icmpv6Checksum(netip.MustParseAddr("fe80::1"), allNodes, na.Append(nil))
	if got != 0x2813 {
		t.Errorf("checksum %#04x, want 0x2813", got)
	}
	// Odd length: the last octet is summed as the high octet of a word.
	if icmpv6Checksum(netip.IPv6Unspecified(), netip.IPv6Unspecified(), []byte{0x01}) != ^uint16(0x0100+58+1) {
		t.Error("odd-length message summed wrongly")
	}
}

func TestSolicitedNodeMulticast(t *testing.T) {
	for in, want := range map[string]string{
		"4037::1:800:200e:8c6c":     "ff02::1:ff0e:8c6c", // RFC 4291 §2.7.1's example
		"2001:db8:1::50":            "ff02::1:ff00:50",
		"fe80::aabb:ccff:fedd:eeff": "ff02::1:ffdd:eeff",
	} {
		if got := SolicitedNodeMulticast(netip.MustParseAddr(in)); got != netip.MustParseAddr(want) {
			t.Errorf("SolicitedNodeMulticast(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestParseOptions checks the option walk: the first link-layer address
// option is decoded, every other option is kept raw and in order, and
// Append puts them back after the link-layer address.
func TestParseOptions(t *testing.T) {
	lla := unhex(t, "02 01 020000000001")
	nonce := unhex(t, "0e 01 010203040506") // RFC 3971 Nonce, unknown here
	other := unhex(t, "02 01 0a0b0c0d0e0f") // a second TLLA
	mtu := unhex(t, "05 01 0000 000005dc")  // RFC 4861 MTU option
	head := (&NeighborAdvertisement{Target: testHoA}).Append(nil)
	for _, tc := range []struct {
		name    string
		options [][]byte
		rest    []byte
	}{
		{"lla first", [][]byte{lla, nonce, mtu}, cat(nonce, mtu)},
		{"lla last", [][]byte{nonce, mtu, lla}, cat(nonce, mtu)},
		{"lla between", [][]byte{nonce, lla, other, mtu}, cat(nonce, other, mtu)},
		{"no lla", [][]byte{nonce}, nonce},
		{"none", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := cat(append([][]byte{head}, tc.options...)...)
			na, err := ParseNeighborAdvertisement(msg)
			if err != nil {
				t.Fatal(err)
			}
			wantLLA := net.HardwareAddr(nil)
			for _, o := range tc.options {
				if bytes.Equal(o, lla) {
					wantLLA = testMAC
				}
			}
			if !bytes.Equal(na.TargetLinkLayerAddress, wantLLA) {
				t.Errorf("TLLA %v, want %v", na.TargetLinkLayerAddress, wantLLA)
			}
			if !bytes.Equal(na.Options, tc.rest) {
				t.Errorf("other options %x, want %x", na.Options, tc.rest)
			}
			again, err := ParseNeighborAdvertisement(na.Append(nil))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.TargetLinkLayerAddress, na.TargetLinkLayerAddress) || !bytes.Equal(again.Options, na.Options) {
				t.Errorf("re-encoded options differ: %+v vs %+v", again, na)
			}
		})
	}
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// TestLinkLayerOptionPadding: addresses that are not 6 octets are padded
// to a multiple of 8 octets with the Type and Length (RFC 4861 §4.6.1).
func TestLinkLayerOptionPadding(t *testing.T) {
	eui64 := net.HardwareAddr{1, 2, 3, 4, 5, 6, 7, 8}
	ns := NeighborSolicitation{Target: testHoA, SourceLinkLayerAddress: eui64}
	b := ns.Append(nil)
	want := unhex(t, "01 02 0102030405060708 000000000000")
	if !bytes.Equal(b[NeighborSolicitationLen:], want) {
		t.Errorf("option %x, want %x", b[NeighborSolicitationLen:], want)
	}
	if ns.Len() != len(b) {
		t.Errorf("Len() = %d, encoded %d", ns.Len(), len(b))
	}
}

// TestParseErrors checks each validity rule a message alone shows
// (RFC 4861 §7.1.1, §7.1.2) and where the error points.
func TestParseErrors(t *testing.T) {
	good := (&NeighborAdvertisement{Override: true, Target: testHoA, TargetLinkLayerAddress: testMAC}).Append(nil)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name   string
		msg    []byte
		err    error
		offset int
	}{
		{"empty", nil, ErrTruncated, 0},
		{"short", good[:23], ErrTruncated, 23},
		{"type", mutate(func(b []byte) []byte { b[0] = 135; return b }), ErrWrongType, 0},
		{"code", mutate(func(b []byte) []byte { b[1] = 1; return b }), ErrCode, 1},
		{"multicast target", mutate(func(b []byte) []byte { b[8] = 0xff; return b }), ErrTarget, 8},
		{"zero-length option", mutate(func(b []byte) []byte { b[25] = 0; return b }), ErrOption, 25},
		{"option overruns", mutate(func(b []byte) []byte { b[25] = 2; return b }), ErrTruncated, 25},
		{"one octet of option", append(bytes.Clone(good), 1), ErrTruncated, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseNeighborAdvertisement(tc.msg)
			var pe *ParseError
			if !errors.Is(err, tc.err) || !errors.As(err, &pe) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if pe.Offset != tc.offset || pe.What != "Neighbor Advertisement" {
				t.Errorf("error at %d in %q, want %d", pe.Offset, pe.What, tc.offset)
			}
		})
	}
	if _, err := ParseNeighborSolicitation(good); !errors.Is(err, ErrWrongType) {
		t.Errorf("advertisement parsed as a solicitation: %v", err)
	}
}

// TestARPLayout checks the ARP Announcement (gratuitous ARP) and Probe of
// RFC 5227 §2.1.1 and §2.3 against RFC 826's layout.
func TestARPLayout(t *testing.T) {
	hoa := netip.MustParseAddr("198.51.100.50")
	for _, tc := range []struct {
		name string
		p    ARP
		want string
	}{
		{"announcement", gratuitousARP(testMAC, hoa), `
			0001 0800 06 04 0001  // Ethernet, IPv4, lengths, request
			020000000001 c6336432  // sender: our MAC, the address
			000000000000 c6336432  // target: zero MAC, the address`},
		{"probe", arpProbe(testMAC, hoa), `
			0001 0800 06 04 0001
			020000000001 00000000  // sender: our MAC, 0.0.0.0
			000000000000 c6336432`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.p.Append(nil)
			if want := unhex(t, tc.want); !bytes.Equal(b, want) {
				t.Fatalf("\n got %x\nwant %x", b, want)
			}
			back, err := ParseARP(append(b, make([]byte, 18)...)) // Ethernet padding
			if err != nil {
				t.Fatal(err)
			}
			if back.Operation != tc.p.Operation || back.SenderProtocolAddr != tc.p.SenderProtocolAddr ||
				back.TargetProtocolAddr != tc.p.TargetProtocolAddr || !bytes.Equal(back.SenderHardwareAddr, testMAC) {
				t.Errorf("parsed %+v, want %+v", back, tc.p)
			}
		})
	}
}

func TestParseARPErrors(t *testing.T) {
	garp := gratuitousARP(testMAC, netip.MustParseAddr("192.0.2.1"))
	good := garp.Append(nil)
	for _, tc := range []struct {
		name   string
		mutate func(b []byte)
		offset int
	}{
		{"IEEE 802 hardware", func(b []byte) { b[1] = 6 }, 0},
		{"IPv6 protocol", func(b []byte) { b[2], b[3] = 0x86, 0xdd }, 2},
		{"EUI-64 length", func(b []byte) { b[4] = 8 }, 4},
		{"IPv6 length", func(b []byte) { b[5] = 16 }, 5},
	} {
		b := bytes.Clone(good)
		tc.mutate(b)
		_, err := ParseARP(b)
		var pe *ParseError
		if !errors.Is(err, ErrARPFormat) || !errors.As(err, &pe) || pe.Offset != tc.offset {
			t.Errorf("%s: %v, want ErrARPFormat at %d", tc.name, err, tc.offset)
		}
	}
	if _, err := ParseARP(good[:27]); !errors.Is(err, ErrTruncated) {
		t.Errorf("27 octets: %v", err)
	}
}

func TestStrings(t *testing.T) {
	for got, want := range map[string]string{
		OptionTargetLinkLayerAddress.String(): "Target Link-Layer Address",
		OptionSourceLinkLayerAddress.String(): "Source Link-Layer Address",
		OptionType(14).String():               "ND option 14",
		ARPRequest.String():                   "request",
		ARPReply.String():                     "reply",
		ARPOperation(3).String():              "ARP operation 3",
	} {
		if got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}
