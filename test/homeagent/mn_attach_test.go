package homeagent

import (
	"fmt"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/lab"
)

// TestHomeAgentMobileNodeAttach (issue 5, must show 1): mnclient attaches
// to homeagent, gets a home address, the Binding Update inside the tunnel
// is accepted, and a TCP transfer from cn to the home address runs
// through the home agent (cn's packets reach it on the home link, and the
// node over ESP in UDP).
func TestHomeAgentMobileNodeAttach(t *testing.T) {
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
	ctx := haCtx(t, 2*time.Minute)
	const id = "mn1@example.net"
	h := startHomeAgent(t, ctx, tp.HA1, haOptions{identities: []string{id}})
	mn := startMobileNode(t, tp.MN, tp.HAAddrs[0].V6, id, "--lifetime", "60s")
	hoa, acc := mn.homeAddress(ctx)
	if !lab.DefaultHome.V6.Contains(hoa) || acc.HomeAgent != tp.HAAddrs[0].V6.String() || acc.Lifetime <= 0 ||
		acc.Lifetime > 60 || !acc.KeyManagement || acc.CoA != tp.West.MN.V6.String() || acc.Sequence == 0 {
		t.Errorf("binding_accepted %+v (home address %v)", acc, hoa)
	}
	t.Logf("home address %v bound, Binding Update to Acknowledgement %.2f ms", hoa, acc.LatencyMS)

	atHA := tp.HA1.Capture("eth0", fmt.Sprintf("ip6 dst %s and tcp port %d", hoa, flowPort))
	esp := tp.MN.Capture("eth0", "udp port 4500")
	tr := startTransfer(t, ctx, tp.MN, tp.CN, hoa, 2*time.Second)
	r := tr.report(ctx)
	t.Logf("cn -> home address: %s", r)
	if err := atHA.WaitPackets(ctx, 100); err != nil {
		t.Errorf("cn's packets for the home address on the home agent's home link: %v", err)
	}
	if err := esp.WaitPackets(ctx, 100); err != nil {
		t.Errorf("ESP in UDP at the mobile node: %v", err)
	}
	mn.stop()
	h.stop()
}
