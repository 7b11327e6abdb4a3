package ike

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/interop"
	"github.com/mip6ha/mip6ha/test/lab"
)

// spisString formats SPIs as our logs do.
func spisString(i, r uint64) string { return fmt.Sprintf("%016x_%016x", i, r) }

// swanToOurHA starts charon in host as a mobile node that asks our home
// agent at haAddr for a virtual IPv6 address and a CHILD_SA to innerNet,
// and initiates.
func swanToOurHA(t testing.TB, ctx context.Context, host *lab.Host, haAddr netip.Addr, c creds, opts interop.CharonOptions) *interop.Charon {
	t.Helper()
	ch := interop.StartCharon(t, host, opts)
	local, remote, secrets, cas := c.swanAuth(c.mnID, c.haID, c.mn)
	if err := ch.Load(ctx, interop.Config{
		Connections: []interop.Connection{{
			Name:        "home",
			RemoteAddrs: []string{haAddr.String()},
			Proposals:   []string{swanIKEProposal},
			Encap:       true,
			VIPs:        []string{"::"},
			Local:       local,
			Remote:      remote,
			Children: []interop.Child{{
				Name:         "home",
				RemoteTS:     []string{innerNet.String()},
				ESPProposals: []string{swanESPProposal},
			}},
		}},
		Secrets: secrets,
		CAs:     cas,
	}); err != nil {
		t.Fatal(err)
	}
	if err := ch.Initiate(ctx, "home", "home"); err != nil {
		t.Fatal(err)
	}
	return ch
}

// checkSwanToOurHA checks an IKE SA and CHILD_SA from strongSwan (mn) to
// our home agent: both ends agree on the SPIs, strongSwan's virtual IP is
// the address our home agent assigned, IKE and ESP run on port 4500 in UDP,
// and pings from the virtual IP to innerAddr come back through the tunnel
// (strongSwan's inbound CHILD_SA counts the replies that our user-space ESP
// sealed). It returns strongSwan's SA and the virtual IP.
//
// mnSeenAs is the mobile node's outer address as the home agent sees it:
// its own, or its NAT's.
func checkSwanToOurHA(t testing.TB, ctx context.Context, mnHost *lab.Host, ch *interop.Charon, ha *ourHA, haAddr, mnSeenAs netip.Addr) (interop.IKESA, netip.Addr) {
	t.Helper()
	sa, err := ch.WaitEstablished(ctx, "home", "home")
	if err != nil {
		t.Fatal(err)
	}
	if len(sa.LocalVIPs) != 1 || !ourPrefix.Contains(sa.LocalVIPs[0]) {
		t.Fatalf("strongSwan's virtual IPs %v, want one from our %v", sa.LocalVIPs, ourPrefix)
	}
	vip := sa.LocalVIPs[0]
	spis := spisString(sa.SPIi, sa.SPIr)
	up := ha.waitLog(ctx, "IKE SA up", 1, func(e logEntry) bool { return e.str("spis") == spis })
	remote, _ := netip.ParseAddrPort(up.str("remote"))
	local, _ := netip.ParseAddrPort(up.str("local"))
	if up.str("peer") != "ID_FQDN:"+mnID || remote.Addr() != mnSeenAs || local != netip.AddrPortFrom(haAddr, 4500) || !up.flag("natt") {
		t.Errorf("our IKE SA up %v, strongSwan's %s", up, sa)
	}
	assigned := ha.waitLog(ctx, "address assigned", 1, func(e logEntry) bool { return e.str("peer") == "ID_FQDN:"+mnID })
	if p, err := netip.ParsePrefix(assigned.str("ipv6")); err != nil || p.Addr() != vip {
		t.Errorf("our home agent assigned %q, strongSwan lists the virtual IP %v", assigned.str("ipv6"), vip)
	}
	if sa.RemoteHost != netip.AddrPortFrom(haAddr, 4500) || sa.LocalHost.Port() != 4500 {
		t.Errorf("IKE SA endpoints %s - %s, want port 4500 to %s", sa.LocalHost, sa.RemoteHost, haAddr)
	}
	child, ok := sa.Child("home")
	if !ok || !child.Encap || child.Mode != "TUNNEL" || child.EncrAlg != "AES_GCM_16" {
		t.Errorf("strongSwan's CHILD_SA %+v: want ESP in UDP, tunnel mode, AES-GCM", child)
	}
	installed := ha.waitLog(ctx, "CHILD_SA installed", 1, func(e logEntry) bool { return e.str("out_spi") == fmt.Sprintf("%08x", child.SPIIn) })
	if installed.str("in_spi") != fmt.Sprintf("%08x", child.SPIOut) || !installed.flag("encap") {
		t.Errorf("our CHILD_SA %v, strongSwan's %+v", installed, child)
	}
	const n = 3
	if err := mnHost.WaitPing(ctx, innerAddr.String(), vip.String()); err != nil {
		t.Fatal(err)
	}
	if err := mnHost.Ping(ctx, innerAddr.String(), vip.String(), n); err != nil {
		t.Fatal(err)
	}
	after, err := ch.WaitEstablished(ctx, "home", "home")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := after.Child("home"); c.PacketsIn < n+1 {
		t.Errorf("strongSwan's CHILD_SA received %d packets for %d echo replies from our side", c.PacketsIn, n+1)
	}
	return after, vip
}

