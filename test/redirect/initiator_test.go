package redirect

import (
	"context"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/interop"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// swanPool is where strongSwan gateways take virtual IPs from: the same on
// every gateway, so that a node asking for the address it holds gets it.
var swanPool = netip.MustParsePrefix("2001:db8:1::3000/124")

// startSwanGateway starts strongSwan in host as a gateway for our mobile
// node: any peer with the lab's key, virtual IPs from swanPool, a CHILD_SA
// to innerAddr on the host's lo.
func startSwanGateway(t testing.TB, ctx context.Context, host *lab.Host, addr netip.Addr) *interop.Charon {
	t.Helper()
	host.Iface("lo").AddAddr(netip.PrefixFrom(innerAddr, 128).String())
	ch := interop.StartCharon(t, host, interop.CharonOptions{})
	if err := ch.Load(ctx, interop.Config{
		Connections: []interop.Connection{{
			Name:       "mn",
			LocalAddrs: []string{addr.String()},
			Proposals:  []string{swanIKE},
			Encap:      true,
			Pools:      []string{"hoa"},
			Local:      interop.Auth{Method: "psk", ID: haID},
			Remote:     interop.Auth{Method: "psk", ID: mnID},
			Children: []interop.Child{{
				Name:         "home",
				LocalTS:      []string{netip.PrefixFrom(innerAddr, 128).String()},
				ESPProposals: []string{swanESP},
			}},
		}},
		Pools:   []interop.Pool{{Name: "hoa", Addrs: swanPool.String()}},
		Secrets: []interop.Secret{{Name: "mn", Secret: labPSK}},
	}); err != nil {
		t.Fatal(err)
	}
	return ch
}

// homeAddress waits for the n-th home address of our client.
func (mn *ourMN) homeAddress(ctx context.Context, n int) netip.Addr {
	mn.t.Helper()
	e := mn.wait(ctx, mnclient.EventHomeAddress, n, nil)
	p, err := netip.ParsePrefix(e.Address)
	if err != nil {
		mn.t.Fatalf("home_address %q: %v", e.Address, err)
	}
	return p.Addr()
}

// TestRedirectInitiatorLibreswanGlobalRedirect: libreswan's pluto on ha1
// answers every IKE_SA_INIT with REDIRECT (global-redirect, RFC 5685 §3)
// to ha2; our mobile node client checks the nonce, follows with
// REDIRECTED_FROM naming ha1 and attaches to our home agent on ha2, where
// its traffic flows. pluto keeps no state.
func TestRedirectInitiatorLibreswanGlobalRedirect(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{})
	ctx := ctxFor(t, 90*time.Second)
	ha1Addr, ha2Addr := tp.HAAddrs[0].V6, tp.HAAddrs[1].V6
	pluto := interop.StartPluto(t, tp.HA1, interop.PlutoOptions{Listen: ha1Addr, GlobalRedirectTo: []string{ha2Addr.String()}})
	ha2 := startHA(t, ctx, tp.HA2, haOptions{member: "ha2", unicast: ha2Addr, hostRange: hostRanges[1]})
	capture := tp.MN.Capture("eth0", "udp port 500 or udp port 4500")
	mn := startMN(t, tp.MN, ha1Addr)
	rd := mn.wait(ctx, mnclient.EventRedirected, 1, nil)
	if rd.Stage != "IKE_SA_INIT" || rd.From != ha1Addr.String() || rd.To != netip.AddrPortFrom(ha2Addr, 500).String() {
		t.Fatalf("redirected %+v", rd)
	}
	up := mn.wait(ctx, mnclient.EventAttached, 1, nil)
	if up.Remote != netip.AddrPortFrom(ha2Addr, 4500).String() || up.Peer != "ID_FQDN:"+haID {
		t.Fatalf("attached %+v, want ha2", up)
	}
	mn.wait(ctx, mnclient.EventChildInstalled, 1, nil)
	hoa := mn.homeAddress(ctx, 1)
	if err := tp.MN.WaitPing(ctx, innerAddr.String(), hoa.String()); err != nil {
		t.Fatal(err)
	}
	haUp := ha2.waitLog(ctx, "IKE SA up", nil)
	if haUp.str("peer") != "ID_RFC822_ADDR:"+mnID {
		t.Errorf("ha2's IKE SA %v", haUp)
	}
	st, err := pluto.GlobalStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st["total.ike.ikev2.redirect.completed"] != 1 || st["current.states.ike"] != 0 {
		t.Errorf("pluto: %d redirects, %d IKE states; want 1 and none", st["total.ike.ikev2.redirect.completed"], st["current.states.ike"])
	}
	msgs := ikeMessages(t, ctx, capture.Stop(), nil)
	toHA1, toHA2 := initRequestsTo(msgs, ha1Addr), initRequestsTo(msgs, ha2Addr)
	if len(toHA1) != 1 || !hasNotify(toHA1[0], nRedirectSupported) || hasNotify(toHA1[0], nRedirectedFrom) {
		t.Errorf("requests to pluto %v: want one with REDIRECT_SUPPORTED", toHA1)
	}
	if len(toHA2) != 1 || !hasNotify(toHA2[0], nRedirectedFrom) || hasNotify(toHA2[0], nRedirectSupported) ||
		toHA2[0].Value("isakmp.notify.data.redirect.org_resp_gw_ident.ipv6") != ha1Addr.String() {
		t.Errorf("requests to ha2 %v: want one with REDIRECTED_FROM naming ha1 (and no REDIRECT_SUPPORTED beside it)", toHA2)
	}
	if len(toHA1) == 1 && len(toHA2) == 1 && toHA1[0].Value("isakmp.nonce") == toHA2[0].Value("isakmp.nonce") {
		t.Error("the same Ni sent to both gateways (RFC 7296 §3.9: nonces are not reused)")
	}
	checkNoPrivateUse(t, msgs)
}

