package homeagent

import (
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// TestHomeAgentMobileNodeBehindNAT44 (issue 5, must show 3): a node with
// only an IPv4 care-of address behind NAT44 attaches over IPv4 (NAT-T, ESP
// in UDP 4500), keeps an IPv6 home address registered with an IPv4
// Care-of Address option (RFC 5555 §3.1.2), and the transfer from cn to
// the home address works through the NAT.
func TestHomeAgentMobileNodeBehindNAT44(t *testing.T) {
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1, NAT44: true})
	ctx := haCtx(t, 2*time.Minute)
	// An IPv4-only visited link: the node loses its IPv6 address and routes.
	tp.MN.Iface("eth0").DelAddr(tp.West.MN.V6.String() + "/64")
	tp.MN.MustRun("ip", "-6", "route", "flush", "dev", "eth0")
	const id = "mn3@example.net"
	h := startHomeAgent(t, ctx, tp.HA1, haOptions{identities: []string{id}})
	mn := startMobileNode(t, tp.MN, tp.HAAddrs[0].V4, id, "--ha-addr", tp.HAAddrs[0].V6.String(), "--lifetime", "60s")
	nat := mn.wait(ctx, mnclient.EventNATDetected, 1, nil)
	if !nat.LocalBehindNAT {
		t.Errorf("nat_detected %+v: the node should see itself behind the NAT", nat)
	}
	hoa, acc := mn.homeAddress(ctx)
	if !hoa.Is6() || !lab.DefaultHome.V6.Contains(hoa) || acc.CoA != tp.West.MN.V4.String() {
		t.Errorf("home address %v, binding_accepted %+v: want an IPv6 home address with the IPv4 care-of address %v",
			hoa, acc, tp.West.MN.V4)
	}
	tr := startTransfer(t, ctx, tp.MN, tp.CN, hoa, 2*time.Second)
	r := tr.report(ctx)
	t.Logf("cn -> home address through NAT44: %s", r)
	mn.stop()
	h.stop()
}
