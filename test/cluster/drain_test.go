package cluster_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/test/cluster"
	"github.com/mip6ha/mip6ha/test/flow"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// fleet is a number of mobile nodes, each in a host of its own on a
// visited link, each with a TCP flow from cn to its home address.
type fleet struct {
	nodes []*cluster.MobileNode
	hosts []*lab.Host
	hoas  []netip.Addr
	flows []*cluster.Flow
}

// startFleet starts n nodes on the visited link s, attaching through the
// anycast address, and waits until each is bound at the member want.
func startFleet(t *testing.T, ctx context.Context, l *cluster.Lab, s *lab.Site, n int, want *cluster.HomeAgent, o cluster.NodeOptions) *fleet {
	t.Helper()
	fl := &fleet{}
	o.Extra = append(o.Extra, "--log-level", "info")
	for i := range n {
		h := l.NodeHost(fmt.Sprintf("n%02d", i+1), s, i+1)
		fl.hosts = append(fl.hosts, h)
		fl.nodes = append(fl.nodes, l.StartNode(h, fmt.Sprintf("mn%02d@example.net", i+1), o))
	}
	for _, mn := range fl.nodes {
		hoa, b := mn.Bound(ctx)
		if b.HomeAgent != want.Addr.String() {
			t.Fatalf("%s bound at %s, want %s", mn.ID, b.HomeAgent, want.ID)
		}
		fl.hoas = append(fl.hoas, hoa)
	}
	return fl
}

// startFlows starts a flow to every node of the fleet, a 256-octet chunk
// every 20 ms each, and waits until each carries data.
func (fl *fleet) startFlows(t *testing.T, ctx context.Context, l *cluster.Lab) {
	t.Helper()
	for i, h := range fl.hosts {
		f, err := l.StartFlow(ctx, h, fl.hoas[i], flow.SendConfig{Interval: 20 * time.Millisecond, Payload: 256})
		if err != nil {
			t.Fatalf("flow to %s: %v", fl.nodes[i].ID, err)
		}
		fl.flows = append(fl.flows, f)
	}
	for _, f := range fl.flows {
		if err := awaitBytes(ctx, f, 2<<10); err != nil {
			t.Fatal(err)
		}
	}
}

// stopFlows lets every flow carry more data, ends them and returns their
// reports; a flow that was reset or lost data fails the test.
func (fl *fleet) stopFlows(t *testing.T, ctx context.Context) []flow.Report {
	t.Helper()
	for _, f := range fl.flows {
		if err := awaitBytes(ctx, f, f.Progress().Bytes+2<<10); err != nil {
			t.Errorf("a flow stalled: %v", err)
		}
	}
	var reports []flow.Report
	for i, f := range fl.flows {
		r, s, err := f.Stop(ctx)
		if err == nil {
			err = cluster.CheckFlow(r, s)
		}
		if err != nil {
			t.Errorf("flow to %s: %v", fl.nodes[i].ID, err)
			continue
		}
		reports = append(reports, r)
	}
	return reports
}

// gapSummary sums up the flows' gaps: the longest gap of any flow, the
// median and the 99th percentile of the flows' longest gaps, and the
// largest of the flows' 99th-percentile gaps (between consecutive chunks).
func gapSummary(reports []flow.Report) (longest, median, p99, chunkP99 time.Duration) {
	var gaps []time.Duration
	for _, r := range reports {
		gaps = append(gaps, r.LongestGap)
		chunkP99 = max(chunkP99, r.GapP99)
	}
	if len(gaps) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(gaps)
	return gaps[len(gaps)-1], gaps[len(gaps)/2], gaps[(len(gaps)*99+99)/100-1], chunkP99
}

