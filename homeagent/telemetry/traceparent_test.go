package telemetry

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The example of W3C Trace Context §3.2.2.
const w3cExample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestTraceparentW3CExample(t *testing.T) {
	sc, err := ParseTraceparent(w3cExample)
	if err != nil {
		t.Fatal(err)
	}
	if sc.TraceID() != testTraceID || sc.SpanID() != testSpanID || !sc.IsSampled() || !sc.IsRemote() {
		t.Fatalf("parsed %v", sc)
	}
	if got := string(AppendTraceparent(nil, sc)); got != w3cExample {
		t.Fatalf("append: %q, want %q", got, w3cExample)
	}
	if got := Traceparent(trace.ContextWithSpanContext(context.Background(), sc)); got != w3cExample {
		t.Fatalf("Traceparent: %q", got)
	}
}

func TestTraceparentOfNothingIsEmpty(t *testing.T) {
	if got := Traceparent(context.Background()); got != "" {
		t.Errorf("Traceparent without span: %q", got)
	}
	if got := AppendTraceparent([]byte("x"), trace.SpanContext{}); string(got) != "x" {
		t.Errorf("AppendTraceparent of invalid span context: %q", got)
	}
}

func TestTraceparentUnsampledAndRandomFlags(t *testing.T) {
	for _, flags := range []trace.TraceFlags{0, trace.FlagsSampled, trace.FlagsRandom, trace.FlagsSampled | trace.FlagsRandom} {
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: testTraceID, SpanID: testSpanID, TraceFlags: flags})
		back, err := ParseTraceparent(AppendTraceparent(nil, sc))
		if err != nil {
			t.Fatalf("flags %02x: %v", flags, err)
		}
		if back.TraceFlags() != flags {
			t.Errorf("flags %02x came back as %02x", flags, back.TraceFlags())
		}
	}
}

// A later version may carry more fields after a '-'; its first 55 octets
// are read as version 00 (W3C Trace Context §3.2.4).
func TestTraceparentFutureVersion(t *testing.T) {
	sc, err := ParseTraceparent("cc" + w3cExample[2:] + "-what-the-future-holds")
	if err != nil {
		t.Fatal(err)
	}
	if sc.TraceID() != testTraceID || sc.SpanID() != testSpanID || !sc.IsSampled() {
		t.Fatalf("parsed %v", sc)
	}
	// Unknown flags of a later version are ignored, not rejected.
	if sc, err := ParseTraceparent("cc" + w3cExample[2:53] + "ff"); err != nil || sc.TraceFlags() != trace.FlagsSampled|trace.FlagsRandom {
		t.Fatalf("future flags: %v %v", sc, err)
	}
}

func TestTraceparentInvalid(t *testing.T) {
	for _, tc := range []struct {
		v      string
		offset string
	}{
		{"", "offset 0"},
		{w3cExample[:54], "offset 54"},
		{"ff" + w3cExample[2:], "offset 0"},
		{"0g" + w3cExample[2:], "offset 0"},
		{w3cExample + "-", "offset 55"},
		{"01" + w3cExample[2:] + "x", "offset 55"},
		{"00_" + w3cExample[3:], "offset 2"},
		{w3cExample[:35] + "_" + w3cExample[36:], "offset 35"},
		{w3cExample[:52] + "_" + w3cExample[53:], "offset 52"},
		{strings.ToUpper(w3cExample), "offset 3"},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "offset 3"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "offset 36"},
		{w3cExample[:53] + "0x", "offset 53"},
		{w3cExample[:53] + "04", "offset 53"},
	} {
		sc, err := ParseTraceparent(tc.v)
		if !errors.Is(err, ErrTraceparent) {
			t.Errorf("%q: got %v, %v; want ErrTraceparent", tc.v, sc, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.offset) {
			t.Errorf("%q: error %q does not say %s", tc.v, err, tc.offset)
		}
		if _, err := ContextWithTraceparent(context.Background(), []byte(tc.v)); tc.v != "" && err == nil {
			t.Errorf("ContextWithTraceparent(%q) accepted it", tc.v)
		}
	}
}

func TestContextWithTraceparent(t *testing.T) {
	ctx := context.Background()
	got, err := ContextWithTraceparent(ctx, "")
	if err != nil || got != ctx {
		t.Fatalf("empty traceparent: %v %v", got, err)
	}
	got, err = ContextWithTraceparent(ctx, []byte(w3cExample))
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.SpanContextFromContext(got)
	if sc.TraceID() != testTraceID || sc.SpanID() != testSpanID || !sc.IsRemote() {
		t.Fatalf("span context %v", sc)
	}
	if _, err := ContextWithTraceparent(ctx, "bogus"); !errors.Is(err, ErrTraceparent) {
		t.Fatalf("bogus: %v", err)
	}
	// A record type's own string type works as it is.
	type leaseTrace string
	got, err = ContextWithTraceparent(ctx, leaseTrace(w3cExample))
	if err != nil || trace.SpanContextFromContext(got).SpanID() != testSpanID {
		t.Fatalf("named string type: %v", err)
	}
}

func TestAppendTraceparentDoesNotAllocate(t *testing.T) {
	sc, _ := ParseTraceparent(w3cExample)
	buf := make([]byte, 0, TraceparentLen)
	if n := testing.AllocsPerRun(100, func() { _ = AppendTraceparent(buf[:0], sc) }); n != 0 {
		t.Errorf("AppendTraceparent: %v allocations", n)
	}
	b := []byte(w3cExample)
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseTraceparent(b) }); n != 0 {
		t.Errorf("ParseTraceparent: %v allocations", n)
	}
}

// otelExtract is the reference model: OpenTelemetry's own W3C propagator.
func otelExtract(v string) trace.SpanContext {
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": v})
	return trace.SpanContextFromContext(ctx)
}

// FuzzTraceparent checks that the parser never panics, agrees with
// OpenTelemetry's propagator on every input, and that what it accepts
// appends back to the same version-00 value.
func FuzzTraceparent(f *testing.F) {
	f.Add([]byte(w3cExample))
	f.Add([]byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"))
	f.Add([]byte("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-extra"))
	f.Add([]byte("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	f.Add([]byte("00-00000000000000000000000000000000-00f067aa0ba902b7-01"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := ParseTraceparent(b)
		ref := otelExtract(string(b))
		if (err == nil) != ref.IsValid() {
			t.Fatalf("%q: ours %v (%v), OpenTelemetry's valid=%v", b, sc, err, ref.IsValid())
		}
		if err != nil {
			if !errors.Is(err, ErrTraceparent) {
				t.Fatalf("%q: error %v does not wrap ErrTraceparent", b, err)
			}
			return
		}
		if !sc.Equal(ref) {
			t.Fatalf("%q: ours %v, OpenTelemetry's %v", b, sc, ref)
		}
		out := AppendTraceparent(nil, sc)
		again, err := ParseTraceparent(out)
		if err != nil || !again.Equal(sc) {
			t.Fatalf("%q -> %q -> %v, %v", b, out, again, err)
		}
		if b[0] == '0' && b[1] == '0' && string(out) != string(b) {
			t.Fatalf("version 00 %q appended as %q", b, out)
		}
	})
}
