package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Telemetry is what [Setup] builds: a logger, a tracer provider, a meter
// provider with the project's [Metrics], and the Prometheus handler. Hand
// its parts to the code that needs them; nothing here is global.
type Telemetry struct {
	logger  *slog.Logger
	tracer  trace.TracerProvider
	meter   metric.MeterProvider
	metrics *Metrics
	handler http.Handler
	addr    net.Addr

	flush    func(context.Context) error
	closers  []func(context.Context) error // run in order by Shutdown
	shutdown sync.Once
	err      error
}

// Setup validates c and builds the telemetry it describes. Spans go to
// c.OTLPEndpoint through a batching exporter (nothing is sent before the
// first batch, so Setup succeeds without a collector running); metrics are
// kept in memory for Prometheus to scrape, on c.PrometheusListen when set.
// Call [Telemetry.Shutdown] to export what is left and release the
// listener.
func Setup(ctx context.Context, c Config) (*Telemetry, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	t := &Telemetry{logger: NewLogger(c)}
	res, err := newResource(c)
	if err != nil {
		return nil, err
	}

	if c.OTLPEndpoint == "" {
		t.tracer = tracenoop.NewTracerProvider()
	} else {
		exp, release, err := newSpanExporter(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP exporter for %s: %w", c.OTLPEndpoint, err)
		}
		var batch []sdktrace.BatchSpanProcessorOption
		if c.ExportDelay > 0 {
			batch = append(batch, sdktrace.WithBatchTimeout(c.ExportDelay))
		}
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithResource(res),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.sampleRatio()))),
			sdktrace.WithBatcher(exp, batch...),
		)
		t.tracer, t.flush = tp, tp.ForceFlush
		t.closers = append(t.closers, tp.Shutdown, release)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, t.abort(ctx, fmt.Errorf("telemetry: Prometheus exporter: %w", err))
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
	t.meter = mp
	t.closers = append(t.closers, mp.Shutdown)
	if t.metrics, err = NewMetrics(mp); err != nil {
		return nil, t.abort(ctx, fmt.Errorf("telemetry: metrics: %w", err))
	}
	t.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: promLogger{t.logger},
	})

	if c.PrometheusListen != "" {
		if err := t.listen(c.PrometheusListen); err != nil {
			return nil, t.abort(ctx, err)
		}
	}
	return t, nil
}

func newResource(c Config) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{attribute.String("service.name", c.serviceName())}
	if c.ServiceInstance != "" {
		attrs = append(attrs, attribute.String("service.instance.id", c.ServiceInstance))
	}
	if c.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", c.ServiceVersion))
	}
	// Default carries the SDK's attributes and OTEL_RESOURCE_ATTRIBUTES;
	// the configuration wins over both.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	return res, nil
}

// newSpanExporter returns the OTLP exporter c asks for and a function that
// releases what the exporter leaves behind after its shutdown.
func newSpanExporter(ctx context.Context, c Config) (sdktrace.SpanExporter, func(context.Context) error, error) {
	if c.OTLPProtocol == ProtocolGRPC {
		opts := []otlptracegrpc.Option{}
		if isURL(c.OTLPEndpoint) {
			opts = append(opts, otlptracegrpc.WithEndpointURL(c.OTLPEndpoint))
		} else {
			opts = append(opts, otlptracegrpc.WithEndpoint(c.OTLPEndpoint))
			if c.Insecure {
				opts = append(opts, otlptracegrpc.WithInsecure())
			}
		}
		// The exporter owns its connection and closes it on shutdown.
		exp, err := otlptracegrpc.New(ctx, opts...)
		return exp, func(context.Context) error { return nil }, err
	}
	// A transport of our own: the exporter's default one is shared by the
	// whole process, and its idle connections (two goroutines each) would
	// outlive Shutdown.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	opts := []otlptracehttp.Option{
		otlptracehttp.WithHTTPClient(&http.Client{Transport: transport, Timeout: 10 * time.Second}),
	}
	if isURL(c.OTLPEndpoint) {
		// The URL is the base of the OTLP/HTTP API, as in
		// OTEL_EXPORTER_OTLP_ENDPOINT: the signal's path follows it.
		u, _ := url.Parse(c.OTLPEndpoint) // Validate parsed it
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
	} else {
		opts = append(opts, otlptracehttp.WithEndpoint(c.OTLPEndpoint))
		if c.Insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	return exp, func(context.Context) error { transport.CloseIdleConnections(); return nil }, err
}

