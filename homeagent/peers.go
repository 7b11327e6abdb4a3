package homeagent

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/mip6ha/mip6ha/ike"
)

// peer is what the service knows of one IKE SA of the runtime, from its
// events: who the peer is, where it is, what it was assigned and its
// CHILD_SAs. The admin API lists peers; the Mobility Header path finds the
// SA a Binding Update came through by its inbound CHILD_SA SPI.
type peer struct {
	id       SAID
	identity ike.ID
	spis     ike.SPIs
	path     ike.Path
	nat      bool
	assigned ike.Assignment
	children []ike.ChildInfo
	since    time.Time
	up       bool // IKE_AUTH completed
	// mobile: a Mobility Header message came through the SA, so the peer
	// is a mobile node, whose home address is defended once its binding is
	// accepted; otherwise it is a VPN-only peer (see Service.vpnGrace).
	mobile bool
	// redirectable: the peer announced RFC 5685 support (it may be sent
	// an INFORMATIONAL REDIRECT); extensions: it also announced the
	// project's private-use extensions (ports, handover tickets).
	redirectable, extensions bool
}

// peerTable is the service's view of the runtime's IKE SAs. The runtime's
// Observer updates it on the shards' goroutines; the Mobility Header path
// and the admin API read it. It is safe for concurrent use.
type peerTable struct {
	mu    sync.Mutex
	byID  map[SAID]*peer
	byIn  map[uint32]SAID // inbound CHILD_SA SPI -> IKE SA
	byHoA map[netip.Addr][]SAID
	count int // established IKE SAs
}

func newPeerTable() *peerTable {
	return &peerTable{byID: map[SAID]*peer{}, byIn: map[uint32]SAID{}, byHoA: map[netip.Addr][]SAID{}}
}

// index adds p under each of its home addresses, unindex removes it: the
// table answers holding without a walk over every peer (it is asked on
// every IKE SA that ends, on a shard's goroutine).
func (t *peerTable) index(p *peer) {
	for _, a := range p.homeAddresses() {
		t.byHoA[a] = append(t.byHoA[a], p.id)
	}
}

func (t *peerTable) unindex(p *peer) {
	for _, a := range p.homeAddresses() {
		ids := slices.DeleteFunc(t.byHoA[a], func(id SAID) bool { return id == p.id })
		if len(ids) == 0 {
			delete(t.byHoA, a)
		} else {
			t.byHoA[a] = ids
		}
	}
}

// apply records an event of the runtime. It reports the peer's state after
// the event (a copy) and whether the SA is gone.
func (t *peerTable) apply(e Event) (p peer, gone bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.byID[e.SA]
	if cur == nil {
		cur = &peer{id: e.SA, since: e.Time}
		t.byID[e.SA] = cur
	}
	switch x := e.IKE.(type) {
	case ike.IKEUp:
		if !cur.up {
			t.count++
		}
		cur.up, cur.identity, cur.spis, cur.path, cur.nat, cur.since = true, x.PeerID, x.SPIs, x.Path, x.NATT, e.Time
		cur.redirectable, cur.extensions = x.RedirectSupported, x.RedirectExtensions
	case ike.NATDetected:
		cur.nat = x.LocalBehindNAT || x.PeerBehindNAT || cur.nat
		cur.path = x.Path
	case ike.IKERekeyed:
		cur.spis = x.New
	case ike.AddressAssigned:
		if !x.ToUs {
			t.unindex(cur)
			cur.assigned = x.Assignment
			cur.identity = x.Peer
			t.index(cur)
		}
	case ike.PeerMoved:
		cur.path = x.New
	case ike.ChildUp:
		cur.children = append(cur.children, x.Child)
		t.byIn[x.Child.InSPI] = e.SA
	case ike.ChildRekeyed:
		cur.children = append(cur.children, x.New)
		t.byIn[x.New.InSPI] = e.SA
	case ike.ChildDown:
		cur.children = slices.DeleteFunc(cur.children, func(c ike.ChildInfo) bool { return c.InSPI == x.Child.InSPI })
		delete(t.byIn, x.Child.InSPI)
	case ike.IKEDown:
		for _, c := range cur.children {
			delete(t.byIn, c.InSPI)
		}
		if cur.up {
			t.count--
		}
		t.unindex(cur)
		delete(t.byID, e.SA)
		p := *cur
		p.children = slices.Clone(cur.children)
		return p, true
	}
	p = *cur
	p.children = slices.Clone(cur.children)
	return p, false
}

// byChild returns the peer whose CHILD_SA has the inbound SPI, marking it
// mobile (it sent a Mobility Header message).
func (t *peerTable) byChild(inSPI uint32) (peer, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.byID[t.byIn[inSPI]]
	if p == nil || !p.up {
		return peer{}, false
	}
	p.mobile = true
	return *p, true
}

// get returns the peer of SA id.
func (t *peerTable) get(id SAID) (peer, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.byID[id]
	if p == nil {
		return peer{}, false
	}
	c := *p
	c.children = slices.Clone(p.children)
	return c, true
}

// list returns the established peers in SA order.
func (t *peerTable) list() []peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]peer, 0, len(t.byID))
	for _, p := range t.byID {
		if p.up {
			c := *p
			c.children = slices.Clone(p.children)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b peer) int { return cmpUint(uint64(a.id), uint64(b.id)) })
	return out
}

// served returns how many established IKE SAs hold a home address: the
// nodes this home agent serves, its load in the cluster.
func (t *peerTable) served() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, p := range t.byID {
		if p.up && (p.assigned.IPv6.IsValid() || p.assigned.IPv4.IsValid()) {
			n++
		}
	}
	return n
}

// holding returns the established peers that hold the home address a,
// oldest first (in SA order among those set up at the same time).
func (t *peerTable) holding(a netip.Addr) []peer {
	t.mu.Lock()
	var out []peer
	for _, id := range t.byHoA[a] {
		if p := t.byID[id]; p != nil && p.up {
			c := *p
			c.children = slices.Clone(p.children)
			out = append(out, c)
		}
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(x, y peer) int {
		if c := x.since.Compare(y.since); c != 0 {
			return c
		}
		return cmpUint(uint64(x.id), uint64(y.id))
	})
	return out
}

// counts returns the established IKE SAs and their CHILD_SAs.
func (t *peerTable) counts() (ikeSAs, childSAs int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.count, len(t.byIn)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// homeAddresses returns the peer's assigned home addresses: IPv6, then IPv4.
func (p *peer) homeAddresses() []netip.Addr {
	var out []netip.Addr
	if a := p.assigned.IPv6.Addr(); a.IsValid() {
		out = append(out, a)
	}
	if a := p.assigned.IPv4; a.IsValid() {
		out = append(out, a)
	}
	return out
}
