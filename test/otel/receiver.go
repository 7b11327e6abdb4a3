package oteltest

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// maxBody bounds an export request (the OTel SDK sends at most a few MiB).
const maxBody = 64 << 20

// Receiver is an in-process OTLP trace receiver for tests: OTLP/HTTP
// (POST /v1/traces, protobuf or JSON, optionally gzip) and OTLP/gRPC
// (TraceService/Export) on loopback ports of their own. It keeps every span
// it receives. Safe for concurrent use.
type Receiver struct {
	mu       sync.Mutex
	spans    []Span
	requests int
	changed  chan struct{} // closed and replaced whenever spans arrive

	httpLn, grpcLn net.Listener
	httpSrv        *http.Server
	grpcSrv        *grpc.Server
	done           sync.WaitGroup
	closeOnce      sync.Once
}

// NewReceiver starts a receiver on 127.0.0.1 and stops it when the test
// ends.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	r, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// Start starts a receiver on 127.0.0.1; Close stops it.
func Start() (*Receiver, error) {
	r := &Receiver{changed: make(chan struct{})}
	var err error
	if r.httpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("oteltest: %w", err)
	}
	if r.grpcLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		r.httpLn.Close()
		return nil, fmt.Errorf("oteltest: %w", err)
	}
	r.httpSrv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	r.grpcSrv = grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(r.grpcSrv, traceService{r: r})
	r.done.Add(2)
	go func() {
		defer r.done.Done()
		_ = r.httpSrv.Serve(r.httpLn) // returns when closed
	}()
	go func() {
		defer r.done.Done()
		_ = r.grpcSrv.Serve(r.grpcLn)
	}()
	return r, nil
}

// Close stops the servers and waits for them.
func (r *Receiver) Close() {
	r.closeOnce.Do(func() {
		r.httpSrv.Close()
		r.grpcSrv.Stop()
		r.done.Wait()
	})
}

// HTTPEndpoint is the OTLP/HTTP endpoint as host:port, for
// telemetry.Config{OTLPEndpoint: ..., Insecure: true}.
func (r *Receiver) HTTPEndpoint() string { return r.httpLn.Addr().String() }

// HTTPURL is the OTLP/HTTP endpoint as a URL ("http://127.0.0.1:port").
func (r *Receiver) HTTPURL() string { return "http://" + r.HTTPEndpoint() }

// GRPCEndpoint is the OTLP/gRPC endpoint as host:port, for
// telemetry.Config{OTLPProtocol: "grpc", Insecure: true, ...}.
func (r *Receiver) GRPCEndpoint() string { return r.grpcLn.Addr().String() }

// ServeHTTP serves POST .../v1/traces (any path ending so, so that the
// receiver can be mounted under a prefix).
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !strings.HasSuffix(req.URL.Path, "/v1/traces") {
		http.NotFound(w, req)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var body io.Reader = http.MaxBytesReader(w, req.Body, maxBody)
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = io.LimitReader(zr, maxBody)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	switch ct {
	case "application/x-protobuf":
		var msg coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.add(FromProto(msg.GetResourceSpans()))
		resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	case "application/json":
		spans, err := DecodeJSON(b)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.add(spans)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	default:
		http.Error(w, "Content-Type must be application/x-protobuf or application/json", http.StatusUnsupportedMediaType)
	}
}

type traceService struct {
	coltracepb.UnimplementedTraceServiceServer
	r *Receiver
}

func (s traceService) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.r.add(FromProto(req.GetResourceSpans()))
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (r *Receiver) add(spans []Span) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	r.spans = append(r.spans, spans...)
	close(r.changed)
	r.changed = make(chan struct{})
}

// Requests returns the number of export requests received.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// Spans returns a copy of every span received, in arrival order.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Trace returns the spans received of trace id.
func (r *Receiver) Trace(id trace.TraceID) []Span {
	var out []Span
	for _, s := range r.Spans() {
		if s.TraceID == id {
			out = append(out, s)
		}
	}
	return out
}

// ErrTimeout is wrapped by the errors of the Await methods when their
// context ends first.
var ErrTimeout = errors.New("oteltest: not received in time")

// await calls find on the spans received so far, then again whenever more
// arrive, until it reports found or ctx ends.
func await[T any](ctx context.Context, r *Receiver, what string, find func([]Span) (T, bool)) (T, error) {
	for {
		r.mu.Lock()
		got, ok := find(r.spans)
		changed := r.changed
		r.mu.Unlock()
		if ok {
			return got, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			var zero T
			return zero, fmt.Errorf("%w: %s (%v); received:\n%s", ErrTimeout, what, ctx.Err(), describe(r.Spans()))
		}
	}
}

// AwaitSpan returns the first span received that match accepts, waiting
// for it until ctx ends.
func (r *Receiver) AwaitSpan(ctx context.Context, match func(Span) bool) (Span, error) {
	return await(ctx, r, "no matching span", func(spans []Span) (Span, bool) {
		return Find(spans, match)
	})
}

// AwaitTrace returns the spans of the first trace that match accepts (it
// sees every span of the trace received so far), waiting until one does
// or ctx ends.
func (r *Receiver) AwaitTrace(ctx context.Context, match func([]Span) bool) ([]Span, error) {
	return await(ctx, r, "no matching trace", func(spans []Span) ([]Span, bool) {
		for _, t := range ByTrace(spans) {
			if match(t) {
				return t, true
			}
		}
		return nil, false
	})
}
