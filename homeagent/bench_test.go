package homeagent

import (
	"context"
	"log/slog"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/dataplane/tuntest"
	"github.com/mip6ha/mip6ha/ike"
)

// BenchmarkRuntimeAttach measures a full attach through two runtimes over
// the loopback, sockets and goroutines included: IKE_SA_INIT and IKE_AUTH
// (PSK, X25519, AES-GCM-16-256, an IPv6 address by CP, one CHILD_SA
// installed in both dataplanes), then the delete. cpu-µs/op is the CPU of
// the whole process (both runtimes) per attach and delete, from getrusage.
func BenchmarkRuntimeAttach(b *testing.B) {
	ups := make(chan SAID, 1)
	downs := make(chan struct{}, 1)
	observe := func(e Event) {
		switch e.IKE.(type) {
		case ike.ChildUp:
			ups <- e.SA
		case ike.IKEDown:
			downs <- struct{}{}
		}
	}
	haCfg, mnCfg := haConfig(), mnConfig()
	haCfg.IKEProposals = []string{"aes256gcm16-prfsha256-x25519"}
	mnCfg.IKEProposals = haCfg.IKEProposals
	haCfg.ESPProposals, mnCfg.ESPProposals = []string{"aes256gcm16"}, []string{"aes256gcm16"}
	quiet := slog.New(slog.DiscardHandler)
	ha, err := New(haCfg, withOptions(haOptions(b), func(o *Options) { o.Logger, o.Device = quiet, tuntest.New(1) }))
	if err != nil {
		b.Fatal(err)
	}
	mn, err := New(mnCfg, Options{Logger: quiet, Device: tuntest.New(1), PSKs: []PSK{{Identity: "*", Secret: []byte(testPSK)}}, Observer: observe})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, rt := range []*Runtime{ha, mn} {
		go func() { rt.Run(ctx); done <- struct{}{} }()
	}
	defer func() { cancel(); <-done; <-done }()
	ikePort, nattPort := ha.Ports()
	peer := Peer{Remote: netip.AddrPortFrom(netip.IPv6Loopback(), ikePort), NATTPort: nattPort,
		Request: ike.CPRequest{IPv6: true}, RemoteTS: []netip.Prefix{innerNet}}
	wait := func(c <-chan struct{}) {
		select {
		case <-c:
		case <-time.After(10 * time.Second):
			b.Fatal("timeout")
		}
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := mn.Initiate(ctx, peer); err != nil {
			b.Fatal(err)
		}
		var id SAID
		select {
		case id = <-ups:
		case <-time.After(10 * time.Second):
			b.Fatal("no CHILD_SA")
		}
		if err := mn.Delete(ctx, id); err != nil {
			b.Fatal(err)
		}
		wait(downs)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
