package ikecrypto

import (
	"crypto/sha1"
	"encoding/binary"
	"net/netip"
)

// NATDetectionHash returns the data of a NAT_DETECTION_SOURCE_IP or
// NAT_DETECTION_DESTINATION_IP notify (RFC 7296 §2.23):
//
//	SHA-1(SPIi | SPIr | IP | Port)
//
// spii and spir are the SPIs of the IKE header as 64-bit big-endian numbers
// (SPIr is 0 in the first IKE_SA_INIT request). The address is hashed as 4
// octets for IPv4 (IPv4-mapped IPv6 addresses from a dual-stack socket are
// unmapped, because the packet on the wire is IPv4) and 16 for IPv6; the zone
// is ignored.
func NATDetectionHash(spii, spir uint64, addr netip.AddrPort) [sha1.Size]byte {
	var b [8 + 8 + 16 + 2]byte
	binary.BigEndian.PutUint64(b[0:], spii)
	binary.BigEndian.PutUint64(b[8:], spir)
	ip := addr.Addr().Unmap()
	n := 16 + copy(b[16:], ip.AsSlice())
	binary.BigEndian.PutUint16(b[n:], addr.Port())
	return sha1.Sum(b[:n+2])
}
