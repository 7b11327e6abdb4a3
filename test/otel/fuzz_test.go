package oteltest_test

import (
	"errors"
	"os"
	"testing"

	oteltest "github.com/mip6ha/mip6ha/test/otel"
)

// FuzzDecodeJSON checks that the OTLP/JSON decoder never panics and that
// its errors wrap ErrJSON.
func FuzzDecodeJSON(f *testing.F) {
	for _, name := range []string{"testdata/otlp-request.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","startTimeUnixNano":18446744073709551615}]}]}]}`))
	f.Add([]byte(`{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":{"kvlistValue":{"values":[{"key":"a","value":{"bytesValue":"AAE="}}]}}}]}}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		spans, err := oteltest.DecodeJSON(b)
		if err != nil {
			if !errors.Is(err, oteltest.ErrJSON) {
				t.Fatalf("error %v does not wrap ErrJSON", err)
			}
			if spans != nil {
				t.Fatalf("spans with an error")
			}
			return
		}
		for _, s := range spans {
			_ = s.String()
		}
	})
}