// TestIKEStrongSwanInitiatorPSK: strongSwan (kernel-libipsec, forced UDP
// encapsulation) initiates to our home agent with a pre-shared key, gets
// its virtual IPv6 address from our CFG_REPLY and pings an address behind
// our home agent through our user-space ESP. tshark decodes the captured
// exchange without a warning and decrypts it with our key log.
func TestIKEStrongSwanInitiatorPSK(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
	ctx := ctxFor(t, 90*time.Second)
	c := pskCreds("strongswan to mip6ha psk")
	ha := startOurHA(t, ctx, tp.HA1, c)
	capture := tp.HA1.Capture("eth0", "udp port 500 or udp port 4500")
	haAddr := tp.HAAddrs[0].V6
	ch := swanToOurHA(t, ctx, tp.MN, haAddr, c, interop.CharonOptions{})
	sa, _ := checkSwanToOurHA(t, ctx, tp.MN, ch, ha, haAddr, tp.MNAddrs().V6)
	if sa.EncrAlg != "AES_GCM_16" || sa.DHGroup != "CURVE_25519" || sa.RemoteID != haID {
		t.Errorf("IKE SA %s: %s, %s, remote %s", sa, sa.EncrAlg, sa.DHGroup, sa.RemoteID)
	}
	if err := ch.Terminate(ctx, "home"); err != nil {
		t.Fatal(err)
	}
	ha.waitLog(ctx, "IKE SA down", 1, func(e logEntry) bool { return e.str("reason") == "deleted-by-peer" })
	pcap := capture.Stop()
	checkTshark(t, ctx, pcap, ha.keylog, decryptWant{authRequest: true, cfgReply: true, delete: true})
}

// TestIKEStrongSwanInitiatorCertificates is the same with certificates on
// both sides, ECDSA and RSA (our responder asks for strongSwan's
// certificate with a CERTREQ and signs with RFC 7427 digital signatures).
func TestIKEStrongSwanInitiatorCertificates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		creds func(testing.TB) creds
	}{{"ECDSA", ecdsaCreds}, {"RSA", rsaCreds}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
			ctx := ctxFor(t, 90*time.Second)
			c := tc.creds(t)
			ha := startOurHA(t, ctx, tp.HA1, c)
			capture := tp.HA1.Capture("eth0", "udp port 500 or udp port 4500")
			haAddr := tp.HAAddrs[0].V6
			ch := swanToOurHA(t, ctx, tp.MN, haAddr, c, interop.CharonOptions{})
			sa, _ := checkSwanToOurHA(t, ctx, tp.MN, ch, ha, haAddr, tp.MNAddrs().V6)
			if sa.RemoteID != haID || sa.LocalID != mnID {
				t.Errorf("IKE SA %s: identities %s - %s", sa, sa.LocalID, sa.RemoteID)
			}
			// Both AUTH payloads use the Digital Signature method (14, RFC
			// 7427): strongSwan announced SIGNATURE_HASH_ALGORITHMS.
			pkts := checkTshark(t, ctx, capture.Stop(), ha.keylog, decryptWant{authRequest: true, cfgReply: true})
			var methods []string
			for _, p := range pkts {
				methods = append(methods, p.Values("isakmp.auth.method")...)
			}
			if !slices.Equal(methods, []string{"14", "14"}) {
				t.Errorf("AUTH methods on the wire %v, want 14 (RFC 7427) both ways", methods)
			}
		})
	}
}

// TestIKEHomeAgentDefaults runs `homeagent run` without flags, as the
// README's first command does: it serves IKE on ports 500 and 4500, says
// that no peer can authenticate, refuses a peer (no credentials, no
// built-in key), and stops cleanly on SIGTERM.
func TestIKEHomeAgentDefaults(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
	ctx := ctxFor(t, 60*time.Second)
	ha := tp.HA1.Start(lab.Binary(t, "./cmd/homeagent"), "run")
	if _, err := ha.WaitOutput(ctx, regexp.MustCompile(`no credentials configured: no peer can authenticate`)); err != nil {
		t.Fatal(err)
	}
	for _, port := range []int{500, 4500} {
		if err := tp.HA1.WaitListening(ctx, "udp", port); err != nil {
			t.Fatal(err)
		}
	}
	c := pskCreds("a guess")
	ch := interop.StartCharon(t, tp.MN, interop.CharonOptions{})
	local, remote, secrets, _ := c.swanAuth(c.mnID, "%any", nil)
	if err := ch.Load(ctx, interop.Config{
		Connections: []interop.Connection{{Name: "home", RemoteAddrs: []string{tp.HAAddrs[0].V6.String()},
			Proposals: []string{swanIKEProposal}, Encap: true, Local: local, Remote: remote,
			Children: []interop.Child{{Name: "home", ESPProposals: []string{swanESPProposal}}}}},
		Secrets: secrets,
	}); err != nil {
		t.Fatal(err)
	}
	if err := ch.Initiate(ctx, "home", "home"); err == nil || !strings.Contains(err.Error(), "AUTHENTICATION_FAILED") {
		t.Errorf("initiating to a home agent without credentials: %v, want AUTHENTICATION_FAILED", err)
	}
	if err := ha.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := ha.Wait(ctx); err != nil {
		t.Errorf("homeagent exit: %v\n%s", err, ha.Stderr())
	}
	if !strings.Contains(ha.Stderr(), "home agent runtime stopped") {
		t.Errorf("no stop line:\n%s", ha.Stderr())
	}
}
