package homeagent

// Helpers of the mobile node's acceptance tests (mn_*_test.go): our
// mobile node client (cmd/mnclient) and the flow probe (cmd/flowprobe)
// run in lab hosts against our home agent (ha_helpers_test.go).

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/flow"
	"github.com/mip6ha/mip6ha/test/internal/mnevents"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// mobileNode is cmd/mnclient attached from a lab host.
type mobileNode struct {
	t      testing.TB
	proc   *lab.Proc
	stream mnevents.Stream
}

// startMobileNode runs `mnclient attach` in host towards the home agent
// at ha as identity id, with extra flags.
func startMobileNode(t testing.TB, host *lab.Host, ha netip.Addr, id string, extra ...string) *mobileNode {
	t.Helper()
	l := host.Lab()
	psk := writeMNPSK(t, host)
	args := append([]string{"attach", "--ha", ha.String(), "--id", id, "--ha-id", haIdentity, "--psk-file", psk,
		"--tun", "mn0", "--keylog", filepath.Join(l.Dir(), host.Name()+"-mn.keys"), "--log-level", "debug"}, extra...)
	proc := host.StartWith(lab.ProcOptions{StopTimeout: 15 * time.Second}, lab.Binary(t, "./cmd/mnclient"), args...)
	return &mobileNode{t: t, proc: proc,
		stream: mnevents.Stream{T: t, Proc: proc, Fatal: []string{mnclient.EventError, mnclient.EventBindingRejected}}}
}

// writeMNPSK writes the mobile nodes' pre-shared key file for host.
func writeMNPSK(t testing.TB, host *lab.Host) string {
	t.Helper()
	psk := filepath.Join(host.Lab().Dir(), host.Name()+"-mn.psk")
	if err := os.WriteFile(psk, []byte(haPSK), 0o600); err != nil {
		t.Fatal(err)
	}
	return psk
}

// events returns the client's events so far.
func (mn *mobileNode) events() []mnclient.Event { return mn.stream.Events() }

// wait waits for the n-th event of kind (n from 1) for which match (nil:
// any) holds. An error event, a rejected binding or the client's exit
// ends the wait at once.
func (mn *mobileNode) wait(ctx context.Context, kind string, n int, match func(mnclient.Event) bool) mnclient.Event {
	mn.t.Helper()
	return mn.stream.Wait(ctx, kind, n, match)
}

// stop detaches the client (SIGTERM) and checks that it deregistered and
// exited 0.
func (mn *mobileNode) stop() {
	mn.t.Helper()
	if err := mn.proc.Stop(); err != nil {
		mn.t.Errorf("mnclient exit: %v\n%s", err, logTail(mn.proc.Stderr(), 3000))
	}
	kinds := map[string]bool{}
	for _, e := range mn.events() {
		kinds[e.Event] = true
	}
	if !kinds[mnclient.EventDeregistered] || !kinds[mnclient.EventDetached] {
		mn.t.Errorf("mnclient did not deregister and detach: %s", mn.proc.Stdout())
	}
}

// homeAddress waits for the binding and returns the home address.
func (mn *mobileNode) homeAddress(ctx context.Context) (hoa netip.Addr, accepted mnclient.Event) {
	mn.t.Helper()
	home := mn.wait(ctx, mnclient.EventHomeAddress, 1, nil)
	p, err := netip.ParsePrefix(home.Address)
	if err != nil {
		mn.t.Fatalf("home_address %q: %v", home.Address, err)
	}
	accepted = mn.wait(ctx, mnclient.EventBindingAccepted, 1, nil)
	if accepted.Address != p.Addr().String() {
		mn.t.Fatalf("binding accepted for %s, home address %s", accepted.Address, p.Addr())
	}
	return p.Addr(), accepted
}

// transfer is a TCP transfer of the flow probe from cn to the mobile
// node's home address.
type transfer struct {
	t        testing.TB
	recv     *lab.Proc
	send     *lab.Proc
	duration time.Duration
}

const flowPort = 5001

// startTransfer starts the receiver on mn (listening on the home address)
// and the paced sender on cn (a chunk of 1 KiB every 5 ms for d).
func startTransfer(t testing.TB, ctx context.Context, mn, cn *lab.Host, hoa netip.Addr, d time.Duration) *transfer {
	t.Helper()
	probe := lab.Binary(t, "./cmd/flowprobe")
	addr := netip.AddrPortFrom(hoa, flowPort).String()
	tr := &transfer{t: t, duration: d}
	tr.recv = mn.Start(probe, "recv", "--listen", addr)
	if err := mn.WaitListening(ctx, "tcp", flowPort); err != nil {
		t.Fatal(err)
	}
	tr.send = cn.Start(probe, "send", "--connect", addr, "--duration", d.String(), "--interval", "5ms", "--payload", "1024")
	return tr
}

// report waits for both ends and returns the receiver's report; it fails
// the test if the transfer did not end normally.
func (tr *transfer) report(ctx context.Context) flow.Report {
	tr.t.Helper()
	var r flow.Report
	for _, p := range []*lab.Proc{tr.send, tr.recv} {
		if err := p.Wait(ctx); err != nil {
			tr.t.Errorf("%s: %v\nstdout: %s\nstderr: %s", p.Name(), err, p.Stdout(), p.Stderr())
		}
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(tr.recv.Stdout())), &r); err != nil {
		tr.t.Fatalf("receiver report %q: %v", tr.recv.Stdout(), err)
	}
	var s flow.SendReport
	if err := json.Unmarshal([]byte(strings.TrimSpace(tr.send.Stdout())), &s); err != nil {
		tr.t.Fatalf("sender report %q: %v", tr.send.Stdout(), err)
	}
	if r.Reset || s.Reset || !r.Closed || r.Err != "" || s.Err != "" {
		tr.t.Fatalf("transfer did not end normally: receiver %s; sender %+v", r, s)
	}
	if r.Bytes != s.Bytes || r.OutOfOrder != 0 {
		tr.t.Errorf("received %d bytes (%d out of order), sent %d", r.Bytes, r.OutOfOrder, s.Bytes)
	}
	// Chunks arrived over most of the transfer's duration (a path that
	// stalls delays the paced sender, which then sends fewer).
	if r.Chunks < 2 || r.Last.Sub(r.First) < tr.duration/2 {
		tr.t.Errorf("%d chunks over %v, want them spread over %v", r.Chunks, r.Last.Sub(r.First), tr.duration)
	}
	return r
}
