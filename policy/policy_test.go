package policy

import (
	"fmt"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestAtInitRules(t *testing.T) {
	base := fixtureView
	allButOneDown := func(self, up string) View {
		v := base(self)
		for _, m := range v.Members {
			if m.ID != self && m.ID != up {
				v = edit(v, m.ID, func(m *Member) { m.Healthy = false })
			}
		}
		return v
	}
	ha3 := addr("2001:db8:3::1")
	tests := []struct {
		name string
		cfg  func(*Config)
		view View
		req  AtInit
		want want
	}{
		{"self ranks first", nil, base("ha1"), AtInit{Remote: clientEast6},
			want{ActionStay, ReasonBest, "ha1", "", 0}},
		{"better member within load margin", nil, base("ha2"), AtInit{Remote: clientEast6},
			want{ActionStay, ReasonHysteresis, "ha2", "", 0}},
		{"less loaded beyond the margin", nil,
			edit(base("ha2"), "ha2", func(m *Member) { m.Load = 40 }), AtInit{Remote: clientEast6},
			want{ActionRedirect, ReasonLessLoaded, "ha1", "2001:db8:1::1", 0}},
		{"less loaded, IPv4 client gets the IPv4 address", nil,
			edit(base("ha2"), "ha2", func(m *Member) { m.Load = 40 }), AtInit{Remote: clientEast4},
			want{ActionRedirect, ReasonLessLoaded, "ha1", "192.0.2.1", 0}},
		{"load margin of 1 turns load moves off", func(c *Config) { c.LoadMargin = 1 },
			edit(base("ha2"), "ha2", func(m *Member) { m.Load = 99 }), AtInit{Remote: clientEast6},
			want{ActionStay, ReasonHysteresis, "ha2", "", 0}},
		{"nearer site", nil, base("ha1"), AtInit{Remote: clientWest6},
			want{ActionRedirect, ReasonNearer, "ha3", "2001:db8:3::1", 0}},
		{"nearer wins over load", nil,
			edit(base("ha1"), "ha3", func(m *Member) { m.Load = 99 }), AtInit{Remote: clientWest6},
			want{ActionRedirect, ReasonNearer, "ha3", "2001:db8:3::1", 0}},
		{"nearer but within the distance margin", func(c *Config) { c.DistanceMargin = 50 },
			base("ha1"), AtInit{Remote: clientWest6},
			want{ActionStay, ReasonHysteresis, "ha1", "", 0}},
		{"nearer beyond the distance margin", func(c *Config) { c.DistanceMargin = 49 },
			base("ha1"), AtInit{Remote: clientWest6},
			want{ActionRedirect, ReasonNearer, "ha3", "2001:db8:3::1", 0}},
		{"a self without an IPv4 address still serves an IPv4 client that reached it", nil,
			base("ha4"), AtInit{Remote: clientWest4},
			want{ActionRedirect, ReasonNearer, "ha3", "192.0.2.3", 0}},
		{"unknown client site: load decides", nil,
			edit(base("ha1"), "ha1", func(m *Member) { m.Load = 50 }), AtInit{Remote: clientNowhere},
			want{ActionRedirect, ReasonLessLoaded, "ha4", "2001:db8:4::1", 0}},
		{"unknown client site: within margin", nil, base("ha1"), AtInit{Remote: clientNowhere},
			want{ActionStay, ReasonHysteresis, "ha1", "", 0}},
		{"draining", nil, edit(base("ha1"), "ha1", func(m *Member) { m.Draining = true }), AtInit{Remote: clientEast6},
			want{ActionRedirect, ReasonDraining, "ha2", "2001:db8:2::1", 0}},
		{"unhealthy", nil, edit(base("ha1"), "ha1", func(m *Member) { m.Healthy = false }), AtInit{Remote: clientEast6},
			want{ActionRedirect, ReasonUnhealthy, "ha2", "2001:db8:2::1", 0}},
		{"at capacity", nil, edit(base("ha1"), "ha1", func(m *Member) { m.Load = 100 }), AtInit{Remote: clientEast6},
			want{ActionRedirect, ReasonOverloaded, "ha2", "2001:db8:2::1", 0}},
		{"capacity zero takes no node", nil, edit(base("ha1"), "ha1", func(m *Member) { m.Capacity, m.Load = 0, 0 }), AtInit{Remote: clientEast6},
			want{ActionRedirect, ReasonOverloaded, "ha2", "2001:db8:2::1", 0}},
		{"full members are skipped", nil,
			edit(edit(base("ha1"), "ha1", func(m *Member) { m.Draining = true }), "ha2", func(m *Member) { m.Load = 100 }),
			AtInit{Remote: clientEast6},
			want{ActionRedirect, ReasonDraining, "ha3", "2001:db8:3::1", 0}},
		{"no candidate", nil,
			edit(allButOneDown("ha1", "ha4"), "ha1", func(m *Member) { m.Draining = true }), AtInit{Remote: clientEast4},
			want{ActionStay, ReasonNoCandidate, "ha1", "", 0}},
		{"cross-family target when allowed", func(c *Config) { c.CrossFamily = true },
			edit(allButOneDown("ha1", "ha4"), "ha1", func(m *Member) { m.Draining = true }), AtInit{Remote: clientEast4},
			want{ActionRedirect, ReasonDraining, "ha4", "2001:db8:4::1", 0}},
		{"forwarded port for a port-capable client", nil,
			edit(edit(allButOneDown("ha1", "ha4"), "ha1", func(m *Member) { m.Draining = true }), "ha4",
				func(m *Member) { m.NATAddrs = []netip.AddrPort{netip.MustParseAddrPort("192.0.2.44:4501")} }),
			AtInit{Remote: clientEast4, PortCapable: true},
			want{ActionRedirect, ReasonDraining, "ha4", "192.0.2.44", 4501}},
		{"no forwarded port for other clients", nil,
			edit(edit(allButOneDown("ha1", "ha4"), "ha1", func(m *Member) { m.Draining = true }), "ha4",
				func(m *Member) { m.NATAddrs = []netip.AddrPort{netip.MustParseAddrPort("192.0.2.44:4501")} }),
			AtInit{Remote: clientEast4},
			want{ActionStay, ReasonNoCandidate, "ha1", "", 0}},
		{"standard address preferred over a forwarded one", nil,
			edit(base("ha1"), "ha3", func(m *Member) {
				m.NATAddrs = []netip.AddrPort{netip.MustParseAddrPort("[2001:db8:33::1]:4501")}
			}),
			AtInit{Remote: clientWest6, PortCapable: true},
			want{ActionRedirect, ReasonNearer, "ha3", "2001:db8:3::1", 0}},
		{"IPv4-mapped client address counts as IPv4", nil, base("ha1"),
			AtInit{Remote: netip.AddrFrom16(clientWest4.As16())},
			want{ActionRedirect, ReasonNearer, "ha3", "192.0.2.3", 0}},

		// REDIRECTED_FROM.
		{"redirected here by a member: stay although another is nearer", nil, base("ha1"),
			AtInit{Remote: clientWest6, RedirectedFrom: ha3},
			want{ActionStay, ReasonRedirectedHere, "ha1", "", 0}},
		{"redirected here, but draining: never back to the sender", nil,
			edit(base("ha1"), "ha1", func(m *Member) { m.Draining = true }),
			AtInit{Remote: clientWest6, RedirectedFrom: ha3},
			want{ActionStay, ReasonRedirectedFromGuard, "ha1", "", 0}},
		{"redirected here, draining, sender not the best", nil,
			edit(base("ha1"), "ha1", func(m *Member) { m.Draining = true }),
			AtInit{Remote: clientWest6, RedirectedFrom: addr("192.0.2.2")},
			want{ActionRedirect, ReasonDraining, "ha3", "2001:db8:3::1", 0}},
		{"REDIRECTED_FROM with the anycast address names no member", nil, base("ha1"),
			AtInit{Remote: clientWest6, RedirectedFrom: anycast6},
			want{ActionRedirect, ReasonNearer, "ha3", "2001:db8:3::1", 0}},

		// Anycast (RFC 5685 §4).
		{"anycast: own unicast address", nil, base("ha1"), AtInit{Remote: clientEast6, Anycast: true},
			want{ActionRedirect, ReasonAnycast, "ha1", "2001:db8:1::1", 0}},
		{"anycast: own unicast address of the client's family", nil, base("ha1"), AtInit{Remote: clientEast4, Anycast: true},
			want{ActionRedirect, ReasonAnycast, "ha1", "192.0.2.1", 0}},
		{"anycast: within margin keeps the client here, on unicast", nil, base("ha2"), AtInit{Remote: clientEast6, Anycast: true},
			want{ActionRedirect, ReasonAnycast, "ha2", "2001:db8:2::1", 0}},
		{"anycast: a nearer member", nil, base("ha1"), AtInit{Remote: clientWest6, Anycast: true},
			want{ActionRedirect, ReasonNearer, "ha3", "2001:db8:3::1", 0}},
		{"anycast: no own address of the client's family", nil, base("ha4"), AtInit{Remote: clientEast4, Anycast: true},
			want{ActionRedirect, ReasonAnycast, "ha1", "192.0.2.1", 0}},
		{"anycast: nobody can take it, own address anyway", nil,
			edit(allButOneDown("ha1", "ha1"), "ha1", func(m *Member) { m.Load = 100 }),
			AtInit{Remote: clientEast6, Anycast: true},
			want{ActionRedirect, ReasonNoCandidate, "ha1", "2001:db8:1::1", 0}},
		{"anycast: draining", nil, edit(base("ha1"), "ha1", func(m *Member) { m.Draining = true }),
			AtInit{Remote: clientEast6, Anycast: true},
			want{ActionRedirect, ReasonDraining, "ha2", "2001:db8:2::1", 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			p := mustNew(t, cfg, tt.view)
			d := p.AtInit(tt.req)
			if d.Stage != StageInit || d.Self != tt.view.Self {
				t.Errorf("stage %v self %q, want init %q", d.Stage, d.Self, tt.view.Self)
			}
			check(t, d, tt.want)
		})
	}
}

func TestAtInitClientSite(t *testing.T) {
	p := mustNew(t, DefaultConfig(), fixtureView("ha1"))
	for _, tt := range []struct {
		remote netip.Addr
		site   string
	}{
		{clientEast6, "east"}, {clientEast4, "east"}, {clientWest6, "west"}, {clientWest4, "west"},
		{clientNorth6, "north"}, {clientNowhere, ""}, {netip.Addr{}, ""},
	} {
		if got := p.AtInit(AtInit{Remote: tt.remote}).ClientSite; got != tt.site {
			t.Errorf("client %v: site %q, want %q", tt.remote, got, tt.site)
		}
	}
}

func TestSitesLongestPrefixWins(t *testing.T) {
	v := fixtureView("ha1")
	v.Sites = append(v.Sites,
		SitePrefix{netip.MustParsePrefix("2001:db8:e:5::/64"), "west"},
		SitePrefix{netip.MustParsePrefix("::/0"), "north"},
		SitePrefix{netip.MustParsePrefix("0.0.0.0/0"), "west"},
	)
	p := mustNew(t, DefaultConfig(), v)
	for _, tt := range []struct {
		remote string
		site   string
	}{
		{"2001:db8:e:4::1", "east"},
		{"2001:db8:e:5::1", "west"},
		{"2001:db8:ffff::1", "north"},
		{"10.1.2.3", "west"},
		{"198.51.100.7", "east"},
	} {
		if got := p.AtInit(AtInit{Remote: addr(tt.remote)}).ClientSite; got != tt.site {
			t.Errorf("client %s: site %q, want %q", tt.remote, got, tt.site)
		}
	}
}

func TestDistancesAreMirroredUnlessGivenBothWays(t *testing.T) {
	v := fixtureView("ha1")
	// east -> west is 50 (listed). Add west -> east = 5 explicitly: a
	// west client now finds east nearer than north (80), and an east
	// client still sees west at 50.
	v.Distances = append(v.Distances, Distance{"west", "east", 5})
	p := mustNew(t, DefaultConfig(), v)
	scores := p.Explain(AtInit{Remote: clientWest6}).Scores
	dist := map[string]uint32{}
	for _, s := range scores {
		dist[s.Member] = s.Distance
	}
	if dist["ha1"] != 5 || dist["ha3"] != 0 || dist["ha4"] != 80 {
		t.Errorf("distances from west: %v, want ha1 5, ha3 0, ha4 80", dist)
	}
	for _, s := range p.Explain(AtInit{Remote: clientEast6}).Scores {
		dist[s.Member] = s.Distance
	}
	if dist["ha3"] != 50 || dist["ha4"] != 100 {
		t.Errorf("distances from east: %v, want ha3 50, ha4 100", dist)
	}
	// A site pair nobody listed is at DefaultDistance; so is every
	// member for an unknown client site.
	v.Members = append(v.Members, Member{ID: "ha5", Site: "south", Addrs: []netip.Addr{addr("2001:db8:5::1")}, Capacity: 1, Healthy: true})
	cfg := DefaultConfig()
	cfg.DefaultDistance = 777
	p = mustNew(t, cfg, v)
	for _, s := range p.Explain(AtInit{Remote: clientEast6}).Scores {
		if s.Member == "ha5" && s.Distance != 777 {
			t.Errorf("unlisted pair east->south: %d, want 777", s.Distance)
		}
	}
	for _, s := range p.Explain(AtInit{Remote: clientNowhere}).Scores {
		if s.Distance != 777 {
			t.Errorf("unknown client site, %s: distance %d, want 777", s.Member, s.Distance)
		}
	}
}

func TestAtAuthRules(t *testing.T) {
	base := fixtureView
	tests := []struct {
		name string
		view View
		req  AtAuth
		want want
	}{
		{"lease here", base("ha1"), AtAuth{Remote: clientEast6, LeaseOwner: "ha1"},
			want{ActionStay, ReasonLeaseHere, "ha1", "", 0}},
		{"lease here wins over a nearer member", base("ha1"), AtAuth{Remote: clientWest6, LeaseOwner: "ha1"},
			want{ActionStay, ReasonLeaseHere, "ha1", "", 0}},
		{"lease elsewhere", base("ha1"), AtAuth{Remote: clientEast6, LeaseOwner: "ha3"},
			want{ActionRedirect, ReasonLeaseElsewhere, "ha3", "2001:db8:3::1", 0}},
		{"lease elsewhere, IPv4 client", base("ha1"), AtAuth{Remote: clientEast4, LeaseOwner: "ha3"},
			want{ActionRedirect, ReasonLeaseElsewhere, "ha3", "192.0.2.3", 0}},
		{"lease elsewhere, even at capacity", edit(base("ha1"), "ha3", func(m *Member) { m.Load = 100 }),
			AtAuth{Remote: clientEast6, LeaseOwner: "ha3"},
			want{ActionRedirect, ReasonLeaseElsewhere, "ha3", "2001:db8:3::1", 0}},
		{"lease elsewhere on the member that redirected the client", base("ha1"),
			AtAuth{Remote: clientEast6, LeaseOwner: "ha3", RedirectedFrom: addr("2001:db8:3::1")},
			want{ActionRedirect, ReasonLeaseElsewhere, "ha3", "2001:db8:3::1", 0}},
		{"lease owner unreachable from the client's family: placement", base("ha1"),
			AtAuth{Remote: clientEast4, LeaseOwner: "ha4"},
			want{ActionStay, ReasonBest, "ha1", "", 0}},
		{"lease owner draining: placement", edit(base("ha1"), "ha3", func(m *Member) { m.Draining = true }),
			AtAuth{Remote: clientEast6, LeaseOwner: "ha3"},
			want{ActionStay, ReasonBest, "ha1", "", 0}},
		{"lease owner unhealthy: placement", edit(base("ha2"), "ha3", func(m *Member) { m.Healthy = false }),
			AtAuth{Remote: clientEast6, LeaseOwner: "ha3"},
			want{ActionStay, ReasonHysteresis, "ha2", "", 0}},
		{"lease owner gone from the view: placement", base("ha1"),
			AtAuth{Remote: clientWest6, LeaseOwner: "ha9"},
			want{ActionRedirect, ReasonNearer, "ha3", "2001:db8:3::1", 0}},
		{"lease here but draining: placement sends it on", edit(base("ha1"), "ha1", func(m *Member) { m.Draining = true }),
			AtAuth{Remote: clientEast6, LeaseOwner: "ha1"},
			want{ActionRedirect, ReasonDraining, "ha2", "2001:db8:2::1", 0}},
		{"lease moving elsewhere", base("ha1"), AtAuth{Remote: clientEast6, LeaseOwner: "ha1", LeaseMoving: "ha2"},
			want{ActionRedirect, ReasonLeaseMoving, "ha2", "2001:db8:2::1", 0}},
		{"lease moving here", base("ha1"), AtAuth{Remote: clientEast6, LeaseOwner: "ha3", LeaseMoving: "ha1"},
			want{ActionStay, ReasonLeaseMovingHere, "ha1", "", 0}},
		{"lease moving to an unhealthy member: the owner keeps it",
			edit(base("ha1"), "ha2", func(m *Member) { m.Healthy = false }),
			AtAuth{Remote: clientEast6, LeaseOwner: "ha3", LeaseMoving: "ha2"},
			want{ActionRedirect, ReasonLeaseElsewhere, "ha3", "2001:db8:3::1", 0}},
		{"no lease: placement", base("ha1"), AtAuth{Remote: clientWest6},
			want{ActionRedirect, ReasonNearer, "ha3", "2001:db8:3::1", 0}},
		{"no lease, redirected here", base("ha1"), AtAuth{Remote: clientWest6, RedirectedFrom: addr("192.0.2.3")},
			want{ActionStay, ReasonRedirectedHere, "ha1", "", 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, DefaultConfig(), tt.view)
			d := p.AtAuth(tt.req)
			if d.Stage != StageAuth {
				t.Errorf("stage %v, want auth", d.Stage)
			}
			check(t, d, tt.want)
		})
	}
}

