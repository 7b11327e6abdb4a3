package policy

import (
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	d := DefaultConfig()
	if d.LoadMargin != 0.2 || d.DistanceMargin != 0 || d.DefaultDistance != 1000 || d.LoopWindow != 300*time.Second ||
		d.CrossFamily || d.SwitchInterval != time.Second || d.SwitchBurst != 1 {
		t.Errorf("defaults drifted from the documented values: %+v", d)
	}
	tests := []struct {
		field string
		f     func(*Config)
	}{
		{"LoadMargin", func(c *Config) { c.LoadMargin = -0.1 }},
		{"LoadMargin", func(c *Config) { c.LoadMargin = math.NaN() }},
		{"LoadMargin", func(c *Config) { c.LoadMargin = math.Inf(1) }},
		{"DefaultDistance", func(c *Config) { c.DefaultDistance = 0 }},
		{"LoopWindow", func(c *Config) { c.LoopWindow = -time.Second }},
		{"SwitchInterval", func(c *Config) { c.SwitchInterval = 0 }},
		{"SwitchBurst", func(c *Config) { c.SwitchBurst = 0 }},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.f(&c)
		err := c.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: error %v, want a ConfigError for %s", c, err, tt.field)
			continue
		}
		if !strings.Contains(err.Error(), tt.field) {
			t.Errorf("error %q does not name %s", err, tt.field)
		}
		if _, err := New(c, fixtureView("ha1")); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New accepted %+v: %v", c, err)
		}
	}
	// Valid edge values.
	c := DefaultConfig()
	c.LoadMargin, c.LoopWindow, c.DistanceMargin = 0, 0, math.MaxUint32
	if err := c.Validate(); err != nil {
		t.Errorf("%+v: %v", c, err)
	}
}

func TestViewValidate(t *testing.T) {
	base := fixtureView
	tests := []struct {
		path string
		view View
	}{
		{"Members", View{Self: "ha1"}},
		{"Self", base("ha9")},
		{"Members[0].ID", edit(base("ha2"), "ha1", func(m *Member) { m.ID = "" })},
		{"Members[1].ID", edit(base("ha1"), "ha2", func(m *Member) { m.ID = "ha1" })},
		{"Members[0].Site", edit(base("ha1"), "ha1", func(m *Member) { m.Site = "" })},
		{"Members[0].Capacity", edit(base("ha1"), "ha1", func(m *Member) { m.Capacity = -1 })},
		{"Members[0].Load", edit(base("ha1"), "ha1", func(m *Member) { m.Load = -1 })},
		{"Members[0].Addrs[0]", edit(base("ha1"), "ha1", func(m *Member) { m.Addrs = []netip.Addr{{}} })},
		{"Members[0].Addrs[1]", edit(base("ha1"), "ha1", func(m *Member) { m.Addrs = append(m.Addrs[:1], addr("ff02::1")) })},
		{"Members[0].Addrs[0]", edit(base("ha1"), "ha1", func(m *Member) { m.Addrs = []netip.Addr{addr("::")} })},
		{"Members[0].Addrs[0]", edit(base("ha1"), "ha1", func(m *Member) { m.Addrs = []netip.Addr{addr("fe80::1")} })},
		{"Members[0].Addrs[0]", edit(base("ha1"), "ha1", func(m *Member) { m.Addrs = []netip.Addr{addr("fd00::1%eth0")} })},
		{"Members[0].Addrs[0]", edit(base("ha1"), "ha1", func(m *Member) { m.Addrs = []netip.Addr{addr("::ffff:192.0.2.1")} })},
		{"Members[0].Addrs[0]", edit(base("ha1"), "ha1", func(m *Member) { m.Addrs = []netip.Addr{addr("255.255.255.255")} })},
		{"Members[1].Addrs[0]", edit(base("ha1"), "ha2", func(m *Member) { m.Addrs = []netip.Addr{addr("2001:db8:1::1")} })},
		{"Members[1].NATAddrs[0]", edit(base("ha1"), "ha2", func(m *Member) {
			m.NATAddrs = []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:4500")}
		})},
		{"Members[0].NATAddrs[0]", edit(base("ha1"), "ha1", func(m *Member) {
			m.NATAddrs = []netip.AddrPort{netip.MustParseAddrPort("192.0.2.99:0")}
		})},
		{"Members[0].NATAddrs[0]", edit(base("ha1"), "ha1", func(m *Member) { m.NATAddrs = []netip.AddrPort{{}} })},
		{"Sites[5].Prefix", withSite(base("ha1"), SitePrefix{netip.Prefix{}, "x"})},
		{"Sites[5].Prefix", withSite(base("ha1"), SitePrefix{netip.MustParsePrefix("2001:db8:e::1/48"), "x"})},
		{"Sites[5].Prefix", withSite(base("ha1"), SitePrefix{netip.MustParsePrefix("2001:db8:e::/48"), "x"})},
		{"Sites[5].Prefix", withSite(base("ha1"), SitePrefix{netip.MustParsePrefix("::ffff:10.0.0.0/104"), "x"})},
		{"Sites[5].Site", withSite(base("ha1"), SitePrefix{netip.MustParsePrefix("10.0.0.0/8"), ""})},
		{"Distances[3].From", withDistance(base("ha1"), Distance{"", "east", 1})},
		{"Distances[3].To", withDistance(base("ha1"), Distance{"east", "", 1})},
		{"Distances[3]", withDistance(base("ha1"), Distance{"east", "west", 1})},
	}
	for _, tt := range tests {
		_, err := New(DefaultConfig(), tt.view)
		var ve *ViewError
		if !errors.As(err, &ve) || ve.Path != tt.path || !errors.Is(err, ErrInvalidView) {
			t.Errorf("want a ViewError at %s, got %v", tt.path, err)
		}
	}
	// The same address listed twice by one member is fine, in Addrs or as
	// a forwarded address.
	v := edit(base("ha1"), "ha1", func(m *Member) {
		m.Addrs = append(m.Addrs, m.Addrs[0])
		m.NATAddrs = []netip.AddrPort{netip.AddrPortFrom(m.Addrs[1], 4501)}
	})
	if _, err := New(DefaultConfig(), v); err != nil {
		t.Errorf("repeated own address: %v", err)
	}
}

