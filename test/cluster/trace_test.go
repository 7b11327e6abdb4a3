package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/test/cluster"
	"github.com/mip6ha/mip6ha/test/jaegercheck"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
	oteltest "github.com/mip6ha/mip6ha/test/otel"
)

// TestClusterTraceInJaeger (issue 6, must show 6): every home agent and
// the mobile node export their spans to Jaeger (the cached build of
// test/deps.d/jaeger.sh, running in ops). The node moves from the west to
// the east link, and ha2 switches it to ha1. The move is one trace, which
// the test reads back through Jaeger's query API: the old home agent's
// mip6ha.move span as its root, with the lease marked moving and the Home
// Agent Switch; the node's own mip6ha.move span (joined through the
// handover option) with its IKE exchanges and Binding Updates; and the new
// home agent's lease transfer and Binding Update (joined through the lease
// record).
func TestClusterTraceInJaeger(t *testing.T) {
	t.Parallel()
	l := cluster.New(t, cluster.Options{Jaeger: true})
	ctx := stepCtx(t, 3*time.Minute)
	ha1, ha2 := l.HA("ha1"), l.HA("ha2")
	mn := l.StartNode(l.Topo.MN, "mn6@example.net", cluster.NodeOptions{})
	if _, b := mn.Bound(ctx); b.HomeAgent != ha2.Addr.String() {
		t.Fatalf("bound at %s, want ha2", b.HomeAgent)
	}
	l.Topo.MoveMN(l.Topo.East)
	sw := mn.Wait(ctx, mnclient.EventSwitched, 1, nil)
	if sw.From != ha2.Addr.String() || sw.To != ha1.Addr.String() {
		t.Fatalf("switched %+v, want from ha2 to ha1", sw)
	}
	id, err := trace.TraceIDFromHex(sw.TraceID)
	if err != nil {
		t.Fatalf("the switch carries no trace ID (%q): %v", sw.TraceID, err)
	}

	// Jaeger gets the spans in batches: ask until the trace holds all three
	// services' parts of the move.
	want := []struct {
		service, instance, name string
	}{
		{"mip6ha-homeagent", "ha2", telemetry.SpanMove},
		{"mip6ha-homeagent", "ha2", telemetry.LeaseMarkMoving.SpanName()},
		{"mip6ha-homeagent", "ha2", telemetry.SpanHomeAgentSwitch},
		{"mip6ha-mnclient", "mn6@example.net", telemetry.SpanMove},
		{"mip6ha-mnclient", "mn6@example.net", "IKE_AUTH"},
		{"mip6ha-mnclient", "mn6@example.net", telemetry.SpanBindingUpdate},
		{"mip6ha-homeagent", "ha1", "IKE_AUTH"},
		{"mip6ha-homeagent", "ha1", telemetry.LeaseTransfer.SpanName()},
		{"mip6ha-homeagent", "ha1", telemetry.SpanBindingUpdate},
	}
	var spans []oteltest.Span
	err = lab.Poll(ctx, "the move's trace in Jaeger", func(ctx context.Context) error {
		spans, err = l.Jaeger.Trace(ctx, id)
		if errors.Is(err, jaegercheck.ErrNotFound) {
			return err
		}
		if err != nil {
			return lab.Permanent(err)
		}
		var missing []string
		for _, w := range want {
			if _, ok := oteltest.Find(spans, oteltest.All(oteltest.From(w.service, w.instance), oteltest.Named(w.name))); !ok {
				missing = append(missing, fmt.Sprintf("%s/%s %s", w.service, w.instance, w.name))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("missing %s", strings.Join(missing, ", "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	root, _ := oteltest.Find(spans, oteltest.All(oteltest.From("mip6ha-homeagent", "ha2"), oteltest.Named(telemetry.SpanMove)))
	if !root.IsRoot() {
		t.Errorf("ha2's move span %v is not the root of the trace", root)
	}
	mnMove, _ := oteltest.Find(spans, oteltest.All(oteltest.From("mip6ha-mnclient", "mn6@example.net"), oteltest.Named(telemetry.SpanMove)))
	if p, ok := oteltest.Parent(spans, mnMove); !ok || p.SpanID != root.SpanID {
		t.Errorf("the node's move span %v is not a child of ha2's %v", mnMove, root)
	}
	// ha1 took the node's trace context from the private-use TRACE_CONTEXT
	// notify of its IKE_AUTH request: its IKE_AUTH span is a child of the
	// node's move.
	haAuth, _ := oteltest.Find(spans, oteltest.All(oteltest.From("mip6ha-homeagent", "ha1"), oteltest.Named("IKE_AUTH")))
	if p, ok := oteltest.Parent(spans, haAuth); !ok || p.SpanID != mnMove.SpanID {
		t.Errorf("ha1's IKE_AUTH span %v is not a child of the node's move span %v", haAuth, mnMove)
	}
	if err := oteltest.CheckTrace(spans); err != nil {
		t.Errorf("trace: %v", err)
	}
	// The node's attachment is a trace of its own, with the redirect from
	// the anycast address to ha2's unicast one as an event.
	attach, err := l.Jaeger.AwaitTrace(ctx, "mip6ha-mnclient", func(spans []oteltest.Span) bool {
		s, ok := oteltest.Find(spans, oteltest.Named(mnclient.SpanAttach))
		return ok && slices.Contains(s.Events, "redirected") && len(spans) >= 4
	})
	if err != nil {
		t.Errorf("the attachment's trace: %v", err)
	} else {
		for _, s := range attach {
			t.Logf("  attachment: %s/%s %s %v", s.Service, s.Instance, s.Name, s.Events)
		}
	}
	services := oteltest.Services(spans)
	slices.Sort(services)
	t.Logf("trace %s in Jaeger: %d spans from %v; root %s", id, len(spans), services, root)
	for _, s := range spans {
		t.Logf("  %s/%s %s", s.Service, s.Instance, s.Name)
	}
}
