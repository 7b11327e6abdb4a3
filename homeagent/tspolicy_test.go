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
