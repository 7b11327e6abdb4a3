package redirect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/interop"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/tshark"
)

// anycastAddr is the address both home agents share.
var anycastAddr = netip.MustParseAddr("2001:db8:ac::1")

// TestRedirectAnycast: two of our home agents (cmd/homeagent, from their
// configuration: ike.redirect.anycast, cluster.addresses) share an anycast
// address; the router takes mn's traffic to it to ha1. A strongSwan
// initiator sent to the anycast address gets, from the anycast address, a
// REDIRECT to ha1's unicast address (RFC 5685 §4), follows it with
// REDIRECTED_FROM naming the anycast address, and gets its SAs at ha1,
// where traffic flows. ha2 sees nothing of it.
func TestRedirectAnycast(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{Anycast: lab.Addrs{V6: anycastAddr}})
	ctx := ctxFor(t, 90*time.Second)
	ha1Addr, ha2Addr := tp.HAAddrs[0].V6, tp.HAAddrs[1].V6
	capture := tp.MN.Capture("eth0", "udp port 500 or udp port 4500")
	anycast := "  redirect:\n    enable: true\n    anycast: [\"" + anycastAddr.String() + "\"]\n"
	ha1 := startHA(t, ctx, tp.HA1, haOptions{member: "ha1", unicast: ha1Addr, hostRange: hostRanges[0], ike: anycast})
	ha2 := startHA(t, ctx, tp.HA2, haOptions{member: "ha2", unicast: ha2Addr, hostRange: hostRanges[1], ike: anycast})
	swan := startSwan(t, ctx, tp.MN, anycastAddr, interop.CharonOptions{}, "")
	if err := swan.Initiate(ctx, swanConn, "home"); err != nil {
		t.Fatal(err)
	}
	pingThrough(t, ctx, tp.MN, swan, ha1Addr)
	red := ha1.waitLog(ctx, "redirect", nil)
	if red.str("stage") != "init" || red.str("reason") != "anycast-must-redirect" || red.str("anycast") != "true" ||
		red.str("target") != ha1Addr.String() {
		t.Errorf("ha1 logged %v", red)
	}
	if msgs := ha2.logs("IKE message received"); len(msgs) != 0 {
		t.Errorf("ha2 received IKE messages: %v", msgs)
	}

	msgs := ikeMessages(t, ctx, capture.Stop(), nil)
	checkNoPrivateUse(t, msgs)
	toAnycast := initRequestsTo(msgs, anycastAddr)
	if len(toAnycast) != 1 || !hasNotify(toAnycast[0], nRedirectSupported) {
		t.Fatalf("requests to the anycast address %v", toAnycast)
	}
	var fromAnycast []tshark.Packet
	for _, m := range msgs {
		if m.Value("ipv6.src") == anycastAddr.String() {
			fromAnycast = append(fromAnycast, m)
		}
	}
	if len(fromAnycast) == 0 {
		t.Fatal("no answer from the anycast address")
	}
	a := fromAnycast[0]
	if !hasNotify(a, nRedirect) || a.Value("isakmp.notify.data.redirect.new_resp_gw_ident.ipv6") != ha1Addr.String() ||
		a.Value("isakmp.notify.data.redirect.nonce_data") != toAnycast[0].Value("isakmp.nonce") || a.Value("isakmp.rspi") != "0000000000000000" {
		t.Errorf("answer from the anycast address %v: want a REDIRECT to ha1's unicast %v with the request's Ni", a, ha1Addr)
	}
	toHA1 := initRequestsTo(msgs, ha1Addr)
	if len(toHA1) != 1 || toHA1[0].Value("isakmp.notify.data.redirect.org_resp_gw_ident.ipv6") != anycastAddr.String() {
		t.Errorf("requests to ha1 %v: want one with REDIRECTED_FROM naming the anycast address", toHA1)
	}
	for _, m := range msgs {
		if m.Value("ipv6.src") == anycastAddr.String() && m.Value("isakmp.exchangetype") != exIKESAInit {
			t.Errorf("the IKE SA runs on the anycast address: %v", m)
		}
	}
}
