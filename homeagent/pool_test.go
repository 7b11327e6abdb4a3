package homeagent

import (
	"errors"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
)

func TestMemoryPoolSticky(t *testing.T) {
	p, err := NewMemoryPool(netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParsePrefix("198.51.100.0/24"),
		[]netip.Addr{netip.MustParseAddr("2001:db8::53"), netip.MustParseAddr("192.0.2.53")})
	if err != nil {
		t.Fatal(err)
	}
	a, b := ike.FQDN("a.example"), ike.FQDN("b.example")
	ra, err := p.Assign(ike.AddressRequest{Peer: a, IPv6: true, IPv4: true, DNS6: true, HomePrefix: true})
	if err != nil {
		t.Fatal(err)
	}
	if ra.IPv6 != netip.MustParsePrefix("2001:db8:1::1/64") || ra.IPv4 != netip.MustParseAddr("198.51.100.1") ||
		len(ra.DNS) != 1 || ra.DNS[0] != netip.MustParseAddr("2001:db8::53") || ra.HomePrefix != netip.MustParsePrefix("2001:db8:1::/64") {
		t.Errorf("first assignment %+v", ra)
	}
	rb, _ := p.Assign(ike.AddressRequest{Peer: b, IPv6: true})
	if rb.IPv6.Addr() != netip.MustParseAddr("2001:db8:1::2") {
		t.Errorf("second identity got %v", rb.IPv6)
	}
	// A second SA of a (make-before-break) shares the address.
	ra2, _ := p.Assign(ike.AddressRequest{Peer: a, IPv6: true})
	if ra2.IPv6 != ra.IPv6 {
		t.Errorf("same identity, second SA: %v, want %v", ra2.IPv6, ra.IPv6)
	}
	p.Release(a, ra)
	if _, active := p.Lookup(a, 6); !active {
		t.Error("released once of twice: must stay active")
	}
	p.Release(a, ra2)
	if addr, active := p.Lookup(a, 6); active || addr != ra.IPv6.Addr() {
		t.Errorf("after both releases: %v active=%v", addr, active)
	}
	// Sticky: a comes back to its address even when suggesting another.
	again, _ := p.Assign(ike.AddressRequest{Peer: a, IPv6: true, SuggestedIPv6: netip.MustParsePrefix("2001:db8:1::99/128")})
	if again.IPv6 != ra.IPv6 {
		t.Errorf("sticky: %v, want %v", again.IPv6, ra.IPv6)
	}
	// A suggested free address is honoured; one held by another is not.
	c := ike.FQDN("c.example")
	rc, _ := p.Assign(ike.AddressRequest{Peer: c, IPv6: true, SuggestedIPv6: netip.MustParsePrefix("2001:db8:1::99/128")})
	if rc.IPv6.Addr() != netip.MustParseAddr("2001:db8:1::99") {
		t.Errorf("suggested free address: got %v", rc.IPv6)
	}
	d := ike.FQDN("d.example")
	rd, _ := p.Assign(ike.AddressRequest{Peer: d, IPv6: true, SuggestedIPv6: rb.IPv6})
	if rd.IPv6 == rb.IPv6 {
		t.Errorf("suggested address held by b given to d")
	}
}

