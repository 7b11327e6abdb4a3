package mh

import (
	"encoding/binary"
	"net/netip"
)

// ProtoICMPv6 is the IPv6 Next Header value of ICMPv6 (RFC 4443).
const ProtoICMPv6 = 58

// ICMPv6 Parameter Problem (RFC 4443 §3.4), the answer RFC 6275 §9.2 asks
// for a Mobility Header whose Payload Proto or Header Len is wrong.
const (
	ICMPv6TypeParameterProblem = 4
	// ParamProblemErroneousField is code 0, "erroneous header field
	// encountered".
	ParamProblemErroneousField = 0
)

// minMTU is the IPv6 minimum link MTU, the most an ICMPv6 error message
// may fill (RFC 4443 §2.4(c)).
const minMTU = 1280

// icmpv6ErrorHeaderLen is an ICMPv6 error message's Type, Code, Checksum
// and 32-bit field (the Pointer of a Parameter Problem).
const icmpv6ErrorHeaderLen = 8

// AppendParameterProblem appends an IPv6 packet from src to dst that
// carries an ICMPv6 Parameter Problem (RFC 4443 §3.4) with code and
// pointer (the offset in invoking of the erroneous field), followed by as
// much of the invoking packet as fits into the IPv6 minimum MTU. The
// ICMPv6 checksum covers the pseudo-header of src and dst.
func AppendParameterProblem(b []byte, src, dst netip.Addr, code uint8, pointer uint32, invoking []byte) []byte {
	n := min(len(invoking), minMTU-40-icmpv6ErrorHeaderLen)
	b = binary.BigEndian.AppendUint32(b, 6<<28)
	b = binary.BigEndian.AppendUint16(b, uint16(icmpv6ErrorHeaderLen+n))
	b = append(b, ProtoICMPv6, DefaultHopLimit)
	s, d := src.As16(), dst.As16()
	b = append(append(b, s[:]...), d[:]...)
	start := len(b)
	b = append(b, ICMPv6TypeParameterProblem, code, 0, 0)
	b = binary.BigEndian.AppendUint32(b, pointer)
	b = append(b, invoking[:n]...)
	m := b[start:]
	sum := sumBytes(upperLayerPseudoHeaderSum(src, dst, len(m), ProtoICMPv6), m)
	binary.BigEndian.PutUint16(m[2:4], ^fold(sum))
	return b
}
