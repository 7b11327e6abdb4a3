package homelink

import (
	"bytes"
	"net/netip"
	"testing"
)

// Seeds: the package's own messages, and messages as the Linux kernel
// sends them (a proxy's solicited advertisement without an option, one
// with a Target Link-Layer Address, a resolution solicitation), written
// out from captures of the namespace tests.
func ndSeeds(f *testing.F) {
	kernelProxyUnicast := unhex(f, "88 00 0000 40000000 20010db8000100000000000000000050")
	kernelProxyMulticast := unhex(f, "88 00 0000 40000000 20010db8000100000000000000000050 0201 da cd ff ad fd d4")
	resolution := unhex(f, "87 00 0000 00000000 20010db8000100000000000000000050 0101 1a 81 19 a4 f2 bb")
	for _, b := range [][]byte{
		(&NeighborAdvertisement{Override: true, Target: testHoA, TargetLinkLayerAddress: testMAC}).Append(nil),
		(&NeighborAdvertisement{Router: true, Solicited: true, Target: testHoA, Options: unhex(f, "0e01 010203040506")}).Append(nil),
		(&NeighborSolicitation{Target: testHoA, SourceLinkLayerAddress: testMAC}).Append(nil),
		appendDADSolicitation(nil, testHoA)[ipv6HeaderLen:],
		kernelProxyUnicast, kernelProxyMulticast, resolution,
	} {
		f.Add(b)
	}
}

// FuzzNeighborAdvertisement: parsing never panics, and what parses
// re-encodes to a message that parses to the same value (Len agreeing).
func FuzzNeighborAdvertisement(f *testing.F) {
	ndSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseNeighborAdvertisement(b)
		if err != nil {
			return
		}
		enc := m.Append(nil)
		if len(enc) != m.Len() {
			t.Fatalf("Len() = %d, Append wrote %d", m.Len(), len(enc))
		}
		back, err := ParseNeighborAdvertisement(enc)
		if err != nil {
			t.Fatalf("re-encoded %x does not parse: %v", enc, err)
		}
		if back.Router != m.Router || back.Solicited != m.Solicited || back.Override != m.Override || back.Target != m.Target ||
			!bytes.Equal(back.TargetLinkLayerAddress, m.TargetLinkLayerAddress) || !bytes.Equal(back.Options, m.Options) {
			t.Fatalf("round trip changed the message:\n %+v\n %+v", m, back)
		}
		if !bytes.Equal(back.Append(nil), enc) {
			t.Fatal("encoding is not stable")
		}
	})
}

// FuzzNeighborSolicitation: as FuzzNeighborAdvertisement.
func FuzzNeighborSolicitation(f *testing.F) {
	ndSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseNeighborSolicitation(b)
		if err != nil {
			return
		}
		enc := m.Append(nil)
		if len(enc) != m.Len() {
			t.Fatalf("Len() = %d, Append wrote %d", m.Len(), len(enc))
		}
		back, err := ParseNeighborSolicitation(enc)
		if err != nil {
			t.Fatalf("re-encoded %x does not parse: %v", enc, err)
		}
		if back.Target != m.Target || !bytes.Equal(back.SourceLinkLayerAddress, m.SourceLinkLayerAddress) || !bytes.Equal(back.Options, m.Options) {
			t.Fatalf("round trip changed the message:\n %+v\n %+v", m, back)
		}
		if !bytes.Equal(back.Append(nil), enc) {
			t.Fatal("encoding is not stable")
		}
	})
}

// FuzzARP: parsing never panics, and a parsed packet re-encodes to exactly
// its 28 octets (every field is kept).
func FuzzARP(f *testing.F) {
	v4 := netip.MustParseAddr("198.51.100.50")
	for _, p := range []ARP{gratuitousARP(testMAC, v4), arpProbe(testMAC, v4),
		{Operation: ARPReply, SenderHardwareAddr: testMAC, SenderProtocolAddr: v4, TargetHardwareAddr: testMAC, TargetProtocolAddr: v4}} {
		f.Add(append(p.Append(nil), make([]byte, 18)...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseARP(b)
		if err != nil {
			return
		}
		if enc := p.Append(nil); !bytes.Equal(enc, b[:ARPLen]) {
			t.Fatalf("re-encoded\n %x\nfrom\n %x", enc, b[:ARPLen])
		}
	})
}

// FuzzDuplicateFromND: the receive-side decision never panics, and never
// takes a message that fails RFC 4861 §7.1 for evidence.
func FuzzDuplicateFromND(f *testing.F) {
	for _, b := range [][]byte{
		(&NeighborAdvertisement{Override: true, Target: testHoA, TargetLinkLayerAddress: testMAC}).Append(nil),
		appendDADSolicitation(nil, testHoA)[ipv6HeaderLen:],
	} {
		f.Add(b, 255, netip.MustParseAddr("fe80::1").AsSlice(), allNodes.AsSlice())
		f.Add(b, 255, netip.IPv6Unspecified().AsSlice(), SolicitedNodeMulticast(testHoA).AsSlice())
	}
	f.Fuzz(func(t *testing.T, msg []byte, hop int, src, dst []byte) {
		s, _ := netip.AddrFromSlice(src)
		d, _ := netip.AddrFromSlice(dst)
		dup := duplicateFromND(msg, hop, s, d)
		if dup == nil {
			return
		}
		if hop != HopLimit || dup.Addr.IsMulticast() || !dup.Addr.IsValid() {
			t.Fatalf("evidence %+v from an invalid message (hop limit %d)", dup, hop)
		}
		if dup.Evidence == "Neighbor Solicitation" && (!s.IsUnspecified() || d != SolicitedNodeMulticast(dup.Addr)) {
			t.Fatalf("a solicitation from %s to %s taken for DAD", s, d)
		}
	})
}
