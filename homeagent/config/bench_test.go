package config

import (
	"testing"
)

// BenchmarkLoadExample measures loading the cluster example (file,
// environment, decoding, validation; no file checks): the start-up cost of
// the configuration.
func BenchmarkLoadExample(b *testing.B) {
	y, err := exampleConfig(b).YAML()
	if err != nil {
		b.Fatal(err)
	}
	env := map[string]string{"MIP6HA_HOME_MTU": "1300"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := load("ha.yaml", y, env, nil, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidate measures Validate of the cluster example.
func BenchmarkValidate(b *testing.B) {
	c := exampleConfig(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEffective measures rendering the configuration for
// `homeagent ctl config`.
func BenchmarkEffective(b *testing.B) {
	c := exampleConfig(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Effective(FormatYAML); err != nil {
			b.Fatal(err)
		}
	}
}
