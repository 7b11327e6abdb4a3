package mh

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Checksum returns the Mobility Header checksum of m (RFC 6275 §6.1.1):
// the 16-bit one's complement of the one's complement sum of the IPv6
// pseudo-header (src, dst, upper-layer length = len(m), next header 135)
// and m, with m's checksum field counted as zero.
//
// src and dst are the addresses upper layers see after Mobile IPv6
// processing: the home address from a Home Address option replaces the
// source, the home address in a type 2 routing header is the destination
// ([IPv6.PseudoHeader] picks them). m must be at least 6 octets long;
// shorter input returns 0.
func Checksum(m []byte, src, dst netip.Addr) uint16 {
	if len(m) < 6 {
		return 0
	}
	acc := pseudoHeaderSum(src, dst, len(m))
	acc = sumBytes(acc, m[:4])
	acc = sumBytes(acc, m[6:])
	return ^fold(acc)
}

// SetChecksum computes the checksum of m for (src, dst) and writes it into
// the Checksum field (offset 4). It does nothing if m is shorter than 6
// octets.
func SetChecksum(m []byte, src, dst netip.Addr) {
	if len(m) < 6 {
		return
	}
	binary.BigEndian.PutUint16(m[4:6], Checksum(m, src, dst))
}

// VerifyChecksum reports whether the Checksum field of m is correct for
// (src, dst).
func VerifyChecksum(m []byte, src, dst netip.Addr) bool {
	if len(m) < 6 {
		return false
	}
	return fold(sumBytes(pseudoHeaderSum(src, dst, len(m)), m)) == 0xffff
}

func pseudoHeaderSum(src, dst netip.Addr, length int) uint64 {
	return upperLayerPseudoHeaderSum(src, dst, length, ProtoMH)
}

// upperLayerPseudoHeaderSum sums the IPv6 pseudo-header of RFC 8200 §8.1:
// source, destination, upper-layer packet length, next header.
func upperLayerPseudoHeaderSum(src, dst netip.Addr, length int, nextHeader uint8) uint64 {
	s, d := src.As16(), dst.As16()
	acc := sumBytes(0, s[:])
	acc = sumBytes(acc, d[:])
	acc = add64(acc, uint64(uint32(length)))
	return add64(acc, uint64(nextHeader))
}

func add64(acc, v uint64) uint64 {
	acc, c := bits.Add64(acc, v, 0)
	return acc + c
}

// sumBytes adds b to the one's complement accumulator acc as big-endian
// 16-bit words; an odd final octet is padded with a zero octet. Since
// 2^16 ≡ 1 (mod 2^16-1), summing 64-bit words with end-around carry and
// folding at the end gives the 16-bit sum (RFC 1071 §2).
func sumBytes(acc uint64, b []byte) uint64 {
	for len(b) >= 8 {
		acc = add64(acc, binary.BigEndian.Uint64(b))
		b = b[8:]
	}
	if len(b) >= 4 {
		acc = add64(acc, uint64(binary.BigEndian.Uint32(b)))
		b = b[4:]
	}
	if len(b) >= 2 {
		acc = add64(acc, uint64(binary.BigEndian.Uint16(b)))
		b = b[2:]
	}
	if len(b) == 1 {
		acc = add64(acc, uint64(b[0])<<8)
	}
	return acc
}

func fold(acc uint64) uint16 {
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	return uint16(acc)
}