// TestRedirectInitiatorStrongSwanEstablished: strongSwan on ha1 redirects
// our client's established SA (swanctl --redirect, RFC 5685 §5). The
// client acknowledges, sets up its IKE SA and CHILD_SA with strongSwan on
// ha2 first, asking for the home address it holds (and gets it), and only
// then deletes the SA with ha1: for a moment it holds both. Traffic flows
// through ha2 afterwards.
func TestRedirectInitiatorStrongSwanEstablished(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{})
	ctx := ctxFor(t, 90*time.Second)
	ha1Addr, ha2Addr := tp.HAAddrs[0].V6, tp.HAAddrs[1].V6
	gw1 := startSwanGateway(t, ctx, tp.HA1, ha1Addr)
	gw2 := startSwanGateway(t, ctx, tp.HA2, ha2Addr)
	capture := tp.MN.Capture("eth0", "udp port 500 or udp port 4500")
	mn := startMN(t, tp.MN, ha1Addr)
	hoa := mn.homeAddress(ctx, 1)
	mn.wait(ctx, mnclient.EventChildInstalled, 1, nil)
	if err := tp.MN.WaitPing(ctx, innerAddr.String(), hoa.String()); err != nil {
		t.Fatal(err)
	}
	if err := gw1.Redirect(ctx, "mn", ha2Addr.String()); err != nil {
		t.Fatal(err)
	}
	rd := mn.wait(ctx, mnclient.EventRedirected, 1, nil)
	if rd.Stage != "INFORMATIONAL" || rd.From != ha1Addr.String() || rd.To != netip.AddrPortFrom(ha2Addr, 500).String() {
		t.Fatalf("redirected %+v", rd)
	}
	child2 := mn.wait(ctx, mnclient.EventChildInstalled, 2, nil)
	if got := mn.homeAddress(ctx, 2); got != hoa {
		t.Errorf("home address at ha2 %v, held %v", got, hoa)
	}
	detached := mn.wait(ctx, mnclient.EventDetached, 1, nil)
	if detached.Reason != "deleted" || detached.Time.Before(child2.Time) {
		t.Errorf("the old SA ended %+v before the new CHILD_SA %+v", detached, child2)
	}
	sa, err := gw2.WaitEstablished(ctx, "mn", "home")
	if err != nil {
		t.Fatal(err)
	}
	if len(sa.RemoteVIPs) != 1 || sa.RemoteVIPs[0] != hoa {
		t.Errorf("strongSwan on ha2 assigned %v, the client held %v", sa.RemoteVIPs, hoa)
	}
	if err := lab.Poll(ctx, "strongSwan on ha1 to drop the old SA", func(ctx context.Context) error {
		sas, err := gw1.ListSAs(ctx)
		if err != nil || len(sas) != 0 {
			return lab.ErrNotYet
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := tp.MN.Ping(ctx, innerAddr.String(), hoa.String(), 3); err != nil {
		t.Fatal(err)
	}
	after, err := gw2.WaitEstablished(ctx, "mn", "home")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := after.Child("home"); c.PacketsIn < 3 {
		t.Errorf("strongSwan on ha2 counted %d packets from the client", c.PacketsIn)
	}
	// On the wire: the Delete to ha1 leaves after ha2's IKE_AUTH answer.
	msgs := ikeMessages(t, ctx, capture.Stop(), keyLogPrefs(t, mn.keylog))
	authDone, deleteAt := -1, -1
	for i, m := range msgs {
		if m.Value("ipv6.src") == ha2Addr.String() && m.Value("isakmp.exchangetype") == exIKEAuth && authDone < 0 {
			authDone = i
		}
		if m.Value("ipv6.dst") == ha1Addr.String() && m.Value("isakmp.exchangetype") == exInformational && m.Value("isakmp.flag_r") != "1" &&
			strings.Contains(strings.Join(m.Values("isakmp.delete.protoid"), ","), "1") && deleteAt < 0 {
			deleteAt = i
		}
	}
	if authDone < 0 || deleteAt < 0 || deleteAt < authDone {
		t.Errorf("ha2's IKE_AUTH response at message %d, the Delete to ha1 at %d: want the Delete after", authDone, deleteAt)
	}
	if log, _ := gw1.Log(); !regexp.MustCompile(`redirect`).MatchString(log) {
		t.Errorf("strongSwan on ha1 did not log the redirect")
	}
}
