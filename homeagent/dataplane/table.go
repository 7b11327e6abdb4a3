package dataplane

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

// The SA tables are read on every packet and written when the runtime
// installs, rekeys or deletes an SA. Readers take no lock: every table is a
// set of immutable maps published through atomic pointers, and a writer
// (serialised by a mutex) copies the one shard it changes and swaps the
// pointer (read-copy-update). A reader sees either the old or the new shard,
// both consistent, so an SA can be replaced while packets flow. Sharding
// keeps the copy small when thousands of SAs are installed.
const tableShards = 256

// shardedMap is a map with lock-free reads and copy-on-write updates.
type shardedMap[K comparable, V comparable] struct {
	hash   func(K) uint8
	shards [tableShards]atomic.Pointer[map[K]V]
}

func (m *shardedMap[K, V]) load(k K) (V, bool) {
	p := m.shards[m.hash(k)].Load()
	if p == nil {
		var zero V
		return zero, false
	}
	v, ok := (*p)[k]
	return v, ok
}

// store sets k to v; the caller holds the table's write lock.
func (m *shardedMap[K, V]) store(k K, v V) {
	s := &m.shards[m.hash(k)]
	next := make(map[K]V, 1)
	if p := s.Load(); p != nil {
		next = make(map[K]V, len(*p)+1)
		for kk, vv := range *p {
			next[kk] = vv
		}
	}
	next[k] = v
	s.Store(&next)
}

// deleteIf removes k if it maps to v; the caller holds the write lock.
func (m *shardedMap[K, V]) deleteIf(k K, v V) bool {
	s := &m.shards[m.hash(k)]
	p := s.Load()
	if p == nil || (*p)[k] != v {
		return false
	}
	next := make(map[K]V, len(*p))
	for kk, vv := range *p {
		if kk != k {
			next[kk] = vv
		}
	}
	s.Store(&next)
	return true
}

func (m *shardedMap[K, V]) values() []V {
	var out []V
	for i := range m.shards {
		if p := m.shards[i].Load(); p != nil {
			for _, v := range *p {
				out = append(out, v)
			}
		}
	}
	return out
}

func hashSPI(spi uint32) uint8 { return uint8((spi * 0x9e3779b1) >> 24) }

func hashAddr(a netip.Addr) uint8 {
	b := a.As16()
	h := binary.LittleEndian.Uint64(b[8:]) ^ binary.LittleEndian.Uint64(b[:8])
	return uint8((h * 0x9e3779b97f4a7c15) >> 56)
}

// inboundTable maps SPIs to inbound SAs.
type inboundTable struct {
	mu  sync.Mutex
	spi shardedMap[uint32, *SA]
}

func newInboundTable() *inboundTable {
	return &inboundTable{spi: shardedMap[uint32, *SA]{hash: hashSPI}}
}

func (t *inboundTable) lookup(spi uint32) *SA {
	sa, _ := t.spi.load(spi)
	return sa
}

func (t *inboundTable) insert(sa *SA) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.spi.load(sa.spi); ok && old != sa {
		return fmt.Errorf("%w: inbound SPI %#x", ErrSPIInUse, sa.spi)
	}
	t.spi.store(sa.spi, sa)
	return nil
}

func (t *inboundTable) remove(sa *SA) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.spi.deleteIf(sa.spi, sa)
}

func (t *inboundTable) all() []*SA {
	return t.spi.values()
}

// outboundTable maps inner destination prefixes to outbound SAs with
// longest-prefix match. Host routes (/32, /128: the home addresses on a
// home agent) live in a sharded exact-match map; the few shorter prefixes
// (a mobile node's default route) in a small list sorted longest first.
type outboundTable struct {
	mu    sync.Mutex
	hosts shardedMap[netip.Addr, *SA]
	nets  atomic.Pointer[[]prefixRoute]
}

type prefixRoute struct {
	prefix netip.Prefix
	sa     *SA
}

func newOutboundTable() *outboundTable {
	return &outboundTable{hosts: shardedMap[netip.Addr, *SA]{hash: hashAddr}}
}