func TestReevaluateRules(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := fixtureView
	bound := func(remote netip.Addr) Binding {
		return Binding{Identity: "mn@example.net", HoA: addr("2001:db8:100::7"), CoA: remote, Remote: remote}
	}
	from := func(b Binding, id string, ago time.Duration) Binding {
		b.ArrivedFrom, b.ArrivedAt = id, now.Add(-ago)
		return b
	}
	tests := []struct {
		name string
		cfg  func(*Config)
		view View
		b    Binding
		want want
	}{
		{"here is best", nil, base("ha1"), bound(clientEast6),
			want{ActionStay, ReasonBest, "ha1", "", 0}},
		{"moved to a nearer network", nil, base("ha3"), bound(clientEast6),
			want{ActionRedirect, ReasonNearer, "ha1", "2001:db8:1::1", 0}},
		{"moved to a nearer network, IPv4", nil, base("ha3"), bound(clientEast4),
			want{ActionRedirect, ReasonNearer, "ha1", "192.0.2.1", 0}},
		{"load alone never moves a bound node", nil,
			edit(base("ha2"), "ha2", func(m *Member) { m.Load = 95 }), bound(clientEast6),
			want{ActionStay, ReasonHysteresis, "ha2", "", 0}},
		{"within the distance margin", func(c *Config) { c.DistanceMargin = 50 }, base("ha3"), bound(clientEast6),
			want{ActionStay, ReasonHysteresis, "ha3", "", 0}},
		{"never back to where it came from within the loop window", nil, base("ha3"),
			from(bound(clientEast6), "ha1", 299*time.Second),
			want{ActionStay, ReasonRedirectedFromGuard, "ha3", "", 0}},
		{"back after the loop window", nil, base("ha3"),
			from(bound(clientEast6), "ha1", 300*time.Second),
			want{ActionRedirect, ReasonNearer, "ha1", "2001:db8:1::1", 0}},
		{"the guard names one member only", nil, base("ha3"),
			from(bound(clientEast6), "ha2", time.Second),
			want{ActionRedirect, ReasonNearer, "ha1", "2001:db8:1::1", 0}},
		{"loop window zero turns the guard off", func(c *Config) { c.LoopWindow = 0 }, base("ha3"),
			from(bound(clientEast6), "ha1", time.Second),
			want{ActionRedirect, ReasonNearer, "ha1", "2001:db8:1::1", 0}},
		{"draining", nil, edit(base("ha1"), "ha1", func(m *Member) { m.Draining = true }), bound(clientEast6),
			want{ActionRedirect, ReasonDraining, "ha2", "2001:db8:2::1", 0}},
		{"unhealthy", nil, edit(base("ha1"), "ha1", func(m *Member) { m.Healthy = false }), bound(clientEast6),
			want{ActionRedirect, ReasonUnhealthy, "ha2", "2001:db8:2::1", 0}},
		{"at capacity keeps its nodes", nil, edit(base("ha1"), "ha1", func(m *Member) { m.Load = 100 }), bound(clientEast6),
			want{ActionStay, ReasonHysteresis, "ha1", "", 0}},
		{"over capacity", nil, edit(base("ha1"), "ha1", func(m *Member) { m.Load = 101 }), bound(clientEast6),
			want{ActionRedirect, ReasonOverloaded, "ha2", "2001:db8:2::1", 0}},
		{"draining, nobody else", nil,
			edit(edit(edit(edit(base("ha1"), "ha1", func(m *Member) { m.Draining = true }),
				"ha2", func(m *Member) { m.Healthy = false }),
				"ha3", func(m *Member) { m.Healthy = false }),
				"ha4", func(m *Member) { m.Draining = true }),
			bound(clientEast6),
			want{ActionStay, ReasonNoCandidate, "ha1", "", 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			p := mustNew(t, cfg, tt.view)
			d := p.Reevaluate(Reevaluate{Binding: tt.b, Now: now})
			if d.Stage != StageReevaluate {
				t.Errorf("stage %v, want reevaluate", d.Stage)
			}
			check(t, d, tt.want)
		})
	}
}

