// Package jaegercheck runs Jaeger for tests and asserts traces through its
// query API.
//
// [Start] runs the Jaeger v2 binary that test/deps.d/jaeger.sh builds and
// caches (see [Binary]) with a configuration of its own: in-memory storage,
// an OTLP receiver (gRPC and HTTP) and the query service, every port on a
// free loopback port (or on the address [Options] names), so parallel tests
// never collide and nothing listens beyond the host. The test is skipped,
// saying why, when the binary is absent.
//
//	j := jaegercheck.Start(t)
//	tel, _ := telemetry.Setup(ctx, telemetry.Config{ServiceName: "mip6ha-homeagent",
//		OTLPEndpoint: j.OTLPHTTP, Insecure: true})
//	...
//	spans, err := j.AwaitTrace(ctx, "mip6ha-mnclient", func(s []oteltest.Span) bool { ... })
//
// Traces come back as [oteltest.Span] values (Jaeger's /api/v3 answers in
// OTLP/JSON), so the checks of test/otel ([oteltest.CheckTrace], ...) apply.
package jaegercheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/test/lab"
	oteltest "github.com/mip6ha/mip6ha/test/otel"
)

// Version is the Jaeger release that test/deps.d/jaeger.sh builds.
const Version = "v1.76.0"

// Binary returns the path of the Jaeger binary to run, or "" when there is
// none: $JAEGER_BIN if set, else the first existing cache location that
// test/deps.d/jaeger.sh writes: $MIP6HA_CACHE, /var/cache/mip6ha, then
// ${XDG_CACHE_HOME:-$HOME/.cache}/mip6ha, each + "/jaeger-<Version>/jaeger".
func Binary() string {
	if b := os.Getenv("JAEGER_BIN"); b != "" {
		return b
	}
	for _, d := range lab.CacheDirs() {
		if p := filepath.Join(d, "jaeger-"+Version, "jaeger"); lab.IsExecutable(p) {
			return p
		}
	}
	return ""
}

