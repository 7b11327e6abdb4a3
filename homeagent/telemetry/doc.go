// Package telemetry builds the logs, traces and metrics of the home agent
// and the mobile node client from one plain [Config], and holds the names
// they share: the metrics catalogue ([Catalogue], [Metrics]), span names and
// attribute keys, and the W3C traceparent helpers that carry one trace
// across processes.
//
// Nothing here is global. [Setup] returns a [Telemetry] whose parts are
// handed to the code that needs them: a *slog.Logger, an OpenTelemetry
// trace.TracerProvider and metric.MeterProvider (API types: code that
// receives them never imports the SDK), the project's [Metrics], and the
// Prometheus handler. [Telemetry.Shutdown] flushes.
//
// # Traces
//
// With Config.OTLPEndpoint set, spans are exported over OTLP (HTTP by
// default, or gRPC) in batches; without it the tracer provider is a no-op,
// so instrumented code costs almost nothing. Sampling is parent-based: a
// span continuing a remote parent follows the parent's decision.
//
// One move of a mobile node is one trace. Its context crosses processes as
// a traceparent: [Traceparent] and [AppendTraceparent] write it (into the
// lease record, into the data of the IKE notify TRACE_CONTEXT), and
// [ContextWithTraceparent] makes it the parent of the receiver's next span.
//
// # Metrics
//
// Every metric is declared once, in the catalogue (metrics.go, documented in
// docs/telemetry.md), and recorded through [Metrics] methods. The
// per-packet counters are not recorded per packet: the dataplane keeps its
// own counters and [Metrics.ObserveDataplane] reads them at scrape time.
//
// # Logs
//
// Logs use log/slog, text or JSON. The handler adds trace_id and span_id to
// every record logged with a context that carries a span
// (logger.InfoContext(ctx, ...)), so a log line can be found from its trace
// and the other way round.
package telemetry