// Clients spread over equally good members: with ha1 and ha2 equal in
// site and load, each gets a fair share of east clients, every client
// always gets the same answer, and a third equal member takes only from
// the other two (rendezvous hashing).
func TestTieBreakSpreadsClients(t *testing.T) {
	v := edit(fixtureView("ha4"), "ha2", func(m *Member) { m.Load = 10 })
	p := mustNew(t, DefaultConfig(), v)
	const n = 2000
	pick := func(p *Policy, i int) string {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x0e, 14: byte(i >> 8), 15: byte(i)})
		d := p.AtInit(AtInit{Remote: a})
		if d.Action != ActionRedirect || d.Reason != ReasonNearer {
			t.Fatalf("client %v: %v, want a nearer redirect", a, d)
		}
		return d.Target
	}
	before := make([]string, n)
	count := map[string]int{}
	for i := range n {
		before[i] = pick(p, i)
		count[before[i]]++
		if again := pick(p, i); again != before[i] {
			t.Fatalf("client %d: %s then %s", i, before[i], again)
		}
	}
	if len(count) != 2 || count["ha1"] < n*4/10 || count["ha2"] < n*4/10 {
		t.Fatalf("spread over ha1/ha2: %v, want each >= 40%%", count)
	}

	v.Members = append(v.Members, Member{ID: "ha0", Site: "east", Addrs: []netip.Addr{addr("2001:db8::1")}, Capacity: 100, Load: 10, Healthy: true})
	p3 := mustNew(t, DefaultConfig(), v)
	count = map[string]int{}
	for i := range n {
		now := pick(p3, i)
		count[now]++
		if now != before[i] && now != "ha0" {
			t.Fatalf("client %d moved from %s to %s, not to the new member", i, before[i], now)
		}
	}
	if count["ha0"] < n*25/100 {
		t.Fatalf("new member got %d of %d clients, want about a third", count["ha0"], n)
	}
}

