package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"go.yaml.in/yaml/v3"
)

// Redaction replaces every secret in Redacted's copy.
const Redaction = "(redacted)"

// Format is an encoding of the configuration.
type Format string

// Encodings for Effective.
const (
	FormatYAML Format = "yaml"
	FormatJSON Format = "json"
)

// Redacted returns a copy of c with every secret (pre-shared keys, the etcd
// password) that is set replaced by Redaction. File names are kept: they
// are not secrets, and the files are protected by their permissions.
func (c *Config) Redacted() *Config {
	r := c.clone()
	if r.Store.Etcd.Password != "" {
		r.Store.Etcd.Password = Redaction
	}
	if r.Cluster.TicketKey != "" {
		r.Cluster.TicketKey = Redaction
	}
	for i := range r.IKE.PSKs {
		if r.IKE.PSKs[i].Secret != "" {
			r.IKE.PSKs[i].Secret = Redaction
		}
	}
	return r
}

// normalize makes every empty list nil, so that a Config read from any
// source compares equal to Default's.
func (c *Config) normalize() {
	rv := reflect.ValueOf(c).Elem()
	for _, k := range schema() {
		if f := rv.FieldByIndex(k.index); f.Kind() == reflect.Slice && f.Len() == 0 && !f.IsNil() {
			f.Set(reflect.Zero(f.Type()))
		}
	}
}

// clone returns a deep copy of c.
func (c *Config) clone() *Config {
	r := *c
	rv := reflect.ValueOf(&r).Elem()
	for _, k := range schema() {
		f := rv.FieldByIndex(k.index)
		if f.Kind() == reflect.Slice && !f.IsNil() {
			s := reflect.MakeSlice(f.Type(), f.Len(), f.Len())
			reflect.Copy(s, f)
			f.Set(s)
		}
	}
	return &r
}

// Effective renders the configuration in force, with secrets redacted, as
// YAML (a file Load accepts, apart from the redacted secrets) or JSON, every
// key in schema order: what `homeagent ctl config` shows.
func (c *Config) Effective(f Format) ([]byte, error) {
	r := c.Redacted()
	switch f {
	case FormatYAML:
		return r.YAML()
	case FormatJSON:
		b, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			return nil, err
		}
		out.WriteByte('\n')
		return out.Bytes(), nil
	}
	return nil, fmt.Errorf("config: unknown format %q (want yaml or json)", f)
}

// YAML renders c, secrets included, as a YAML file that Load reads back to
// the same Config: every key, in schema order.
func (c *Config) YAML() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c.tree().yamlNode()); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// MarshalJSON renders c, secrets included, as one JSON object with the keys
// of a configuration file in schema order; durations are strings ("30s").
// Marshal c.Redacted() to hide the secrets.
func (c *Config) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	c.tree().writeJSON(&b)
	return b.Bytes(), nil
}

// UnmarshalJSON sets c from the JSON form of MarshalJSON. Keys it does not
// hold keep their defaults (Default), not c's previous values; an unknown
// key or a value of the wrong type is an error made of *KeyError values. It
// does not validate.
func (c *Config) UnmarshalJSON(b []byte) error {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	out := Default()
	dc := &mapstructure.DecoderConfig{Result: out}
	decoderConfig(dc)
	hook := dc.DecodeHook
	dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(jsonNumberHook, hook)
	d, err := mapstructure.NewDecoder(dc)
	if err != nil {
		return err
	}
	if err := d.Decode(m); err != nil {
		return errors.Join(decodeErrors(err)...)
	}
	out.normalize()
	*c = *out
	return nil
}

// jsonNumberHook turns json.Number into int64 or float64.
func jsonNumberHook(from, to reflect.Type, data any) (any, error) {
	n, ok := data.(json.Number)
	if !ok {
		return data, nil
	}
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	f, err := n.Float64()
	if err != nil {
		return nil, &valueError{n.String(), "is not a number"}
	}
	return f, nil
}

