package oteltest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	oteltest "github.com/mip6ha/mip6ha/test/otel"
)

const (
	homeAgent = "mip6ha-homeagent"
	mnClient  = "mip6ha-mnclient"
)

// setup starts telemetry for one service exporting to endpoint, with a
// short export delay so that spans arrive while the test runs.
func setup(t *testing.T, c telemetry.Config) *telemetry.Telemetry {
	t.Helper()
	if c.ExportDelay == 0 {
		c.ExportDelay = 20 * time.Millisecond
	}
	c.LogOutput = testWriter{t}
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

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

func await(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// An attach on a home agent, as the runtime instruments it, reaches an
// OTLP endpoint during the test (without Shutdown), with the service,
// instance, scope, kinds, attributes, status and parent links it was
// recorded with.
func TestAttachTraceArrivesAtOTLPEndpoint(t *testing.T) {
	rcv := oteltest.NewReceiver(t)
	tel := setup(t, telemetry.Config{ServiceName: homeAgent, ServiceInstance: "ha1", OTLPEndpoint: rcv.HTTPEndpoint(), Insecure: true})
	tr := tel.TracerProvider().Tracer(telemetry.ScopeName)
	server := trace.WithSpanKind(trace.SpanKindServer)
	ctx := context.Background()

	_, initSpan := tr.Start(ctx, "IKE_SA_INIT", server, trace.WithAttributes(telemetry.KeyExchange.String("IKE_SA_INIT")))
	initSpan.End()
	authCtx, auth := tr.Start(ctx, "IKE_AUTH", server, trace.WithAttributes(
		telemetry.KeyExchange.String("IKE_AUTH"), telemetry.KeyIdentity.String("mn1@example.net")))
	_, lease := tr.Start(authCtx, telemetry.LeaseAcquire.SpanName(), trace.WithAttributes(
		telemetry.KeyHoA.String("2001:db8:1::10"), telemetry.KeyLeaseRevision.Int64(42)))
	lease.End()
	_, install := tr.Start(authCtx, telemetry.SpanDataplaneInstall)
	install.End()
	auth.End()
	_, bu := tr.Start(authCtx, telemetry.SpanBindingUpdate, server, trace.WithAttributes(
		telemetry.KeyHoA.String("2001:db8:1::10"), telemetry.KeyCoA.String("2001:db8:2::20"),
		telemetry.KeySequence.Int(7), telemetry.KeyStatus.Int(0)))
	bu.End()
	// A failed attempt: its span carries the error notify as status.
	_, failed := tr.Start(ctx, "IKE_AUTH", server)
	failed.SetStatus(codes.Error, "AUTHENTICATION_FAILED")
	failed.End()

	got, err := rcv.AwaitSpan(await(t), oteltest.Named(telemetry.SpanBindingUpdate))
	if err != nil {
		t.Fatal(err)
	}
	if got.Service != homeAgent || got.Instance != "ha1" || got.Scope != telemetry.ScopeName || got.Kind != trace.SpanKindServer {
		t.Errorf("binding update span: %s scope %q kind %v", got, got.Scope, got.Kind)
	}
	for k, want := range map[string]any{
		"mip6.hoa": "2001:db8:1::10", "mip6.coa": "2001:db8:2::20", "mip6.sequence": int64(7), "mip6.status": int64(0),
	} {
		if got.Attributes[k] != want {
			t.Errorf("attribute %s = %#v, want %#v", k, got.Attributes[k], want)
		}
	}
	if got.End.Before(got.Start) || got.Start.IsZero() {
		t.Errorf("times %v .. %v", got.Start, got.End)
	}

	spans, err := rcv.AwaitTrace(await(t), func(s []oteltest.Span) bool {
		_, ok := oteltest.Find(s, oteltest.Named(telemetry.SpanBindingUpdate))
		return ok && len(s) == 4
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := oteltest.CheckTrace(spans); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lease.acquire", telemetry.SpanDataplaneInstall, telemetry.SpanBindingUpdate} {
		s, _ := oteltest.Find(spans, oteltest.Named(name))
		if p, ok := oteltest.Parent(spans, s); !ok || p.Name != "IKE_AUTH" {
			t.Errorf("parent of %s: %v %v, want IKE_AUTH", name, p, ok)
		}
	}
	if s, _ := oteltest.Find(spans, oteltest.Named("lease.acquire")); s.Attributes["lease.revision"] != int64(42) {
		t.Errorf("lease.acquire attributes %v", s.Attributes)
	}
	fail, err := rcv.AwaitSpan(await(t), func(s oteltest.Span) bool { return s.StatusCode == codes.Error })
	if err != nil {
		t.Fatal(err)
	}
	if fail.StatusMessage != "AUTHENTICATION_FAILED" || !fail.IsRoot() || fail.TraceID == spans[0].TraceID {
		t.Errorf("failed attempt: %s status %q", fail, fail.StatusMessage)
	}
}

// One move is one trace across processes that share nothing but
// traceparent values: the mobile node client sends its IKE_AUTH context to
// the new agent as TRACE_CONTEXT notify data (bytes), the new agent writes
// its lease transfer's context into the lease record (a string), and the
// old agent, watching the record, continues from it.
func TestOneTraceAcrossServices(t *testing.T) {
	rcv := oteltest.NewReceiver(t)
	mn := setup(t, telemetry.Config{ServiceName: mnClient, ServiceInstance: "mn1", OTLPEndpoint: rcv.HTTPEndpoint(), Insecure: true})
	ha1 := setup(t, telemetry.Config{ServiceName: homeAgent, ServiceInstance: "ha1", OTLPEndpoint: rcv.HTTPEndpoint(), Insecure: true})
	ha2 := setup(t, telemetry.Config{ServiceName: homeAgent, ServiceInstance: "ha2", OTLPEndpoint: rcv.GRPCEndpoint(), OTLPProtocol: telemetry.ProtocolGRPC, Insecure: true})

	// Mobile node client.
	mnTracer := mn.TracerProvider().Tracer(telemetry.ScopeName)
	moveCtx, move := mnTracer.Start(context.Background(), telemetry.SpanMove, trace.WithSpanKind(trace.SpanKindClient))
	authCtx, mnAuth := mnTracer.Start(moveCtx, "IKE_AUTH", trace.WithSpanKind(trace.SpanKindClient))
	notifyData := telemetry.AppendTraceparent(nil, trace.SpanContextFromContext(authCtx))

	// New home agent: the TRACE_CONTEXT notify arrives with IKE_AUTH.
	ha2Tracer := ha2.TracerProvider().Tracer(telemetry.ScopeName)
	remote, err := telemetry.ContextWithTraceparent(context.Background(), notifyData)
	if err != nil {
		t.Fatal(err)
	}
	ha2AuthCtx, ha2Auth := ha2Tracer.Start(remote, "IKE_AUTH", trace.WithSpanKind(trace.SpanKindServer))
	transferCtx, transfer := ha2Tracer.Start(ha2AuthCtx, telemetry.LeaseTransfer.SpanName())
	leaseRecord := struct{ HoA, Owner, Trace string }{"2001:db8:1::10", "ha2", telemetry.Traceparent(transferCtx)}
	transfer.End()
	ha2Auth.End()

	// Old home agent: its store watch delivers the changed record.
	ha1Tracer := ha1.TracerProvider().Tracer(telemetry.ScopeName)
	watchCtx, err := telemetry.ContextWithTraceparent(context.Background(), leaseRecord.Trace)
	if err != nil {
		t.Fatal(err)
	}
	_, remove := ha1Tracer.Start(watchCtx, telemetry.SpanDataplaneRemove, trace.WithAttributes(telemetry.KeyHoA.String(leaseRecord.HoA)))
	remove.End()

	mnAuth.End()
	move.End()

	spans, err := rcv.AwaitTrace(await(t), func(s []oteltest.Span) bool { return len(s) == 5 })
	if err != nil {
		t.Fatal(err)
	}
	if err := oteltest.CheckTrace(spans); err != nil {
		t.Fatal(err)
	}
	if got := oteltest.Services(spans); !slices.Equal(got, []string{homeAgent, mnClient}) {
		t.Errorf("services %v", got)
	}
	find := func(service, instance, name string) oteltest.Span {
		t.Helper()
		s, ok := oteltest.Find(spans, oteltest.All(oteltest.From(service, instance), oteltest.Named(name)))
		if !ok {
			t.Fatalf("no %s span from %s/%s", name, service, instance)
		}
		return s
	}
	root := find(mnClient, "mn1", telemetry.SpanMove)
	mnAuthSpan := find(mnClient, "mn1", "IKE_AUTH")
	ha2AuthSpan := find(homeAgent, "ha2", "IKE_AUTH")
	transferSpan := find(homeAgent, "ha2", "lease.transfer")
	removeSpan := find(homeAgent, "ha1", telemetry.SpanDataplaneRemove)
	for _, link := range []struct {
		child, parent oteltest.Span
	}{
		{mnAuthSpan, root},
		{ha2AuthSpan, mnAuthSpan},
		{transferSpan, ha2AuthSpan},
		{removeSpan, transferSpan},
	} {
		if link.child.ParentSpanID != link.parent.SpanID {
			t.Errorf("parent of %s is %s, want %s", link.child, link.child.ParentSpanID, link.parent.SpanID)
		}
	}
	if !root.IsRoot() {
		t.Errorf("the move is not the root: %s", root)
	}
}

// Spans go to a URL endpoint's path + /v1/traces, and the standard
// OTEL_EXPORTER_OTLP_* variables apply to what Config leaves unset (here:
// gzip compression, which the receiver undoes).
func TestURLEndpointWithBasePathAndGzip(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
	rcv := oteltest.NewReceiver(t)
	var gzipped bool
	mux := http.NewServeMux()
	mux.Handle("/otlp/v1/traces", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gzipped = r.Header.Get("Content-Encoding") == "gzip"
		rcv.ServeHTTP(w, r)
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tel := setup(t, telemetry.Config{ServiceName: homeAgent, OTLPEndpoint: srv.URL + "/otlp/"})
	_, span := tel.TracerProvider().Tracer(telemetry.ScopeName).Start(context.Background(), "IKE_SA_INIT")
	span.End()
	if _, err := rcv.AwaitSpan(await(t), oteltest.Named("IKE_SA_INIT")); err != nil {
		t.Fatal(err)
	}
	if !gzipped {
		t.Error("export was not gzip-compressed")
	}
}

func TestReceiverAcceptsOTLPJSON(t *testing.T) {
	rcv := oteltest.NewReceiver(t)
	body, err := os.ReadFile("testdata/otlp-request.json")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(rcv.HTTPURL()+"/v1/traces", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	if got := len(rcv.Spans()); got != 2 || rcv.Requests() != 1 {
		t.Fatalf("%d spans in %d requests, want 2 in 1", got, rcv.Requests())
	}
	checkGoldenSpans(t, rcv.Spans())
}

// The golden file is what Jaeger v1.76.0's /api/v3/traces/<id> returned for
// testdata/otlp-request.json.
func TestDecodeJSONOfJaegerV3(t *testing.T) {
	b, err := os.ReadFile("testdata/jaeger-v3-trace.json")
	if err != nil {
		t.Fatal(err)
	}
	var wrapped struct{ Result json.RawMessage }
	if err := json.Unmarshal(b, &wrapped); err != nil {
		t.Fatal(err)
	}
	spans, err := oteltest.DecodeJSON(wrapped.Result)
	if err != nil {
		t.Fatal(err)
	}
	checkGoldenSpans(t, spans)
}

func checkGoldenSpans(t *testing.T, spans []oteltest.Span) {
	t.Helper()
	if err := oteltest.CheckTrace(spans); err != nil {
		t.Fatal(err)
	}
	move, ok := oteltest.Find(spans, oteltest.Named("mip6ha.move"))
	if !ok {
		t.Fatal("no mip6ha.move")
	}
	if move.TraceID.String() != "4bf92f3577b34da6a3ce929d0e0e4736" || move.SpanID.String() != "00f067aa0ba902b7" ||
		move.Service != mnClient || move.Kind != trace.SpanKindClient || move.Scope != telemetry.ScopeName {
		t.Errorf("move: %s kind %v scope %q", move, move.Kind, move.Scope)
	}
	want := map[string]any{
		"mip6.hoa": "2001:db8:1::10", "mip6.sequence": int64(7), "ok": true, "ratio": 0.5,
	}
	for k, v := range want {
		if move.Attributes[k] != v {
			t.Errorf("attribute %s = %#v, want %#v", k, move.Attributes[k], v)
		}
	}
	if l, _ := move.Attributes["list"].([]any); len(l) != 2 || l[0] != "a" || l[1] != int64(2) {
		t.Errorf("list attribute %#v", move.Attributes["list"])
	}
	if d := move.End.Sub(move.Start); d != 5*time.Millisecond {
		t.Errorf("move lasted %v", d)
	}
	auth, _ := oteltest.Find(spans, oteltest.Named("IKE_AUTH"))
	if auth.Service != homeAgent || auth.Instance != "ha2" || auth.ParentSpanID != move.SpanID || auth.Kind != trace.SpanKindServer {
		t.Errorf("auth: %s kind %v", auth, auth.Kind)
	}
	if auth.StatusCode != codes.Error || auth.StatusMessage != "AUTHENTICATION_FAILED" {
		t.Errorf("auth status %v %q", auth.StatusCode, auth.StatusMessage)
	}
	if len(auth.Links) != 1 || auth.Links[0].SpanID().String() != "2222222222222222" || !slices.Equal(auth.Events, []string{"redirect"}) {
		t.Errorf("auth links %v events %v", auth.Links, auth.Events)
	}
}

func TestReceiverRejects(t *testing.T) {
	rcv := oteltest.NewReceiver(t)
	for _, tc := range []struct {
		method, path, contentType, body string
		want                            int
	}{
		{"GET", "/v1/traces", "", "", http.StatusMethodNotAllowed},
		{"POST", "/v1/metrics", "application/x-protobuf", "", http.StatusNotFound},
		{"POST", "/v1/traces", "text/plain", "hello", http.StatusUnsupportedMediaType},
		{"POST", "/v1/traces", "application/x-protobuf", "\xff\xff\xff", http.StatusBadRequest},
		{"POST", "/v1/traces", "application/json", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}`, http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(tc.method, rcv.HTTPURL()+tc.path, bytes.NewReader([]byte(tc.body)))
		req.Header.Set("Content-Type", tc.contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s %s: %s, want %d", tc.method, tc.path, tc.contentType, resp.Status, tc.want)
		}
	}
	if n := len(rcv.Spans()); n != 0 {
		t.Errorf("%d spans from rejected requests", n)
	}
}

func TestReceiverGzipJSON(t *testing.T) {
	rcv := oteltest.NewReceiver(t)
	body, _ := os.ReadFile("testdata/otlp-request.json")
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(body)
	zw.Close()
	req, _ := http.NewRequest("POST", rcv.HTTPURL()+"/v1/traces", &z)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(rcv.Spans()) != 2 {
		t.Fatalf("status %s, %d spans", resp.Status, len(rcv.Spans()))
	}
}

// Await gives up when its context ends and says what it did receive.
func TestAwaitTimesOut(t *testing.T) {
	rcv := oteltest.NewReceiver(t)
	tel := setup(t, telemetry.Config{ServiceName: homeAgent, OTLPEndpoint: rcv.HTTPEndpoint(), Insecure: true})
	_, span := tel.TracerProvider().Tracer(telemetry.ScopeName).Start(context.Background(), "IKE_SA_INIT")
	span.End()
	if _, err := rcv.AwaitSpan(await(t), oteltest.Named("IKE_SA_INIT")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := rcv.AwaitSpan(ctx, oteltest.Named("never"))
	if !errors.Is(err, oteltest.ErrTimeout) || !bytes.Contains([]byte(err.Error()), []byte(`"IKE_SA_INIT"`)) {
		t.Fatalf("got %v, want ErrTimeout listing the IKE_SA_INIT span", err)
	}
}

func TestCheckTraceFindsFaults(t *testing.T) {
	tid := trace.TraceID{1}
	other := trace.TraceID{2}
	root := oteltest.Span{Name: "root", TraceID: tid, SpanID: trace.SpanID{1}}
	child := oteltest.Span{Name: "child", TraceID: tid, SpanID: trace.SpanID{2}, ParentSpanID: trace.SpanID{1}}
	for name, spans := range map[string][]oteltest.Span{
		"empty":          nil,
		"two roots":      {root, {Name: "r2", TraceID: tid, SpanID: trace.SpanID{3}}},
		"orphan":         {root, {Name: "o", TraceID: tid, SpanID: trace.SpanID{3}, ParentSpanID: trace.SpanID{9}}},
		"two traces":     {root, {Name: "x", TraceID: other, SpanID: trace.SpanID{3}, ParentSpanID: trace.SpanID{1}}},
		"duplicate span": {root, child, child},
		"no root":        {child},
	} {
		if err := oteltest.CheckTrace(spans); !errors.Is(err, oteltest.ErrTrace) {
			t.Errorf("%s: got %v, want ErrTrace", name, err)
		}
	}
	if err := oteltest.CheckTrace([]oteltest.Span{child, root}); err != nil {
		t.Errorf("good trace: %v", err)
	}
}

func TestSpanAttr(t *testing.T) {
	s := oteltest.Span{Attributes: map[string]any{"mip6.status": int64(133)}}
	if v, ok := s.Attr("mip6.status"); !ok || v != "133" {
		t.Errorf("Attr = %q, %v", v, ok)
	}
	if _, ok := s.Attr(string(attribute.Key("absent"))); ok {
		t.Error("absent attribute found")
	}
}