// TestClusterDrain (issue 6, must show 3): 50 mobile nodes on the east
// link, each in a network namespace of its own, attach through the anycast
// address and are served by ha1, each with a TCP connection from cn.
// `homeagent ctl drain` on ha1 moves every one of them to ha2 at the drain
// rate, make-before-break: all end at ha2 with the home address they had,
// no connection is reset, and the log gives the drain's duration and rate
// and the gaps in the flows (the largest and the 99th percentile over the
// flows). The store's history shows one transfer per node and no other
// owner change.
func TestClusterDrain(t *testing.T) {
	t.Parallel()
	const n = 50
	l := cluster.New(t, cluster.Options{})
	ctx := stepCtx(t, 8*time.Minute)
	ha1, ha2 := l.HA("ha1"), l.HA("ha2")
	fl := startFleet(t, ctx, l, l.Topo.East, n, ha1, cluster.NodeOptions{})
	fl.startFlows(t, ctx, l)

	started := time.Now()
	out, err := ha1.Ctl(ctx, "drain", "--wait", "--interval", "500ms")
	if err != nil {
		t.Fatal(err)
	}
	drained := time.Since(started)
	t.Logf("homeagent ctl drain --wait (on ha1), %v:\n%s", drained.Round(time.Millisecond), out)
	var durations, nodeGaps []float64
	for i, mn := range fl.nodes {
		sw := mn.Wait(ctx, mnclient.EventSwitched, 1, nil)
		if sw.From != ha1.Addr.String() || sw.To != ha2.Addr.String() || sw.Address != fl.hoas[i].String() {
			t.Errorf("%s: switched %+v, want from ha1 to ha2 keeping %v", mn.ID, sw, fl.hoas[i])
		}
		durations = append(durations, sw.DurationMS)
		nodeGaps = append(nodeGaps, sw.GapMS)
	}
	reports := fl.stopFlows(t, ctx)
	longest, median, p99, chunkP99 := gapSummary(reports)
	inDrain := 0 // flows whose longest gap overlaps the drain
	for _, r := range reports {
		if _, ok := r.LongestGapIn(started, started.Add(drained)); ok {
			inDrain++
		}
	}
	slices.Sort(durations)
	slices.Sort(nodeGaps)
	t.Logf("drain of %d nodes: %v, %.1f nodes per second (cluster.drain_rate %g)", n, drained.Round(time.Millisecond),
		float64(n)/drained.Seconds(), ha1.Cfg.DrainRate)
	t.Logf("switch at the nodes (Home Agent Switch to deregistration): median %.1f ms, max %.1f ms; "+
		"longest time without packets at a node during its switch: median %.1f ms, max %.1f ms",
		durations[len(durations)/2], durations[len(durations)-1], nodeGaps[len(nodeGaps)/2], nodeGaps[len(nodeGaps)-1])
	t.Logf("flows (a 256-octet chunk every 20 ms each): %d of %d ended normally, none reset; longest gap %v; "+
		"the flows' longest gaps: median %v, 99th percentile %v (%d of them of %v or more during the drain); "+
		"99th percentile of the gaps between chunks, worst flow: %v",
		len(reports), n, longest.Round(time.Millisecond), median.Round(time.Millisecond), p99.Round(time.Millisecond),
		inDrain, flow.LongGap, chunkP99.Round(time.Millisecond))

	st, err := ha1.Admin().DrainStatus(ctx)
	if err != nil || st.Moved != n || st.Failed != 0 || st.Remaining != 0 {
		t.Errorf("drain status %+v (%v), want %d moved", st, err, n)
	}
	ls, err := ha2.Admin().Leases(ctx, store.Filter{Owner: "ha2"})
	if err != nil || len(ls) != n {
		t.Errorf("ha2 owns %d leases (%v), want %d", len(ls), err, n)
	}
	for _, x := range ls {
		if x.State != store.StateBound || !slices.Contains(fl.hoas, x.HoA) {
			t.Errorf("lease %+v at ha2", x)
		}
	}
	h, err := cluster.ReadHistory(ctx, l.Etcd.Client())
	if err != nil {
		t.Fatal(err)
	}
	if o := cluster.CheckOwnership(h, nil); len(o.Violations) > 0 || o.Transfers != n || o.Takeovers != 0 {
		t.Errorf("ownership history: %d transfers, %d takeovers; violations: %v", o.Transfers, o.Takeovers, o.Violations)
	}
}
