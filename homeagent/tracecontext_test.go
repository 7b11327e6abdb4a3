package homeagent

import (
	"context"
	"net/netip"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/homeagent/store/boltstore"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
)

// endedSpans is a span processor that hands every ended span to a channel,
// so a test can await a span instead of polling for it.
type endedSpans chan sdktrace.ReadOnlySpan

func (c endedSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c endedSpans) OnEnd(s sdktrace.ReadOnlySpan) {
	select {
	case c <- s:
	default: // a test that reads none does not block the runtime
	}
}
func (c endedSpans) Shutdown(context.Context) error   { return nil }
func (c endedSpans) ForceFlush(context.Context) error { return nil }

// await returns the first ended span named name.
func (c endedSpans) await(t *testing.T, ctx context.Context, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	for {
		select {
		case s := <-c:
			if s.Name() == name {
				return s
			}
		case <-ctx.Done():
			t.Fatalf("no %s span: %v", name, ctx.Err())
		}
	}
}

// The trace context a node presents in IKE_AUTH (Peer.TraceContext, the
// private-use TRACE_CONTEXT) is the parent of the home agent's IKE_AUTH
// span, so that a move is one trace from the node through the new home
// agent; the lease operations inside IKE_AUTH stay its children. A node
// that did not announce the project's extensions sends none, and the
// IKE_AUTH span starts a trace of its own.
func TestIKEAuthSpanJoinsTheNodesTraceContext(t *testing.T) {
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	want, err := telemetry.ParseTraceparent(traceparent)
	if err != nil {
		t.Fatal(err)
	}
	for _, extensions := range []bool{true, false} {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		spans := make(endedSpans, 64)
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
		st, err := boltstore.OpenDir(t.TempDir(), boltstore.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		pool, err := NewLeasePool(LeasePoolConfig{Store: st, Owner: "ha1", Prefix: homePrefix, Tracer: tp})
		if err != nil {
			t.Fatal(err)
		}
		ha := startNode(t, haConfig(), withOptions(haOptions(t), func(o *Options) { o.Tracer, o.Addresses = tp, pool }))
		mn := startNode(t, mnConfig(), Options{PSKs: []PSK{{Identity: "ha.example", Secret: []byte(testPSK)}}, RedirectExtensions: extensions})
		ikePort, nattPort := ha.rt.Ports()
		if _, err := mn.rt.Initiate(ctx, Peer{
			Remote: netip.AddrPortFrom(netip.IPv6Loopback(), ikePort), NATTPort: nattPort, ID: "ha.example",
			Request: ike.CPRequest{IPv6: true}, RemoteTS: []netip.Prefix{innerNet}, TraceContext: traceparent,
		}); err != nil {
			t.Fatal(err)
		}
		up := waitFor[ike.IKEUp](t, ctx, ha.events, new(int), nil)
		acquire := spans.await(t, ctx, telemetry.LeaseAcquire.SpanName())
		auth := spans.await(t, ctx, "IKE_AUTH")
		if acquire.Parent().SpanID() != auth.SpanContext().SpanID() || acquire.SpanContext().TraceID() != auth.SpanContext().TraceID() {
			t.Errorf("lease.acquire %v is not a child of IKE_AUTH %v", acquire.Parent(), auth.SpanContext())
		}
		if !extensions {
			if up.TraceContext != nil || auth.Parent().IsValid() {
				t.Errorf("without the extensions: IKEUp trace context %q, IKE_AUTH parent %v", up.TraceContext, auth.Parent())
			}
			continue
		}
		if string(up.TraceContext) != traceparent {
			t.Errorf("IKEUp trace context %q, want %q", up.TraceContext, traceparent)
		}
		if p := auth.Parent(); !p.IsRemote() || p.TraceID() != want.TraceID() || p.SpanID() != want.SpanID() {
			t.Errorf("IKE_AUTH parent %v, want the node's %v", p, want)
		}
		if auth.SpanContext().TraceID() != want.TraceID() {
			t.Errorf("IKE_AUTH in trace %v, want %v", auth.SpanContext().TraceID(), want.TraceID())
		}
		if auth.SpanKind() != trace.SpanKindServer || auth.StartTime().After(acquire.StartTime()) {
			t.Errorf("IKE_AUTH span kind %v, started %v after its child %v", auth.SpanKind(), auth.StartTime(), acquire.StartTime())
		}
	}
}
