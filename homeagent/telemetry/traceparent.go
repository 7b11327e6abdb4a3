package telemetry

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/trace"
)

// Trace context crosses process boundaries as a W3C traceparent (Trace
// Context Level 2, §3.2), "00-<trace-id>-<parent-id>-<trace-flags>" in
// lower-case hex:
//
//   - in the lease record, as a string, so that the home agent taking a lease
//     over continues the trace of the agent that released it;
//   - from the mobile node client to a home agent, as the data of the
//     private-use IKE notify TRACE_CONTEXT (ike/wire.NotifyTraceContext),
//     as the same 55 ASCII octets.
//
// tracestate is not carried: only our own services read these values.

// TraceparentLen is the length of a version-00 traceparent, the only
// version this package writes.
const TraceparentLen = 55

// ErrTraceparent is wrapped by every error [ParseTraceparent] returns.
var ErrTraceparent = errors.New("telemetry: invalid traceparent")

// Traceparent returns the traceparent of the span context in ctx, or "" when
// ctx carries none that is valid.
func Traceparent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	var buf [TraceparentLen]byte
	return string(AppendTraceparent(buf[:0], sc))
}

// AppendTraceparent appends the version-00 traceparent of sc to b, or
// nothing when sc is not valid. Only the sampled and random flags are
// written.
func AppendTraceparent(b []byte, sc trace.SpanContext) []byte {
	if !sc.IsValid() {
		return b
	}
	const hex = "0123456789abcdef"
	tid, sid := sc.TraceID(), sc.SpanID()
	flags := byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))
	b = append(b, '0', '0', '-')
	for _, x := range tid {
		b = append(b, hex[x>>4], hex[x&0xf])
	}
	b = append(b, '-')
	for _, x := range sid {
		b = append(b, hex[x>>4], hex[x&0xf])
	}
	return append(b, '-', hex[flags>>4], hex[flags&0xf])
}

// ParseTraceparent parses a traceparent into a remote span context. It
// follows the W3C rules for versions: version 00 must be exactly
// [TraceparentLen] octets with no flag beyond sampled and random; a later
// version may be longer if the 56th octet is '-' (the rest is ignored);
// version ff is invalid. Hex digits must be lower case and neither ID may be
// all zeros. Errors wrap [ErrTraceparent] and give the offset.
func ParseTraceparent[T ~string | ~[]byte](v T) (trace.SpanContext, error) {
	fail := func(off int, what string) (trace.SpanContext, error) {
		return trace.SpanContext{}, fmt.Errorf("%w: %s at offset %d", ErrTraceparent, what, off)
	}
	if len(v) < TraceparentLen {
		return fail(len(v), fmt.Sprintf("%d octets, want %d", len(v), TraceparentLen))
	}
	var version [1]byte
	if !unhex(version[:], v[0:2]) {
		return fail(0, "version is not lower-case hex")
	}
	switch {
	case version[0] == 0xff:
		return fail(0, "version ff")
	case version[0] == 0 && len(v) != TraceparentLen:
		return fail(TraceparentLen, "version 00 with trailing data")
	case len(v) > TraceparentLen && v[TraceparentLen] != '-':
		return fail(TraceparentLen, "trailing data not after '-'")
	}
	for _, off := range [...]int{2, 35, 52} {
		if v[off] != '-' {
			return fail(off, "missing '-'")
		}
	}
	var cfg trace.SpanContextConfig
	var flags [1]byte
	switch {
	case !unhex(cfg.TraceID[:], v[3:35]):
		return fail(3, "trace-id is not lower-case hex")
	case !unhex(cfg.SpanID[:], v[36:52]):
		return fail(36, "parent-id is not lower-case hex")
	case !unhex(flags[:], v[53:55]):
		return fail(53, "trace-flags is not lower-case hex")
	case !cfg.TraceID.IsValid():
		return fail(3, "trace-id is all zeros")
	case !cfg.SpanID.IsValid():
		return fail(36, "parent-id is all zeros")
	case version[0] == 0 && flags[0]&^byte(trace.FlagsSampled|trace.FlagsRandom) != 0:
		return fail(53, "version 00 with unknown trace-flags")
	}
	cfg.TraceFlags = trace.TraceFlags(flags[0]) & (trace.FlagsSampled | trace.FlagsRandom)
	cfg.Remote = true
	return trace.NewSpanContext(cfg), nil
}

// ContextWithTraceparent returns ctx with the remote span context of
// traceparent v as the parent of the next span started from it. An empty v
// (no trace context was recorded) returns ctx unchanged and no error; an
// invalid one returns ctx unchanged and the parse error.
func ContextWithTraceparent[T ~string | ~[]byte](ctx context.Context, v T) (context.Context, error) {
	if len(v) == 0 {
		return ctx, nil
	}
	sc, err := ParseTraceparent(v)
	if err != nil {
		return ctx, err
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc), nil
}

// unhex decodes lower-case hex src into dst (len(src) == 2*len(dst)).
func unhex[T ~string | ~[]byte](dst []byte, src T) bool {
	for i := range dst {
		hi, ok1 := nibble(src[2*i])
		lo, ok2 := nibble(src[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func nibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
