package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

func FuzzClassify(f *testing.F) {
	f.Add([]byte{Keepalive})
	f.Add([]byte{0, 0, 0, 0})
	f.Add(append([]byte{0, 0, 0, 0}, make([]byte, 28)...))
	f.Add(unhex(f, "01020304 00000005"+rfc7634IV+rfc7634Ciphertext+rfc7634Tag))
	f.Fuzz(func(t *testing.T, b []byte) {
		k := Classify(b)
		zeroSPI := len(b) >= 4 && binary.BigEndian.Uint32(b) == 0
		switch k {
		case KindKeepalive:
			if !bytes.Equal(b, []byte{Keepalive}) {
				t.Fatalf("keepalive %x", b)
			}
		case KindIKE:
			if !zeroSPI || len(b) <= len(NonESPMarker) {
				t.Fatalf("IKE %x", b)
			}
		case KindESP:
			if zeroSPI || len(b) < minESPLen {
				t.Fatalf("ESP %x", b)
			}
		case KindInvalid:
			if bytes.Equal(b, []byte{Keepalive}) || (zeroSPI && len(b) > 4) || (!zeroSPI && len(b) >= minESPLen) {
				t.Fatalf("invalid %x", b)
			}
		default:
			t.Fatalf("kind %v", k)
		}
	})
}

// fuzzDataplane is a Dataplane without sockets or device: the tables and
// counters that the receive path uses, with one inbound SA (the inbound half
// of saPair with AES-GCM-128).
func fuzzDataplane(f *testing.F) (*Dataplane, *SA, *SA) {
	out, in := saPair(f, transformCases[0])
	d := &Dataplane{inbound: newInboundTable(), outbound: newOutboundTable()}
	if err := d.InstallInbound(in); err != nil {
		f.Fatal(err)
	}
	return d, out, in
}

// FuzzReceiveNATT feeds arbitrary datagrams to the NAT-T demultiplexer and
// the ESP inbound path: nothing panics, every datagram is accounted for
// exactly once, and only authentic packets reach the device.
func FuzzReceiveNATT(f *testing.F) {
	d, out, _ := fuzzDataplane(f)
	for _, n := range []int{40, 41, 100, 1400} {
		buf := make([]byte, BufferSize)
		copy(buf[HeadRoom:], testInner(hoa, cnAddr, n))
		esp, r := out.Seal(buf, n)
		if r != NotDropped {
			f.Fatal(r)
		}
		f.Add(bytes.Clone(esp))
	}
	f.Add([]byte{Keepalive})
	f.Add(append([]byte{0, 0, 0, 0}, bytes.Repeat([]byte{1}, 28)...))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 1})
	f.Add(bytes.Repeat([]byte{0xc0}, 64))
	local := netip.MustParseAddrPort("[2001:db8:1::1]:4500")
	remote := netip.MustParseAddrPort("[2001:db8:2::5]:4500")
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) > BufferSize-ESPOffset {
			return
		}
		buf := make([]byte, BufferSize)
		copy(buf[ESPOffset:], payload)
		var st batchCounters
		dg := Datagram{Local: local, Remote: remote, Payload: buf[ESPOffset : ESPOffset+len(payload)]}
		ike, pkts := d.demux(roleNATT, buf, dg, 1, &st, nil, nil)
		var drops uint64
		for _, v := range st.drops {
			drops += v
		}
		if total := uint64(len(ike)+len(pkts)) + st.keepalivesIn + drops; total != 1 {
			t.Fatalf("datagram counted %d times (ike %d, packets %d, keepalives %d, drops %v)",
				total, len(ike), len(pkts), st.keepalivesIn, st.drops)
		}
		if len(ike) == 1 && !bytes.Equal(ike[0].Payload, payload[4:]) {
			t.Fatal("IKE payload is not the datagram without its marker")
		}
		if len(pkts) == 1 {
			src, dst, length, nh := ipHeader(pkts[0])
			if nh == 0 || length != len(pkts[0]) || src != hoa && src != hoa4 || !dst.IsValid() {
				t.Fatalf("delivered a packet that Seal did not make: %x", pkts[0])
			}
		}
	})
}

