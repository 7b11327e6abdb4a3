package telemetry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/trace"
)

func setup(t *testing.T, c Config) *Telemetry {
	t.Helper()
	tel, err := Setup(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return tel
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Every metric of the catalogue is served at /metrics under the
// Prometheus name docs/telemetry.md gives it, with its attributes as
// labels.
func TestPrometheusServesTheCatalogue(t *testing.T) {
	tel := setup(t, Config{ServiceName: "mip6ha-homeagent", ServiceInstance: "ha1", PrometheusListen: "127.0.0.1:0"})
	if tel.MetricsAddr() == nil {
		t.Fatal("no listener address")
	}
	m, ctx := tel.Metrics(), context.Background()
	m.AddIKESAs(ctx, 2)
	m.AddChildSAs(ctx, 2)
	m.AddBindings(ctx, 1)
	m.RecordIKEExchange(ctx, "IKE_SA_INIT", ResultOK)
	m.RecordRedirect(ctx, RedirectAtAuth, "lease-elsewhere")
	m.RecordBindingUpdate(ctx, 133)
	m.RecordLeaseOperation(ctx, LeaseAcquire, ResultOK)
	m.RecordHandover(ctx, 300*time.Millisecond, ResultOK)
	reg, err := m.ObserveDataplane(func() DataplaneCounters {
		return DataplaneCounters{PacketsIn: 10, PacketsOut: 11, BytesIn: 1000, BytesOut: 1100, Drops: map[string]uint64{"replay": 1}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()

	fams := scrape(t, "http://"+tel.MetricsAddr().String()+"/metrics")
	for _, in := range Catalogue() {
		f, ok := fams[in.Prometheus]
		if !ok {
			t.Errorf("%s: no family %s", in.Name, in.Prometheus)
			continue
		}
		if len(f.GetMetric()) == 0 {
			t.Errorf("%s: no samples", in.Prometheus)
			continue
		}
		for _, k := range in.Attributes {
			lname := strings.ReplaceAll(string(k), ".", "_")
			if label(f.GetMetric()[0], lname) == "" {
				t.Errorf("%s: no label %s", in.Prometheus, lname)
			}
		}
	}
	if g := fams["mip6ha_ike_sas"].GetMetric()[0].GetGauge().GetValue(); g != 2 {
		t.Errorf("mip6ha_ike_sas = %v, want 2", g)
	}
	if s := label(fams["mip6ha_mip6_binding_updates_total"].GetMetric()[0], "mip6_status"); s != "133" {
		t.Errorf("binding update status label %q, want 133", s)
	}
	h := fams["mip6ha_handover_duration_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 0.3 {
		t.Errorf("handover histogram count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
	}
	// The resource is exported as target_info, so a scrape tells members apart.
	ti, ok := fams["target_info"]
	if !ok || label(ti.GetMetric()[0], "service_instance_id") != "ha1" || label(ti.GetMetric()[0], "service_name") != "mip6ha-homeagent" {
		t.Errorf("target_info: %v", ti)
	}
	// The Go runtime is there too.
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no go_goroutines")
	}
}

func TestMetricsHandlerWithoutListener(t *testing.T) {
	tel := setup(t, Config{})
	if tel.MetricsAddr() != nil {
		t.Fatalf("listener %v without PrometheusListen", tel.MetricsAddr())
	}
	tel.Metrics().AddBindings(context.Background(), 4)
	rec := &responseRecorder{header: http.Header{}}
	req, _ := http.NewRequest(http.MethodGet, "/metrics", nil)
	tel.MetricsHandler().ServeHTTP(rec, req)
	if !strings.Contains(rec.body.String(), "mip6ha_mip6_bindings") {
		t.Fatalf("handler output lacks mip6ha_mip6_bindings:\n%s", rec.body.String())
	}
}

type responseRecorder struct {
	header http.Header
	body   bytes.Buffer
	code   int
}

func (r *responseRecorder) Header() http.Header         { return r.header }
func (r *responseRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *responseRecorder) WriteHeader(code int)        { r.code = code }

// Shutdown releases the listener and is idempotent.
func TestShutdownReleasesListener(t *testing.T) {
	tel, err := Setup(context.Background(), Config{PrometheusListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := tel.MetricsAddr().String()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("address still taken after Shutdown: %v", err)
	}
	ln.Close()
}

func TestSetupRejectsInvalidConfig(t *testing.T) {
	if _, err := Setup(context.Background(), Config{LogFormat: "xml"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("got %v, want ErrConfig", err)
	}
}

func TestSetupReportsBusyPrometheusAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Setup(context.Background(), Config{PrometheusListen: ln.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "PrometheusListen") {
		t.Fatalf("got %v, want an error naming PrometheusListen", err)
	}
}

// Without an endpoint, spans are no-ops that still carry a remote parent,
// so the trace goes on through an agent that does not export.
func TestTracingOffCarriesRemoteParent(t *testing.T) {
	tel := setup(t, Config{})
	ctx, err := ContextWithTraceparent(context.Background(), w3cExample)
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tel.TracerProvider().Tracer(ScopeName).Start(ctx, "IKE_AUTH")
	defer span.End()
	if span.IsRecording() {
		t.Error("span records with tracing off")
	}
	if got := Traceparent(ctx); got != w3cExample {
		t.Errorf("traceparent %q, want %q", got, w3cExample)
	}
}

// With an endpoint, spans are recorded, and a remote parent's sampled flag
// decides (parent-based sampling), whatever the ratio.
func TestSamplingFollowsRemoteParent(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	tel, err := Setup(context.Background(), Config{OTLPEndpoint: srv.URL, SampleRatio: 0.000001})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		// The sampled span went out in OTLP/HTTP protobuf at the latest
		// on Shutdown (test/otel decodes what is sent).
		if posts.Load() == 0 {
			t.Error("no OTLP/HTTP export reached the endpoint")
		}
	}()
	tr := tel.TracerProvider().Tracer(ScopeName)

	sampled, _ := ContextWithTraceparent(context.Background(), w3cExample)
	_, span := tr.Start(sampled, "IKE_AUTH")
	if !span.IsRecording() || !span.SpanContext().IsSampled() || span.SpanContext().TraceID() != testTraceID {
		t.Errorf("child of a sampled parent: recording %v, %v", span.IsRecording(), span.SpanContext())
	}
	span.End()

	unsampled, _ := ContextWithTraceparent(context.Background(), w3cExample[:53]+"00")
	_, span = tr.Start(unsampled, "IKE_AUTH")
	if span.IsRecording() || span.SpanContext().IsSampled() {
		t.Errorf("child of an unsampled parent is sampled")
	}
	span.End()

	// A root span falls to the ratio: at one in a million, practically
	// never (a root span is sampled iff its trace ID's low 63 bits are
	// below ratio*2^63; check that rule rather than hope).
	_, span = tr.Start(context.Background(), "IKE_SA_INIT")
	if span.SpanContext().IsSampled() != rootSampled(span.SpanContext().TraceID(), 0.000001) {
		t.Errorf("root span sampling does not follow the ratio")
	}
	span.End()
}

// rootSampled is TraceIDRatioBased's rule.
func rootSampled(id trace.TraceID, ratio float64) bool {
	var x uint64
	for _, b := range id[8:16] {
		x = x<<8 | uint64(b)
	}
	return x>>1 < uint64(ratio*(1<<63))
}

func TestNop(t *testing.T) {
	tel := Nop()
	tel.Logger().Info("nowhere")
	tel.Metrics().RecordBindingUpdate(context.Background(), 0)
	_, span := tel.TracerProvider().Tracer(ScopeName).Start(context.Background(), "x")
	if span.IsRecording() {
		t.Error("Nop span records")
	}
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	if err := tel.ForceFlush(context.Background()); err != nil {
		t.Error(err)
	}
	rec := &responseRecorder{header: http.Header{}}
	req, _ := http.NewRequest(http.MethodGet, "/metrics", nil)
	tel.MetricsHandler().ServeHTTP(rec, req)
	if strings.Contains(rec.body.String(), "mip6ha_") {
		t.Errorf("Nop serves metrics: %s", rec.body.String())
	}
}

func TestErrorHandlerLogs(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(Config{LogOutput: &buf})
	ErrorHandler(l).Handle(io.ErrUnexpectedEOF)
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "unexpected EOF") {
		t.Errorf("logged %q", buf.String())
	}
}

// Shutdown leaves no goroutine behind: not the batch processor, not the
// Prometheus listener, not the exporter's idle connections.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	// The server stays up: were the exporter's idle connection left open,
	// its goroutines and the server's would stay.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	before := runtime.NumGoroutine()
	tel, err := Setup(context.Background(), Config{OTLPEndpoint: srv.URL, PrometheusListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider().Tracer(ScopeName).Start(context.Background(), "IKE_SA_INIT")
	span.End()
	if err := tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + tel.MetricsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Goroutines end asynchronously after their connections close; there
	// is no event to wait for, so look until the deadline.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before Setup, %d after Shutdown:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
