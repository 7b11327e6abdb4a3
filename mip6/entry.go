package mip6

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

// entry is one binding cache entry. It is kept to 88 octets, in the
// 96-octet malloc size class: a million bindings are a million entries.
// Entries start at 0 or 32 modulo 64, so the first 32 octets, which a
// refresh reads, share one cache line. Times are nanoseconds since the
// cache's epoch; what few bindings need lives behind x.
type entry struct {
	state   BindingState
	bits    entryBits
	seq     uint16
	flags   mh.BUFlags
	ha      uint16 // the home agent address, an index into the cache's haTable
	hidx    int32  // index of the entry's timer in its shard's heap
	expires int64  // valid: end of lifetime; deregistered: removal; DAD pending: DAD timeout
	armed   int64  // when the entry's heap timer fires (its heap item's time)

	coa      [16]byte // an IPv4 care-of address (DSMIPv6) is stored IPv4-mapped, with bitCoAIPv4 set
	x        *entryExtra
	identity string
	hoa      [16]byte
}

type entryBits uint8

const (
	bitInTunnel entryBits = 1 << iota // registered through the ESP tunnel
	bitBRRSent                        // the Binding Refresh Request of this lifetime went out
	bitCoAIPv4                        // coa holds an IPv4 address
)

func (e *entry) has(b entryBits) bool { return e.bits&b != 0 }

func (e *entry) set(b entryBits, on bool) {
	if on {
		e.bits |= b
	} else {
		e.bits &^= b
	}
}

func (e *entry) careOf() netip.Addr {
	a := netip.AddrFrom16(e.coa)
	if e.has(bitCoAIPv4) {
		return a.Unmap()
	}
	return a
}

func (e *entry) setCareOf(a netip.Addr) {
	e.coa = a.As16()
	e.set(bitCoAIPv4, a.Is4())
}

// entryExtra is the state few bindings have.
type entryExtra struct {
	sw      *switchState // a Home Agent Switch was asked for
	dsmip   *dsmip       // a DSMIPv6 registration
	pending *request     // the Binding Update waiting for DAD
}

func (e *entry) switching() *switchState {
	if e.x == nil {
		return nil
	}
	return e.x.sw
}

func (e *entry) dsmip() *dsmip {
	if e.x == nil {
		return nil
	}
	return e.x.dsmip
}

func (e *entry) pending() *request {
	if e.x == nil {
		return nil
	}
	return e.x.pending
}

// update changes the extra state with f, allocating it if needed and
// dropping it once empty.
func (e *entry) update(f func(*entryExtra)) {
	x := e.x
	if x == nil {
		x = new(entryExtra)
	}
	f(x)
	if *x == (entryExtra{}) {
		e.x = nil
	} else {
		e.x = x
	}
}

func (e *entry) setSwitching(s *switchState) {
	if s != nil || e.x != nil {
		e.update(func(x *entryExtra) { x.sw = s })
	}
}

func (e *entry) setDSMIP(d *dsmip) {
	if d != nil || e.x != nil {
		e.update(func(x *entryExtra) { x.dsmip = d })
	}
}

func (e *entry) setPending(r *request) {
	if r != nil || e.x != nil {
		e.update(func(x *entryExtra) { x.pending = r })
	}
}

// maxHomeAgentAddresses is the capacity of a haTable.
const maxHomeAgentAddresses = 1 << 16

// haTable interns the home agent addresses bindings were registered with,
// so an entry keeps a 2-octet index. A home agent has a handful of
// addresses: lookups scan a copy-on-write slice without locking.
type haTable struct {
	mu    sync.Mutex
	addrs atomic.Pointer[[]netip.Addr]
}

// index returns the index of a, adding it if needed; false if the table is
// full.
func (t *haTable) index(a netip.Addr) (uint16, bool) {
	if p := t.addrs.Load(); p != nil {
		for i, x := range *p {
			if x == a {
				return uint16(i), true
			}
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var cur []netip.Addr
	if p := t.addrs.Load(); p != nil {
		cur = *p
	}
	for i, x := range cur {
		if x == a {
			return uint16(i), true
		}
	}
	if len(cur) >= maxHomeAgentAddresses {
		return 0, false
	}
	next := append(cur[:len(cur):len(cur)], a)
	t.addrs.Store(&next)
	return uint16(len(cur)), true
}

func (t *haTable) addr(i uint16) netip.Addr {
	if p := t.addrs.Load(); p != nil && int(i) < len(*p) {
		return (*p)[i]
	}
	return netip.Addr{}
}
