// Package demo is the demonstration of mip6ha (docs/demo.md): it builds the
// cluster lab (test/cluster), attaches a mobile node, streams TCP from cn to
// its home address, and moves the node between home agents while the flow
// goes on, printing what happens. Run it with test/demo/demo.sh, as root;
// `go test ./test/...` skips it.
package demo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/test/cluster"
	"github.com/mip6ha/mip6ha/test/flow"
	"github.com/mip6ha/mip6ha/test/jaegercheck"
	"github.com/mip6ha/mip6ha/test/mnclient"
	oteltest "github.com/mip6ha/mip6ha/test/otel"
)

// Env turns the demo on; demo.sh sets it.
const Env = "MIP6HA_DEMO"

// narrator prints the demo's lines on standard output, each with the time
// since the start.
type narrator struct {
	mu    sync.Mutex
	start time.Time
}

func (n *narrator) say(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	for i, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		if i == 0 {
			fmt.Printf("[%6.1fs] %s\n", time.Since(n.start).Seconds(), line)
		} else {
			fmt.Printf("          %s\n", line)
		}
	}
}

// pause waits d, or until ctx ends (Ctrl-C).
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestDemo runs the demo when MIP6HA_DEMO is set (test/demo/demo.sh).
// Ctrl-C stops it at any point; the lab is removed either way.
func TestDemo(t *testing.T) {
	if os.Getenv(Env) == "" {
		t.Skip("the demo runs with test/demo/demo.sh (docs/demo.md)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := &narrator{start: time.Now()}
	err := run(ctx, t, n)
	switch {
	case errors.Is(err, context.Canceled):
		n.say("interrupted: removing the lab")
	case err != nil:
		n.say("the demo failed: %v", err)
		t.Fail()
	default:
		n.say("done: removing the lab")
	}
}

func run(ctx context.Context, t *testing.T, n *narrator) error {
	jaeger := jaegercheck.Binary() != ""
	n.say("building the lab: network namespaces mn, r, ha1, ha2, cn and ops; a 3-member etcd in ops;\n" +
		"two home agents as one cluster: ha1 in site east, ha2 in site west (the west link is nearer ha2)")
	if !jaeger {
		n.say("(no Jaeger build cached: traces are off; test/deps.d/jaeger.sh builds it)")
	}
	l := cluster.New(t, cluster.Options{Jaeger: jaeger})
	ha1, ha2 := l.HA("ha1"), l.HA("ha2")
	n.say("lab up: ha1 at %v, ha2 at %v, anycast %v, etcd %s", ha1.Addr, ha2.Addr, cluster.Anycast, strings.Join(l.Etcd.Endpoints(), " "))
	if jaeger {
		n.say("Jaeger receives the spans of both home agents and of the mobile node (query API %s inside ops)", l.Jaeger.Query)
	}

	n.say("the mobile node (mnclient) on the west link contacts ha1 ...")
	mn := l.StartNode(l.Topo.MN, "mn@example.net", cluster.NodeOptions{HA: ha1.Addr})
	watch := watchEvents(ctx, n, mn)
	defer watch()
	bound, err := mn.Await(ctx, mnclient.EventBindingAccepted, 1, nil)
	if err != nil {
		return err
	}
	hoa := bound.Address
	table, err := ha1.Ctl(ctx, "explain", l.Topo.West.MN.V6.String())
	if err != nil {
		return err
	}
	n.say("why ha1 sent it to ha2 (homeagent ctl explain %s, on ha1):\n%s", l.Topo.West.MN.V6, table)

	n.say("cn streams TCP to the node's home address %s: a 1 KiB chunk every 10 ms", hoa)
	f, err := l.StartFlow(ctx, l.Topo.MN, netip.MustParseAddr(hoa), flow.SendConfig{Interval: 10 * time.Millisecond, Payload: 1024})
	if err != nil {
		return err
	}
	progress := reportProgress(ctx, n, f)
	defer progress()
	if err := pause(ctx, 4*time.Second); err != nil {
		return err
	}

	n.say("the node moves to the east link (its care-of address changes; ha1 is nearer there) ...")
	l.Topo.MoveMN(l.Topo.East)
	sw1, err := mn.Await(ctx, mnclient.EventSwitched, 1, nil)
	if err != nil {
		return err
	}
	if err := pause(ctx, 4*time.Second); err != nil {
		return err
	}

	n.say("the operator drains ha1 (homeagent ctl drain --wait, on ha1): its nodes move to ha2 ...")
	out, err := ha1.Ctl(ctx, "drain", "--wait", "--interval", "500ms")
	if err != nil {
		return err
	}
	n.say("%s", out)
	if _, err := mn.Await(ctx, mnclient.EventSwitched, 2, nil); err != nil {
		return err
	}
	if err := pause(ctx, 3*time.Second); err != nil {
		return err
	}

	progress()
	r, s, err := f.Stop(ctx)
	if err != nil {
		return err
	}
	if err := cluster.CheckFlow(r, s); err != nil {
		return err
	}
	n.say("the flow: %d bytes in %d chunks over %v, no reset, nothing lost or reordered;\n"+
		"longest gap between two chunks %v (the sender's pace: 10 ms); home address %s throughout",
		r.Bytes, r.Chunks, r.Last.Sub(r.First).Round(time.Millisecond), r.LongestGap.Round(time.Millisecond), hoa)
	if jaeger {
		showTrace(ctx, n, l, sw1.TraceID)
	}
	return nil
}

// watchEvents prints the node's events that tell the story, as they come.
func watchEvents(ctx context.Context, n *narrator, mn *cluster.MobileNode) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		seen := 0
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			evs := mn.Events()
			for _, e := range evs[seen:] {
				if line := describe(e); line != "" {
					n.say("  mn: %s", line)
				}
			}
			seen = len(evs)
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}

// describe is one line about a node event, "" for those the demo leaves out.
func describe(e mnclient.Event) string {
	switch e.Event {
	case mnclient.EventRedirected:
		return fmt.Sprintf("redirected at %s from %s to %s", e.Stage, e.From, e.To)
	case mnclient.EventAttached:
		return fmt.Sprintf("IKE SA up with %s", e.Remote)
	case mnclient.EventHomeAddress:
		return fmt.Sprintf("home address %s", e.Address)
	case mnclient.EventBindingAccepted:
		return fmt.Sprintf("binding accepted by %s (care-of address %s, %.1f ms)", e.HomeAgent, e.CoA, e.LatencyMS)
	case mnclient.EventCareOfAddressChanged:
		return fmt.Sprintf("care-of address %s -> %s", e.OldCoA, e.CoA)
	case mnclient.EventHomeAgentSwitch:
		return fmt.Sprintf("Home Agent Switch from %s: move to %s, make-before-break", e.From, e.To)
	case mnclient.EventDeregistered:
		return fmt.Sprintf("deregistered at %s", e.HomeAgent)
	case mnclient.EventSwitched:
		s := fmt.Sprintf("switched %s -> %s keeping %s in %.1f ms (longest pause in packets %.1f ms)", e.From, e.To, e.Address,
			e.DurationMS, e.GapMS)
		if e.TraceID != "" {
			s += ", trace " + e.TraceID
		}
		return s
	case mnclient.EventError:
		return "error: " + e.Error
	}
	return ""
}

// reportProgress prints the flow's progress every second.
func reportProgress(ctx context.Context, n *narrator, f *cluster.Flow) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var last int64
		for {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
			p := f.Progress()
			n.say("  flow: %7.1f KiB received (+%5.1f KiB in the last second), longest pause so far %v",
				float64(p.Bytes)/1024, float64(p.Bytes-last)/1024, p.LongestGap.Round(time.Millisecond))
			last = p.Bytes
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// showTrace prints the services and spans of the first move's trace as
// Jaeger holds them.
func showTrace(ctx context.Context, n *narrator, l *cluster.Lab, id string) {
	tid, err := trace.TraceIDFromHex(id)
	if err != nil {
		n.say("the move carried no trace context: %v", err)
		return
	}
	qctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var spans []oteltest.Span
	for qctx.Err() == nil {
		spans, err = l.Jaeger.Trace(qctx, tid)
		if err == nil && len(oteltest.Services(spans)) >= 2 {
			break
		}
		_ = pause(qctx, 500*time.Millisecond)
	}
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "%s/%s %s\n", s.Service, s.Instance, s.Name)
	}
	n.say("the first move in Jaeger, trace %s (%d spans):\n%s", id, len(spans), b.String())
}