// FuzzReceiveCoalesced feeds the splitting of coalesced datagrams (UDP_GRO)
// with sealed packets glued together, after an IKE message of the same size
// when count's high bit is set, and an arbitrary segment size: every segment
// is accounted for once, and with the true segment size every packet and
// the IKE message are delivered intact.
func FuzzReceiveCoalesced(f *testing.F) {
	d, out, _ := fuzzDataplane(f)
	f.Add(uint16(100), uint8(3), uint16(0))
	f.Add(uint16(1400), uint8(5), uint16(0))
	f.Add(uint16(60), uint8(4), uint16(77))
	f.Add(uint16(160), uint8(0x80|2), uint16(0))
	local := netip.MustParseAddrPort("[2001:db8:1::1]:4500")
	remote := netip.MustParseAddrPort("[2001:db8:2::5]:4500")
	f.Fuzz(func(t *testing.T, size uint16, count uint8, gro uint16) {
		n := 40 + int(size)%4000
		k := 1 + int(count&0x7f)%40
		inner := testInner(hoa, cnAddr, n)
		var glued []byte
		segLen := 0
		for range k {
			buf := make([]byte, BufferSize)
			copy(buf[HeadRoom:], inner)
			esp, r := out.Seal(buf, n)
			if r != NotDropped {
				t.Fatal(r)
			}
			segLen = len(esp)
			glued = append(glued, esp...)
		}
		var ikeMsg []byte // with the non-ESP marker
		if count&0x80 != 0 {
			ikeMsg = make([]byte, segLen)
			for i := len(NonESPMarker); i < segLen; i++ {
				ikeMsg[i] = byte(i) | 1
			}
			glued = append(bytes.Clone(ikeMsg), glued...)
		}
		if len(glued) > BufferSize-ESPOffset {
			return
		}
		g := int(gro)
		if g == 0 {
			g = segLen // what the kernel reports
		}
		buf := make([]byte, BufferSize)
		copy(buf[ESPOffset:], glued)
		var st batchCounters
		dg := Datagram{Local: local, Remote: remote, Payload: buf[ESPOffset : ESPOffset+len(glued)]}
		ike, pkts := d.demuxCoalesced(roleNATT, buf, dg, g, 1, &st, nil, nil)
		segments := 1
		if g < len(glued) {
			segments = (len(glued) + g - 1) / g
		}
		var drops uint64
		for _, v := range st.drops {
			drops += v
		}
		if total := uint64(len(ike)+len(pkts)) + st.keepalivesIn + drops; total != uint64(segments) {
			t.Fatalf("%d segments counted %d times", segments, total)
		}
		if g == segLen {
			if len(pkts) != k {
				t.Fatalf("%d of %d packets delivered, drops %v", len(pkts), k, st.drops)
			}
			if ikeMsg != nil && (len(ike) != 1 || !bytes.Equal(ike[0].Payload, ikeMsg[len(NonESPMarker):])) {
				t.Fatalf("IKE message not delivered intact: %d messages", len(ike))
			}
			for _, p := range pkts {
				if !bytes.Equal(p, inner) {
					t.Fatal("packet changed")
				}
			}
		}
	})
}

// FuzzOpenPayload reaches the checks behind the ICV: the fuzzer chooses the
// decrypted ESP payload (inner packet, padding, Pad Length, Next Header),
// which is sealed with the SA's key and opened.
func FuzzOpenPayload(f *testing.F) {
	_, in := saPair(f, transformCases[0])
	v6 := testInner(hoa, cnAddr, 60)
	f.Add(append(bytes.Clone(v6), 1, 2, 2, 41))
	f.Add(append(testInner(hoa4, cnAddr4, 33), 1, 4))
	f.Add([]byte{1, 2, 2, 59})
	f.Add(append(bytes.Clone(v6), 0, 0, 0, 0, 41))
	seq := uint32(0)
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) > MaxInnerPacket {
			return
		}
		seq++
		buf, n := sealRaw(t, in, seq, payload)
		inner, r := in.Open(buf, n)
		if r != NotDropped {
			if inner != nil {
				t.Fatal("dropped packet returned")
			}
			return
		}
		if !bytes.HasPrefix(payload, inner) {
			t.Fatal("inner packet is not a prefix of the payload")
		}
		padLen := int(payload[len(payload)-2])
		if len(inner) > len(payload)-2-padLen {
			t.Fatal("inner packet overlaps the trailer")
		}
		src, dst, length, _ := ipHeader(inner)
		if length != len(inner) || !containsAddr(in.remoteTS, src) || !containsAddr(in.localTS, dst) {
			t.Fatalf("accepted %x", inner)
		}
	})
}

// FuzzControlMessages checks the sockaddr and pktinfo decoders on arbitrary
// kernel output, and that they read back what the encoders write.
func FuzzControlMessages(f *testing.F) {
	for _, a := range []string{"2001:db8::1", "192.0.2.1", "::1"} {
		p := makePktinfo(netip.MustParseAddr(a))
		s := makeSockaddr(netip.AddrPortFrom(netip.MustParseAddr(a), 4500))
		f.Add(p.raw[:p.len], s.raw[:s.len])
	}
	f.Fuzz(func(t *testing.T, oob, name []byte) {
		_ = parsePktinfo(oob)
		ap := parseSockaddr(name)
		if ap.IsValid() {
			s := makeSockaddr(ap)
			if got := parseSockaddr(s.raw[:s.len]); got != ap {
				t.Fatalf("sockaddr round trip %v -> %v", ap, got)
			}
		}
		if len(name) >= 16 {
			// IPv6 only: an IPv4 in_pktinfo is written with ipi_spec_dst
			// (the source to use) and read from ipi_addr (the header
			// destination), so it does not read back.
			a := netip.AddrFrom16([16]byte(name[:16]))
			if a.IsUnspecified() || a.Is4In6() {
				return
			}
			p := makePktinfo(a)
			if got := parsePktinfo(p.raw[:p.len]); got != a {
				t.Fatalf("pktinfo round trip %v -> %v", a, got)
			}
		}
	})
}
