package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func nodes(n int, remote func(i int) netip.Addr) []Binding {
	var bs []Binding
	for i := range n {
		bs = append(bs, Binding{
			Identity: fmt.Sprintf("mn%03d@example.net", i),
			HoA:      netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 15: byte(i)}),
			Remote:   remote(i),
			CoA:      remote(i),
		})
	}
	return bs
}

func TestPlanDrainFillsNearestFirstWithinCapacity(t *testing.T) {
	// ha1 drains; ha2 (east, same site) has room for 2 more; then west
	// (ha3, distance 50) before north (ha4, 100).
	v := edit(fixtureView("ha1"), "ha2", func(m *Member) { m.Capacity, m.Load = 22, 20 })
	p := mustNew(t, DefaultConfig(), v)
	plan := p.PlanDrain(nodes(5, func(int) netip.Addr { return clientEast6 }))
	var got []string
	for _, mv := range plan.Moves {
		got = append(got, mv.Binding.Identity+"->"+mv.Decision.Target)
		d := mv.Decision
		if d.Stage != StageDrain || d.Action != ActionRedirect || d.Reason != ReasonDraining || d.Self != "ha1" || !d.Addr.Is6() {
			t.Errorf("move decision %+v", d)
		}
	}
	want := []string{
		"mn000@example.net->ha2", "mn001@example.net->ha2",
		"mn002@example.net->ha3", "mn003@example.net->ha3", "mn004@example.net->ha3",
	}
	if !slices.Equal(got, want) {
		t.Errorf("moves %v, want %v", got, want)
	}
	if len(plan.Unplaced) != 0 {
		t.Errorf("unplaced %v", plan.Unplaced)
	}
	// Planning does not change the policy's view.
	for _, s := range p.Explain(AtInit{Remote: clientEast6}).Scores {
		if s.Member == "ha2" && s.Load != 20 {
			t.Errorf("ha2 load %d after planning, want 20", s.Load)
		}
	}
}

func TestPlanDrainSpreadsOverEqualMembers(t *testing.T) {
	// Two equal members in east besides the drainer: the planned load
	// makes the nodes alternate between them.
	v := fixtureView("ha1")
	v.Members = append(v.Members, Member{ID: "ha5", Site: "east", Addrs: []netip.Addr{addr("2001:db8:5::1")}, Capacity: 100, Load: 20, Healthy: true})
	p := mustNew(t, DefaultConfig(), v)
	plan := p.PlanDrain(nodes(40, func(int) netip.Addr { return clientEast6 }))
	count := map[string]int{}
	for _, mv := range plan.Moves {
		count[mv.Decision.Target]++
	}
	if count["ha2"] != 20 || count["ha5"] != 20 || len(count) != 2 {
		t.Errorf("targets %v, want 20 each on ha2 and ha5", count)
	}
}

func TestPlanDrainUnplaced(t *testing.T) {
	// IPv4 nodes: only ha4 has room, and it has no IPv4 address.
	v := fixtureView("ha1")
	v = edit(v, "ha2", func(m *Member) { m.Healthy = false })
	v = edit(v, "ha3", func(m *Member) { m.Draining = true })
	p := mustNew(t, DefaultConfig(), v)
	bs := nodes(3, func(i int) netip.Addr {
		if i == 1 {
			return clientNorth6
		}
		return clientEast4
	})
	plan := p.PlanDrain(bs)
	if len(plan.Moves) != 1 || plan.Moves[0].Binding.Identity != "mn001@example.net" || plan.Moves[0].Decision.Target != "ha4" {
		t.Errorf("moves %+v, want mn001 to ha4", plan.Moves)
	}
	if len(plan.Unplaced) != 2 || plan.Unplaced[0].Identity != "mn000@example.net" || plan.Unplaced[1].Identity != "mn002@example.net" {
		t.Errorf("unplaced %+v, want mn000 and mn002", plan.Unplaced)
	}
	// A node that can follow a port goes to a forwarded address.
	v = edit(v, "ha4", func(m *Member) { m.NATAddrs = []netip.AddrPort{netip.MustParseAddrPort("192.0.2.44:4501")} })
	bs[0].PortCapable = true
	plan = mustNew(t, DefaultConfig(), v).PlanDrain(bs)
	if len(plan.Moves) != 2 || plan.Moves[0].Decision.Endpoint() != "192.0.2.44:4501" {
		t.Errorf("moves %+v, want mn000 to 192.0.2.44:4501", plan.Moves)
	}
}

// The plan depends on the set of nodes, not their order, and moves the
// nodes in identity order; the drainer's own draining flag does not
// matter.
func TestPlanDrainDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	remotes := []netip.Addr{clientEast6, clientEast4, clientWest6, clientWest4, clientNorth6, clientNowhere}
	bs := nodes(60, func(i int) netip.Addr { return remotes[i%len(remotes)] })
	v := edit(fixtureView("ha2"), "ha3", func(m *Member) { m.Capacity, m.Load = 30, 25 })
	p := mustNew(t, DefaultConfig(), v)
	want := p.PlanDrain(bs)
	if len(want.Moves)+len(want.Unplaced) != len(bs) {
		t.Fatalf("%d moves + %d unplaced for %d nodes", len(want.Moves), len(want.Unplaced), len(bs))
	}
	if !slices.IsSortedFunc(want.Moves, func(a, b Move) int {
		return strings.Compare(a.Binding.Identity, b.Binding.Identity)
	}) {
		t.Error("moves not in identity order")
	}
	perTarget := map[string]int{}
	for _, mv := range want.Moves {
		perTarget[mv.Decision.Target]++
		if mv.Decision.Target == "ha2" {
			t.Errorf("move to the drainer itself: %+v", mv)
		}
	}
	if perTarget["ha3"] > 5 {
		t.Errorf("%d moves to ha3, which has room for 5", perTarget["ha3"])
	}
	pd := mustNew(t, DefaultConfig(), edit(v, "ha2", func(m *Member) { m.Draining = true }))
	for range 10 {
		if got := p.PlanDrain(shuffledCopy(r, bs)); !reflect.DeepEqual(got, want) {
			t.Fatalf("plan changed with the input order")
		}
		if got := pd.PlanDrain(shuffledCopy(r, bs)); !reflect.DeepEqual(got, want) {
			t.Fatalf("plan changed with the draining flag")
		}
	}
	if got := p.PlanDrain(nil); len(got.Moves) != 0 || len(got.Unplaced) != 0 {
		t.Errorf("plan for no nodes: %+v", got)
	}
}
