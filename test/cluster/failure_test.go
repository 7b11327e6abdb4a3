package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/test/cluster"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// checkHistory reads etcd's history of the deployment (from the members
// still alive) and checks the ownership rules; it returns the counts.
func checkHistory(t *testing.T, ctx context.Context, l *cluster.Lab) cluster.Ownership {
	t.Helper()
	h, err := cluster.ReadHistory(ctx, l.Etcd.Client())
	if err != nil {
		t.Fatal(err)
	}
	o := cluster.CheckOwnership(h, nil)
	for _, v := range o.Violations {
		t.Errorf("etcd history: %s", v)
	}
	return o
}

// TestClusterMemberKilled (issue 6, must show 5): ha1 serves three nodes
// on the east link and is killed with SIGKILL (nothing withdrawn, its
// leases left bound to it). Its membership lapses after the TTL; each node
// notices that ha1 is gone (liveness checks), attaches again at ha2, asking
// for its home address, and ha2 takes the lease over (a compare-and-swap
// that requires ha1's member record to be gone) and registers the binding.
// etcd's history shows the takeovers, each after ha1's record was
// deleted, and no address ever owned by two members.
func TestClusterMemberKilled(t *testing.T) {
	t.Parallel()
	const n = 3
	l := cluster.New(t, cluster.Options{})
	ctx := stepCtx(t, 4*time.Minute)
	ha1, ha2 := l.HA("ha1"), l.HA("ha2")
	fl := startFleet(t, ctx, l, l.Topo.East, n, ha1, cluster.NodeOptions{Reattach: true})

	killed := time.Now()
	ha1.Kill()
	for i, mn := range fl.nodes {
		re, err := mn.AwaitTolerant(ctx, mnclient.EventReattaching, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := mn.AwaitTolerant(ctx, mnclient.EventBindingAccepted, 1, func(e mnclient.Event) bool {
			return e.HomeAgent == ha2.Addr.String()
		})
		if err != nil {
			t.Fatal(err)
		}
		if b.Address != fl.hoas[i].String() {
			t.Errorf("%s bound at ha2 with %s, held %v at ha1", mn.ID, b.Address, fl.hoas[i])
		}
		t.Logf("%s: ha1 lost after %v, bound at ha2 with %s after %v", mn.ID, re.Time.Sub(killed).Round(time.Millisecond),
			b.Address, b.Time.Sub(killed).Round(time.Millisecond))
	}
	for _, hoa := range fl.hoas {
		ha2.WaitLog(ctx, "lease taken over from a member that is gone", 1, map[string]string{"hoa": hoa.String(), "from": "ha1"})
	}
	ls, err := ha2.Admin().Leases(ctx, store.Filter{Owner: "ha2"})
	if err != nil || len(ls) != n {
		t.Errorf("ha2 owns %d leases (%v), want %d", len(ls), err, n)
	}
	if o := checkHistory(t, ctx, l); o.Takeovers != n || o.Transfers != 0 {
		t.Errorf("ownership history: %d takeovers, %d transfers; want %d takeovers", o.Takeovers, o.Transfers, n)
	}
}

// TestClusterEtcdMemberKilledDuringDrain (issue 6, must show 5): ha1 is
// drained of ten nodes while the etcd leader is killed after the first
// move: the store elects a new leader, the drain goes on, every node ends
// at ha2 with its home address, and the history (read from the surviving
// etcd members) shows one transfer per node and nothing else.
func TestClusterEtcdMemberKilledDuringDrain(t *testing.T) {
	t.Parallel()
	const n = 10
	l := cluster.New(t, cluster.Options{Tune: func(c *cluster.HomeAgentConfig) { c.DrainRate = 2 }})
	ctx := stepCtx(t, 4*time.Minute)
	ha1, ha2 := l.HA("ha1"), l.HA("ha2")
	fl := startFleet(t, ctx, l, l.Topo.East, n, ha1, cluster.NodeOptions{})

	if _, err := ha1.Admin().Drain(ctx); err != nil {
		t.Fatal(err)
	}
	var first int = -1
	err := lab.Poll(ctx, "a node switched", func(context.Context) error {
		for i, mn := range fl.nodes {
			if mn.Count(mnclient.EventSwitched) > 0 {
				first = i
				return nil
			}
		}
		return fmt.Errorf("none yet")
	})
	if err != nil {
		t.Fatal(err)
	}
	leader := l.Etcd.Leader(ctx)
	if leader < 0 {
		t.Fatal("no etcd leader")
	}
	l.Etcd.Kill(leader)
	st, _ := ha1.Admin().DrainStatus(ctx)
	t.Logf("killed etcd member %s (the leader) after %s switched; drain: moved %d of %d", l.Etcd.Members()[leader].Name,
		fl.nodes[first].ID, st.Moved, st.Total)

	for i, mn := range fl.nodes {
		sw := mn.Wait(ctx, mnclient.EventSwitched, 1, nil)
		if sw.To != ha2.Addr.String() || sw.Address != fl.hoas[i].String() {
			t.Errorf("%s: switched %+v, want to ha2 keeping %v", mn.ID, sw, fl.hoas[i])
		}
	}
	err = lab.Poll(ctx, "the drain done", func(ctx context.Context) error {
		st, err := ha1.Admin().DrainStatus(ctx)
		if err != nil {
			return err
		}
		if st.State != "done" {
			return fmt.Errorf("drain %s: moved %d of %d, failed %d", st.State, st.Moved, st.Total, st.Failed)
		}
		if st.Moved != n {
			return lab.Permanent(fmt.Errorf("drain done with %d of %d moved, %d failed", st.Moved, st.Total, st.Failed))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if o := checkHistory(t, ctx, l); o.Transfers != n || o.Takeovers != 0 {
		t.Errorf("ownership history: %d transfers, %d takeovers; want %d transfers", o.Transfers, o.Takeovers, n)
	}
}
