package homelink

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
)

// TestDuplicateFromND checks which received messages count as proof of a
// duplicate (RFC 4862 §5.4.3, §5.4.4) and which fail validation
// (RFC 4861 §7.1).
func TestDuplicateFromND(t *testing.T) {
	other := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	peer := netip.MustParseAddr("fe80::99")
	unspec := netip.IPv6Unspecified()
	sn := SolicitedNodeMulticast(testHoA)
	na := func(m NeighborAdvertisement) []byte { return m.Append(nil) }
	ns := func(m NeighborSolicitation) []byte { return m.Append(nil) }

	for _, tc := range []struct {
		name     string
		msg      []byte
		hop      int
		src, dst netip.Addr
		evidence string // "" when nothing is revealed
	}{
		{"advertisement to all-nodes (answer to DAD)",
			na(NeighborAdvertisement{Override: true, Target: testHoA, TargetLinkLayerAddress: other}), 255, peer, allNodes, "Neighbor Advertisement"},
		{"solicited unicast advertisement",
			na(NeighborAdvertisement{Solicited: true, Target: testHoA}), 255, peer, netip.MustParseAddr("fe80::1"), "Neighbor Advertisement"},
		{"proxy advertisement, Override clear",
			na(NeighborAdvertisement{Target: testHoA, TargetLinkLayerAddress: other}), 255, peer, allNodes, "Neighbor Advertisement"},
		{"another node's DAD",
			ns(NeighborSolicitation{Target: testHoA}), 255, unspec, sn, "Neighbor Solicitation"},

		{"advertisement forwarded (hop limit 254)",
			na(NeighborAdvertisement{Override: true, Target: testHoA}), 254, peer, allNodes, ""},
		{"Solicited advertisement to a multicast address",
			na(NeighborAdvertisement{Solicited: true, Target: testHoA}), 255, peer, allNodes, ""},
		{"address resolution, not DAD",
			ns(NeighborSolicitation{Target: testHoA, SourceLinkLayerAddress: other}), 255, peer, sn, ""},
		{"DAD solicitation with a link-layer option",
			ns(NeighborSolicitation{Target: testHoA, SourceLinkLayerAddress: other}), 255, unspec, sn, ""},
		{"DAD solicitation to all-nodes",
			ns(NeighborSolicitation{Target: testHoA}), 255, unspec, allNodes, ""},
		{"truncated advertisement",
			na(NeighborAdvertisement{Target: testHoA})[:20], 255, peer, allNodes, ""},
		{"other ICMPv6 message",
			[]byte{128, 0, 0, 0, 0, 1, 0, 1}, 255, peer, allNodes, ""},
		{"empty", nil, 255, peer, allNodes, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dup := duplicateFromND(tc.msg, tc.hop, tc.src, tc.dst)
			if tc.evidence == "" {
				if dup != nil {
					t.Fatalf("revealed %v; the message is not valid evidence", dup)
				}
				return
			}
			if dup == nil {
				t.Fatal("revealed nothing")
			}
			if dup.Addr != testHoA || dup.Evidence != tc.evidence || dup.From != tc.src {
				t.Errorf("got %+v, want %s for %s from %s", dup, tc.evidence, testHoA, tc.src)
			}
		})
	}
}

// TestDuplicateLinkAddrIsCopied: the evidence outlives the receive buffer.
func TestDuplicateLinkAddrIsCopied(t *testing.T) {
	other := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	buf := (&NeighborAdvertisement{Override: true, Target: testHoA, TargetLinkLayerAddress: other}).Append(nil)
	dup := duplicateFromND(buf, 255, netip.MustParseAddr("fe80::99"), allNodes)
	clear(buf)
	if !bytes.Equal(dup.LinkAddr, other) {
		t.Errorf("link-layer address %v after the buffer was reused, want %v", dup.LinkAddr, other)
	}
}

func TestDuplicateFromARP(t *testing.T) {
	own := testMAC
	other := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	v4 := netip.MustParseAddr("198.51.100.50")
	zero := netip.IPv4Unspecified()
	for _, tc := range []struct {
		name     string
		p        ARP
		addr     netip.Addr
		evidence string
	}{
		{"reply from the owner", ARP{Operation: ARPReply, SenderHardwareAddr: other, SenderProtocolAddr: v4,
			TargetHardwareAddr: own, TargetProtocolAddr: zero}, v4, "ARP"},
		{"announcement by another host", gratuitousARP(other, v4), v4, "ARP"},
		{"request from a host using it", ARP{Operation: ARPRequest, SenderHardwareAddr: other, SenderProtocolAddr: v4,
			TargetProtocolAddr: netip.MustParseAddr("198.51.100.1")}, v4, "ARP"},
		{"another host's probe", arpProbe(other, v4), v4, "ARP probe"},
		{"our own probe", arpProbe(own, v4), netip.Addr{}, ""},
		{"reply to a probe for something else", ARP{Operation: ARPReply, SenderHardwareAddr: other, SenderProtocolAddr: zero,
			TargetProtocolAddr: zero}, netip.Addr{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dup := duplicateFromARP(tc.p.Append(nil), own)
			if tc.evidence == "" {
				if dup != nil {
					t.Fatalf("revealed %v", dup)
				}
				return
			}
			if dup == nil || dup.Addr != tc.addr || dup.Evidence != tc.evidence || !bytes.Equal(dup.LinkAddr, other) {
				t.Errorf("got %+v, want %s for %s from %v", dup, tc.evidence, tc.addr, other)
			}
		})
	}
	if duplicateFromARP([]byte{0, 1}, own) != nil {
		t.Error("a truncated packet revealed a duplicate")
	}
}
