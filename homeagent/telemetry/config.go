package telemetry

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strconv"
	"time"
)

// Protocol is the OTLP transport used to export spans.
type Protocol string

// OTLP transports. Both are served by Jaeger (4318 for HTTP, 4317 for gRPC)
// and by the OpenTelemetry Collector.
const (
	// ProtocolHTTP is OTLP/HTTP with protobuf bodies (POST /v1/traces). It
	// is the default: it needs no long-lived connection, goes through HTTP
	// proxies, and a test can receive it with net/http alone.
	ProtocolHTTP Protocol = "http"
	// ProtocolGRPC is OTLP/gRPC (TraceService/Export).
	ProtocolGRPC Protocol = "grpc"
)

// LogFormat is the encoding of log lines.
type LogFormat string

// Log encodings (log/slog's TextHandler and JSONHandler).
const (
	// LogText writes key=value lines (slog.TextHandler). The default.
	LogText LogFormat = "text"
	// LogJSON writes one JSON object per line (slog.JSONHandler).
	LogJSON LogFormat = "json"
)

// Config says where telemetry goes. The zero value is valid: text logs at
// Info level on standard error, tracing off (spans are cheap no-ops), no
// Prometheus listener (metrics are still collected and served by
// [Telemetry.MetricsHandler]).
//
// Field names are the keys a configuration file uses for them (see
// docs/telemetry.md); [Config.Validate] names the key that is wrong.
type Config struct {
	// ServiceName is the OpenTelemetry service.name resource attribute,
	// e.g. "mip6ha-homeagent" or "mip6ha-mnclient". Empty means
	// "mip6ha".
	ServiceName string
	// ServiceInstance is the service.instance.id resource attribute that
	// tells members of one service apart, e.g. "ha1". It is also added to
	// every log line as "instance" when set.
	ServiceInstance string
	// ServiceVersion is the service.version resource attribute; empty
	// leaves it out.
	ServiceVersion string

	// OTLPEndpoint is where spans are exported: "host:port", or a URL
	// ("http://host:4318", "https://collector.example/otlp"). For
	// OTLP/HTTP a URL is the base of the API, as in
	// OTEL_EXPORTER_OTLP_ENDPOINT: spans go to its path + "/v1/traces"
	// (host:port means http(s)://host:port/v1/traces). Empty turns
	// tracing off: the tracer provider is a no-op whose spans still carry
	// a remote parent's trace context along, and cost almost nothing.
	OTLPEndpoint string
	// OTLPProtocol is ProtocolHTTP (the default when empty) or
	// ProtocolGRPC.
	OTLPProtocol Protocol
	// Insecure sends OTLP without TLS when OTLPEndpoint is a bare
	// "host:port". A URL's scheme decides on its own ("http" is plain,
	// "https" is TLS) and Insecure is then ignored.
	Insecure bool
	// SampleRatio is the fraction of new traces that are recorded, in
	// [0, 1]. Zero means 1 (every trace): to record none, leave
	// OTLPEndpoint empty. Spans that continue a remote parent follow the
	// parent's sampled flag, so one handover is sampled as a whole.
	SampleRatio float64
	// ExportDelay is the longest a finished span waits in the batch before
	// it is exported. Zero means the OpenTelemetry default, 5 s.
	ExportDelay time.Duration

	// PrometheusListen is the address of a dedicated HTTP listener that
	// serves the metrics in the Prometheus text format at /metrics, e.g.
	// "127.0.0.1:9464" (port 0 picks a free port: see
	// [Telemetry.MetricsAddr]). Empty starts no listener.
	PrometheusListen string

	// LogLevel is "debug", "info" (the default when empty), "warn" or
	// "error", optionally with an offset ("debug-4", "warn+1"), as
	// slog.Level parses it.
	LogLevel string
	// LogFormat is LogText (the default when empty) or LogJSON.
	LogFormat LogFormat
	// LogOutput receives the log lines; nil means os.Stderr. It must be
	// safe for concurrent writes of whole lines (an *os.File is).
	LogOutput io.Writer
}

// ErrConfig is wrapped by every error [Config.Validate] returns.
var ErrConfig = errors.New("telemetry: invalid configuration")

// Validate reports the first invalid field, naming it, as an error wrapping
// [ErrConfig].
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
	}
	switch c.OTLPProtocol {
	case "", ProtocolHTTP, ProtocolGRPC:
	default:
		return bad("OTLPProtocol", "%q is neither %q nor %q", c.OTLPProtocol, ProtocolHTTP, ProtocolGRPC)
	}
	if c.OTLPEndpoint != "" {
		if err := checkEndpoint(c.OTLPEndpoint); err != nil {
			return bad("OTLPEndpoint", "%v", err)
		}
	}
	if math.IsNaN(c.SampleRatio) || c.SampleRatio < 0 || c.SampleRatio > 1 {
		return bad("SampleRatio", "%v is outside [0, 1]", c.SampleRatio)
	}
	if c.ExportDelay < 0 {
		return bad("ExportDelay", "%v is negative", c.ExportDelay)
	}
	if c.PrometheusListen != "" {
		_, port, err := net.SplitHostPort(c.PrometheusListen)
		if err == nil {
			_, err = strconv.ParseUint(port, 10, 16)
		}
		if err != nil {
			return bad("PrometheusListen", "%q is not host:port with a port in 0..65535", c.PrometheusListen)
		}
	}
	if _, err := c.level(); err != nil {
		return bad("LogLevel", "%v", err)
	}
	switch c.LogFormat {
	case "", LogText, LogJSON:
	default:
		return bad("LogFormat", "%q is neither %q nor %q", c.LogFormat, LogText, LogJSON)
	}
	return nil
}

// checkEndpoint accepts "host:port" or an http(s) URL with a host.
func checkEndpoint(e string) error {
	if u, err := url.Parse(e); err == nil && u.Scheme != "" && u.Host != "" {
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("URL scheme %q is neither http nor https", u.Scheme)
		}
		return nil
	}
	host, port, err := net.SplitHostPort(e)
	if err != nil {
		return fmt.Errorf("%q is neither host:port nor an http(s) URL", e)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", e)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%q has no usable port", e)
	}
	return nil
}

// isURL reports whether a valid endpoint is a URL rather than host:port.
func isURL(e string) bool {
	u, err := url.Parse(e)
	return err == nil && u.Scheme != "" && u.Host != ""
}

func (c Config) level() (slog.Level, error) {
	var l slog.Level
	if c.LogLevel == "" {
		return slog.LevelInfo, nil
	}
	err := l.UnmarshalText([]byte(c.LogLevel))
	return l, err
}

func (c Config) serviceName() string {
	if c.ServiceName == "" {
		return "mip6ha"
	}
	return c.ServiceName
}

func (c Config) sampleRatio() float64 {
	if c.SampleRatio == 0 {
		return 1
	}
	return c.SampleRatio
}