// Options change where Jaeger runs. The zero value runs it in the test's
// network namespace on 127.0.0.1.
type Options struct {
	// Host is the address every port binds to; empty means 127.0.0.1.
	Host string
	// Command makes the command that runs Jaeger, e.g. a lab host's
	// Command to run it inside a network namespace; nil means
	// exec.Command. Its SysProcAttr is set to a process group of its own
	// that dies with the test process.
	Command func(name string, args ...string) *exec.Cmd
	// Dial connects to the query API; nil means a plain dialer. Set it
	// (e.g. to a lab host's Dial) when Host is only reachable from inside
	// a namespace.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Jaeger is a running Jaeger.
type Jaeger struct {
	// OTLPHTTP and OTLPGRPC are the OTLP receiver's host:port, for
	// telemetry.Config.OTLPEndpoint (with Insecure, and OTLPProtocol
	// "grpc" for the latter).
	OTLPHTTP, OTLPGRPC string
	// Query is the base URL of the query service (the UI and /api).
	Query string

	started time.Time
	client  *http.Client
	cmd     *exec.Cmd
	log     *syncBuffer
	exited  chan struct{}
	waitErr error
}

// Start runs Jaeger for the test and stops it when the test ends. It skips
// the test when the binary is absent and fails it when Jaeger does not
// start.
func Start(t testing.TB) *Jaeger {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, o Options) *Jaeger {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skipf("jaegercheck: no Jaeger %s binary (test/deps.d/jaeger.sh builds it into /var/cache/mip6ha/jaeger-%s/jaeger; JAEGER_BIN names another)", Version, Version)
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Command == nil {
		o.Command = exec.Command
	}
	// Free ports are picked before Jaeger binds them, so another process
	// may take one in between: try again with fresh ports.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var j *Jaeger
		j, err = start(t, bin, o)
		if err == nil {
			t.Cleanup(func() {
				if err := j.stop(); err != nil {
					t.Errorf("jaegercheck: stopping Jaeger: %v", err)
				}
				if t.Failed() {
					t.Logf("jaegercheck: Jaeger's log:\n%s", j.log.tail(60))
				}
			})
			return j
		}
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("jaegercheck: %v", err)
	return nil
}

var errPortTaken = errors.New("a port was taken")

// readyLine is what the collector logs once every component runs.
const readyLine = "Everything is ready"

func start(t testing.TB, bin string, o Options) (*Jaeger, error) {
	ports, err := freePorts(o.Host, 4)
	if err != nil {
		return nil, err
	}
	hp := func(i int) string { return net.JoinHostPort(o.Host, strconv.Itoa(ports[i])) }
	j := &Jaeger{
		OTLPGRPC: hp(0),
		OTLPHTTP: hp(1),
		Query:    "http://" + hp(2),
		log:      &syncBuffer{ready: make(chan struct{})},
		exited:   make(chan struct{}),
	}
	cfg := filepath.Join(t.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(cfg, []byte(config(hp(0), hp(1), hp(2), hp(3))), 0o644); err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if o.Dial != nil {
		transport.DialContext = o.Dial
	}
	j.client = &http.Client{Transport: transport, Timeout: 30 * time.Second}

	j.cmd = o.Command(bin, "--config=file:"+cfg)
	j.cmd.Stdout = j.log
	j.cmd.Stderr = j.log
	j.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	j.cmd.WaitDelay = 5 * time.Second
	j.started = time.Now()
	if err := lab.StartCommand(j.cmd); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		j.waitErr = j.cmd.Wait()
		close(j.exited)
	}()

	timer := time.NewTimer(60 * time.Second)
	defer timer.Stop()
	select {
	case <-j.log.ready:
		return j, nil
	case <-j.exited:
		log := j.log.String()
		if strings.Contains(log, "address already in use") {
			return nil, fmt.Errorf("%w: %s", errPortTaken, j.log.tail(5))
		}
		return nil, fmt.Errorf("Jaeger exited before it was ready (%v):\n%s", j.waitErr, j.log.tail(40))
	case <-timer.C:
		_ = j.stop()
		return nil, fmt.Errorf("Jaeger not ready after 60 s:\n%s", j.log.tail(40))
	}
}

// config is Jaeger's configuration: in-memory storage, OTLP in, query out,
// nothing else: no other receivers, no metrics listener, and no tracing of
// its own (the query service would export its spans to localhost:4317 and
// wait 10 s for that export when stopping).
func config(otlpGRPC, otlpHTTP, queryHTTP, queryGRPC string) string {
	return `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    traces:
      level: none
    logs:
      level: info
extensions:
  jaeger_storage:
    backends:
      memory_store:
        memory:
          max_traces: 100000
  jaeger_query:
    enable_tracing: false
    storage:
      traces: memory_store
    http:
      endpoint: "` + queryHTTP + `"
    grpc:
      endpoint: "` + queryGRPC + `"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: "` + otlpGRPC + `"
      http:
        endpoint: "` + otlpHTTP + `"
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memory_store
`
}

// freePorts returns n TCP ports free on host now. When host is not an
// address of this namespace (Jaeger runs in another), ports free on the
// loopback are used: a namespace of its own has them all free.
func freePorts(host string, n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			ln, err = net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
		}
		lns = append(lns, ln)
	}
	ports := make([]int, n)
	for i, ln := range lns {
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// stop sends SIGTERM to Jaeger's process group and waits; after 20 s it
// sends SIGKILL.
func (j *Jaeger) stop() error {
	select {
	case <-j.exited:
		return nil // exited already: the test saw why, or it crashed (log)
	default:
	}
	// Jaeger's query server waits (up to 10 s) for open connections
	// before it exits: close ours first.
	j.client.CloseIdleConnections()
	pgid := j.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-j.exited:
		return nil
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-j.exited
		return errors.New("did not stop on SIGTERM within 20 s; killed")
	}
}

// Log returns what Jaeger has logged so far.
func (j *Jaeger) Log() string { return j.log.String() }

