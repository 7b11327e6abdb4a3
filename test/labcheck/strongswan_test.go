package labcheck

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/interop"
	"github.com/mip6ha/mip6ha/test/lab"
)

// Home addresses handed out as virtual IPs, from the home prefix.
var (
	pool1 = netip.MustParsePrefix("2001:db8:1::1000/124")
	pool2 = netip.MustParsePrefix("2001:db8:1::2000/124")
)

// Each home agent gets an address on lo that only the tunnel reaches
// (2001:db8:f::<i>): traffic to its outer address would bypass the
// CHILD_SA, which charon keeps out of the tunnel by a "throw" route.
var innerNet = netip.MustParsePrefix("2001:db8:f::/64")

func innerAddr(ha int) netip.Addr {
	a := innerNet.Addr().As16()
	a[15] = byte(ha + 1)
	return netip.AddrFrom16(a)
}

// peer describes one side of a test connection: its outer address, its
// authentication and the other side's.
type peer struct {
	addr          netip.Addr
	local, remote interop.Auth
	proposal      string
	encap         bool // force UDP encapsulation even without a NAT
}

// haConfig is home agent number ha's responder configuration: any peer
// with the remote auth, a CHILD_SA to the agent's inner address, virtual
// IPs from pool. It also gives the agent its inner address.
func haConfig(tp *lab.Topology, ha int, p peer, pool netip.Prefix, secrets ...interop.Secret) interop.Config {
	inner := innerAddr(ha)
	tp.HAs[ha].Iface("lo").AddAddr(netip.PrefixFrom(inner, 128).String())
	return interop.Config{
		Connections: []interop.Connection{{
			Name:       "mn",
			LocalAddrs: []string{p.addr.String()},
			Proposals:  []string{p.proposal},
			Encap:      p.encap,
			Pools:      []string{"hoa"},
			Local:      p.local,
			Remote:     p.remote,
			Children: []interop.Child{{
				Name:         "home",
				LocalTS:      []string{netip.PrefixFrom(inner, 128).String()},
				ESPProposals: []string{"aes128gcm16"},
			}},
		}},
		Pools:   []interop.Pool{{Name: "hoa", Addrs: pool.String()}},
		Secrets: secrets,
	}
}

// mnConfig is the mobile node's initiator configuration towards the home
// agent at p.addr, asking for a virtual IPv6 address.
func mnConfig(p peer, secrets ...interop.Secret) interop.Config {
	return interop.Config{
		Connections: []interop.Connection{{
			Name:        "home",
			RemoteAddrs: []string{p.addr.String()},
			Proposals:   []string{p.proposal},
			Encap:       p.encap,
			VIPs:        []string{"::"},
			Local:       p.local,
			Remote:      p.remote,
			Children: []interop.Child{{
				Name:         "home",
				RemoteTS:     []string{innerNet.String()},
				ESPProposals: []string{"aes128gcm16"},
			}},
		}},
		Secrets: secrets,
	}
}

