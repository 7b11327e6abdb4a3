package homelink

import (
	"net/netip"
	"testing"
)

// The codecs are control plane (a few messages per binding), measured so
// that a regression shows.

func BenchmarkNeighborAdvertisementAppend(b *testing.B) {
	b.ReportAllocs()
	na := NeighborAdvertisement{Override: true, Target: testHoA, TargetLinkLayerAddress: testMAC}
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = na.Append(buf[:0])
	}
}

func BenchmarkParseNeighborAdvertisement(b *testing.B) {
	b.ReportAllocs()
	msg := (&NeighborAdvertisement{Override: true, Target: testHoA, TargetLinkLayerAddress: testMAC}).Append(nil)
	for b.Loop() {
		if _, err := ParseNeighborAdvertisement(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDADSolicitation(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, ipv6HeaderLen+NeighborSolicitationLen)
	for b.Loop() {
		buf = appendDADSolicitation(buf[:0], testHoA)
	}
}

// BenchmarkDuplicateFromND is the per-message cost of the DAD listener:
// every Neighbor Advertisement and DAD solicitation on the home link goes
// through it.
func BenchmarkDuplicateFromND(b *testing.B) {
	b.ReportAllocs()
	msg := (&NeighborAdvertisement{Override: true, Target: testHoA}).Append(nil)
	src := netip.MustParseAddr("fe80::1")
	for b.Loop() {
		if duplicateFromND(msg, HopLimit, src, allNodes) == nil {
			b.Fatal("no evidence")
		}
	}
}

func BenchmarkParseARP(b *testing.B) {
	b.ReportAllocs()
	p := gratuitousARP(testMAC, netip.MustParseAddr("198.51.100.50"))
	pkt := p.Append(nil)
	for b.Loop() {
		if _, err := ParseARP(pkt); err != nil {
			b.Fatal(err)
		}
	}
}
