package policy

import "net/netip"

// FNV-1a, 64 bit (the same constants as hash/fnv, without its interface
// allocation), and the splitmix64 finalizer. Both are fixed functions, so
// every member computes the same rendezvous weights on every platform.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// hashAddr hashes the 16-octet form of a (IPv4 as IPv4-mapped), zone
// ignored.
func hashAddr(a netip.Addr) uint64 {
	b := a.As16()
	h := uint64(fnvOffset)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return mix(h)
}

// mix is the splitmix64 finalizer: every input bit affects every output
// bit.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// rendezvous is the highest-random-weight score of a member (by its ID
// hash) for a client (by its address key): among equally good members
// each client prefers a different one, and removing a member only moves
// the clients that preferred it.
func rendezvous(idHash, key uint64) uint64 { return mix(idHash ^ key) }