func load(ctx context.Context, t *testing.T, c *interop.Charon, cfg interop.Config) {
	t.Helper()
	if err := c.Load(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// checkTunnel checks an established IKE SA + CHILD_SA pair between mn and
// home agent number haNum (outer address haAddr): UDP encapsulation on
// port 4500, both ends agreeing on SPIs, identities and the virtual IP
// from pool, and pings from the virtual IP to the agent's inner address
// that go through the CHILD_SAs (whose inbound packet counters grow). It
// returns mn's SA.
func checkTunnel(ctx context.Context, t *testing.T, tp *lab.Topology, mn, ha *interop.Charon, haNum int, haAddr netip.Addr, pool netip.Prefix) interop.IKESA {
	t.Helper()
	inner := innerAddr(haNum)
	sa, err := mn.WaitEstablished(ctx, "home", "home")
	if err != nil {
		t.Fatal(err)
	}
	if len(sa.LocalVIPs) != 1 || !pool.Contains(sa.LocalVIPs[0]) {
		t.Fatalf("mn's virtual IPs %v, want one from %s", sa.LocalVIPs, pool)
	}
	vip := sa.LocalVIPs[0]
	if sa.RemoteHost != netip.AddrPortFrom(haAddr, 4500) || sa.LocalHost.Port() != 4500 {
		t.Errorf("IKE SA endpoints %s - %s, want port 4500 to %s", sa.LocalHost, sa.RemoteHost, haAddr)
	}
	if !sa.NATAny {
		t.Error("no NAT detected or faked: ESP is not encapsulated in UDP")
	}
	haSA, err := ha.WaitEstablished(ctx, "mn", "home")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(haSA.RemoteVIPs, sa.LocalVIPs) || haSA.RemoteID != sa.LocalID || haSA.LocalID != sa.RemoteID ||
		haSA.SPIi != sa.SPIi || haSA.SPIr != sa.SPIr || haSA.LocalHost != sa.RemoteHost {
		t.Errorf("the two ends disagree:\nmn %s %x/%x %s %v\nha %s %x/%x %s %v", sa, sa.SPIi, sa.SPIr, sa.LocalID, sa.LocalVIPs,
			haSA, haSA.SPIi, haSA.SPIr, haSA.RemoteID, haSA.RemoteVIPs)
	}
	mnChild, _ := sa.Child("home")
	haChild, _ := haSA.Child("home")
	if !mnChild.Encap || !haChild.Encap || mnChild.Mode != "TUNNEL" || mnChild.SPIIn != haChild.SPIOut || mnChild.SPIOut != haChild.SPIIn {
		t.Errorf("CHILD_SAs: mn %+v, ha %+v", mnChild, haChild)
	}
	const n = 3
	if err := tp.MN.WaitPing(ctx, inner.String(), vip.String()); err != nil {
		t.Fatal(err)
	}
	if err := tp.MN.Ping(ctx, inner.String(), vip.String(), n); err != nil {
		t.Fatal(err)
	}
	after, err := mn.WaitEstablished(ctx, "home", "home")
	if err != nil {
		t.Fatal(err)
	}
	haAfter, err := ha.WaitEstablished(ctx, "mn", "home")
	if err != nil {
		t.Fatal(err)
	}
	// kernel-libipsec counts inbound packets only.
	c, _ := after.Child("home")
	hc, _ := haAfter.Child("home")
	if c.PacketsIn < n+1 || hc.PacketsIn < n+1 {
		t.Errorf("CHILD_SAs received %d (mn) and %d (ha) packets for %d pings", c.PacketsIn, hc.PacketsIn, n+1)
	}
	return after
}

func natFlags(sa interop.IKESA) string {
	return fmt.Sprintf("nat-local=%v nat-remote=%v nat-fake=%v nat-any=%v", sa.NATLocal, sa.NATRemote, sa.NATFake, sa.NATAny)
}

func pskPeers(addr netip.Addr, encap bool) (ha, mn peer) {
	haID := interop.Auth{Method: "psk", ID: "ha.example"}
	mnID := interop.Auth{Method: "psk", ID: "mn.example"}
	const proposal = "aes128-sha256-x25519"
	return peer{addr, haID, mnID, proposal, encap}, peer{addr, mnID, haID, proposal, encap}
}

// TestLabStrongSwanPSK sets up IKE_SA + CHILD_SA between two strongSwan
// charons (kernel-libipsec, forced UDP encapsulation) with a pre-shared
// key, gets a virtual IPv6 address from the responder's pool, pings
// through the tunnel, rekeys the CHILD_SA and tears everything down.
func TestLabStrongSwanPSK(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{})
	ctx := ctxFor(t, 60*time.Second)
	ha := interop.StartCharon(t, tp.HA1, interop.CharonOptions{})
	mn := interop.StartCharon(t, tp.MN, interop.CharonOptions{})

	// A key with characters the swanctl syntax must quote.
	psk := interop.Secret{Name: "mn", IDs: []string{"mn.example", "ha.example"}, Secret: `lab psk with "quotes", \ and #`}
	haPeer, mnPeer := pskPeers(tp.HAAddrs[0].V6, true)
	load(ctx, t, ha, haConfig(tp, 0, haPeer, pool1, psk))
	load(ctx, t, mn, mnConfig(mnPeer, psk))
	if err := mn.Initiate(ctx, "home", "home"); err != nil {
		t.Fatal(err)
	}
	sa := checkTunnel(ctx, t, tp, mn, ha, 0, tp.HAAddrs[0].V6, pool1)
	if sa.EncrAlg != "AES_CBC" || sa.DHGroup != "CURVE_25519" || sa.RemoteID != "ha.example" {
		t.Errorf("IKE SA %s: %s, %s, remote %s", sa, sa.EncrAlg, sa.DHGroup, sa.RemoteID)
	}

	old, _ := sa.Child("home")
	if err := mn.Rekey(ctx, "", "home"); err != nil {
		t.Fatal(err)
	}
	sa, err := mn.WaitSA(ctx, "home", func(sa interop.IKESA) bool {
		c, ok := sa.Child("home")
		return ok && c.State == interop.StateInstalled && c.UniqueID != old.UniqueID
	})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := sa.Child("home")
	if c.SPIIn == old.SPIIn || c.SPIOut == old.SPIOut || c.ReqID != old.ReqID {
		t.Errorf("after rekeying: %+v, before %+v", c, old)
	}
	// The responder switches its outbound SA when the old one's DELETE
	// arrives; until then its answers may use the SA mn just dropped.
	// (It keeps the old inbound SA a few seconds longer, DELETED.)
	if _, err := ha.WaitSA(ctx, "mn", func(sa interop.IKESA) bool {
		hc, ok := sa.Child("home")
		if !ok || hc.SPIIn != c.SPIOut || hc.SPIOut != c.SPIIn {
			return false
		}
		for _, o := range sa.Children {
			if o.SPIIn == old.SPIOut && !slices.Contains([]string{"DELETING", "DELETED", "DESTROYING"}, o.State) {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if err := tp.MN.WaitPing(ctx, innerAddr(0).String(), sa.LocalVIPs[0].String()); err != nil {
		t.Fatal(err)
	}
	if global, err := mn.Counters(ctx, ""); err != nil || global["ike-init-out-req"] != 1 || global["create-child-out-req"] != 1 {
		t.Errorf("mn's global counters %v (%v): want one IKE_SA_INIT and one CREATE_CHILD_SA request sent", global, err)
	}
	for c, conn := range map[*interop.Charon]string{mn: "home", ha: "mn"} {
		counters, err := c.Counters(ctx, conn)
		if err != nil {
			t.Fatal(err)
		}
		if counters["child-rekey"] != 1 || counters["ike-rekey-init"]+counters["ike-rekey-resp"] != 0 {
			t.Errorf("%s counters %v: want one CHILD_SA rekeying", c.Host(), counters)
		}
	}
	if err := tp.MN.Ping(ctx, innerAddr(0).String(), sa.LocalVIPs[0].String(), 2); err != nil {
		t.Fatalf("after rekeying: %v", err)
	}

	// ha announces the end of the IKE SA with an ike-updown event.
	events, err := ha.Vici(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Subscribe(ctx, "ike-updown"); err != nil {
		t.Fatal(err)
	}
	if err := mn.Terminate(ctx, "home"); err != nil {
		t.Fatal(err)
	}
	for {
		name, m, err := events.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for ike-updown: %v", err)
		}
		// {mn {...}} for the connection, and up=yes only when it comes up.
		if name == "ike-updown" && m.Section("mn") != nil && m.String("up") == "" {
			break
		}
	}
	if sas, err := ha.ListSAs(ctx); err != nil || len(sas) != 0 {
		t.Errorf("ha still lists %v (%v)", sas, err)
	}
}

// TestLabStrongSwanNAT44 puts mn behind r's NAT44 without forcing UDP
// encapsulation in the configuration: mn finds itself behind a NAT, IKE
// floats to port 4500, and the home agent sees mn at r's address.
//
// kernel-libipsec handles ESP in UDP only, so each charon fakes its
// NAT_DETECTION_SOURCE_IP: both ends always believe the other to be
// behind a NAT (nat-remote), with or without one. Only nat-local tells
// the real NAT.
func TestLabStrongSwanNAT44(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{NAT44: true})
	ctx := ctxFor(t, 60*time.Second)
	ha := interop.StartCharon(t, tp.HA1, interop.CharonOptions{})
	mn := interop.StartCharon(t, tp.MN, interop.CharonOptions{})
	psk := interop.Secret{Name: "mn", Secret: "nat44-lab-psk"}
	haPeer, mnPeer := pskPeers(tp.HAAddrs[0].V4, false)
	load(ctx, t, ha, haConfig(tp, 0, haPeer, pool1, psk))
	load(ctx, t, mn, mnConfig(mnPeer, psk))
	if err := mn.Initiate(ctx, "home", "home"); err != nil {
		t.Fatal(err)
	}
	sa := checkTunnel(ctx, t, tp, mn, ha, 0, tp.HAAddrs[0].V4, pool1)
	if !sa.NATLocal || sa.LocalHost.Addr() != tp.MNAddrs().V4 {
		t.Errorf("mn's view of the NAT: %s: %s", sa, natFlags(sa))
	}
	haSA, err := ha.WaitEstablished(ctx, "mn", "home")
	if err != nil {
		t.Fatal(err)
	}
	if haSA.NATLocal || haSA.RemoteHost.Addr() != tp.HomeRouter.V4 {
		t.Errorf("ha's view of the NAT: %s: %s (r's address is %s)", haSA, natFlags(haSA), tp.HomeRouter.V4)
	}
}

// TestLabStrongSwanECDSA is TestLabStrongSwanPSK with ECDSA certificates
// from the harness's CA and an AEAD IKE proposal. It also decrypts the
// captured IKE_AUTH with the keys from charon's log, sees ESP in UDP on
// the wire, and checks that a certificate from a foreign CA is refused.
func TestLabStrongSwanECDSA(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{})
	ctx := ctxFor(t, 60*time.Second)
	ca := interop.NewCA(t, "mip6ha lab CA", interop.ECDSAP256)
	haCert := ca.Issue(t, "ha.example", interop.ECDSAP256, "ha.example")
	mnCert := ca.Issue(t, "mn.example", interop.ECDSAP256, "mn.example")

	ha := interop.StartCharon(t, tp.HA1, interop.CharonOptions{})
	mn := interop.StartCharon(t, tp.MN, interop.CharonOptions{LogKeys: true})
	const proposal = "aes128gcm16-prfsha256-x25519"
	haAddr := tp.HAAddrs[0].V6
	load(ctx, t, ha, haConfig(tp, 0, peer{haAddr,
		interop.Auth{ID: "ha.example", Cert: haCert}, interop.Auth{ID: "%any", CA: ca}, proposal, true}, pool1))
	mnCfg := mnConfig(peer{haAddr,
		interop.Auth{ID: "mn.example", Cert: mnCert}, interop.Auth{ID: "ha.example"}, proposal, true})
	mnCfg.CAs = []*interop.CA{ca}
	// A second connection whose certificate comes from a foreign CA.
	rogueCA := interop.NewCA(t, "rogue CA", interop.ECDSAP256)
	rogue := mnCfg.Connections[0]
	rogue.Name = "rogue"
	rogue.Local = interop.Auth{ID: "rogue.example", Cert: rogueCA.Issue(t, "rogue.example", interop.ECDSAP256, "rogue.example")}
	rogue.Children = []interop.Child{{Name: "rogue", RemoteTS: []string{innerNet.String()}}}
	mnCfg.Connections = append(mnCfg.Connections, rogue)
	load(ctx, t, mn, mnCfg)

	capture := tp.HA1.Capture("eth0", "udp port 500 or udp port 4500")
	if err := mn.Initiate(ctx, "home", "home"); err != nil {
		t.Fatal(err)
	}
	sa := checkTunnel(ctx, t, tp, mn, ha, 0, haAddr, pool1)
	if sa.EncrAlg != "AES_GCM_16" || sa.IntegAlg != "" || sa.RemoteID != "ha.example" || sa.LocalID != "mn.example" {
		t.Errorf("IKE SA %s: %s/%s, %s-%s", sa, sa.EncrAlg, sa.IntegAlg, sa.LocalID, sa.RemoteID)
	}
	// 2 IKE_SA_INIT + 2 IKE_AUTH + 2 x 4 ESP (WaitPing and 3 pings).
	if err := capture.WaitPackets(ctx, 12); err != nil {
		t.Fatal(err)
	}
	pcap := capture.Stop()

	keys, err := mn.IKEKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].SPIi != sa.SPIi || keys[0].SPIr != sa.SPIr || len(keys[0].SKei) != 20 {
		t.Fatalf("keys from the log %+v, SA %x/%x", keys, sa.SPIi, sa.SPIr)
	}
	args, err := interop.TsharkDecryptArgs(keys)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := lab.TsharkFields(ctx, pcap, "isakmp.exchangetype == 35 && isakmp.flag_r == 0",
		[]string{"isakmp.nextpayload", "x509ce.dNSName"}, args...)
	if err != nil {
		t.Fatal(err)
	}
	// 35 IDi, 37 CERT: visible only inside the decrypted SK payload.
	if len(rows) != 1 || !strings.Contains(rows[0][0], ",35,") || !strings.Contains(rows[0][0], ",37,") || !strings.Contains(rows[0][1], "mn.example") {
		t.Errorf("decrypted IKE_AUTH request: %q", rows)
	}
	esp, err := lab.TsharkFields(ctx, pcap, "udp.port == 4500 && esp", []string{"esp.spi"})
	if err != nil {
		t.Fatal(err)
	}
	if len(esp) < 8 {
		t.Errorf("%d ESP-in-UDP packets on the wire, want at least 8", len(esp))
	}

	err = mn.Initiate(ctx, "rogue", "rogue")
	if err == nil || !strings.Contains(err.Error(), "AUTHENTICATION_FAILED") {
		t.Errorf("a certificate of a foreign CA: initiate = %v, want AUTHENTICATION_FAILED", err)
	}
}

// TestLabStrongSwanRSA builds the tunnel with an RSA certificate on the
// home agent and an ECDSA P-384 one on the mobile node, from an RSA CA:
// the rsa/ and ecdsa/ key folders and mixed signature algorithms.
func TestLabStrongSwanRSA(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{})
	ctx := ctxFor(t, 60*time.Second)
	ca := interop.NewCA(t, "mip6ha lab RSA CA", interop.RSA2048)
	haCert := ca.Issue(t, "ha.example", interop.RSA2048, "ha.example")
	mnCert := ca.Issue(t, "mn@example", interop.ECDSAP384, "mn@example")
	ha := interop.StartCharon(t, tp.HA1, interop.CharonOptions{})
	mn := interop.StartCharon(t, tp.MN, interop.CharonOptions{})
	const proposal = "aes256-sha384-ecp384"
	haAddr := tp.HAAddrs[0].V6
	load(ctx, t, ha, haConfig(tp, 0, peer{haAddr,
		interop.Auth{ID: "ha.example", Cert: haCert}, interop.Auth{ID: "mn@example", CA: ca}, proposal, true}, pool1))
	mnCfg := mnConfig(peer{haAddr,
		interop.Auth{ID: "mn@example", Cert: mnCert}, interop.Auth{ID: "ha.example"}, proposal, true})
	mnCfg.CAs = []*interop.CA{ca}
	load(ctx, t, mn, mnCfg)
	if err := mn.Initiate(ctx, "home", "home"); err != nil {
		t.Fatal(err)
	}
	sa := checkTunnel(ctx, t, tp, mn, ha, 0, haAddr, pool1)
	if sa.DHGroup != "ECP_384" || sa.LocalID != "mn@example" {
		t.Errorf("IKE SA %s: %s, %s", sa, sa.DHGroup, sa.LocalID)
	}
}

// TestLabStrongSwanRedirect has ha1 redirect an established mobile node to
// ha2 (RFC 5685 section 5, `swanctl --redirect`): mn builds its IKE SA
// with ha2 and drops the one with ha1. As measured, strongSwan asks ha2
// for a new virtual IP rather than keeping the old one.
func TestLabStrongSwanRedirect(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{})
	ctx := ctxFor(t, 60*time.Second)
	psk := interop.Secret{Name: "mn", Secret: "redirect-lab-psk"}
	ha1Peer, mnPeer := pskPeers(tp.HAAddrs[0].V6, true)
	ha2Peer, _ := pskPeers(tp.HAAddrs[1].V6, true)
	ha1 := interop.StartCharon(t, tp.HA1, interop.CharonOptions{})
	ha2 := interop.StartCharon(t, tp.HA2, interop.CharonOptions{})
	mn := interop.StartCharon(t, tp.MN, interop.CharonOptions{})
	load(ctx, t, ha1, haConfig(tp, 0, ha1Peer, pool1, psk))
	load(ctx, t, ha2, haConfig(tp, 1, ha2Peer, pool2, psk))
	load(ctx, t, mn, mnConfig(mnPeer, psk))
	if err := mn.Initiate(ctx, "home", "home"); err != nil {
		t.Fatal(err)
	}
	checkTunnel(ctx, t, tp, mn, ha1, 0, tp.HAAddrs[0].V6, pool1)

	if err := ha1.Redirect(ctx, "mn", tp.HAAddrs[1].V6.String()); err != nil {
		t.Fatal(err)
	}
	ha2Addr := netip.AddrPortFrom(tp.HAAddrs[1].V6, 4500)
	if _, err := mn.WaitSA(ctx, "home", func(sa interop.IKESA) bool { return sa.RemoteHost == ha2Addr }); err != nil {
		t.Fatal(err)
	}
	// Make-before-break: the old SA goes once the new one stands.
	if err := lab.Poll(ctx, "mn to drop its IKE SA with ha1", func(ctx context.Context) error {
		sas, err := mn.ListSAs(ctx)
		if err != nil {
			return err
		}
		for _, sa := range sas {
			if sa.RemoteHost != ha2Addr {
				return lab.ErrNotYet
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	checkTunnel(ctx, t, tp, mn, ha2, 1, tp.HAAddrs[1].V6, pool2)
	counters, err := ha1.Counters(ctx, "mn")
	if err != nil {
		t.Fatal(err)
	}
	if counters["info-out-req"] == 0 {
		t.Errorf("ha1 sent no INFORMATIONAL request (counters %v)", counters)
	}
}
