package jaegercheck_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/test/jaegercheck"
	oteltest "github.com/mip6ha/mip6ha/test/otel"
)

const (
	homeAgent = "mip6ha-homeagent"
	mnClient  = "mip6ha-mnclient"
)

func setup(t *testing.T, c telemetry.Config) *telemetry.Telemetry {
	t.Helper()
	c.Insecure = true
	c.ExportDelay = 50 * time.Millisecond
	c.LogOutput = io.Discard
	tel, err := telemetry.Setup(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tel.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return tel
}

// Jaeger shows one trace holding the spans of a mobile node client and of
// two home agents, linked only through traceparent values (TRACE_CONTEXT
// notify bytes from the client to ha2, the lease record string from ha2 to
// ha1), with the right parents. ha1 and the client export over OTLP/HTTP,
// ha2 over OTLP/gRPC.
func TestJaegerReceivesTracesAcrossServices(t *testing.T) {
	j := jaegercheck.Start(t)
	mn := setup(t, telemetry.Config{ServiceName: mnClient, ServiceInstance: "mn1", OTLPEndpoint: j.OTLPHTTP})
	ha1 := setup(t, telemetry.Config{ServiceName: homeAgent, ServiceInstance: "ha1", OTLPEndpoint: j.OTLPHTTP})
	ha2 := setup(t, telemetry.Config{ServiceName: homeAgent, ServiceInstance: "ha2", OTLPEndpoint: j.OTLPGRPC, OTLPProtocol: telemetry.ProtocolGRPC})

	mnTracer := mn.TracerProvider().Tracer(telemetry.ScopeName)
	moveCtx, move := mnTracer.Start(context.Background(), telemetry.SpanMove)
	authCtx, mnAuth := mnTracer.Start(moveCtx, "IKE_AUTH", trace.WithSpanKind(trace.SpanKindClient))
	notify := telemetry.AppendTraceparent(nil, trace.SpanContextFromContext(authCtx))

	remote, err := telemetry.ContextWithTraceparent(context.Background(), notify)
	if err != nil {
		t.Fatal(err)
	}
	ha2Tracer := ha2.TracerProvider().Tracer(telemetry.ScopeName)
	ha2AuthCtx, ha2Auth := ha2Tracer.Start(remote, "IKE_AUTH", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(telemetry.KeyIdentity.String("mn1@example.net")))
	transferCtx, transfer := ha2Tracer.Start(ha2AuthCtx, telemetry.LeaseTransfer.SpanName(),
		trace.WithAttributes(telemetry.KeyHoA.String("2001:db8:1::10"), telemetry.KeyLeaseRevision.Int64(9)))
	leaseRecordTrace := telemetry.Traceparent(transferCtx)
	transfer.End()
	ha2Auth.End()

	watched, err := telemetry.ContextWithTraceparent(context.Background(), leaseRecordTrace)
	if err != nil {
		t.Fatal(err)
	}
	_, remove := ha1.TracerProvider().Tracer(telemetry.ScopeName).Start(watched, telemetry.SpanDataplaneRemove)
	remove.End()
	mnAuth.End()
	move.End()
	traceID := move.SpanContext().TraceID()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spans, err := j.AwaitTrace(ctx, mnClient, func(s []oteltest.Span) bool {
		return len(s) == 5
	})
	if err != nil {
		t.Fatal(err)
	}
	if spans[0].TraceID != traceID {
		t.Fatalf("trace %s, want %s", spans[0].TraceID, traceID)
	}
	if err := oteltest.CheckTrace(spans); err != nil {
		t.Fatal(err)
	}
	find := func(instance, name string) oteltest.Span {
		t.Helper()
		s, ok := oteltest.Find(spans, func(s oteltest.Span) bool { return s.Instance == instance && s.Name == name })
		if !ok {
			t.Fatalf("no %s span from %s", name, instance)
		}
		return s
	}
	root := find("mn1", telemetry.SpanMove)
	mnAuthSpan := find("mn1", "IKE_AUTH")
	ha2AuthSpan := find("ha2", "IKE_AUTH")
	transferSpan := find("ha2", "lease.transfer")
	removeSpan := find("ha1", telemetry.SpanDataplaneRemove)
	for _, l := range []struct{ child, parent oteltest.Span }{
		{mnAuthSpan, root}, {ha2AuthSpan, mnAuthSpan}, {transferSpan, ha2AuthSpan}, {removeSpan, transferSpan},
	} {
		if l.child.ParentSpanID != l.parent.SpanID {
			t.Errorf("parent of %s is %s, want %s", l.child, l.child.ParentSpanID, l.parent.SpanID)
		}
	}
	if !root.IsRoot() || root.Service != mnClient || ha2AuthSpan.Service != homeAgent || removeSpan.Service != homeAgent {
		t.Errorf("services: root %s, ha2 %s, ha1 %s", root, ha2AuthSpan, removeSpan)
	}
	if ha2AuthSpan.Kind != trace.SpanKindServer || ha2AuthSpan.Attributes["ike.identity"] != "mn1@example.net" {
		t.Errorf("ha2 IKE_AUTH: kind %v attributes %v", ha2AuthSpan.Kind, ha2AuthSpan.Attributes)
	}
	if transferSpan.Attributes["lease.revision"] != int64(9) || transferSpan.Attributes["mip6.hoa"] != "2001:db8:1::10" {
		t.Errorf("lease.transfer attributes %v", transferSpan.Attributes)
	}

	// The same trace by ID and from the home agents' side.
	byID, err := j.Trace(ctx, traceID)
	if err != nil {
		t.Fatal(err)
	}
	if len(byID) != len(spans) {
		t.Errorf("by ID: %d spans, want %d", len(byID), len(spans))
	}
	haTraces, err := j.TracesForService(ctx, homeAgent)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(haTraces, func(s []oteltest.Span) bool { return s[0].TraceID == traceID }) {
		t.Errorf("the trace is not among %s's %d traces", homeAgent, len(haTraces))
	}
	services, err := j.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{homeAgent, mnClient} {
		if !slices.Contains(services, s) {
			t.Errorf("services %v lack %s", services, s)
		}
	}
}

func TestJaegerQueryMisses(t *testing.T) {
	j := jaegercheck.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := j.Trace(ctx, trace.TraceID{1, 2, 3}); !errors.Is(err, jaegercheck.ErrNotFound) {
		t.Errorf("unknown trace: %v, want ErrNotFound", err)
	}
	traces, err := j.TracesForService(ctx, "nobody")
	if err != nil || len(traces) != 0 {
		t.Errorf("unknown service: %v, %v", traces, err)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if _, err := j.AwaitTrace(short, "nobody", func([]oteltest.Span) bool { return true }); !errors.Is(err, jaegercheck.ErrTimeout) {
		t.Errorf("AwaitTrace: %v, want ErrTimeout", err)
	}
}

// Options.Command runs Jaeger through a wrapper (as a lab host's Command
// runs it inside a namespace); Options.Dial carries the queries.
func TestStartWithCommandAndDial(t *testing.T) {
	var wrapped, dialed atomic.Bool
	j := jaegercheck.StartWith(t, jaegercheck.Options{
		Command: func(name string, args ...string) *exec.Cmd {
			wrapped.Store(true)
			return exec.Command("env", append([]string{"MIP6HA_WRAPPED=1", name}, args...)...)
		},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed.Store(true)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := j.Services(ctx); err != nil {
		t.Fatal(err)
	}
	if !wrapped.Load() || !dialed.Load() {
		t.Errorf("Command used %v, Dial used %v", wrapped.Load(), dialed.Load())
	}
}

func TestBinaryLookup(t *testing.T) {
	t.Setenv("JAEGER_BIN", "/opt/jaeger")
	if got := jaegercheck.Binary(); got != "/opt/jaeger" {
		t.Errorf("with JAEGER_BIN: %q", got)
	}
	t.Setenv("JAEGER_BIN", "")
	cache := t.TempDir()
	t.Setenv("MIP6HA_CACHE", cache)
	bin := filepath.Join(cache, "jaeger-"+jaegercheck.Version, "jaeger")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := jaegercheck.Binary(); got != bin {
		t.Errorf("with MIP6HA_CACHE: %q, want %q", got, bin)
	}
}