func (t *outboundTable) lookup(dst netip.Addr) *SA {
	if sa, ok := t.hosts.load(dst); ok {
		return sa
	}
	if p := t.nets.Load(); p != nil {
		for _, r := range *p {
			if r.prefix.Contains(dst) {
				return r.sa
			}
		}
	}
	return nil
}

// insert routes every RemoteTS prefix of sa to sa, replacing the SA each
// prefix had (the atomic switch-over of a rekey). It returns the SAs that
// lost a route.
func (t *outboundTable) insert(sa *SA) []*SA {
	t.mu.Lock()
	defer t.mu.Unlock()
	var replaced []*SA
	var nets []prefixRoute
	for _, p := range sa.remoteTS {
		if p.IsSingleIP() {
			if old, ok := t.hosts.load(p.Addr()); ok && old != sa {
				replaced = append(replaced, old)
			}
			t.hosts.store(p.Addr(), sa)
			continue
		}
		if nets == nil {
			nets = t.copyNets()
		}
		i := slices.IndexFunc(nets, func(r prefixRoute) bool { return r.prefix == p })
		if i >= 0 {
			if nets[i].sa != sa {
				replaced = append(replaced, nets[i].sa)
			}
			nets[i].sa = sa
		} else {
			nets = append(nets, prefixRoute{p, sa})
		}
	}
	if nets != nil {
		slices.SortStableFunc(nets, func(a, b prefixRoute) int { return cmp.Compare(b.prefix.Bits(), a.prefix.Bits()) })
		t.nets.Store(&nets)
	}
	return replaced
}

// remove deletes the routes that still point at sa.
func (t *outboundTable) remove(sa *SA) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	removed := false
	for _, p := range sa.remoteTS {
		if p.IsSingleIP() {
			removed = t.hosts.deleteIf(p.Addr(), sa) || removed
		}
	}
	nets := t.copyNets()
	kept := slices.DeleteFunc(nets, func(r prefixRoute) bool { return r.sa == sa })
	if len(kept) != len(t.loadNets()) {
		removed = true
		t.nets.Store(&kept)
	}
	return removed
}

func (t *outboundTable) loadNets() []prefixRoute {
	if p := t.nets.Load(); p != nil {
		return *p
	}
	return nil
}

func (t *outboundTable) copyNets() []prefixRoute {
	return append([]prefixRoute{}, t.loadNets()...)
}

// all returns the installed outbound SAs, each once.
func (t *outboundTable) all() []*SA {
	seen := map[*SA]bool{}
	var out []*SA
	for _, sa := range t.hosts.values() {
		if !seen[sa] {
			seen[sa] = true
			out = append(out, sa)
		}
	}
	for _, r := range t.loadNets() {
		if !seen[r.sa] {
			seen[r.sa] = true
			out = append(out, r.sa)
		}
	}
	return out
}

// PrefixesOfRange returns the shortest list of prefixes that covers exactly
// the addresses first..last (an IKEv2 TS_IPV4_ADDR_RANGE or
// TS_IPV6_ADDR_RANGE). It returns nil if the addresses differ in family or
// first > last.
func PrefixesOfRange(first, last netip.Addr) []netip.Prefix {
	first, last = first.Unmap(), last.Unmap()
	if !first.IsValid() || first.Is4() != last.Is4() || first.Compare(last) > 0 {
		return nil
	}
	var out []netip.Prefix
	for {
		// The largest aligned block starting at first that ends at or before last.
		bits := first.BitLen()
		for bits > 0 {
			p := netip.PrefixFrom(first, bits-1)
			if p.Masked().Addr() != first || lastAddr(p).Compare(last) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(first, bits)
		out = append(out, p)
		end := lastAddr(p)
		if end.Compare(last) >= 0 {
			return out
		}
		first = end.Next()
	}
}

// lastAddr returns the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As16()
	off := 0
	if p.Addr().Is4() {
		off = 96
	}
	for i := off + p.Bits(); i < 128; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	if p.Addr().Is4() {
		return netip.AddrFrom4([4]byte(a[12:16]))
	}
	return netip.AddrFrom16(a)
}
