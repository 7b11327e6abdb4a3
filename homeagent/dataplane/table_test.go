package dataplane

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

func testSA(t testing.TB, dir Direction, spi uint32, remoteTS ...string) *SA {
	t.Helper()
	var rts []netip.Prefix
	for _, p := range remoteTS {
		rts = append(rts, netip.MustParsePrefix(p))
	}
	if rts == nil {
		rts = []netip.Prefix{netip.MustParsePrefix("::/0")}
	}
	sa, err := NewSA(SAConfig{
		SPI: spi, Direction: dir, Transform: EncrAESGCM16, KeyMaterial: make([]byte, 20),
		Local: netip.MustParseAddrPort("[::1]:0"), Remote: netip.MustParseAddrPort("[::1]:4500"),
		LocalTS: []netip.Prefix{netip.MustParsePrefix("::/0")}, RemoteTS: rts,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

func TestInboundTable(t *testing.T) {
	tab := newInboundTable()
	a := testSA(t, Inbound, 0x1000)
	b := testSA(t, Inbound, 0x1000)
	if err := tab.insert(a); err != nil {
		t.Fatal(err)
	}
	if err := tab.insert(a); err != nil {
		t.Fatalf("installing the same SA twice: %v", err)
	}
	if err := tab.insert(b); !errors.Is(err, ErrSPIInUse) {
		t.Fatalf("second SA with the same SPI: %v", err)
	}
	if tab.lookup(0x1000) != a || tab.lookup(0x1001) != nil {
		t.Fatal("lookup")
	}
	if tab.remove(b) || tab.lookup(0x1000) != a {
		t.Fatal("removing another SA with the same SPI removed the installed one")
	}
	if !tab.remove(a) || tab.lookup(0x1000) != nil || tab.remove(a) {
		t.Fatal("remove")
	}
}

// naiveRoutes is the reference model for the outbound table: a list of
// (prefix, SA) searched for the longest match.
type naiveRoutes map[netip.Prefix]*SA

func (m naiveRoutes) lookup(a netip.Addr) *SA {
	best, bits := (*SA)(nil), -1
	for p, sa := range m {
		if p.Contains(a) && p.Bits() > bits {
			best, bits = sa, p.Bits()
		}
	}
	return best
}

func TestOutboundTableMatchesReferenceModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	prefixes := []string{"::/0", "2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::/64", "0.0.0.0/0", "192.0.2.0/24"}
	for i := range 40 {
		prefixes = append(prefixes, fmt.Sprintf("2001:db8:1::%x/128", i), fmt.Sprintf("192.0.2.%d/32", i))
	}
	tab := newOutboundTable()
	model := naiveRoutes{}
	var sas []*SA
	for step := range 3000 {
		switch k := rng.IntN(10); {
		case k < 6 || len(sas) == 0:
			var ts []string
			for range 1 + rng.IntN(3) {
				ts = append(ts, prefixes[rng.IntN(len(prefixes))])
			}
			slices.Sort(ts)
			ts = slices.Compact(ts)
			sa := testSA(t, Outbound, uint32(0x1000+step), ts...)
			tab.insert(sa)
			for _, p := range sa.remoteTS {
				model[p] = sa
			}
			sas = append(sas, sa)
		default:
			sa := sas[rng.IntN(len(sas))]
			removed := tab.remove(sa)
			want := false
			for p, s := range model {
				if s == sa {
					delete(model, p)
					want = true
				}
			}
			if removed != want {
				t.Fatalf("step %d: remove = %v, model %v", step, removed, want)
			}
		}
		for range 20 {
			var a netip.Addr
			if rng.IntN(2) == 0 {
				a = netip.AddrFrom4([4]byte{192, 0, byte(1 + rng.IntN(2)), byte(rng.IntN(48))})
			} else {
				a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(rng.IntN(3)), 15: byte(rng.IntN(48))})
			}
			if got, want := tab.lookup(a), model.lookup(a); got != want {
				t.Fatalf("step %d: lookup(%v) = %p, model %p", step, a, got, want)
			}
		}
	}
	want := map[*SA]bool{}
	for _, sa := range model {
		want[sa] = true
	}
	got := tab.all()
	if len(got) != len(want) {
		t.Fatalf("all() has %d SAs, model %d", len(got), len(want))
	}
	for _, sa := range got {
		if !want[sa] {
			t.Fatalf("all() returns an SA without routes")
		}
	}
}

