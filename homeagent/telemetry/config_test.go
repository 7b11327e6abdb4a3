package telemetry

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfigZeroValueIsValid(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
}

func TestConfigValidateAccepts(t *testing.T) {
	for _, c := range []Config{
		{OTLPEndpoint: "127.0.0.1:4318", Insecure: true},
		{OTLPEndpoint: "[::1]:4317", OTLPProtocol: ProtocolGRPC},
		{OTLPEndpoint: "localhost:4318", OTLPProtocol: ProtocolHTTP},
		{OTLPEndpoint: "http://127.0.0.1:4318"},
		{OTLPEndpoint: "https://collector.example:443/otlp"},
		{SampleRatio: 0.25},
		{SampleRatio: 1},
		{ExportDelay: time.Second},
		{PrometheusListen: "127.0.0.1:0"},
		{PrometheusListen: ":9464"},
		{LogLevel: "debug"},
		{LogLevel: "WARN"},
		{LogLevel: "info+2"},
		{LogFormat: LogJSON},
		{LogFormat: LogText},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// Validate names the field that is wrong, so that a configuration error
// can point at its key.
func TestConfigValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		field string
		c     Config
	}{
		{"OTLPProtocol", Config{OTLPProtocol: "udp"}},
		{"OTLPEndpoint", Config{OTLPEndpoint: "127.0.0.1"}},
		{"OTLPEndpoint", Config{OTLPEndpoint: ":4318"}},
		{"OTLPEndpoint", Config{OTLPEndpoint: "127.0.0.1:0"}},
		{"OTLPEndpoint", Config{OTLPEndpoint: "127.0.0.1:70000"}},
		{"OTLPEndpoint", Config{OTLPEndpoint: "ftp://127.0.0.1:4318"}},
		{"SampleRatio", Config{SampleRatio: -0.1}},
		{"SampleRatio", Config{SampleRatio: 1.5}},
		{"SampleRatio", Config{SampleRatio: math.NaN()}},
		{"ExportDelay", Config{ExportDelay: -time.Second}},
		{"PrometheusListen", Config{PrometheusListen: "9464"}},
		{"PrometheusListen", Config{PrometheusListen: "127.0.0.1:http"}},
		{"LogLevel", Config{LogLevel: "verbose"}},
		{"LogFormat", Config{LogFormat: "xml"}},
	} {
		err := tc.c.Validate()
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: error %v does not wrap ErrConfig", tc.c, err)
			continue
		}
		if !strings.Contains(err.Error(), ": "+tc.field+": ") {
			t.Errorf("%+v: error %q does not name %s", tc.c, err, tc.field)
		}
	}
}
