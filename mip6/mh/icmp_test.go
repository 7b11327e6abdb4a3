package mh

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// icmpv6Checksum is RFC 1071's sum over 16-bit words, written out plainly
// as an independent check of AppendParameterProblem's.
func icmpv6Checksum(src, dst netip.Addr, m []byte) uint16 {
	var buf []byte
	s, d := src.As16(), dst.As16()
	buf = append(append(buf, s[:]...), d[:]...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(m)))
	buf = append(buf, 0, 0, 0, ProtoICMPv6)
	buf = append(buf, m...)
	if len(buf)%2 == 1 {
		buf = append(buf, 0)
	}
	var sum uint32
	for i := 0; i < len(buf); i += 2 {
		sum += uint32(buf[i])<<8 | uint32(buf[i+1])
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func TestAppendParameterProblem(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("2001:db8:1::1234")
	invoking := make([]byte, 57) // odd, to exercise the padding
	for i := range invoking {
		invoking[i] = byte(i)
	}
	p := AppendParameterProblem([]byte{0xee}, src, dst, ParamProblemErroneousField, 40, invoking)
	if p[0] != 0xee {
		t.Fatal("the prefix was overwritten")
	}
	p = p[1:]
	want := []byte{0x60, 0, 0, 0, 0, 8 + 57, ProtoICMPv6, DefaultHopLimit}
	if !bytes.Equal(p[:8], want) {
		t.Errorf("IPv6 header %x, want %x", p[:8], want)
	}
	if a, _ := netip.AddrFromSlice(p[8:24]); a != src {
		t.Errorf("source %v", a)
	}
	if a, _ := netip.AddrFromSlice(p[24:40]); a != dst {
		t.Errorf("destination %v", a)
	}
	m := p[40:]
	if m[0] != ICMPv6TypeParameterProblem || m[1] != 0 || binary.BigEndian.Uint32(m[4:8]) != 40 {
		t.Errorf("ICMPv6 header %x", m[:8])
	}
	if !bytes.Equal(m[8:], invoking) {
		t.Errorf("invoking packet %x", m[8:])
	}
	got := binary.BigEndian.Uint16(m[2:4])
	zeroed := bytes.Clone(m)
	zeroed[2], zeroed[3] = 0, 0
	if w := icmpv6Checksum(src, dst, zeroed); got != w {
		t.Errorf("checksum %#04x, want %#04x", got, w)
	}

	// A long invoking packet is cut so that the answer fits 1280 octets.
	long := make([]byte, 3000)
	p = AppendParameterProblem(nil, src, dst, ParamProblemErroneousField, 41, long)
	if len(p) != 1280 || int(binary.BigEndian.Uint16(p[4:6])) != 1240 {
		t.Errorf("answer to a 3000-octet packet: %d octets, payload length %d", len(p), binary.BigEndian.Uint16(p[4:6]))
	}
	zeroed = bytes.Clone(p[40:])
	zeroed[2], zeroed[3] = 0, 0
	if w := icmpv6Checksum(src, dst, zeroed); binary.BigEndian.Uint16(p[42:44]) != w {
		t.Errorf("checksum of the cut answer %#04x, want %#04x", binary.BigEndian.Uint16(p[42:44]), w)
	}
}
