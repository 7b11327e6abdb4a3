package oteltest

import (
	"errors"
	"fmt"
	"slices"

	"go.opentelemetry.io/otel/trace"
)

// ErrTrace is wrapped by the errors of [CheckTrace].
var ErrTrace = errors.New("oteltest: malformed trace")

// CheckTrace checks that spans form one well-linked trace: one trace ID,
// no span ID twice, exactly one root, and every other span's parent among
// spans.
func CheckTrace(spans []Span) error {
	if len(spans) == 0 {
		return fmt.Errorf("%w: no spans", ErrTrace)
	}
	byID := make(map[trace.SpanID]Span, len(spans))
	var roots []Span
	for _, s := range spans {
		if s.TraceID != spans[0].TraceID {
			return fmt.Errorf("%w: two trace IDs %s and %s\n%s", ErrTrace, spans[0].TraceID, s.TraceID, describe(spans))
		}
		if _, dup := byID[s.SpanID]; dup {
			return fmt.Errorf("%w: span ID %s twice\n%s", ErrTrace, s.SpanID, describe(spans))
		}
		byID[s.SpanID] = s
		if s.IsRoot() {
			roots = append(roots, s)
		}
	}
	if len(roots) != 1 {
		return fmt.Errorf("%w: %d roots, want 1\n%s", ErrTrace, len(roots), describe(spans))
	}
	for _, s := range spans {
		if !s.IsRoot() {
			if _, ok := byID[s.ParentSpanID]; !ok {
				return fmt.Errorf("%w: parent of %s missing\n%s", ErrTrace, s, describe(spans))
			}
		}
	}
	return nil
}

// Find returns the first span of spans that match accepts.
func Find(spans []Span, match func(Span) bool) (Span, bool) {
	for _, s := range spans {
		if match(s) {
			return s, true
		}
	}
	return Span{}, false
}

// Parent returns the parent of s among spans.
func Parent(spans []Span, s Span) (Span, bool) {
	if s.IsRoot() {
		return Span{}, false
	}
	return Find(spans, func(p Span) bool { return p.TraceID == s.TraceID && p.SpanID == s.ParentSpanID })
}

// Services returns the sorted distinct service names of spans.
func Services(spans []Span) []string {
	var out []string
	for _, s := range spans {
		if !slices.Contains(out, s.Service) {
			out = append(out, s.Service)
		}
	}
	slices.Sort(out)
	return out
}

// ByTrace groups spans by trace ID, keeping the order in which each trace
// was first seen.
func ByTrace(spans []Span) [][]Span {
	index := map[trace.TraceID]int{}
	var out [][]Span
	for _, s := range spans {
		i, ok := index[s.TraceID]
		if !ok {
			i = len(out)
			index[s.TraceID] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], s)
	}
	return out
}

// Named returns a predicate matching spans called name.
func Named(name string) func(Span) bool {
	return func(s Span) bool { return s.Name == name }
}

// From returns a predicate matching spans of service (and, when instance
// is not empty, of that service.instance.id).
func From(service, instance string) func(Span) bool {
	return func(s Span) bool {
		return s.Service == service && (instance == "" || s.Instance == instance)
	}
}

// All returns a predicate matching spans that every one of preds matches.
func All(preds ...func(Span) bool) func(Span) bool {
	return func(s Span) bool {
		for _, p := range preds {
			if !p(s) {
				return false
			}
		}
		return true
	}
}
