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

// awaitBytes waits until the flow's receiver has more than n bytes.
func awaitBytes(ctx context.Context, f *cluster.Flow, n int64) error {
	return lab.Poll(ctx, fmt.Sprintf("more than %d bytes received", n), func(context.Context) error {
		if p := f.Progress(); p.Bytes <= n {
			return fmt.Errorf("%d bytes", p.Bytes)
		}
		return nil
	})
}

// indexOf returns the position of the n-th event of kind for which match
// holds (nil: any), or -1.
func indexOf(events []mnclient.Event, kind string, n int, match func(mnclient.Event) bool) int {
	for i, e := range events {
		if e.Event == kind && (match == nil || match(e)) {
			if n--; n == 0 {
				return i
			}
		}
	}
	return -1
}

// TestClusterMoveDuringTransfer (issue 6, must show 2): a node attached at
// ha2 through the anycast address from the west link moves to the east
// link in the middle of a TCP transfer from cn. Its Binding Update from
// the new care-of address makes ha2 re-evaluate it: ha1 is now nearer, so
// ha2 switches it there make-before-break (Home Agent Switch with the
// handover option; the node sets up its IKE SA with ha1, registers there,
// and only then deregisters at ha2). The home address stays, the transfer
// goes on without a reset, and the log gives the longest gap in the flow.
func TestClusterMoveDuringTransfer(t *testing.T) {
	t.Parallel()
	l := cluster.New(t, cluster.Options{})
	ctx := stepCtx(t, 3*time.Minute)
	ha1, ha2 := l.HA("ha1"), l.HA("ha2")
	mn := l.StartNode(l.Topo.MN, "mn2@example.net", cluster.NodeOptions{})
	hoa, first := mn.Bound(ctx)
	if first.HomeAgent != ha2.Addr.String() {
		t.Fatalf("bound at %s through the anycast address from the west link, want ha2 (%v)", first.HomeAgent, ha2.Addr)
	}

	f, err := l.StartFlow(ctx, l.Topo.MN, hoa, flow.SendConfig{Interval: 5 * time.Millisecond, Payload: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if err := awaitBytes(ctx, f, 100<<10); err != nil { // half a second of the flow
		t.Fatal(err)
	}
	moved := time.Now()
	l.Topo.MoveMN(l.Topo.East)
	east := l.Topo.East.MN.V6.String()
	change := mn.Wait(ctx, mnclient.EventCareOfAddressChanged, 1, func(e mnclient.Event) bool { return e.CoA == east })
	has := mn.Wait(ctx, mnclient.EventHomeAgentSwitch, 1, nil)
	sw := mn.Wait(ctx, mnclient.EventSwitched, 1, nil)
	t.Logf("moved west -> east at %v: new care-of address seen after %v, Home Agent Switch from ha2 after %v, switched to ha1 after %v "+
		"(the switch took %.1f ms; longest time without packets at the node meanwhile %.1f ms; trace %s)",
		moved.Format("15:04:05.000"), change.Time.Sub(moved).Round(time.Millisecond), has.Time.Sub(moved).Round(time.Millisecond),
		sw.Time.Sub(moved).Round(time.Millisecond), sw.DurationMS, sw.GapMS, sw.TraceID)
	if has.From != ha2.Addr.String() || has.To != netip.AddrPortFrom(ha1.Addr, 500).String() {
		t.Errorf("Home Agent Switch %+v, want from ha2 to ha1", has)
	}
	if sw.From != ha2.Addr.String() || sw.To != ha1.Addr.String() || sw.Address != hoa.String() {
		t.Errorf("switched %+v, want from ha2 to ha1 keeping %v", sw, hoa)
	}
	// Make before break, as the node saw it: the binding at ha1 was
	// accepted before the deregistration at ha2.
	events := mn.Events()
	atHA1 := indexOf(events, mnclient.EventBindingAccepted, 1, func(e mnclient.Event) bool { return e.HomeAgent == ha1.Addr.String() })
	dereg := indexOf(events, mnclient.EventDeregistered, 1, func(e mnclient.Event) bool { return e.HomeAgent == ha2.Addr.String() })
	if atHA1 < 0 || dereg < 0 || atHA1 > dereg {
		t.Errorf("binding at ha1 (event %d) not accepted before the deregistration at ha2 (event %d)", atHA1, dereg)
	}
	// The flow goes on through ha1 for a while after the switch.
	if err := awaitBytes(ctx, f, f.Progress().Bytes+200<<10); err != nil {
		t.Fatalf("the flow did not go on after the switch: %v", err)
	}
	r, s, err := f.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.CheckFlow(r, s); err != nil {
		t.Fatal(err)
	}
	t.Logf("transfer across the move: %s", r)
	t.Logf("longest gap in the flow: %v (ended %v after the move began; gap p99 %v, median %v)",
		r.LongestGap.Round(time.Millisecond), r.LongestGapEnd.Sub(moved).Round(time.Millisecond),
		r.GapP99.Round(time.Millisecond), r.MedianGap.Round(time.Millisecond))
	if g, ok := r.LongestGapIn(has.Time, sw.Time.Add(time.Second)); ok {
		t.Logf("longest gap around the switch: %v, from %v to %v after the move began",
			g.Length.Round(time.Millisecond), g.Start().Sub(moved).Round(time.Millisecond), g.End.Sub(moved).Round(time.Millisecond))
	} else {
		t.Logf("no gap of %v or more around the switch", flow.LongGap)
	}

	// The home agents agree: ha1 took the lease over from the move, ha2 saw
	// it go; the store's history shows a transfer and nothing else.
	ha1.WaitLog(ctx, "lease transferred here", 1, map[string]string{"hoa": hoa.String(), "from": "ha2"})
	ha2.WaitLog(ctx, "node moved", 1, map[string]string{"hoa": hoa.String(), "to": "ha1"})
	ls, err := ha1.Admin().Leases(ctx, store.Filter{})
	if err != nil || len(ls) != 1 || ls[0].HoA != hoa || ls[0].Owner != "ha1" || ls[0].State != store.StateBound {
		t.Errorf("leases %+v (%v), want %v bound at ha1", ls, err, hoa)
	}
	h, err := cluster.ReadHistory(ctx, l.Etcd.Client())
	if err != nil {
		t.Fatal(err)
	}
	o := cluster.CheckOwnership(h, nil)
	if len(o.Violations) > 0 || o.Transfers != 1 {
		t.Errorf("ownership history: %d transfers, %d takeovers; violations: %v", o.Transfers, o.Takeovers, o.Violations)
	}
	if err := mn.Stop(); err != nil {
		t.Errorf("mnclient: %v", err)
	}
	if slices.ContainsFunc(mn.Events(), func(e mnclient.Event) bool { return e.Event == mnclient.EventError }) {
		t.Errorf("error events: %s", mn.Proc().Stdout())
	}
}
