package redirect

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/interop"
	"github.com/mip6ha/mip6ha/test/lab"
)

// throughput is one measured run of Load against a responder process.
type throughput struct {
	name   string
	res    LoadResult
	cpu    time.Duration // the responder's CPU time during the run
	pidCPU func() (time.Duration, error)
}

func (r throughput) perRedirect() time.Duration {
	if r.res.Redirects == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.res.Redirects)
}

func (r throughput) String() string {
	return fmt.Sprintf("%-26s %8.0f redirects/s  %6.2f µs CPU/redirect  (%s)", r.name, r.res.Rate(),
		float64(r.perRedirect().Nanoseconds())/1000, r.res)
}

// measure runs Load from a socket of host to target, n requests at rate
// per second (0: as fast as answered) after a warm-up, and the responder's
// CPU time over the run.
func measure(t *testing.T, ctx context.Context, host *lab.Host, target netip.AddrPort, name string, pid int, n int, rate float64) throughput {
	t.Helper()
	var conn *net.UDPConn
	if err := inHost(host, func() (err error) {
		conn, err = DialUDP(netip.AddrPort{}, target)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := (&Load{Conn: conn, Requests: 2000, Window: 16}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	cpu0, err := ProcessCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&Load{Conn: conn, Requests: n, Rate: rate}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cpu1, err := ProcessCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	return throughput{name: name, res: res, cpu: cpu1 - cpu0}
}

// TestRedirectThroughput measures, in one run and over the same path (mn,
// the router, the home link), IKE_SA_INIT requests with REDIRECT_SUPPORTED
// answered by a REDIRECT carrying the request's Ni: our home agent
// (draining: it redirects everyone) and libreswan's pluto
// (global-redirect), both at 20 000 requests per second (about the most
// pluto sustains on this machine, lab/bench/BASELINES.md §3), with the
// responder's CPU time per redirect (from /proc/PID/stat); and our home
// agent at the highest rate it sustains with 256 requests in flight, where
// batched socket I/O pays. Redirects per second per core is one second
// divided by the CPU time per redirect. The figures go to the test log (go
// test -v); the test checks what does not depend on the machine's load:
// every request answered with its own nonce, and our home agent sustaining
// at least twice the rate pluto was offered.
func TestRedirectThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("a load test of several seconds")
	}
	tp := lab.NewTopology(t, lab.TopologyConfig{})
	ctx := ctxFor(t, 3*time.Minute)
	ha1Addr, ha2Addr := tp.HAAddrs[0].V6, tp.HAAddrs[1].V6
	ours := startHA(t, ctx, tp.HA1, haOptions{member: "ha1", unicast: ha1Addr, hostRange: hostRanges[0], logLevel: "info",
		labha: []string{"--member", "ha1=" + ha1Addr.String(), "--member", "ha2=" + ha2Addr.String(), "--draining"}})
	pluto := interop.StartPluto(t, tp.HA2, interop.PlutoOptions{Listen: ha2Addr, GlobalRedirectTo: []string{ha1Addr.String()}})

	const n, rate = 100000, 20000
	oursAt := netip.AddrPortFrom(ha1Addr, 500)
	results := []throughput{
		measure(t, ctx, tp.MN, oursAt, "mip6ha at 20k/s", ours.proc.Pid(), n, rate),
		measure(t, ctx, tp.MN, netip.AddrPortFrom(ha2Addr, 500), "libreswan 4.10 at 20k/s", pluto.Proc().Pid(), n, rate),
		measure(t, ctx, tp.MN, oursAt, "mip6ha, 256 in flight", ours.proc.Pid(), n, 0),
	}
	for _, r := range results {
		t.Log(r)
	}
	for _, r := range []throughput{results[0], results[2]} {
		if r.res.Redirects < n*99/100 || r.res.WrongNonce != 0 {
			t.Errorf("%s: %s", r.name, r.res)
		}
	}
	if results[1].res.WrongNonce != 0 {
		t.Errorf("pluto: %s", results[1].res)
	}
	if max := results[2].res.Rate(); max < 2*rate {
		t.Errorf("our home agent sustained %.0f redirects/s, want at least %d", max, 2*rate)
	}
}