// ErrNotFound is returned by Trace when Jaeger has no such trace.
var ErrNotFound = errors.New("jaegercheck: trace not found")

// ErrTimeout is wrapped by AwaitTrace's error when its context ends first.
var ErrTimeout = errors.New("jaegercheck: no matching trace in time")

// Trace returns the spans Jaeger holds of trace id
// (GET /api/v3/traces/<id>), or ErrNotFound.
func (j *Jaeger) Trace(ctx context.Context, id trace.TraceID) ([]oteltest.Span, error) {
	return j.spans(ctx, "/api/v3/traces/"+id.String())
}

// TracesForService returns the traces with a span of service that started
// since Jaeger did (GET /api/v3/traces?query.service_name=...), each with
// every span Jaeger holds of it, in the order Jaeger lists them.
func (j *Jaeger) TracesForService(ctx context.Context, service string) ([][]oteltest.Span, error) {
	q := url.Values{
		"query.service_name":   {service},
		"query.start_time_min": {j.started.Add(-time.Minute).UTC().Format(time.RFC3339Nano)},
		"query.start_time_max": {time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)},
		"query.num_traces":     {"1000"},
	}
	spans, err := j.spans(ctx, "/api/v3/traces?"+q.Encode())
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return oteltest.ByTrace(spans), nil
}

// Services returns the service names Jaeger has seen
// (GET /api/v3/services).
func (j *Jaeger) Services(ctx context.Context) ([]string, error) {
	b, err := j.get(ctx, "/api/v3/services")
	if err != nil {
		return nil, err
	}
	var r struct{ Services []string }
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("jaegercheck: /api/v3/services: %w", err)
	}
	return r.Services, nil
}

// AwaitTrace returns the first trace of service whose spans match
// accepts. Jaeger offers no notification, so it asks every 100 ms until one
// matches or ctx ends; a trace's spans arrive in batches, so match sees
// each trace as complete as Jaeger has it at that moment.
func (j *Jaeger) AwaitTrace(ctx context.Context, service string, match func([]oteltest.Span) bool) ([]oteltest.Span, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last [][]oteltest.Span
	var lastErr error
	for {
		traces, err := j.TracesForService(ctx, service)
		if err == nil {
			last = traces
			for _, t := range traces {
				if match(t) {
					return t, nil
				}
			}
		}
		lastErr = err
		select {
		case <-tick.C:
		case <-ctx.Done():
			var b strings.Builder
			for _, t := range last {
				for _, s := range t {
					fmt.Fprintf(&b, "  %s\n", s)
				}
			}
			return nil, fmt.Errorf("%w: service %q (%v, last query error %v); Jaeger has:\n%s", ErrTimeout, service, ctx.Err(), lastErr, b.String())
		}
	}
}

func (j *Jaeger) spans(ctx context.Context, path string) ([]oteltest.Span, error) {
	b, err := j.get(ctx, path)
	if err != nil {
		return nil, err
	}
	// {"result": {"resourceSpans": [...]}}: OTLP/JSON TracesData.
	var r struct{ Result json.RawMessage }
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("jaegercheck: %s: %w", path, err)
	}
	spans, err := oteltest.DecodeJSON(r.Result)
	if err != nil {
		return nil, fmt.Errorf("jaegercheck: %s: %w", path, err)
	}
	return spans, nil
}

func (j *Jaeger) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.Query+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jaegercheck: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("jaegercheck: %s: %w", path, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return b, nil
	case http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	return nil, fmt.Errorf("jaegercheck: GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
}

// syncBuffer collects Jaeger's output and closes ready at the ready line.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte // the line being written
	ready   chan struct{}
	isReady bool
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if !s.isReady {
		// The ready line has no newline inside: it is within the line
		// being written.
		s.partial = append(s.partial, p...)
		if bytes.Contains(s.partial, []byte(readyLine)) {
			s.isReady = true
			s.partial = nil
			close(s.ready)
		} else if i := bytes.LastIndexByte(s.partial, '\n'); i >= 0 {
			s.partial = s.partial[i+1:]
		}
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *syncBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(s.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
