package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

var (
	testTraceID = trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	testSpanID  = trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
)

func spanContext() context.Context {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: testTraceID, SpanID: testSpanID, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(context.Background(), sc)
}

// jsonLines decodes each line the logger wrote.
func jsonLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestLoggerAddsTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(Config{LogFormat: LogJSON, LogOutput: &buf, ServiceInstance: "ha1"})
	l.InfoContext(spanContext(), "SA up", "spi", "0102030405060708")
	l.InfoContext(context.Background(), "no span")

	lines := jsonLines(t, &buf)
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	first := lines[0]
	if first[LogKeyTraceID] != "4bf92f3577b34da6a3ce929d0e0e4736" || first[LogKeySpanID] != "00f067aa0ba902b7" {
		t.Errorf("line with span: %v", first)
	}
	if first["instance"] != "ha1" || first["spi"] != "0102030405060708" || first["msg"] != "SA up" {
		t.Errorf("line with span lost attributes: %v", first)
	}
	if _, ok := lines[1][LogKeyTraceID]; ok {
		t.Errorf("line without span has a trace_id: %v", lines[1])
	}
}

// The ids stay at the top level when the logger has groups, so that one
// query finds every line of a trace.
func TestLoggerTraceIDsStayAtTopLevelUnderGroups(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(Config{LogFormat: LogJSON, LogOutput: &buf})
	l = l.With("shard", 3).WithGroup("sa").With("spi", "01").WithGroup("child")
	l.InfoContext(spanContext(), "rekeyed", "old", "02")

	got := jsonLines(t, &buf)[0]
	if got[LogKeyTraceID] != "4bf92f3577b34da6a3ce929d0e0e4736" || got[LogKeySpanID] != "00f067aa0ba902b7" {
		t.Fatalf("ids not at top level: %v", got)
	}
	if got["shard"] != float64(3) {
		t.Errorf("shard: %v", got)
	}
	sa, _ := got["sa"].(map[string]any)
	child, _ := sa["child"].(map[string]any)
	if sa["spi"] != "01" || child["old"] != "02" {
		t.Errorf("groups: %v", got)
	}
	if _, ok := sa[LogKeyTraceID]; ok {
		t.Errorf("trace_id inside the group: %v", got)
	}
}

func TestLoggerTextFormatAndLevel(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(Config{LogLevel: "warn", LogOutput: &buf})
	l.InfoContext(spanContext(), "dropped")
	l.WarnContext(spanContext(), "kept")
	out := buf.String()
	if strings.Contains(out, "dropped") {
		t.Errorf("info line at warn level: %q", out)
	}
	if !strings.Contains(out, "msg=kept") || !strings.Contains(out, "trace_id=4bf92f3577b34da6a3ce929d0e0e4736") {
		t.Errorf("text line: %q", out)
	}
	if l.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("Enabled(info) at warn level")
	}
}
