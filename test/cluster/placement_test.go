package cluster_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/admin"
	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/policy"
	"github.com/mip6ha/mip6ha/test/cluster"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// stepCtx returns a context for a test, ended with it.
func stepCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestClusterRedirectAtInit (issue 6, must show 1): a node on the west link
// that contacts ha1 (site east) is redirected at IKE_SA_INIT to ha2 (site
// west: nearer) and attaches there; ha1's `homeagent ctl explain` for the
// node's address says why: ha2 ranks first, by distance.
func TestClusterRedirectAtInit(t *testing.T) {
	t.Parallel()
	l := cluster.New(t, cluster.Options{})
	ctx := stepCtx(t, 3*time.Minute)
	ha1, ha2 := l.HA("ha1"), l.HA("ha2")
	mn := l.StartNode(l.Topo.MN, "mn1@example.net", cluster.NodeOptions{HA: ha1.Addr})

	rd := mn.Wait(ctx, mnclient.EventRedirected, 1, nil)
	if rd.Stage != "IKE_SA_INIT" || rd.From != ha1.Addr.String() || rd.To != netip.AddrPortFrom(ha2.Addr, 500).String() {
		t.Fatalf("redirect %+v, want at IKE_SA_INIT from %v to %v", rd, ha1.Addr, ha2.Addr)
	}
	hoa, bound := mn.Bound(ctx)
	if bound.HomeAgent != ha2.Addr.String() {
		t.Fatalf("bound at %s, want %v", bound.HomeAgent, ha2.Addr)
	}
	if up := mn.Wait(ctx, mnclient.EventAttached, 1, nil); !strings.HasPrefix(up.Remote, "["+ha2.Addr.String()+"]") {
		t.Errorf("IKE SA with %s, want %v", up.Remote, ha2.Addr)
	}
	if n := mn.Count(mnclient.EventAttached); n != 1 {
		t.Errorf("%d IKE SAs: the redirect at IKE_SA_INIT must come before any", n)
	}
	t.Logf("mn1 redirected by ha1 at IKE_SA_INIT, bound at ha2 with home address %v", hoa)

	// Why: ha1 explains the decision for the node's outer address.
	out, err := ha1.Ctl(ctx, "--json", "explain", l.Topo.West.MN.V6.String())
	if err != nil {
		t.Fatal(err)
	}
	var ex admin.Explain
	if err := json.Unmarshal([]byte(out), &ex); err != nil {
		t.Fatalf("explain: %v\n%s", err, out)
	}
	table, err := ha1.Ctl(ctx, "explain", l.Topo.West.MN.V6.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("homeagent ctl explain %s (on ha1):\n%s", l.Topo.West.MN.V6, table)
	if ex.Action != policy.ActionRedirect || ex.Target != "ha2" || ex.Reason != policy.ReasonNearer || ex.ClientSite != "west" ||
		ex.Addr != ha2.Addr {
		t.Errorf("explain: %s, want a redirect to ha2 (%v) because it is nearer the client's site west", ex.Decision, ha2.Addr)
	}
	scores := map[string]policy.Score{}
	for _, s := range ex.Scores {
		scores[s.Member] = s
	}
	if s := scores["ha2"]; s.Rank != 1 || s.Distance != 0 {
		t.Errorf("ha2's score %+v, want rank 1 at distance 0", s)
	}
	if s := scores["ha1"]; s.Rank != 2 || s.Distance != 100 || !s.Self {
		t.Errorf("ha1's score %+v, want rank 2 at distance 100 (itself)", s)
	}

	// The lease is ha2's, and the redirect is counted at ha1.
	ls, err := ha2.Admin().Leases(ctx, store.Filter{})
	if err != nil || len(ls) != 1 || ls[0].HoA != hoa || ls[0].Owner != "ha2" || ls[0].State != store.StateBound {
		t.Errorf("leases %+v (%v), want %v bound at ha2", ls, err, hoa)
	}
	if err := mn.Stop(); err != nil {
		t.Errorf("mnclient: %v", err)
	}
}
