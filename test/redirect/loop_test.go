package redirect

import (
	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/interop"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// TestRedirectLoopStopsInitiator: two libreswan gateways redirect every
// client to each other (global-redirect). Our client follows
// MAX_REDIRECTS (5, its default) redirects within
// REDIRECT_LOOP_DETECT_PERIOD, then stops: it reports the loop in an error
// event and exits with status 1 (RFC 5685 §7).
func TestRedirectLoopStopsInitiator(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{})
	ctx := ctxFor(t, 90*time.Second)
	ha1Addr, ha2Addr := tp.HAAddrs[0].V6, tp.HAAddrs[1].V6
	p1 := interop.StartPluto(t, tp.HA1, interop.PlutoOptions{Listen: ha1Addr, GlobalRedirectTo: []string{ha2Addr.String()}})
	p2 := interop.StartPluto(t, tp.HA2, interop.PlutoOptions{Listen: ha2Addr, GlobalRedirectTo: []string{ha1Addr.String()}})
	capture := tp.MN.Capture("eth0", "udp port 500")
	mn := startMN(t, tp.MN, ha1Addr)
	fail := mn.wait(ctx, mnclient.EventError, 1, nil)
	if !strings.Contains(fail.Error, "redirect loop") || fail.Stage != "IKE_SA_INIT" {
		t.Errorf("error event %+v, want the redirect loop", fail)
	}
	err := mn.proc.Wait(ctx)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("mnclient exit: %v, want status 1", err)
	}
	var followed []mnclient.Event
	for _, e := range mn.events() {
		if e.Event == mnclient.EventRedirected {
			followed = append(followed, e)
		}
	}
	if len(followed) != 5 {
		t.Fatalf("%d redirects followed, want 5: %+v", len(followed), followed)
	}
	for i, e := range followed {
		from, to := ha1Addr, ha2Addr
		if i%2 == 1 {
			from, to = ha2Addr, ha1Addr
		}
		if e.From != from.String() || e.To != netip.AddrPortFrom(to, 500).String() {
			t.Errorf("redirect %d: %+v, want from %v to %v", i+1, e, from, to)
		}
	}
	var total int64
	for _, p := range []*interop.Pluto{p1, p2} {
		st, err := p.GlobalStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total += st["total.ike.ikev2.redirect.completed"]
	}
	if total != 6 {
		t.Errorf("the gateways sent %d redirects, want 6 (the sixth is refused)", total)
	}
	msgs := ikeMessages(t, ctx, capture.Stop(), nil)
	reqs := append(initRequestsTo(msgs, ha1Addr), initRequestsTo(msgs, ha2Addr)...)
	if len(reqs) != 6 {
		t.Errorf("%d IKE_SA_INIT requests, want 6", len(reqs))
	}
}
