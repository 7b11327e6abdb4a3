package telemetry

import (
	"context"
	"io"
	"log/slog"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

func BenchmarkParseTraceparent(b *testing.B) {
	v := []byte(w3cExample)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTraceparent(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendTraceparent(b *testing.B) {
	sc, _ := ParseTraceparent(w3cExample)
	buf := make([]byte, 0, TraceparentLen)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendTraceparent(buf[:0], sc)
	}
}

// A span with tracing off (no endpoint): what instrumented code costs
// when nobody exports.
func BenchmarkSpanTracingOff(b *testing.B) {
	tr := tracenoop.NewTracerProvider().Tracer(ScopeName)
	ctx, _ := ContextWithTraceparent(context.Background(), w3cExample)
	b.ReportAllocs()
	for b.Loop() {
		_, s := tr.Start(ctx, "IKE_AUTH")
		s.End()
	}
}

// A recorded span, batched for export (the exporter discards).
func BenchmarkSpanRecorded(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer(ScopeName)
	ctx, _ := ContextWithTraceparent(context.Background(), w3cExample)
	b.ReportAllocs()
	for b.Loop() {
		_, s := tr.Start(ctx, "IKE_AUTH")
		s.End()
	}
}

func BenchmarkLogWithTraceIDs(b *testing.B) {
	l := slog.New(NewTraceHandler(slog.NewJSONHandler(io.Discard, nil)))
	ctx := spanContext()
	b.ReportAllocs()
	for b.Loop() {
		l.InfoContext(ctx, "SA up", "spi", "0102030405060708")
	}
}

// For comparison: the same line without the trace handler.
func BenchmarkLogPlainJSON(b *testing.B) {
	l := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ctx := spanContext()
	b.ReportAllocs()
	for b.Loop() {
		l.InfoContext(ctx, "SA up", "spi", "0102030405060708")
	}
}
