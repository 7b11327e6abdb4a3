package homeagent

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike"
)

// assignedEvent is the event of SA id being assigned the home address a.
func assignedEvent(id SAID, a netip.Addr, at time.Time) Event {
	x := ike.AddressAssigned{Assignment: ike.Assignment{IPv6: netip.PrefixFrom(a, 128)}}
	if a.Is4() {
		x.Assignment = ike.Assignment{IPv4: a}
	}
	return Event{SA: id, Time: at, IKE: x}
}

func holdingIDs(t *peerTable, a netip.Addr) []SAID {
	var ids []SAID
	for _, p := range t.holding(a) {
		ids = append(ids, p.id)
	}
	return ids
}

// TestPeerTableHolding: holding answers from the home-address index, which
// follows assignments, re-assignments and the end of IKE SAs; only
// established SAs count, oldest first.
func TestPeerTableHolding(t *testing.T) {
	var (
		a  = netip.MustParseAddr("2001:db8:1::a")
		b  = netip.MustParseAddr("2001:db8:1::b")
		c  = netip.MustParseAddr("2001:db8:1::c")
		v4 = netip.MustParseAddr("192.0.2.10")
		t0 = time.Unix(1_800_000_000, 0)
	)
	tab := newPeerTable()
	up := func(id SAID, at time.Time) { tab.apply(Event{SA: id, Time: at, IKE: ike.IKEUp{}}) }

	// SA 2 comes up before SA 1; SA 4 holds a but never comes up.
	tab.apply(assignedEvent(1, a, t0))
	up(1, t0.Add(2*time.Second))
	tab.apply(assignedEvent(2, a, t0))
	up(2, t0.Add(time.Second))
	tab.apply(assignedEvent(3, b, t0))
	up(3, t0)
	tab.apply(assignedEvent(4, a, t0))
	tab.apply(Event{SA: 5, Time: t0, IKE: ike.AddressAssigned{Assignment: ike.Assignment{
		IPv6: netip.PrefixFrom(c, 128), IPv4: v4}}})
	up(5, t0)

	if got := holdingIDs(tab, a); !slices.Equal(got, []SAID{2, 1}) {
		t.Errorf("holding %v: %v, want [2 1] (oldest first, SA 4 not established)", a, got)
	}
	if got := holdingIDs(tab, v4); !slices.Equal(got, []SAID{5}) {
		t.Errorf("holding %v: %v, want [5]", v4, got)
	}

	// SA 2 is assigned c instead: it leaves a's entry.
	tab.apply(assignedEvent(2, c, t0))
	if got := holdingIDs(tab, a); !slices.Equal(got, []SAID{1}) {
		t.Errorf("holding %v after SA 2 was reassigned: %v, want [1]", a, got)
	}
	if got := holdingIDs(tab, c); !slices.Equal(got, []SAID{5, 2}) {
		t.Errorf("holding %v: %v, want [5 2]", c, got)
	}

	// The ends of SAs take them out of the index, and empty entries go.
	for _, id := range []SAID{1, 2, 3, 4, 5} {
		tab.apply(Event{SA: id, Time: t0, IKE: ike.IKEDown{}})
	}
	for _, x := range []netip.Addr{a, b, c, v4} {
		if got := tab.holding(x); len(got) != 0 {
			t.Errorf("holding %v after every SA ended: %+v", x, got)
		}
	}
	if len(tab.byHoA) != 0 {
		t.Errorf("index left with %d entries: %v", len(tab.byHoA), tab.byHoA)
	}
}

// BenchmarkPeerTableHolding is the question asked on every IKE SA that
// ends, in a table of many established peers: its cost does not grow
// with the table.
func BenchmarkPeerTableHolding(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tab := newPeerTable()
			base := netip.MustParseAddr("2001:db8:1::").As16()
			addr := func(i int) netip.Addr {
				x := base
				x[12], x[13], x[14], x[15] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
				return netip.AddrFrom16(x)
			}
			now := time.Now()
			for i := range n {
				tab.apply(assignedEvent(SAID(i+1), addr(i), now))
				tab.apply(Event{SA: SAID(i + 1), Time: now, IKE: ike.IKEUp{}})
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if len(tab.holding(addr(i%n))) != 1 {
					b.Fatal("not held")
				}
			}
		})
	}
}
