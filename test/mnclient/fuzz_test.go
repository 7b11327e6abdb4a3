package mnclient

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

// FuzzMobilityDevice splits the input into a batch of packets and writes
// it through the Mobility Header filter: nothing panics, every packet goes
// exactly one way, in order, and the classification agrees with
// IsMobilityPacket.
func FuzzMobilityDevice(f *testing.F) {
	hoa := netip.MustParseAddr("2001:db8:1::1000")
	ha := netip.MustParseAddr("2001:db8:1::1")
	ba := mh.AppendPacket(nil, mh.IPv6{Src: ha, Dst: hoa}, mh.BindingAck{Sequence: 3, Lifetime: 15})
	data := ipv6Packet(testCN, hoa, mh.ProtoNone, []byte("payload"))
	f.Add(ba, uint8(len(ba)))
	f.Add(append(append([]byte(nil), data...), ba...), uint8(len(data)))
	f.Add(append(append([]byte(nil), ba...), data...), uint8(40))
	f.Add([]byte{0x60}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		size := int(cut)%64 + 1
		var batch [][]byte
		for len(b) > 0 {
			n := min(size, len(b))
			if IsMobilityPacket(b) && len(b) >= ipv6HeaderLen && n < ipv6HeaderLen {
				n = min(len(b), ipv6HeaderLen+int(cut)%32)
			}
			batch = append(batch, b[:n])
			b = b[n:]
		}
		var got [][]byte
		mob := make(chan []byte, len(batch)+1)
		d := &mobilityDevice{Device: newMemDevice(func(p []byte) { got = append(got, p) }), deliver: mob}
		n, err := d.Write(batch)
		if err != nil || n != len(batch) {
			t.Fatalf("Write = %d, %v for %d packets", n, err, len(batch))
		}
		close(mob)
		for _, p := range batch {
			var q []byte
			if IsMobilityPacket(p) {
				q = <-mob
			} else if len(got) > 0 {
				q, got = got[0], got[1:]
			}
			if !bytes.Equal(p, q) {
				t.Fatalf("packet %x came out as %x", p, q)
			}
		}
		if len(got) != 0 || len(mob) != 0 {
			t.Fatalf("%d data and %d mobility packets left over", len(got), len(mob))
		}
	})
}

// BenchmarkMobilityDeviceWrite writes a batch of 64 data packets through
// the filter: the dataplane's path into the TUN device for every packet
// the node receives.
func BenchmarkMobilityDeviceWrite(b *testing.B) {
	hoa := netip.MustParseAddr("2001:db8:1::1000")
	pkt := ipv6Packet(testCN, hoa, 6, make([]byte, 1340))
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = pkt
	}
	d := &mobilityDevice{Device: newMemDevice(nil), deliver: make(chan []byte, 1)}
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt) * len(batch)))
	for b.Loop() {
		if n, err := d.Write(batch); n != len(batch) || err != nil {
			b.Fatal(n, err)
		}
	}
}
