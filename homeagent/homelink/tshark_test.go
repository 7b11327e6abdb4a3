package homelink

import (
	"context"
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/tshark"
)

// ipv6Packet wraps an ICMPv6 message in an IPv6 header with Hop Limit 255
// and fills in its checksum, as the kernel does on a raw ICMPv6 socket.
func ipv6Packet(src, dst netip.Addr, msg []byte) []byte {
	b := []byte{0x60, 0, 0, 0, 0, 0, protocolICMPv6, HopLimit}
	binary.BigEndian.PutUint16(b[4:6], uint16(len(msg)))
	b = appendAddr16(b, src)
	b = appendAddr16(b, dst)
	start := len(b)
	b = append(b, msg...)
	binary.BigEndian.PutUint16(b[start+2:start+4], icmpv6Checksum(src, dst, b[start:]))
	return b
}

// TestTsharkDecodesND has Wireshark's dissector, an implementation
// independent of ours, read the messages a Defender sends: the unsolicited
// advertisement and the DAD solicitation.
func TestTsharkDecodesND(t *testing.T) {
	tshark.Require(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	na := NeighborAdvertisement{Override: true, Target: testHoA, TargetLinkLayerAddress: testMAC}
	pcap := filepath.Join(t.TempDir(), "nd.pcap")
	err := tshark.WriteFile(pcap, tshark.LinkTypeRaw,
		ipv6Packet(netip.MustParseAddr("fe80::1"), allNodes, na.Append(nil)),
		appendDADSolicitation(nil, testHoA))
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := tshark.Fields(ctx, pcap, []string{
		"ipv6.src", "ipv6.dst", "ipv6.hlim", "icmpv6.type", "icmpv6.code", "icmpv6.checksum.status",
		"icmpv6.nd.na.flag.r", "icmpv6.nd.na.flag.s", "icmpv6.nd.na.flag.o", "icmpv6.nd.na.target_address",
		"icmpv6.opt.type", "icmpv6.opt.target_linkaddr", "icmpv6.nd.ns.target_address",
	}, tshark.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != 2 {
		t.Fatalf("tshark decoded %d packets, want 2", len(pkts))
	}
	check := func(p tshark.Packet, want map[string]string) {
		t.Helper()
		for f, v := range want {
			if got := p.Value(f); got != v {
				t.Errorf("%s = %q, want %q", f, got, v)
			}
		}
	}
	check(pkts[0], map[string]string{
		"ipv6.dst":                    "ff02::1",
		"ipv6.hlim":                   "255",
		"icmpv6.type":                 "136",
		"icmpv6.code":                 "0",
		"icmpv6.checksum.status":      "1", // good
		"icmpv6.nd.na.flag.r":         "0",
		"icmpv6.nd.na.flag.s":         "0",
		"icmpv6.nd.na.flag.o":         "1",
		"icmpv6.nd.na.target_address": "2001:db8:1::50",
		"icmpv6.opt.type":             "2",
		"icmpv6.opt.target_linkaddr":  "02:00:00:00:00:01",
	})
	check(pkts[1], map[string]string{
		"ipv6.src":                    "::",
		"ipv6.dst":                    "ff02::1:ff00:50",
		"ipv6.hlim":                   "255",
		"icmpv6.type":                 "135",
		"icmpv6.code":                 "0",
		"icmpv6.checksum.status":      "1",
		"icmpv6.nd.ns.target_address": "2001:db8:1::50",
	})
	if pkts[1].Has("icmpv6.opt.type") {
		t.Error("the DAD solicitation carries an option; it MUST NOT carry a Source Link-Layer Address (RFC 4861 §4.3)")
	}
}

// TestTsharkDecodesARP checks the ARP Announcement and Probe in Ethernet
// frames, as the packet socket sends them.
func TestTsharkDecodesARP(t *testing.T) {
	tshark.Require(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	hoa := netip.MustParseAddr("198.51.100.50")
	frame := func(p ARP) []byte {
		b := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		b = append(b, testMAC...)
		b = append(b, 0x08, 0x06)
		b = p.Append(b)
		return append(b, make([]byte, 60-len(b))...) // padded to the Ethernet minimum
	}
	pcap := filepath.Join(t.TempDir(), "arp.pcap")
	if err := tshark.WriteFile(pcap, tshark.LinkTypeEthernet, frame(gratuitousARP(testMAC, hoa)), frame(arpProbe(testMAC, hoa))); err != nil {
		t.Fatal(err)
	}
	pkts, err := tshark.Fields(ctx, pcap, []string{
		"arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4", "arp.dst.hw_mac", "arp.dst.proto_ipv4",
		"arp.isgratuitous", "arp.isannouncement", "arp.isprobe",
	}, tshark.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != 2 {
		t.Fatalf("tshark decoded %d packets, want 2", len(pkts))
	}
	for i, want := range []map[string]string{
		{"arp.opcode": "1", "arp.src.hw_mac": "02:00:00:00:00:01", "arp.src.proto_ipv4": "198.51.100.50",
			"arp.dst.hw_mac": "00:00:00:00:00:00", "arp.dst.proto_ipv4": "198.51.100.50",
			"arp.isgratuitous": "1", "arp.isannouncement": "1"},
		{"arp.opcode": "1", "arp.src.proto_ipv4": "0.0.0.0", "arp.dst.proto_ipv4": "198.51.100.50", "arp.isprobe": "1"},
	} {
		for f, v := range want {
			if got := pkts[i].Value(f); got != v {
				t.Errorf("packet %d: %s = %q, want %q", i, f, got, v)
			}
		}
	}
}