func withSite(v View, sp SitePrefix) View {
	v.Sites = append(append([]SitePrefix(nil), v.Sites...), sp)
	return v
}

func withDistance(v View, d Distance) View {
	v.Distances = append(append([]Distance(nil), v.Distances...), d)
	return v
}

// The admin API and the store exchange views and decisions as JSON.
func TestJSONRoundTrip(t *testing.T) {
	v := edit(fixtureView("ha2"), "ha4", func(m *Member) {
		m.NATAddrs = []netip.AddrPort{netip.MustParseAddrPort("192.0.2.44:4501")}
		m.Draining = true
	})
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back View
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, v) {
		t.Fatalf("view round trip:\n%+v\n%+v", back, v)
	}
	for _, key := range []string{`"self":"ha2"`, `"nat_addrs":["192.0.2.44:4501"]`, `"prefix":"2001:db8:e::/48"`, `"draining":true`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("view JSON lacks %s: %s", key, b)
		}
	}

	p := mustNew(t, DefaultConfig(), v)
	d := p.Explain(AtInit{Remote: clientWest6})
	b, err = json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"stage":"init"`, `"action":"redirect"`, `"reason":"nearer"`, `"target":"ha3"`,
		`"addr":"2001:db8:3::1"`, `"client_site":"west"`, `"excluded":"draining"`, `"rank":1`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("decision JSON lacks %s: %s", key, b)
		}
	}
	var dback Decision
	if err := json.Unmarshal(b, &dback); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dback, d) {
		t.Fatalf("decision round trip:\n%+v\n%+v", dback, d)
	}
}

func TestEnumText(t *testing.T) {
	roundTrip := func(name string, m interface{ MarshalText() ([]byte, error) }, u interface{ UnmarshalText([]byte) error }) {
		t.Helper()
		b, err := m.MarshalText()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if string(b) != name {
			t.Errorf("marshalled %q, want %q", b, name)
		}
		if err := u.UnmarshalText(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, r := range []Reason{ReasonBest, ReasonHysteresis, ReasonRedirectedHere, ReasonRedirectedFromGuard,
		ReasonNoCandidate, ReasonLeaseHere, ReasonLeaseMovingHere, ReasonNearer, ReasonLessLoaded, ReasonDraining,
		ReasonUnhealthy, ReasonOverloaded, ReasonAnycast, ReasonLeaseElsewhere, ReasonLeaseMoving} {
		var back Reason
		roundTrip(r.String(), r, &back)
		if back != r {
			t.Errorf("%v came back as %v", r, back)
		}
	}
	for _, e := range []Exclusion{ExcludedNone, ExcludedUnhealthy, ExcludedDraining, ExcludedFull, ExcludedNoAddress, ExcludedNeedsPort} {
		var back Exclusion
		roundTrip(e.String(), e, &back)
		if back != e {
			t.Errorf("%v came back as %v", e, back)
		}
	}
	for _, a := range []Action{ActionStay, ActionRedirect} {
		var back Action
		roundTrip(a.String(), a, &back)
		if back != a {
			t.Errorf("%v came back as %v", a, back)
		}
	}
	for _, s := range []Stage{StageInit, StageAuth, StageReevaluate, StageDrain} {
		var back Stage
		roundTrip(s.String(), s, &back)
		if back != s {
			t.Errorf("%v came back as %v", s, back)
		}
	}
	if got := Reason(99).String(); got != "Reason(99)" {
		t.Errorf("unknown reason: %q", got)
	}
	if _, err := Action(0).MarshalText(); err == nil {
		t.Error("marshalled Action(0)")
	}
	var r Reason
	if err := r.UnmarshalText([]byte("Reason(99)")); err == nil {
		t.Error("unmarshalled an unknown reason")
	}
	if err := r.UnmarshalText([]byte("")); err == nil {
		t.Error("unmarshalled an empty reason")
	}
}

func TestDecisionRendering(t *testing.T) {
	v := edit(fixtureView("ha1"), "ha4", func(m *Member) { m.Healthy = false })
	p := mustNew(t, DefaultConfig(), v)

	d := p.Explain(AtInit{Remote: clientWest6})
	if got, want := d.String(), "redirect to ha3 at 2001:db8:3::1 (nearer)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	var b strings.Builder
	if err := d.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 3+len(v.Members) {
		t.Fatalf("%d lines, want summary, context, header and %d rows:\n%s", len(lines), len(v.Members), b.String())
	}
	if lines[0] != d.String() || lines[1] != "stage init, decided by ha1, client site west" {
		t.Errorf("head:\n%s\n%s", lines[0], lines[1])
	}
	// Rows in table order: ha3 (west, 0), ha1 (50), ha2 (50, busier),
	// then the excluded ha4.
	for i, prefix := range []string{"ha3 ", "ha1 (self) ", "ha2 ", "ha4 "} {
		if !strings.HasPrefix(lines[3+i], prefix) {
			t.Errorf("row %d: %q, want it to start with %q", i, lines[3+i], prefix)
		}
	}
	for _, f := range [][2]string{
		{lines[3], "<- chosen"}, {lines[3], "0.10"}, {lines[4], "50"}, {lines[6], "no: unhealthy"}, {lines[6], "-"},
	} {
		if !strings.Contains(f[0], f[1]) {
			t.Errorf("row %q lacks %q", f[0], f[1])
		}
	}
	for _, l := range lines[4:] {
		if strings.Contains(l, "chosen") {
			t.Errorf("more than one chosen row: %q", l)
		}
	}

	// Staying, unknown site, no table.
	d = mustNew(t, DefaultConfig(), edit(v, "ha1", func(m *Member) { m.Load = 15 })).AtInit(AtInit{Remote: clientNowhere})
	b.Reset()
	if err := d.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if want := "stay on ha1 (hysteresis)\nstage init, decided by ha1, client site unknown\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}

	// A forwarded port shows as address:port.
	d = Decision{Action: ActionRedirect, Reason: ReasonDraining, Target: "ha4", Addr: addr("2001:db8::4"), Port: 4501}
	if got, want := d.String(), "redirect to ha4 at [2001:db8::4]:4501 (draining)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

func TestWriteTableReportsWriteErrors(t *testing.T) {
	p := mustNew(t, DefaultConfig(), fixtureView("ha1"))
	if err := p.Explain(AtInit{Remote: clientEast6}).WriteTable(failWriter{}); err == nil {
		t.Error("no error from a failing writer")
	}
}
