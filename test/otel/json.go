package oteltest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"go.opentelemetry.io/otel/trace"
)

// ErrJSON is wrapped by the errors of [DecodeJSON].
var ErrJSON = errors.New("oteltest: invalid OTLP/JSON")

// DecodeJSON decodes OTLP/JSON spans: a TracesData or
// ExportTraceServiceRequest object ({"resourceSpans": [...]}), as sent to
// POST /v1/traces with Content-Type application/json and as Jaeger's
// /api/v3 query API returns them inside {"result": ...}.
//
// OTLP/JSON is not protobuf's canonical JSON: trace and span IDs are hex,
// not base64, so protojson cannot read it (OTLP specification, "JSON
// Protobuf Encoding"). 64-bit integers may be strings or numbers, enums are
// numbers.
func DecodeJSON(b []byte) ([]Span, error) {
	var td jsonTracesData
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&td); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJSON, err)
	}
	var out []Span
	for i, rs := range td.ResourceSpans {
		res, err := jsonAttrs(rs.Resource.Attributes)
		if err != nil {
			return nil, fmt.Errorf("%w: resourceSpans[%d].resource: %v", ErrJSON, i, err)
		}
		service, _ := res["service.name"].(string)
		instance, _ := res["service.instance.id"].(string)
		for j, ss := range rs.ScopeSpans {
			for k, js := range ss.Spans {
				where := fmt.Sprintf("resourceSpans[%d].scopeSpans[%d].spans[%d]", i, j, k)
				s := Span{
					Service:       service,
					Instance:      instance,
					Scope:         ss.Scope.Name,
					Name:          js.Name,
					Kind:          trace.SpanKind(js.Kind),
					Start:         unixNano(uint64(js.StartTimeUnixNano)),
					End:           unixNano(uint64(js.EndTimeUnixNano)),
					StatusCode:    statusCode(int32(js.Status.Code)),
					StatusMessage: js.Status.Message,
					Resource:      res,
				}
				if err := hexID(s.TraceID[:], js.TraceID, true); err != nil {
					return nil, fmt.Errorf("%w: %s.traceId: %v", ErrJSON, where, err)
				}
				if err := hexID(s.SpanID[:], js.SpanID, true); err != nil {
					return nil, fmt.Errorf("%w: %s.spanId: %v", ErrJSON, where, err)
				}
				if err := hexID(s.ParentSpanID[:], js.ParentSpanID, false); err != nil {
					return nil, fmt.Errorf("%w: %s.parentSpanId: %v", ErrJSON, where, err)
				}
				if s.Attributes, err = jsonAttrs(js.Attributes); err != nil {
					return nil, fmt.Errorf("%w: %s.attributes: %v", ErrJSON, where, err)
				}
				for _, l := range js.Links {
					var c trace.SpanContextConfig
					if err := hexID(c.TraceID[:], l.TraceID, true); err != nil {
						return nil, fmt.Errorf("%w: %s.links: %v", ErrJSON, where, err)
					}
					if err := hexID(c.SpanID[:], l.SpanID, true); err != nil {
						return nil, fmt.Errorf("%w: %s.links: %v", ErrJSON, where, err)
					}
					s.Links = append(s.Links, trace.NewSpanContext(c))
				}
				for _, e := range js.Events {
					s.Events = append(s.Events, e.Name)
				}
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// hexID decodes a hex ID of exactly len(dst) octets; empty is allowed
// when !required (no parent).
func hexID(dst []byte, s string, required bool) error {
	if s == "" && !required {
		return nil
	}
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%q is not %d hex digits", s, 2*len(dst))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	return nil
}

type jsonTracesData struct {
	ResourceSpans []struct {
		Resource struct {
			Attributes []jsonKeyValue `json:"attributes"`
		} `json:"resource"`
		ScopeSpans []struct {
			Scope struct {
				Name string `json:"name"`
			} `json:"scope"`
			Spans []jsonSpan `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

type jsonSpan struct {
	TraceID           string         `json:"traceId"`
	SpanID            string         `json:"spanId"`
	ParentSpanID      string         `json:"parentSpanId"`
	Name              string         `json:"name"`
	Kind              int            `json:"kind"`
	StartTimeUnixNano jsonInt        `json:"startTimeUnixNano"`
	EndTimeUnixNano   jsonInt        `json:"endTimeUnixNano"`
	Attributes        []jsonKeyValue `json:"attributes"`
	Status            struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
	Links []struct {
		TraceID string `json:"traceId"`
		SpanID  string `json:"spanId"`
	} `json:"links"`
	Events []struct {
		Name string `json:"name"`
	} `json:"events"`
}

type jsonKeyValue struct {
	Key   string        `json:"key"`
	Value *jsonAnyValue `json:"value"`
}

type jsonAnyValue struct {
	StringValue *string  `json:"stringValue"`
	BoolValue   *bool    `json:"boolValue"`
	IntValue    *jsonInt `json:"intValue"`
	DoubleValue *float64 `json:"doubleValue"`
	BytesValue  *string  `json:"bytesValue"` // base64, as in protobuf JSON
	ArrayValue  *struct {
		Values []*jsonAnyValue `json:"values"`
	} `json:"arrayValue"`
	KvlistValue *struct {
		Values []jsonKeyValue `json:"values"`
	} `json:"kvlistValue"`
}

// jsonInt is a 64-bit integer written as a JSON string or number.
type jsonInt int64

func (n *jsonInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	// Times are uint64 nanoseconds; they fit int64 until 2262.
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		u, uerr := strconv.ParseUint(s, 10, 64)
		if uerr != nil {
			return fmt.Errorf("integer %s: %v", b, err)
		}
		v = int64(u)
	}
	*n = jsonInt(v)
	return nil
}

func jsonAttrs(kvs []jsonKeyValue) (map[string]any, error) {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		v, err := jsonValue(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", kv.Key, err)
		}
		m[kv.Key] = v
	}
	return m, nil
}

func jsonValue(v *jsonAnyValue) (any, error) {
	switch {
	case v == nil:
		return nil, nil
	case v.StringValue != nil:
		return *v.StringValue, nil
	case v.BoolValue != nil:
		return *v.BoolValue, nil
	case v.IntValue != nil:
		return int64(*v.IntValue), nil
	case v.DoubleValue != nil:
		return *v.DoubleValue, nil
	case v.BytesValue != nil:
		return base64.StdEncoding.DecodeString(*v.BytesValue)
	case v.ArrayValue != nil:
		var a []any
		for _, e := range v.ArrayValue.Values {
			x, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			a = append(a, x)
		}
		return a, nil
	case v.KvlistValue != nil:
		return jsonAttrs(v.KvlistValue.Values)
	}
	return nil, nil
}