func TestExplainMatchesDecision(t *testing.T) {
	now := time.Unix(1e9, 0)
	v := edit(fixtureView("ha2"), "ha3", func(m *Member) { m.Draining = true })
	p := mustNew(t, DefaultConfig(), v)
	for _, r := range []Request{
		AtInit{Remote: clientEast6},
		AtInit{Remote: clientWest4, Anycast: true},
		AtAuth{Remote: clientEast6, LeaseOwner: "ha4", Identity: "mn@example.net"},
		Reevaluate{Binding: Binding{Remote: clientNorth6}, Now: now},
	} {
		var fast Decision
		switch r := r.(type) {
		case AtInit:
			fast = p.AtInit(r)
		case AtAuth:
			fast = p.AtAuth(r)
		case Reevaluate:
			fast = p.Reevaluate(r)
		}
		ex := p.Explain(r)
		scores := ex.Scores
		ex.Scores = nil
		if !reflect.DeepEqual(ex, fast) {
			t.Errorf("%T: Explain %v, decision %v", r, ex, fast)
		}
		if len(scores) != len(v.Members) {
			t.Fatalf("%T: %d scores for %d members", r, len(scores), len(v.Members))
		}
		// Eligible members first, ranked 1..k; the decision's target is
		// the first-ranked one unless a lease, guard or hysteresis rule
		// settled it.
		rank := 0
		for _, s := range scores {
			if s.Excluded == ExcludedNone {
				rank++
				if s.Rank != rank {
					t.Errorf("%T: %s rank %d, want %d", r, s.Member, s.Rank, rank)
				}
			} else if s.Rank != 0 {
				t.Errorf("%T: excluded %s has rank %d", r, s.Member, s.Rank)
			}
			if s.Self != (s.Member == "ha2") {
				t.Errorf("%T: %s self=%v", r, s.Member, s.Self)
			}
			if s.Member == "ha3" && s.Excluded != ExcludedDraining {
				t.Errorf("%T: ha3 excluded %v, want draining", r, s.Excluded)
			}
		}
		if fast.Action == ActionRedirect && fast.Reason == ReasonNearer && scores[0].Member != fast.Target {
			t.Errorf("%T: nearer redirect to %s but %s ranks first", r, fast.Target, scores[0].Member)
		}
	}
	if d := p.Explain(nil); d.Action != 0 {
		t.Errorf("Explain(nil) = %v, want the zero Decision", d)
	}
}

