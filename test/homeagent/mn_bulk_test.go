package homeagent

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// TestHomeAgentMobileNodeBulk runs the load generator (mnclient bulk)
// against our home agent: 200 mobile nodes, one identity each, from one
// process on mn. Every node attaches, is bound with its own home address,
// and deregisters at the end; the log gives the rates.
func TestHomeAgentMobileNodeBulk(t *testing.T) {
	const n = 200
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
	ctx := haCtx(t, 3*time.Minute)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = mnclient.NodeID("bulk{n}@example.net", i+1)
	}
	h := startHomeAgent(t, ctx, tp.HA1, haOptions{identities: ids})
	psk := writeMNPSK(t, tp.MN)
	bulk := tp.MN.Start(lab.Binary(t, "./cmd/mnclient"), "bulk", "--ha", tp.HAAddrs[0].V6.String(), "--ha-id", haIdentity,
		"--psk-file", psk, "--count", "200", "--id-template", "bulk{n}@example.net", "--concurrency", "64",
		"--lifetime", "60s", "--json", "--log-level", "warn")
	if err := bulk.Wait(ctx); err != nil {
		t.Errorf("mnclient bulk: %v\n%s", err, logTail(bulk.Stderr(), 3000))
	}
	var r mnclient.BulkReport
	if err := json.Unmarshal([]byte(bulk.Stdout()), &r); err != nil {
		t.Fatalf("summary %q: %v", bulk.Stdout(), err)
	}
	t.Logf("mnclient bulk against the home agent daemon:\n%s", r)
	if r.Nodes != n || r.Attached != n || r.Bound != n || len(r.Failed) != 0 || r.Deregistered != n {
		t.Errorf("summary %+v", r)
	}
	h.stop()
}
