package telemetry

import (
	"context"
	"io"
	"log/slog"
	"os"

	"go.opentelemetry.io/otel/trace"
)

// Log attribute keys that [TraceHandler] adds.
const (
	LogKeyTraceID = "trace_id"
	LogKeySpanID  = "span_id"
)

// NewLogger returns the logger Setup builds from c, without the rest of
// the telemetry: a TextHandler or JSONHandler on c.LogOutput at c.LogLevel,
// wrapped in a [TraceHandler], with "instance" set when c.ServiceInstance
// is. c must be valid.
func NewLogger(c Config) *slog.Logger {
	level, _ := c.level()
	var w io.Writer = os.Stderr
	if c.LogOutput != nil {
		w = c.LogOutput
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if c.LogFormat == LogJSON {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	l := slog.New(NewTraceHandler(h))
	if c.ServiceInstance != "" {
		l = l.With("instance", c.ServiceInstance)
	}
	return l
}

// TraceHandler is a slog.Handler that adds the trace_id and span_id of the
// span in the record's context (when its span context is valid) to every
// record, at the top level, then hands the record to the wrapped handler.
// Log with the context (logger.InfoContext(ctx, ...)) to get them.
type TraceHandler struct {
	// base is the wrapped handler before the first WithGroup; the ids are
	// added there so that they stay at the top level.
	base slog.Handler
	// h is base with every WithAttrs and WithGroup applied.
	h slog.Handler
	// ops replays, from base, what was applied to h since the first
	// WithGroup; nil while no group is open.
	ops []func(slog.Handler) slog.Handler
}

// NewTraceHandler wraps h.
func NewTraceHandler(h slog.Handler) *TraceHandler {
	return &TraceHandler{base: h, h: h}
}

// Enabled reports whether the wrapped handler handles records at level.
func (t *TraceHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return t.h.Enabled(ctx, level)
}

// Handle adds the trace attributes of ctx to r and passes it on.
func (t *TraceHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return t.h.Handle(ctx, r)
	}
	ids := [2]slog.Attr{
		slog.String(LogKeyTraceID, sc.TraceID().String()),
		slog.String(LogKeySpanID, sc.SpanID().String()),
	}
	if t.ops == nil {
		r.AddAttrs(ids[:]...)
		return t.h.Handle(ctx, r)
	}
	// A group is open: attributes added to r would land inside it. Put
	// the ids on the handler before the first group instead, and replay
	// the groups and attributes after it. This costs a few allocations,
	// on grouped loggers only.
	h := t.base.WithAttrs(ids[:])
	for _, op := range t.ops {
		h = op(h)
	}
	return h.Handle(ctx, r)
}

// WithAttrs returns a handler whose records carry attrs.
func (t *TraceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return t
	}
	if t.ops == nil {
		h := t.h.WithAttrs(attrs)
		return &TraceHandler{base: h, h: h}
	}
	return t.with(func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })
}

// WithGroup returns a handler that puts later attributes in group name.
func (t *TraceHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return t
	}
	return t.with(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}

func (t *TraceHandler) with(op func(slog.Handler) slog.Handler) *TraceHandler {
	ops := make([]func(slog.Handler) slog.Handler, len(t.ops), len(t.ops)+1)
	copy(ops, t.ops)
	return &TraceHandler{base: t.base, h: op(t.h), ops: append(ops, op)}
}
