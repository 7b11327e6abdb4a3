package admin

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/policy"
)

var t0 = time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)

func addr(s string) netip.Addr         { return netip.MustParseAddr(s) }
func addrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// fake is a Backend with fixed answers. err, if set, is returned by every
// method; the requests it was given are recorded.
type fake struct {
	mu       sync.Mutex
	err      error
	cfg      *config.Config
	filters  []store.Filter
	explains []ExplainRequest
	moves    []MoveRequest
	// drains are the successive answers of DrainStatus (the last one
	// repeats); drainCalls counts the calls.
	drains     []DrainStatus
	drainCalls int
	// block makes every method wait for its context to end.
	block bool
}

func newFake() *fake {
	cfg := config.Default()
	cfg.Cluster.MemberID = "ha1"
	cfg.Cluster.Site = "west"
	cfg.IKE.PSKs = []config.PSK{{Identity: "mn1@example.net", Secret: "fake-secret"}}
	return &fake{cfg: cfg, drains: []DrainStatus{fakeDrain(DrainRunning, 0)}}
}

func (f *fake) wait(ctx context.Context) error {
	f.mu.Lock()
	block, err := f.block, f.err
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

var fakeStatus = Status{
	Member: "ha1", Site: "west", Version: "v0.1.0", StartedAt: t0,
	Listen: []netip.AddrPort{addrPort("[::]:500"), addrPort("0.0.0.0:500")},
	Store:  "etcd", Dataplane: "user-space", Healthy: true,
	IKESAs: 3, HalfOpen: 1, ChildSAs: 3, Bindings: 2, Leases: 3, Capacity: 5000, Members: 2,
}

var fakeBindings = []Binding{
	{
		Identity: "mn1@example.net", HoA: addr("2001:db8:1::1000"), CoA: addr("2001:db8:a::7"),
		Remote: addrPort("[2001:db8:a::7]:4500"), State: "valid", Lifetime: Seconds(9*time.Minute + 30*time.Second),
		Since: t0.Add(time.Minute), IKESPI: IKESPIs{0x0123456789abcdef, 0xfedcba9876543210},
		ChildSAs: []ChildSA{{0xc0000001, 0x0000beef}},
	},
	{
		Identity: "mn2@example.net", HoA: addr("2001:db8:1::1001"), CoA: addr("10.0.0.5"),
		Remote: addrPort("198.51.100.9:61000"), NAT: true, State: "valid", Lifetime: Seconds(55 * time.Second),
		Since: t0.Add(2 * time.Minute), IKESPI: IKESPIs{1, 2},
		ChildSAs: []ChildSA{{3, 4}, {5, 6}},
	},
	{
		Identity: "strongswan@example.net", HoA: addr("2001:db8:1::1002"),
		Remote: addrPort("[2001:db8:b::9]:4500"), Since: t0.Add(3 * time.Minute), IKESPI: IKESPIs{7, 8},
		ChildSAs: []ChildSA{{9, 10}},
	},
}

var fakeLeases = []Lease{
	{HoA: addr("2001:db8:1::1000"), Identity: "mn1@example.net", Owner: "ha1", State: store.StateBound,
		CareOf: addrPort("[2001:db8:a::7]:4500"), CreatedAt: t0, UpdatedAt: t0.Add(time.Minute), Revision: 12},
	{HoA: addr("2001:db8:1::1001"), Identity: "mn2@example.net", Owner: "ha1", State: store.StateMoving,
		MovingTo: "ha2", Deadline: t0.Add(5 * time.Minute), TraceContext: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		CreatedAt: t0, UpdatedAt: t0.Add(4 * time.Minute), Revision: 17},
	{HoA: addr("2001:db8:1::1003"), Identity: "gone@example.net", State: store.StateReleased,
		CreatedAt: t0, UpdatedAt: t0.Add(3 * time.Minute), Revision: 15},
}

var fakeMembers = []Member{
	{ID: "ha1", Site: "west", Addrs: []netip.Addr{addr("2001:db8:100::1"), addr("198.51.100.1")}, Capacity: 5000, Load: 2,
		Healthy: true, Heartbeat: t0.Add(5 * time.Minute), Self: true},
	{ID: "ha2", Site: "east", Addrs: []netip.Addr{addr("2001:db8:200::1")}, NATAddrs: []netip.AddrPort{addrPort("[2001:db8:fff::2]:14500")},
		Capacity: 5000, Load: 1, Healthy: true, Draining: true, Heartbeat: t0.Add(5*time.Minute + time.Second)},
}

var fakeExplain = Explain{
	Request: ExplainRequest{Locator: addr("2001:db8:b::9"), Identity: "mn1@example.net"},
	Lease:   &fakeLeases[0],
	Decision: policy.Decision{
		Stage: policy.StageAuth, Action: policy.ActionRedirect, Reason: policy.ReasonNearer, Self: "ha1", Target: "ha2",
		Addr: addr("2001:db8:200::1"), ClientSite: "east",
		Scores: []policy.Score{
			{Member: "ha2", Site: "east", Distance: 0, Load: 1, Capacity: 5000, LoadRatio: 0.0002, Rank: 1, Addr: addr("2001:db8:200::1")},
			{Member: "ha1", Site: "west", Self: true, Distance: 100, Load: 2, Capacity: 5000, LoadRatio: 0.0004, Rank: 2, Addr: addr("2001:db8:100::1")},
		},
	},
}

var fakeMove = Move{
	Identity: "mn1@example.net", HoA: addr("2001:db8:1::1000"), From: "ha1", To: "ha2", Addr: addr("2001:db8:200::1"),
	Method: MethodHomeAgentSwitch, Deadline: t0.Add(30 * time.Second), TraceID: "0af7651916cd43dd8448eb211c80319c",
}

func fakeDrain(state DrainState, moved int) DrainStatus {
	d := DrainStatus{State: state, StartedAt: t0, Rate: 1, Total: 3, Moved: moved, Remaining: 3 - moved, Unplaced: []string{"lonely@example.net"}}
	if state != DrainRunning {
		d.FinishedAt = t0.Add(3 * time.Second)
	}
	return d
}

func (f *fake) Status(ctx context.Context) (Status, error) { return fakeStatus, f.wait(ctx) }

func (f *fake) Bindings(ctx context.Context) ([]Binding, error) { return fakeBindings, f.wait(ctx) }

func (f *fake) Leases(ctx context.Context, flt store.Filter) ([]Lease, error) {
	f.mu.Lock()
	f.filters = append(f.filters, flt)
	f.mu.Unlock()
	var out []Lease
	for _, l := range fakeLeases {
		if (flt.Owner == "" || l.Owner == flt.Owner) && (flt.State == 0 || l.State == flt.State) && (flt.Identity == "" || l.Identity == flt.Identity) {
			out = append(out, l)
		}
	}
	return out, f.wait(ctx)
}

func (f *fake) Members(ctx context.Context) ([]Member, error) { return fakeMembers, f.wait(ctx) }

func (f *fake) Config(ctx context.Context) (*config.Config, error) { return f.cfg, f.wait(ctx) }

func (f *fake) Explain(ctx context.Context, r ExplainRequest) (Explain, error) {
	f.mu.Lock()
	f.explains = append(f.explains, r)
	f.mu.Unlock()
	return fakeExplain, f.wait(ctx)
}

func (f *fake) Move(ctx context.Context, r MoveRequest) (Move, error) {
	f.mu.Lock()
	f.moves = append(f.moves, r)
	f.mu.Unlock()
	return fakeMove, f.wait(ctx)
}

func (f *fake) Drain(ctx context.Context) (DrainStatus, error) {
	return fakeDrain(DrainRunning, 0), f.wait(ctx)
}

func (f *fake) DrainStatus(ctx context.Context) (DrainStatus, error) {
	f.mu.Lock()
	d := f.drains[min(f.drainCalls, len(f.drains)-1)]
	f.drainCalls++
	f.mu.Unlock()
	return d, f.wait(ctx)
}

func (f *fake) CancelDrain(ctx context.Context) (DrainStatus, error) {
	return fakeDrain(DrainCancelled, 1), f.wait(ctx)
}

var _ Backend = (*fake)(nil)