// tree is an ordered table: the rendering of a section.
type tree struct {
	keys []string
	vals []any // *tree, string, bool, int64, float64, []string, []*tree
}

func (t *tree) sub(name string) *tree {
	for i, k := range t.keys {
		if k == name {
			if s, ok := t.vals[i].(*tree); ok {
				return s
			}
		}
	}
	s := &tree{}
	t.keys = append(t.keys, name)
	t.vals = append(t.vals, s)
	return s
}

func (t *tree) set(name string, v any) {
	t.keys = append(t.keys, name)
	t.vals = append(t.vals, v)
}

// tree renders c in schema order.
func (c *Config) tree() *tree {
	root := &tree{}
	for _, k := range schema() {
		parts := strings.Split(k.name, ".")
		t := root
		for _, p := range parts[:len(parts)-1] {
			t = t.sub(p)
		}
		t.set(parts[len(parts)-1], renderValue(k, k.value(c)))
	}
	return root
}

// renderValue converts one field to its tree form.
func renderValue(k key, v reflect.Value) any {
	switch k.kind {
	case kindString:
		return v.String()
	case kindBool:
		return v.Bool()
	case kindInt:
		return v.Int()
	case kindFloat:
		return v.Float()
	case kindDuration:
		return formatDuration(durationOf(v))
	case kindStrings:
		s := v.Interface().([]string)
		if s == nil {
			s = []string{}
		}
		return s
	case kindTables:
		out := make([]*tree, v.Len())
		for i := range v.Len() {
			t := &tree{}
			for _, tk := range k.table {
				t.set(tk.name, renderValue(tk, v.Index(i).FieldByIndex(tk.index)))
			}
			out[i] = t
		}
		return out
	}
	return nil
}

func durationOf(v reflect.Value) time.Duration { return time.Duration(v.Int()) }

func (t *tree) yamlNode() *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i, k := range t.keys {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, yamlValue(t.vals[i]))
	}
	return n
}

func yamlValue(v any) *yaml.Node {
	scalar := func(tag, s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s} }
	switch v := v.(type) {
	case *tree:
		return v.yamlNode()
	case string:
		return scalar("!!str", v)
	case bool:
		return scalar("!!bool", strconv.FormatBool(v))
	case int64:
		return scalar("!!int", strconv.FormatInt(v, 10))
	case float64:
		switch {
		case math.IsNaN(v):
			return scalar("!!float", ".nan")
		case math.IsInf(v, 1):
			return scalar("!!float", ".inf")
		case math.IsInf(v, -1):
			return scalar("!!float", "-.inf")
		}
		s := formatFloat(v)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0" // so that YAML reads a float, not an integer
		}
		return scalar("!!float", s)
	case []string:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if len(v) == 0 {
			n.Style = yaml.FlowStyle
		}
		for _, s := range v {
			n.Content = append(n.Content, scalar("!!str", s))
		}
		return n
	case []*tree:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if len(v) == 0 {
			n.Style = yaml.FlowStyle
		}
		for _, t := range v {
			n.Content = append(n.Content, t.yamlNode())
		}
		return n
	}
	return scalar("!!null", "null")
}

func (t *tree) writeJSON(b *bytes.Buffer) {
	b.WriteByte('{')
	for i, k := range t.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, k)
		b.WriteByte(':')
		writeJSONValue(b, t.vals[i])
	}
	b.WriteByte('}')
}

func writeJSONValue(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case *tree:
		v.writeJSON(b)
	case string:
		writeJSONString(b, v)
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			writeJSONString(b, formatFloat(v)) // not a number JSON has; never valid
			return
		}
		b.WriteString(formatFloat(v))
	case []string:
		b.WriteByte('[')
		for i, s := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, s)
		}
		b.WriteByte(']')
	case []*tree:
		b.WriteByte('[')
		for i, t := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			t.writeJSON(b)
		}
		b.WriteByte(']')
	default:
		b.WriteString("null")
	}
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}
