package cluster_test

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/test/cluster"
	"github.com/mip6ha/mip6ha/test/interop"
	"github.com/mip6ha/mip6ha/test/lab"
)

const (
	swanID   = "swan.example"
	swanConn = "home"
)

// startSwan runs a stock strongSwan client (charon, kernel-libipsec) in
// host with one connection to the home agent at ha: a virtual IPv6
// address (any: "::"), a CHILD_SA to cn's prefix, ESP in UDP. charon
// announces REDIRECT_SUPPORTED and follows redirects (its defaults).
func startSwan(t *testing.T, ctx context.Context, l *cluster.Lab, host *lab.Host, ha netip.Addr) *interop.Charon {
	t.Helper()
	ch := interop.StartCharon(t, host, interop.CharonOptions{})
	err := ch.Load(ctx, interop.Config{
		Connections: []interop.Connection{{
			Name:        swanConn,
			RemoteAddrs: []string{ha.String()},
			Proposals:   []string{"aes256gcm16-prfsha256-x25519"},
			Encap:       true,
			VIPs:        []string{"::"},
			Local:       interop.Auth{Method: "psk", ID: swanID},
			Remote:      interop.Auth{Method: "psk", ID: cluster.Identity},
			Children: []interop.Child{{
				Name:         swanConn,
				RemoteTS:     []string{l.Topo.CNNet.V6.String()},
				ESPProposals: []string{"aes256gcm16"},
			}},
		}},
		Secrets: []interop.Secret{{Name: "ha", Secret: cluster.PSK}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// swanAt waits until strongSwan's IKE SA runs with the home agent at
// gateway with its CHILD_SA installed.
func swanAt(t *testing.T, ctx context.Context, ch *interop.Charon, gateway netip.Addr) interop.IKESA {
	t.Helper()
	want := netip.AddrPortFrom(gateway, 4500)
	sa, err := ch.WaitSA(ctx, swanConn, func(sa interop.IKESA) bool {
		c, ok := sa.Child(swanConn)
		return sa.State == interop.StateEstablished && sa.RemoteHost == want && ok && c.State == interop.StateInstalled
	})
	if err != nil {
		sas, _ := ch.ListSAs(context.Background())
		t.Fatalf("strongSwan never had its SA at %v: %v; SAs: %v", want, err, sas)
	}
	return sa
}

// pingStats matches ping's summary line.
var pingStats = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// TestClusterStrongSwanMove (issue 6, must show 4): a stock strongSwan
// client on the east link attaches to ha1 and gets a virtual IP from the
// home prefix; it pings cn through the tunnel. `homeagent ctl move` moves it
// to ha2: ha1 marks its lease moving and sends an INFORMATIONAL REDIRECT
// (RFC 5685 §5: no binding, so no Home Agent Switch); strongSwan sets up
// its IKE SA with ha2 asking for any address, and ha2, which finds the
// authenticated identity's lease moving to it, takes the lease over and
// hands back the same address. The ping goes on, with at most a few echoes
// lost.
func TestClusterStrongSwanMove(t *testing.T) {
	t.Parallel()
	l := cluster.New(t, cluster.Options{})
	ctx := stepCtx(t, 3*time.Minute)
	ha1, ha2 := l.HA("ha1"), l.HA("ha2")
	host := l.NodeHost("swan", l.Topo.East, 1)
	ch := startSwan(t, ctx, l, host, ha1.Addr)
	if err := ch.Initiate(ctx, swanConn, swanConn); err != nil {
		t.Fatal(err)
	}
	before := swanAt(t, ctx, ch, ha1.Addr)
	if len(before.LocalVIPs) != 1 {
		t.Fatalf("strongSwan's virtual IPs %v", before.LocalVIPs)
	}
	vip := before.LocalVIPs[0]
	cn := l.Topo.CNAddr.V6.String()
	if err := host.WaitPing(ctx, cn, vip.String()); err != nil { // ha1 defends the address after its VPN grace
		t.Fatalf("ping cn from %v through ha1: %v", vip, err)
	}

	ping := host.StartWith(lab.ProcOptions{StopSignal: syscall.SIGINT}, "ping", "-6", "-n", "-i", "0.1", "-I", vip.String(), cn)
	if _, err := ping.WaitOutput(ctx, regexp.MustCompile(`icmp_seq=10 `)); err != nil { // a second of echoes first
		t.Fatal(err)
	}
	out, err := ha1.Ctl(ctx, "move", "--identity", swanID, "--to", "ha2")
	if err != nil {
		t.Fatal(err)
	}
	moved := time.Now()
	t.Logf("homeagent ctl move --identity %s --to ha2 (on ha1):\n%s", swanID, out)
	after := swanAt(t, ctx, ch, ha2.Addr)
	arrived := time.Since(moved)
	if len(after.LocalVIPs) != 1 || after.LocalVIPs[0] != vip {
		t.Errorf("virtual IPs at ha2 %v, want %v as at ha1", after.LocalVIPs, vip)
	}
	// A few seconds of echoes through ha2, then ping's count.
	if _, err := ping.WaitOutput(ctx, regexp.MustCompile(fmt.Sprintf(`icmp_seq=%d `, 10+int(arrived/(100*time.Millisecond))+30))); err != nil {
		t.Fatal(err)
	}
	if err := ping.Stop(); err != nil {
		t.Logf("ping: %v", err) // exits 1 when an echo went unanswered
	}
	m := pingStats.FindStringSubmatch(ping.Stdout())
	if m == nil {
		t.Fatalf("no summary in ping's output:\n%s", ping.Stdout())
	}
	sent, _ := strconv.Atoi(m[1])
	received, _ := strconv.Atoi(m[2])
	t.Logf("strongSwan at ha2 %v after the move command, with %v; ping every 100 ms across the move: %d sent, %d answered, %d lost",
		arrived.Round(time.Millisecond), vip, sent, received, sent-received)
	if lost := sent - received; lost > 10 {
		t.Errorf("%d echoes lost across the move, want at most 10 (a second)", lost)
	}

	ha2.WaitLog(ctx, "lease transferred here", 1, map[string]string{"hoa": vip.String(), "from": "ha1"})
	ls, err := ha2.Admin().Leases(ctx, store.Filter{})
	if err != nil || len(ls) != 1 || ls[0].HoA != vip || ls[0].Owner != "ha2" || ls[0].State != store.StateBound {
		t.Errorf("leases %+v (%v), want %v bound at ha2", ls, err, vip)
	}
	h, err := cluster.ReadHistory(ctx, l.Etcd.Client())
	if err != nil {
		t.Fatal(err)
	}
	if o := cluster.CheckOwnership(h, nil); len(o.Violations) > 0 || o.Transfers != 1 {
		t.Errorf("ownership history: %d transfers, %d takeovers; violations: %v", o.Transfers, o.Takeovers, o.Violations)
	}
}
