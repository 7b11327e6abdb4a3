package ike

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// TestIKEOwnDualStack attaches our mobile node client to our home agent
// asking for an inner IPv6 and an inner IPv4 address: the client configures
// both on its TUN device, routes both families into it (IPv4 as the two
// halves of the default route), and pings over IPv6 and IPv4 pass through
// one CHILD_SA while the home agent itself stays reachable outside the
// tunnel.
func TestIKEOwnDualStack(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
	ctx := ctxFor(t, 90*time.Second)
	inner4 := netip.MustParseAddr("100.64.0.1")
	tp.HA1.Iface("lo").AddAddr(netip.PrefixFrom(inner4, 32).String())
	c := pskCreds("dual stack psk")
	ha := startOurHA(t, ctx, tp.HA1, c, "--ipv4-pool", "10.99.0.0/24", "--ike.local-ts", "100.64.0.0/24")
	mn := startOurMN(t, tp.MN, tp.HAAddrs[0].V6, c, "-ipv4", "-remote-ts", "::/0,0.0.0.0/0")
	home := mn.wait(ctx, mnclient.EventHomeAddress, 1, nil)
	hoa6, err := netip.ParsePrefix(home.Address)
	if err != nil || !ourPrefix.Contains(hoa6.Addr()) {
		t.Fatalf("home address %q", home.Address)
	}
	hoa4, err := netip.ParseAddr(home.IPv4)
	if err != nil || !netip.MustParsePrefix("10.99.0.0/24").Contains(hoa4) {
		t.Fatalf("inner IPv4 address %q", home.IPv4)
	}
	child := mn.wait(ctx, mnclient.EventChildInstalled, 1, nil)
	if len(child.LocalTS) != 2 || len(child.RemoteTS) != 2 {
		t.Errorf("CHILD_SA selectors %v === %v, want both families", child.LocalTS, child.RemoteTS)
	}
	if err := tp.MN.Ping(ctx, innerAddr.String(), hoa6.Addr().String(), 3); err != nil {
		t.Fatal(err)
	}
	if err := tp.MN.Ping(ctx, inner4.String(), hoa4.String(), 3); err != nil {
		t.Fatal(err)
	}
	// The home agent's own address stays outside the tunnel.
	if route, err := tp.MN.RouteGet(ctx, tp.HAAddrs[0].V6.String(), ""); err != nil || !strings.Contains(route, "dev eth0") {
		t.Errorf("route to the home agent: %q (%v), want it outside the tunnel", route, err)
	}
	ha.waitLog(ctx, "address assigned", 1, func(e logEntry) bool { return e.str("ipv4") == hoa4.String() })
	mn.detach(ctx)
}
