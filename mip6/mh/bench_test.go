package mh

import (
	"net/netip"
	"testing"
)

func BenchmarkParseBindingUpdatePacket(b *testing.B) {
	nai := MobileNodeIdentifier{Subtype: MNIdentifierNAI, Identifier: []byte("mn1@example.net")}
	pkt := AppendPacket(nil, IPv6{Src: vecHoA, Dst: vecHA},
		BindingUpdate{Sequence: 9, Flags: BUFlagA | BUFlagH | BUFlagK, Lifetime: 100, Options: opts(nai, AlternateCoA{Addr: vecCoA})})
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		_, h, err := ParsePacket(pkt)
		if err != nil {
			b.Fatal(err)
		}
		bu, err := ParseBindingUpdate(h)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := bu.Options.AlternateCoA(); !ok {
			b.Fatal("no ACoA")
		}
	}
}

func BenchmarkAppendBindingAckPacket(b *testing.B) {
	var o [8]byte
	ba := BindingAck{Flags: BAFlagK, Sequence: 9, Lifetime: 100, Options: BindingRefreshAdvice{Interval: 50}.Append(o[:0])}
	ip := IPv6{Src: vecHA, Dst: vecHoA}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPacket(buf[:0], ip, ba)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkChecksum(b *testing.B) {
	m := make([]byte, 1024)
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	b.ReportAllocs()
	b.SetBytes(int64(len(m)))
	for b.Loop() {
		SetChecksum(m, src, dst)
	}
}
