package store

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Pool is an inclusive range of home addresses, First through Last, of one
// family. Build one with NewPrefixPool, PrefixRange or NewRangePool, which
// validate it.
type Pool struct {
	First, Last netip.Addr
}

// NewRangePool returns the pool first..last (inclusive), for instance an
// IPv4 home address range 192.0.2.10-192.0.2.200.
func NewRangePool(first, last netip.Addr) (Pool, error) {
	p := Pool{First: first, Last: last}
	return p, p.Validate()
}

// NewPrefixPool returns every usable host address of prefix. For IPv6 it
// leaves out the Subnet-Router anycast address (host part zero, RFC 4291
// §2.6.1) and, for prefixes of /120 or longer host parts, the 128 reserved
// subnet anycast addresses at the top (RFC 2526); for IPv4 the network and
// broadcast addresses (prefixes up to /30).
func NewPrefixPool(prefix netip.Prefix) (Pool, error) {
	if !prefix.IsValid() || FamilyOf(prefix.Addr()) == 0 {
		return Pool{}, fmt.Errorf("%w: pool prefix %v", ErrInvalid, prefix)
	}
	prefix = prefix.Masked()
	hostBits := prefix.Addr().BitLen() - prefix.Bits()
	first, last := uint64(1), hostMax(hostBits)
	switch {
	case prefix.Addr().Is6() && hostBits >= 8:
		last -= 128
	case prefix.Addr().Is4() && hostBits >= 2:
		last--
	default:
		first = 0
	}
	return PrefixRange(prefix, first, last)
}

// hostMax is the largest host offset of a prefix with hostBits host bits,
// capped at 2^64-1.
func hostMax(hostBits int) uint64 {
	if hostBits >= 64 {
		return ^uint64(0)
	}
	return 1<<hostBits - 1
}

// PrefixRange returns the pool of the host offsets first..last (inclusive)
// inside prefix: PrefixRange(2001:db8:1::/64, 0x1000, 0x1fff) is
// 2001:db8:1::1000-2001:db8:1::1fff.
func PrefixRange(prefix netip.Prefix, first, last uint64) (Pool, error) {
	if !prefix.IsValid() || FamilyOf(prefix.Addr()) == 0 {
		return Pool{}, fmt.Errorf("%w: pool prefix %v", ErrInvalid, prefix)
	}
	prefix = prefix.Masked()
	max := hostMax(prefix.Addr().BitLen() - prefix.Bits())
	if first > last || last > max {
		return Pool{}, fmt.Errorf("%w: host range %#x-%#x outside %v", ErrInvalid, first, last, prefix)
	}
	p := Pool{First: addOffset(prefix.Addr(), first), Last: addOffset(prefix.Addr(), last)}
	return p, p.Validate()
}

// addOffset adds off to the low 64 bits of a (with carry into the high
// half for IPv6).
func addOffset(a netip.Addr, off uint64) netip.Addr {
	if a.Is4() {
		b := a.As4()
		v := binary.BigEndian.Uint32(b[:]) + uint32(off)
		binary.BigEndian.PutUint32(b[:], v)
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	nlo := lo + off
	if nlo < lo {
		hi++
	}
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], nlo)
	return netip.AddrFrom16(b)
}

// Validate reports whether p is a non-empty range of one family.
func (p Pool) Validate() error {
	f := FamilyOf(p.First)
	if f == 0 || FamilyOf(p.Last) != f {
		return fmt.Errorf("%w: pool %v-%v is not a range of one address family", ErrInvalid, p.First, p.Last)
	}
	if p.First.Compare(p.Last) > 0 {
		return fmt.Errorf("%w: pool %v-%v ends before it starts", ErrInvalid, p.First, p.Last)
	}
	return nil
}

// Family returns the pool's address family.
func (p Pool) Family() Family { return FamilyOf(p.First) }

// Contains reports whether a is in the pool.
func (p Pool) Contains(a netip.Addr) bool {
	return FamilyOf(a) == p.Family() && a.Compare(p.First) >= 0 && a.Compare(p.Last) <= 0
}

// Size returns the number of addresses in the pool, capped at 2^64-1.
func (p Pool) Size() uint64 {
	if p.Validate() != nil {
		return 0
	}
	f, l := p.First.As16(), p.Last.As16()
	fhi, flo := binary.BigEndian.Uint64(f[:8]), binary.BigEndian.Uint64(f[8:])
	lhi, llo := binary.BigEndian.Uint64(l[:8]), binary.BigEndian.Uint64(l[8:])
	hi := lhi - fhi
	lo := llo - flo
	if llo < flo {
		hi--
	}
	if hi > 0 || lo == ^uint64(0) {
		return ^uint64(0)
	}
	return lo + 1
}

// String returns "first-last".
func (p Pool) String() string { return p.First.String() + "-" + p.Last.String() }