func TestSelf(t *testing.T) {
	p := mustNew(t, DefaultConfig(), fixtureView("ha3"))
	if p.Self() != "ha3" {
		t.Errorf("Self() = %q", p.Self())
	}
	if p.Config() != DefaultConfig() {
		t.Errorf("Config() = %+v", p.Config())
	}
}

// A Policy is shared by the home agent's shards: concurrent decisions,
// explanations and drain plans see the same answers (run with -race).
func TestConcurrentUse(t *testing.T) {
	p := mustNew(t, DefaultConfig(), fixtureView("ha2"))
	want := p.Explain(AtInit{Remote: clientWest6})
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				if d := p.AtInit(AtInit{Remote: clientWest6}); d.Target != want.Target {
					errs <- fmt.Sprintf("goroutine %d: %v", g, d)
					return
				}
				if d := p.Explain(AtInit{Remote: clientWest6}); !reflect.DeepEqual(d, want) {
					errs <- fmt.Sprintf("goroutine %d: %v", g, d)
					return
				}
				p.PlanDrain(nodes(i%5, func(int) netip.Addr { return clientEast4 }))
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// RFC 5685 §11: REDIRECTED_FROM is not authenticated. Naming a member in it
// waives the distance and load margins (the member that sent the client
// here ranked us first, or sent it to its lease), never an exclusion: a
// full, unhealthy or draining member keeps no client for it, at IKE_SA_INIT
// or at IKE_AUTH, and a full member keeps the clients whose lease it holds
// by the lease rules.
func TestRFC5685RedirectedFromWaivesNoExclusion(t *testing.T) {
	forged := addr("2001:db8:2::1") // ha2's address
	for _, tc := range []struct {
		name string
		f    func(*Member)
		w    want
	}{
		{"serving", func(*Member) {}, want{ActionStay, ReasonRedirectedHere, "ha1", "", 0}},
		{"full", func(m *Member) { m.Load = m.Capacity }, want{ActionRedirect, ReasonOverloaded, "ha3", "2001:db8:3::1", 0}},
		{"unhealthy", func(m *Member) { m.Healthy = false }, want{ActionRedirect, ReasonUnhealthy, "ha3", "2001:db8:3::1", 0}},
		{"draining", func(m *Member) { m.Draining = true }, want{ActionRedirect, ReasonDraining, "ha3", "2001:db8:3::1", 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustNew(t, DefaultConfig(), edit(fixtureView("ha1"), "ha1", tc.f))
			check(t, p.AtInit(AtInit{Remote: clientWest6, RedirectedFrom: forged}), tc.w)
			d := p.AtAuth(AtAuth{Remote: clientWest6, RedirectedFrom: forged})
			if d.Stage != StageAuth {
				t.Errorf("stage %v", d.Stage)
			}
			check(t, d, tc.w)
		})
	}
	full := mustNew(t, DefaultConfig(), edit(fixtureView("ha1"), "ha1", func(m *Member) { m.Load = m.Capacity }))
	check(t, full.AtAuth(AtAuth{Remote: clientWest6, RedirectedFrom: forged, LeaseOwner: "ha1"}),
		want{ActionStay, ReasonLeaseHere, "ha1", "", 0})
}