// listen serves the metrics at /metrics on addr until Shutdown.
func (t *Telemetry) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("telemetry: PrometheusListen: %w", err)
	}
	t.addr = ln.Addr()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", t.handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.logger.Error("Prometheus listener stopped", "addr", t.addr.String(), "err", err)
		}
	}()
	// The listener stops first, so that no scrape runs while the meter
	// provider shuts down; Shutdown returns after the Serve goroutine.
	t.closers = append([]func(context.Context) error{func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		<-done
		return err
	}}, t.closers...)
	return nil
}

// abort releases what Setup built so far and returns err.
func (t *Telemetry) abort(ctx context.Context, err error) error {
	return errors.Join(err, t.Shutdown(ctx))
}

// Logger returns the logger, which adds trace_id and span_id to records
// logged with a context that carries a span.
func (t *Telemetry) Logger() *slog.Logger { return t.logger }

// TracerProvider returns the tracer provider: the OpenTelemetry SDK's when
// an OTLP endpoint is configured, a no-op one otherwise. Name tracers
// [ScopeName].
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tracer }

// MeterProvider returns the meter provider behind [Telemetry.Metrics], for
// instruments outside the catalogue (there should be none in this
// project: add them to the catalogue instead).
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.meter }

// Metrics returns the project's metrics.
func (t *Telemetry) Metrics() *Metrics { return t.metrics }

// MetricsHandler returns the handler that serves the metrics in the
// Prometheus exposition format, for an admin API that serves /metrics on
// its own listener. It is available whether or not PrometheusListen is set.
func (t *Telemetry) MetricsHandler() http.Handler { return t.handler }

// MetricsAddr returns the address of the Prometheus listener, or nil when
// Config.PrometheusListen was empty.
func (t *Telemetry) MetricsAddr() net.Addr { return t.addr }

// ForceFlush exports the finished spans that wait in the batch now.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	if t.flush == nil {
		return nil
	}
	return t.flush(ctx)
}

// Shutdown stops the Prometheus listener, exports the spans still batched
// and stops the providers. It returns when done or when ctx ends (spans not
// exported by then are lost). Later calls return the first call's result.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdown.Do(func() {
		var errs []error
		for _, c := range t.closers {
			if err := c(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			t.err = fmt.Errorf("telemetry: shutdown: %w", err)
		}
	})
	return t.err
}

// Nop returns telemetry that records nothing: a logger that discards,
// no-op providers and metrics, and a handler that serves no metrics. For
// tests and tools that need the types but not the output.
func Nop() *Telemetry {
	mp := metricnoop.NewMeterProvider()
	m, _ := NewMetrics(mp) // a no-op meter cannot fail
	return &Telemetry{
		logger:  slog.New(slog.DiscardHandler),
		tracer:  tracenoop.NewTracerProvider(),
		meter:   mp,
		metrics: m,
		handler: promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{}),
	}
}

// ErrorHandler returns an OpenTelemetry error handler that logs the SDK's
// errors (failed exports, dropped spans) on l at Warn level. The SDK's
// error handler is process-global: a program's main may install it with
// otel.SetErrorHandler; Setup does not.
func ErrorHandler(l *slog.Logger) otel.ErrorHandler {
	return otel.ErrorHandlerFunc(func(err error) {
		l.Warn("OpenTelemetry error", "err", err)
	})
}

// promLogger routes promhttp's errors to the logger.
type promLogger struct{ l *slog.Logger }

func (p promLogger) Println(v ...any) { p.l.Error("Prometheus handler", "err", fmt.Sprint(v...)) }