// A rekey swaps the outbound SA of a prefix while readers look it up without
// locks: every lookup sees the old or the new SA, never nothing. Run with
// -race.
func TestOutboundTableSwapUnderReaders(t *testing.T) {
	tab := newOutboundTable()
	dst := netip.MustParseAddr("2001:db8:1::7")
	first := testSA(t, Outbound, 0x100, "2001:db8:1::7/128", "::/0")
	tab.insert(first)
	var stop atomic.Bool
	var misses atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				if tab.lookup(dst) == nil || tab.lookup(netip.MustParseAddr("2001:db8:9::1")) == nil {
					misses.Add(1)
				}
			}
		})
	}
	prev := first
	for i := range 2000 {
		next := testSA(t, Outbound, uint32(0x200+i), "2001:db8:1::7/128", "::/0")
		replaced := tab.insert(next)
		if len(replaced) != 2 || replaced[0] != prev || replaced[1] != prev {
			t.Fatalf("insert replaced %v", replaced)
		}
		if tab.remove(prev) {
			t.Fatal("the replaced SA still had routes")
		}
		prev = next
	}
	stop.Store(true)
	wg.Wait()
	if misses.Load() != 0 {
		t.Fatalf("%d lookups found no SA during the swaps", misses.Load())
	}
}

func TestPrefixesOfRange(t *testing.T) {
	cases := []struct {
		first, last string
		want        []string
	}{
		{"192.0.2.0", "192.0.2.255", []string{"192.0.2.0/24"}},
		{"192.0.2.1", "192.0.2.1", []string{"192.0.2.1/32"}},
		{"192.0.2.1", "192.0.2.6", []string{"192.0.2.1/32", "192.0.2.2/31", "192.0.2.4/31", "192.0.2.6/32"}},
		{"0.0.0.0", "255.255.255.255", []string{"0.0.0.0/0"}},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", []string{"::/0"}},
		{"2001:db8::", "2001:db8::1:0", []string{"2001:db8::/112", "2001:db8::1:0/128"}},
		{"192.0.2.2", "192.0.2.1", nil},
		{"192.0.2.1", "2001:db8::", nil},
	}
	for _, c := range cases {
		got := PrefixesOfRange(netip.MustParseAddr(c.first), netip.MustParseAddr(c.last))
		var gs []string
		for _, p := range got {
			gs = append(gs, p.String())
		}
		if !slices.Equal(gs, c.want) {
			t.Errorf("%s-%s: %v, want %v", c.first, c.last, gs, c.want)
		}
	}
	// Random ranges: the prefixes are disjoint, ordered and cover exactly the range.
	rng := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		a, b := rng.Uint32(), rng.Uint32()
		if a > b {
			a, b = b, a
		}
		if rng.IntN(2) == 0 {
			b = a + uint32(rng.IntN(1000))
			if b < a {
				b = a
			}
		}
		first, last := netip.AddrFrom4(u32(a)), netip.AddrFrom4(u32(b))
		ps := PrefixesOfRange(first, last)
		next := first
		for i, p := range ps {
			if p.Addr() != next || p.Masked() != p {
				t.Fatalf("%v-%v: prefix %d is %v, expected it to start at %v", first, last, i, p, next)
			}
			next = lastAddr(p).Next()
		}
		if lastAddr(ps[len(ps)-1]) != last {
			t.Fatalf("%v-%v: ends at %v", first, last, lastAddr(ps[len(ps)-1]))
		}
		if len(ps) > 62 {
			t.Fatalf("%v-%v: %d prefixes", first, last, len(ps))
		}
	}
}

func u32(v uint32) [4]byte { return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
