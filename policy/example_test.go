package policy_test

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/mip6ha/mip6ha/policy"
)

func exampleView(self string) policy.View {
	a := netip.MustParseAddr
	return policy.View{
		Self: self,
		Members: []policy.Member{
			{ID: "ha1", Site: "paris", Addrs: []netip.Addr{a("2001:db8:1::1"), a("192.0.2.1")}, Capacity: 1000, Load: 400, Healthy: true},
			{ID: "ha2", Site: "paris", Addrs: []netip.Addr{a("2001:db8:2::1"), a("192.0.2.2")}, Capacity: 1000, Load: 350, Healthy: true},
			{ID: "ha3", Site: "berlin", Addrs: []netip.Addr{a("2001:db8:3::1"), a("192.0.2.3")}, Capacity: 1000, Load: 100, Healthy: true},
		},
		Sites: []policy.SitePrefix{
			{Prefix: netip.MustParsePrefix("2001:db8:aa::/48"), Site: "paris"},
			{Prefix: netip.MustParsePrefix("2001:db8:bb::/48"), Site: "berlin"},
		},
		Distances: []policy.Distance{{From: "paris", To: "berlin", Cost: 30}},
	}
}

// A home agent in Paris answers IKE_SA_INIT requests: a Berlin client is
// redirected, a Paris client stays although ha2 is a little less loaded,
// and a request to the anycast address gets our own unicast address.
func Example() {
	p, err := policy.New(policy.DefaultConfig(), exampleView("ha1"))
	if err != nil {
		panic(err)
	}
	fmt.Println(p.AtInit(policy.AtInit{Remote: netip.MustParseAddr("2001:db8:bb::7")}))
	fmt.Println(p.AtInit(policy.AtInit{Remote: netip.MustParseAddr("2001:db8:aa::7")}))
	fmt.Println(p.AtInit(policy.AtInit{Remote: netip.MustParseAddr("2001:db8:aa::7"), Anycast: true}))
	// Output:
	// redirect to ha3 at 2001:db8:3::1 (nearer)
	// stay on ha1 (hysteresis)
	// redirect to ha1 at 2001:db8:1::1 (anycast-must-redirect)
}

// The operator's explain command: the decision and every member's score.
func ExampleDecision_WriteTable() {
	p, err := policy.New(policy.DefaultConfig(), exampleView("ha1"))
	if err != nil {
		panic(err)
	}
	d := p.Explain(policy.AtInit{Remote: netip.MustParseAddr("2001:db8:bb::7")})
	if err := d.WriteTable(os.Stdout); err != nil {
		panic(err)
	}
	// Output:
	// redirect to ha3 at 2001:db8:3::1 (nearer)
	// stage init, decided by ha1, client site berlin
	// MEMBER      SITE    DISTANCE  LOAD      RATIO  ELIGIBLE  RANK  ADDRESS
	// ha3         berlin  0         100/1000  0.10   yes       1     2001:db8:3::1  <- chosen
	// ha2         paris   30        350/1000  0.35   yes       2     2001:db8:2::1
	// ha1 (self)  paris   30        400/1000  0.40   yes       3     2001:db8:1::1
}

// At IKE_AUTH the lease decides: this identity's home address lives on
// ha2, so the client goes there whatever its locator says.
func ExamplePolicy_AtAuth() {
	p, err := policy.New(policy.DefaultConfig(), exampleView("ha1"))
	if err != nil {
		panic(err)
	}
	fmt.Println(p.AtAuth(policy.AtAuth{
		Remote:     netip.MustParseAddr("2001:db8:aa::7"),
		Identity:   "mn7@example.net",
		LeaseOwner: "ha2",
	}))
	// Output:
	// redirect to ha2 at 2001:db8:2::1 (lease-elsewhere)
}

// Draining ha1: plan the moves, then pace them with the limiter (1 Home
// Agent Switch per second by default).
func ExamplePolicy_PlanDrain() {
	p, err := policy.New(policy.DefaultConfig(), exampleView("ha1"))
	if err != nil {
		panic(err)
	}
	plan := p.PlanDrain([]policy.Binding{
		{Identity: "mn2@example.net", HoA: netip.MustParseAddr("2001:db8:100::2"), Remote: netip.MustParseAddr("2001:db8:bb::2")},
		{Identity: "mn1@example.net", HoA: netip.MustParseAddr("2001:db8:100::1"), Remote: netip.MustParseAddr("2001:db8:aa::1")},
	})
	limiter, err := p.Config().NewLimiter()
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, mv := range plan.Moves {
		if !limiter.Allow(now) {
			now = limiter.Next(now) // a real agent waits on a timer until then
			limiter.Allow(now)
		}
		fmt.Println(now.Format("15:04:05"), mv.Binding.Identity, mv.Decision)
	}
	// Output:
	// 00:00:00 mn1@example.net redirect to ha2 at 2001:db8:2::1 (draining)
	// 00:00:01 mn2@example.net redirect to ha3 at 2001:db8:3::1 (draining)
}