func TestMemoryPoolExhaustedAndReclaim(t *testing.T) {
	p, err := NewMemoryPool(netip.Prefix{}, netip.MustParsePrefix("192.0.2.0/30"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := ike.FQDN("a"), ike.FQDN("b"), ike.FQDN("c")
	ra, _ := p.Assign(ike.AddressRequest{Peer: a, IPv4: true})
	rb, _ := p.Assign(ike.AddressRequest{Peer: b, IPv4: true})
	if _, err := p.Assign(ike.AddressRequest{Peer: c, IPv4: true}); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("third address of a /30: %v, want ErrPoolExhausted", err)
	}
	if _, err := p.Assign(ike.AddressRequest{Peer: c, IPv6: true}); !errors.Is(err, ErrPoolExhausted) {
		t.Errorf("IPv6 without a prefix: %v", err)
	}
	// A request for both families that fails on one takes nothing.
	p.Release(a, ra)
	rc, err := p.Assign(ike.AddressRequest{Peer: c, IPv4: true})
	if err != nil || rc.IPv4 != ra.IPv4 {
		t.Fatalf("reclaiming a released address: %v, %v", rc, err)
	}
	if addr, _ := p.Lookup(a, 4); addr.IsValid() {
		t.Errorf("a still holds %v after c reclaimed it", addr)
	}
	_ = rb
}

func TestHomeTSPolicy(t *testing.T) {
	hoa := netip.MustParseAddr("2001:db8:1::5")
	pol := homeTSPolicy{local: selectorsOf([]netip.Prefix{netip.MustParsePrefix("2001:db8:f::/64")})}
	anyTS := ike.AnyTS()
	tsi, tsr, err := pol.Narrow(ike.TSRequest{TSi: anyTS, TSr: anyTS,
		Assignment: ike.Assignment{IPv6: netip.PrefixFrom(hoa, 64)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(tsi) != 1 || tsi[0].StartAddr != hoa || tsi[0].EndAddr != hoa || tsi[0].EndPort != 0xffff {
		t.Errorf("TSi %v, want %v/128", tsi, hoa)
	}
	if len(tsr) != 1 || tsr[0].StartAddr != netip.MustParseAddr("2001:db8:f::") {
		t.Errorf("TSr %v", tsr)
	}
	// Overlapping requests and local selectors give each result once.
	dup := homeTSPolicy{local: append(pol.local, pol.local...)}
	if _, tsr, _ := dup.Narrow(ike.TSRequest{TSi: anyTS, TSr: append(anyTS, anyTS...),
		Assignment: ike.Assignment{IPv6: netip.PrefixFrom(hoa, 64)}}); len(tsr) != 1 {
		t.Errorf("TSr with duplicates %v", tsr)
	}
	if _, _, err := pol.Narrow(ike.TSRequest{TSi: anyTS, TSr: anyTS}); err == nil {
		t.Error("no assignment: want TS_UNACCEPTABLE")
	}
	// A protocol restriction of the request survives narrowing.
	udp := wire.PrefixSelector(netip.MustParsePrefix("::/0"))
	udp.IPProtocol, udp.StartPort, udp.EndPort = 17, 53, 53
	tsi, _, _ = pol.Narrow(ike.TSRequest{TSi: []wire.TrafficSelector{udp}, TSr: anyTS,
		Assignment: ike.Assignment{IPv6: netip.PrefixFrom(hoa, 128)}})
	if len(tsi) != 1 || tsi[0].IPProtocol != 17 || tsi[0].StartPort != 53 || tsi[0].EndPort != 53 {
		t.Errorf("narrowed UDP selector %v", tsi)
	}
}

func TestIntersectSelector(t *testing.T) {
	sel := func(p string, proto uint8, lo, hi uint16) wire.TrafficSelector {
		s := wire.PrefixSelector(netip.MustParsePrefix(p))
		s.IPProtocol, s.StartPort, s.EndPort = proto, lo, hi
		return s
	}
	for _, tc := range []struct {
		a, b wire.TrafficSelector
		ok   bool
		want wire.TrafficSelector
	}{
		{sel("::/0", 0, 0, 65535), sel("2001:db8::/32", 6, 80, 80), true, sel("2001:db8::/32", 6, 80, 80)},
		{sel("2001:db8::/32", 6, 0, 65535), sel("2001:db8::/32", 17, 0, 65535), false, wire.TrafficSelector{}},
		{sel("2001:db8:1::/48", 0, 0, 65535), sel("2001:db8:2::/48", 0, 0, 65535), false, wire.TrafficSelector{}},
		{sel("::/0", 0, 10, 20), sel("::/0", 0, 30, 40), false, wire.TrafficSelector{}},
		{sel("::/0", 0, 65535, 0), sel("::/0", 0, 0, 65535), true, sel("::/0", 0, 65535, 0)},
		{sel("::/0", 0, 65535, 0), sel("::/0", 0, 80, 80), false, wire.TrafficSelector{}},
		{sel("0.0.0.0/0", 0, 0, 65535), sel("::/0", 0, 0, 65535), false, wire.TrafficSelector{}},
	} {
		got, ok := intersectSelector(tc.a, tc.b)
		if ok != tc.ok || ok && got.String() != tc.want.String() {
			t.Errorf("intersect(%v, %v) = %v, %v; want %v, %v", tc.a, tc.b, got, ok, tc.want, tc.ok)
		}
	}
}

// TestSPIAllocatorShard checks that SPIs carry their shard (the dispatcher
// routes by SPI modulo the number of shards) and that CHILD_SA SPIs are
// unique and not reserved.
func TestSPIAllocatorShard(t *testing.T) {
	dp, err := dataplane.New(dataplane.Config{Addrs: []netip.Addr{netip.IPv6Loopback()}})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	rt := &Runtime{dp: dp}
	rt.shards = make([]*shard, 3)
	for i := range rt.shards {
		rt.shards[i] = &shard{rt: rt, idx: i, bySPI: map[uint64]*entry{}, inSA: map[uint32]*dataplane.SA{}}
	}
	seen := map[uint32]bool{}
	for i, s := range rt.shards {
		a := spiAllocator{s}
		for range 200 {
			spi, err := a.IKESPI()
			if err != nil || spi == 0 || spi%3 != uint64(i) {
				t.Fatalf("shard %d: IKE SPI %x, %v", i, spi, err)
			}
			c, err := a.ChildSPI()
			if err != nil || c < 256 || c%3 != uint32(i) || seen[c] {
				t.Fatalf("shard %d: CHILD_SA SPI %x (seen %v), %v", i, c, seen[c], err)
			}
			seen[c] = true
		}
	}
}

// fakeRouter records kernel routes.
type fakeRouter struct {
	routes map[netip.Prefix]netip.Addr
	fail   bool
}

func (f *fakeRouter) AddRoute(dst netip.Prefix, src netip.Addr) error {
	if f.fail {
		return errors.New("refused")
	}
	f.routes[dst] = src
	return nil
}

func (f *fakeRouter) DelRoute(dst netip.Prefix) error {
	if _, ok := f.routes[dst]; !ok {
		return errors.New("no such route")
	}
	delete(f.routes, dst)
	return nil
}

// TestRouteTableCounts: a route stays while any CHILD_SA needs it (a rekey
// adds the new outbound SA's before removing the old one's), and a route
// the kernel refused is tried again by the next CHILD_SA.
func TestRouteTableCounts(t *testing.T) {
	var rt routeTable
	r := &fakeRouter{routes: map[netip.Prefix]netip.Addr{}}
	log := slog.New(slog.DiscardHandler)
	hoa := netip.MustParsePrefix("2001:db8:1::5/128")
	src := func(netip.Prefix) netip.Addr { return netip.Addr{} }
	r.fail = true
	rt.add(r, []netip.Prefix{hoa}, src, log)
	r.fail = false
	rt.add(r, []netip.Prefix{hoa}, src, log) // the first CHILD_SA's route, tried again
	rt.add(r, []netip.Prefix{hoa}, src, log) // its rekeyed successor
	rt.del(r, []netip.Prefix{hoa}, log)
	if _, ok := r.routes[hoa]; !ok {
		t.Fatal("route removed while a CHILD_SA still needs it")
	}
	rt.del(r, []netip.Prefix{hoa}, log)
	if len(r.routes) != 0 || len(rt.count) != 0 {
		t.Errorf("routes left %v, counts %v", r.routes, rt.count)
	}
}
