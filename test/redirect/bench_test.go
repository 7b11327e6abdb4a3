package redirect

import (
	"context"
	"log/slog"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent"
	"github.com/mip6ha/mip6ha/homeagent/dataplane/tuntest"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/policy"
)

// startDrainingRuntime starts our IKE runtime on addr (loopback, kernel
// ports) as a draining member of a two-member cluster: it answers every
// redirect-capable IKE_SA_INIT with a REDIRECT to the other member. It
// returns the runtime and its IKE endpoint.
func startDrainingRuntime(tb testing.TB, addr netip.Addr, shards int) (*homeagent.Runtime, netip.AddrPort) {
	tb.Helper()
	cfg := homeagent.DefaultConfig()
	cfg.Listen = []string{addr.String()}
	cfg.IKEPort, cfg.NATTPort = 0, 0
	cfg.Identity = "ha.example"
	cfg.Shards = shards
	other := netip.MustParseAddr("2001:db8:1::2")
	if addr.Is4() {
		other = netip.MustParseAddr("192.0.2.2")
	}
	view, err := homeagent.NewStaticView(policy.DefaultConfig(), policy.View{Self: "ha1", Members: []policy.Member{
		{ID: "ha1", Site: "s", Addrs: []netip.Addr{addr}, Capacity: 1, Healthy: true, Draining: true},
		{ID: "ha2", Site: "s", Addrs: []netip.Addr{other}, Capacity: 1 << 20, Healthy: true},
	}})
	if err != nil {
		tb.Fatal(err)
	}
	rt, err := homeagent.New(cfg, homeagent.Options{
		Logger:   slog.New(slog.DiscardHandler),
		Device:   tuntest.New(8),
		PSKs:     []homeagent.PSK{{Identity: "*", Secret: []byte("benchmark psk")}},
		Redirect: &homeagent.RedirectOptions{View: view},
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("runtime: %v", err)
		}
	})
	ikePort, _ := rt.Ports()
	return rt, netip.AddrPortFrom(addr, ikePort)
}

// BenchmarkRedirectUDP measures our runtime answering IKE_SA_INIT requests
// with REDIRECT over UDP on the loopback: batched socket reads, the shard's
// Responder and Redirector (placement policy), batched writes. The load
// generator (Load) runs in the same process and keeps 256 requests in
// flight. Reported: redirects per second (wall clock), the CPU time of the
// whole process (runtime and generator) per redirect, and ns/op = wall time
// per redirect.
//
//	go test -run '^$' -bench RedirectUDP -benchtime 200000x ./test/redirect
func BenchmarkRedirectUDP(b *testing.B) {
	for _, shards := range []int{1, 2} {
		b.Run(map[int]string{1: "shards=1", 2: "shards=2"}[shards], func(b *testing.B) {
			_, target := startDrainingRuntime(b, netip.MustParseAddr("127.0.0.1"), shards)
			conn, err := DialUDP(netip.AddrPort{}, target)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			// Warm up: sockets, buffers, goroutines.
			if _, err := (&Load{Conn: conn, Requests: 2000}).Run(b.Context()); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			res, err := (&Load{Conn: conn, Requests: b.N}).Run(b.Context())
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			cpu := processCPU() - cpu0
			if res.Redirects < b.N*99/100 {
				b.Fatalf("only %s", res)
			}
			b.ReportMetric(res.Rate(), "redirects/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(res.Redirects), "cpu-µs/redirect")
		})
	}
}

// processCPU is the CPU time (user and system) of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestRedirectLoadGenerator checks the generator against our runtime on the
// loopback: every request is answered with a REDIRECT carrying its own Ni
// (RFC 5685 §3), and the runtime keeps no state for any of them.
func TestRedirectLoadGenerator(t *testing.T) {
	rt, target := startDrainingRuntime(t, netip.MustParseAddr("127.0.0.1"), 2)
	conn, err := DialUDP(netip.AddrPort{}, target)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const n = 5000
	res, err := (&Load{Conn: conn, Requests: n, Window: 64}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != n || res.Redirects != n || res.WrongNonce+res.Cookies+res.Other+res.Unmatched+res.Lost != 0 {
		t.Fatalf("%s", res)
	}
	st := rt.Stats()
	if st.Responder[ike.AnsweredRedirect] != n || st.Responder[ike.Created] != 0 || st.HalfOpen != 0 {
		t.Errorf("runtime: %+v, half-open %d", st.Responder, st.HalfOpen)
	}
	if got := rt.RedirectCounts(); len(got) != 1 || got[0] != (homeagent.RedirectCount{Stage: homeagent.StageInit, Reason: "draining", Count: n}) {
		t.Errorf("redirect counts %+v", got)
	}
}
