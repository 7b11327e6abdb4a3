package homeagent

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/ike"
)

// AddressPool assigns inner addresses to authenticated peers through the
// Configuration payload (RFC 7296 §2.19, RFC 5026) and takes them back.
// Assign is called on the goroutine of the shard that owns the IKE SA, so it
// must be safe for concurrent use and must not block for long. An error
// becomes INTERNAL_ADDRESS_FAILURE.
//
// The runtime releases every assignment when its IKE SA ends (IKEDown).
// MemoryPool keeps leases in memory; the lease store (homeagent/store) will
// back a persistent one.
type AddressPool interface {
	Assign(req ike.AddressRequest) (ike.Assignment, error)
	Release(peer ike.ID, a ike.Assignment)
}

// ErrPoolExhausted reports that no address is left to assign.
var ErrPoolExhausted = errors.New("homeagent: address pool exhausted")

// MemoryPool is an AddressPool held in memory: IPv6 addresses from a prefix,
// IPv4 addresses from another, DNS servers and the home prefix. An identity
// gets the address it had before while nobody else took it (sticky, so a
// node that reconnects or holds two IKE SAs during a handover keeps its
// address), a suggested address when it is free, else the lowest
// never-used address, else the one released longest ago.
type MemoryPool struct {
	mu         sync.Mutex
	v6, v4     *family
	prefix6    netip.Prefix
	dns        []netip.Addr
	prefixLife uint32
}

// family is the leases of one address family.
type family struct {
	pool  store.Pool
	bits  int // prefix length given with each address
	next  netip.Addr
	lease map[netip.Addr]*lease
	byID  map[ike.ID]netip.Addr
	// released lists released addresses, oldest first.
	released []netip.Addr
}

type lease struct {
	id     ike.ID
	active int // IKE SAs holding the address
}

// NewMemoryPool returns a pool of the IPv6 prefix (INTERNAL_IP6_ADDRESS,
// given with the prefix's length, and MIP6_HOME_PREFIX) and the IPv4 prefix
// (INTERNAL_IP4_ADDRESS); either may be invalid (not offered). dns are
// offered as INTERNAL_IP6_DNS / INTERNAL_IP4_DNS.
func NewMemoryPool(ipv6 netip.Prefix, ipv4 netip.Prefix, dns []netip.Addr) (*MemoryPool, error) {
	p := &MemoryPool{dns: dns, prefixLife: 86400}
	if ipv6.IsValid() {
		sp, err := store.NewPrefixPool(ipv6)
		if err != nil {
			return nil, err
		}
		p.v6 = newFamily(sp, ipv6.Bits())
		p.prefix6 = ipv6.Masked()
	}
	if ipv4.IsValid() {
		sp, err := store.NewPrefixPool(ipv4)
		if err != nil {
			return nil, err
		}
		p.v4 = newFamily(sp, 32)
	}
	return p, nil
}

func newFamily(sp store.Pool, bits int) *family {
	return &family{pool: sp, bits: bits, next: sp.First, lease: map[netip.Addr]*lease{}, byID: map[ike.ID]netip.Addr{}}
}

// Assign implements AddressPool.
func (p *MemoryPool) Assign(req ike.AddressRequest) (ike.Assignment, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var a ike.Assignment
	var taken []func()
	undo := func() {
		for _, f := range taken {
			f()
		}
	}
	if req.IPv6 {
		if p.v6 == nil {
			return a, fmt.Errorf("%w: no IPv6 prefix configured", ErrPoolExhausted)
		}
		addr, err := p.v6.acquire(req.Peer, req.SuggestedIPv6.Addr())
		if err != nil {
			return a, err
		}
		taken = append(taken, func() { p.v6.release(req.Peer, addr) })
		a.IPv6 = netip.PrefixFrom(addr, p.v6.bits)
	}
	if req.IPv4 {
		if p.v4 == nil {
			undo()
			return ike.Assignment{}, fmt.Errorf("%w: no IPv4 pool configured", ErrPoolExhausted)
		}
		addr, err := p.v4.acquire(req.Peer, req.SuggestedIPv4)
		if err != nil {
			undo()
			return ike.Assignment{}, err
		}
		a.IPv4 = addr
	}
	for _, d := range p.dns {
		if d.Is6() && req.DNS6 || d.Is4() && req.DNS4 {
			a.DNS = append(a.DNS, d)
		}
	}
	if req.HomePrefix && p.prefix6.IsValid() {
		a.HomePrefix, a.HomePrefixLifetime = p.prefix6, p.prefixLife
	}
	return a, nil
}

// Release implements AddressPool.
func (p *MemoryPool) Release(peer ike.ID, a ike.Assignment) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a.IPv6.IsValid() && p.v6 != nil {
		p.v6.release(peer, a.IPv6.Addr())
	}
	if a.IPv4.IsValid() && p.v4 != nil {
		p.v4.release(peer, a.IPv4)
	}
}

// Lookup returns the address of family (6 or 4) that id holds or held, and
// whether an IKE SA holds it now.
func (p *MemoryPool) Lookup(id ike.ID, v int) (addr netip.Addr, active bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.v6
	if v == 4 {
		f = p.v4
	}
	if f == nil {
		return netip.Addr{}, false
	}
	addr, ok := f.byID[id]
	if !ok {
		return netip.Addr{}, false
	}
	return addr, f.lease[addr].active > 0
}

func (f *family) acquire(id ike.ID, suggested netip.Addr) (netip.Addr, error) {
	if addr, ok := f.byID[id]; ok {
		f.take(addr, id)
		return addr, nil
	}
	if suggested.IsValid() && f.pool.Contains(suggested) {
		if l := f.lease[suggested]; l == nil || l.active == 0 {
			f.take(suggested, id)
			return suggested, nil
		}
	}
	for f.next.IsValid() && f.pool.Contains(f.next) {
		addr := f.next
		f.next = f.next.Next()
		if f.lease[addr] == nil {
			f.take(addr, id)
			return addr, nil
		}
	}
	for _, addr := range f.released {
		if f.lease[addr].active == 0 {
			f.take(addr, id)
			return addr, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: %v", ErrPoolExhausted, f.pool)
}

// take gives addr to id, reclaiming it from a former holder.
func (f *family) take(addr netip.Addr, id ike.ID) {
	l := f.lease[addr]
	if l == nil {
		l = &lease{id: id}
		f.lease[addr] = l
	}
	if l.id != id {
		delete(f.byID, l.id)
		l.id = id
	}
	if old, ok := f.byID[id]; ok && old != addr {
		delete(f.byID, id)
	}
	f.byID[id] = addr
	l.active++
	f.unrelease(addr)
}

func (f *family) release(id ike.ID, addr netip.Addr) {
	l := f.lease[addr]
	if l == nil || l.id != id || l.active == 0 {
		return
	}
	l.active--
	if l.active == 0 {
		f.released = append(f.released, addr)
	}
}

func (f *family) unrelease(addr netip.Addr) {
	for i, a := range f.released {
		if a == addr {
			f.released = append(f.released[:i], f.released[i+1:]...)
			return
		}
	}
}
