package policy

import (
	"net/netip"
	"slices"
	"testing"
)

// The fixture cluster: two members in site east, one in west, one in
// north. Clients in 2001:db8:e::/48 and 198.51.100.0/24 are in east,
// 2001:db8:f::/48 and 203.0.113.0/24 in west, 2001:db8:a::/48 in north.
var (
	clientEast6   = netip.MustParseAddr("2001:db8:e::10")
	clientEast4   = netip.MustParseAddr("198.51.100.10")
	clientWest6   = netip.MustParseAddr("2001:db8:f::10")
	clientWest4   = netip.MustParseAddr("203.0.113.10")
	clientNorth6  = netip.MustParseAddr("2001:db8:a::10")
	clientNowhere = netip.MustParseAddr("2001:db8:ffff::10")
	anycast6      = netip.MustParseAddr("2001:db8:ac::1")
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func fixtureView(self string) View {
	return View{
		Self: self,
		Members: []Member{
			{ID: "ha1", Site: "east", Addrs: []netip.Addr{addr("2001:db8:1::1"), addr("192.0.2.1")}, Capacity: 100, Load: 10, Healthy: true},
			{ID: "ha2", Site: "east", Addrs: []netip.Addr{addr("2001:db8:2::1"), addr("192.0.2.2")}, Capacity: 100, Load: 20, Healthy: true},
			{ID: "ha3", Site: "west", Addrs: []netip.Addr{addr("2001:db8:3::1"), addr("192.0.2.3")}, Capacity: 100, Load: 10, Healthy: true},
			{ID: "ha4", Site: "north", Addrs: []netip.Addr{addr("2001:db8:4::1")}, Capacity: 100, Load: 0, Healthy: true},
		},
		Sites: []SitePrefix{
			{netip.MustParsePrefix("2001:db8:e::/48"), "east"},
			{netip.MustParsePrefix("198.51.100.0/24"), "east"},
			{netip.MustParsePrefix("2001:db8:f::/48"), "west"},
			{netip.MustParsePrefix("203.0.113.0/24"), "west"},
			{netip.MustParsePrefix("2001:db8:a::/48"), "north"},
		},
		Distances: []Distance{
			{"east", "west", 50},
			{"east", "north", 100},
			{"west", "north", 80},
		},
	}
}

// edit returns a copy of v with f applied to the member with the given ID.
func edit(v View, id string, f func(*Member)) View {
	v.Members = slices.Clone(v.Members)
	for i := range v.Members {
		if v.Members[i].ID == id {
			f(&v.Members[i])
			return v
		}
	}
	panic("no member " + id)
}

func mustNew(t testing.TB, cfg Config, v View) *Policy {
	t.Helper()
	p, err := New(cfg, v)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// want is the part of a Decision a test checks.
type want struct {
	action Action
	reason Reason
	target string
	addr   string // "" for none
	port   uint16
}

func check(t *testing.T, d Decision, w want) {
	t.Helper()
	gotAddr := ""
	if d.Addr.IsValid() {
		gotAddr = d.Addr.String()
	}
	if d.Action != w.action || d.Reason != w.reason || d.Target != w.target || gotAddr != w.addr || d.Port != w.port {
		t.Errorf("got %v [addr %q port %d], want %v %v %s [addr %q port %d]",
			d, gotAddr, d.Port, w.action, w.reason, w.target, w.addr, w.port)
	}
}
