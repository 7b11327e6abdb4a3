package oteltest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// Span is one received span, flattened with its resource and scope.
type Span struct {
	// Service and Instance are the resource's service.name and
	// service.instance.id.
	Service  string
	Instance string
	// Scope is the instrumentation scope (the tracer's name).
	Scope string

	Name         string
	Kind         trace.SpanKind
	TraceID      trace.TraceID
	SpanID       trace.SpanID
	ParentSpanID trace.SpanID // zero for a root span
	Start, End   time.Time

	StatusCode    codes.Code
	StatusMessage string

	// Attributes and Resource hold the values as string, bool, int64,
	// float64, []byte, []any or map[string]any.
	Attributes map[string]any
	Resource   map[string]any

	Links  []trace.SpanContext // TraceID and SpanID only
	Events []string            // event names, in order
}

// IsRoot reports whether the span has no parent.
func (s Span) IsRoot() bool { return !s.ParentSpanID.IsValid() }

// Attr returns attribute key of the span as a string (fmt's %v), and
// whether it is set.
func (s Span) Attr(key string) (string, bool) {
	v, ok := s.Attributes[key]
	if !ok {
		return "", false
	}
	return fmt.Sprint(v), true
}

// String describes the span on one line, for failure messages.
func (s Span) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", s.Service)
	if s.Instance != "" {
		fmt.Fprintf(&b, "/%s", s.Instance)
	}
	fmt.Fprintf(&b, " %q trace=%s span=%s", s.Name, s.TraceID, s.SpanID)
	if !s.IsRoot() {
		fmt.Fprintf(&b, " parent=%s", s.ParentSpanID)
	}
	return b.String()
}

// describe lists spans one per line, for failure messages.
func describe(spans []Span) string {
	if len(spans) == 0 {
		return "  (none)"
	}
	lines := make([]string, len(spans))
	for i, s := range spans {
		lines[i] = "  " + s.String()
	}
	return strings.Join(lines, "\n")
}

// FromProto flattens OTLP protobuf resource spans.
func FromProto(rss []*tracepb.ResourceSpans) []Span {
	var out []Span
	for _, rs := range rss {
		res := attrMap(rs.GetResource().GetAttributes())
		service, _ := res["service.name"].(string)
		instance, _ := res["service.instance.id"].(string)
		for _, ss := range rs.GetScopeSpans() {
			for _, ps := range ss.GetSpans() {
				s := Span{
					Service:       service,
					Instance:      instance,
					Scope:         ss.GetScope().GetName(),
					Name:          ps.GetName(),
					Kind:          trace.SpanKind(ps.GetKind()),
					Start:         unixNano(ps.GetStartTimeUnixNano()),
					End:           unixNano(ps.GetEndTimeUnixNano()),
					StatusCode:    statusCode(int32(ps.GetStatus().GetCode())),
					StatusMessage: ps.GetStatus().GetMessage(),
					Attributes:    attrMap(ps.GetAttributes()),
					Resource:      res,
				}
				copy(s.TraceID[:], ps.GetTraceId())
				copy(s.SpanID[:], ps.GetSpanId())
				copy(s.ParentSpanID[:], ps.GetParentSpanId())
				for _, l := range ps.GetLinks() {
					var c trace.SpanContextConfig
					copy(c.TraceID[:], l.GetTraceId())
					copy(c.SpanID[:], l.GetSpanId())
					s.Links = append(s.Links, trace.NewSpanContext(c))
				}
				for _, e := range ps.GetEvents() {
					s.Events = append(s.Events, e.GetName())
				}
				out = append(out, s)
			}
		}
	}
	return out
}

func unixNano(ns uint64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(ns))
}

// statusCode maps OTLP's status codes (0 unset, 1 ok, 2 error) to the
// OpenTelemetry API's (which number them differently).
func statusCode(c int32) codes.Code {
	switch c {
	case 1:
		return codes.Ok
	case 2:
		return codes.Error
	}
	return codes.Unset
}

func attrMap(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = anyValue(kv.GetValue())
	}
	return m
}

func anyValue(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return slices.Clone(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		var a []any
		for _, e := range x.ArrayValue.GetValues() {
			a = append(a, anyValue(e))
		}
		return a
	case *commonpb.AnyValue_KvlistValue:
		return attrMap(x.KvlistValue.GetValues())
	}
	return nil
}
