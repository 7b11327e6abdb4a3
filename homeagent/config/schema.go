package config

import (
	"reflect"
	"strings"
	"sync"
	"time"
)

// kind is the type of a key's value as an operator writes it.
type kind uint8

const (
	kindString   kind = iota + 1
	kindBool          // true or false
	kindInt           // a whole number
	kindFloat         // a number
	kindDuration      // a Go duration with unit: 30s, 5m, 1h
	kindStrings       // a list of strings (comma-separated in env and flags)
	kindTables        // a list of tables (JSON in the environment; no flag)
)

// String returns the kind's name in the documentation.
func (k kind) String() string {
	switch k {
	case kindString:
		return "string"
	case kindBool:
		return "bool"
	case kindInt:
		return "integer"
	case kindFloat:
		return "number"
	case kindDuration:
		return "duration"
	case kindStrings:
		return "list of strings"
	case kindTables:
		return "list of tables"
	}
	return "?"
}

// key is one key of the schema: a field of Config (or of a section below
// it) whose value is not itself a section.
type key struct {
	// name is the dotted key, e.g. "ike.retransmit.timeout".
	name string
	// index locates the field from the root struct (reflect FieldByIndex).
	index []int
	typ   reflect.Type
	kind  kind
	// alias is a short flag name, e.g. "listen" for ike.listen.
	alias string
	// secret marks a value that Redacted hides.
	secret bool
	// goName is "Type.Field", to find the field's doc comment.
	goName string
	// table lists, for kindTables, the keys of one table, relative to it.
	table []key
}

// env returns the environment variable that sets the key.
func (k key) env() string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(k.name, ".", "_"))
}

// flag returns the name of the key's flag: the key with '-' for '_'.
func (k key) flag() string { return strings.ReplaceAll(k.name, "_", "-") }

// hasFlag reports whether the key can be set by a flag (lists of tables
// cannot).
func (k key) hasFlag() bool { return k.kind != kindTables }

// section returns the first component of the key ("ike").
func (k key) section() string {
	s, _, _ := strings.Cut(k.name, ".")
	return s
}

var durationType = reflect.TypeFor[time.Duration]()

// schema returns every key of Config, in declaration order.
var schema = sync.OnceValue(func() []key { return walkSchema(reflect.TypeFor[Config](), "", nil) })

// schemaIndex maps key names to schema entries.
var schemaIndex = sync.OnceValue(func() map[string]*key {
	m := map[string]*key{}
	keys := schema()
	for i := range keys {
		m[keys[i].name] = &keys[i]
	}
	return m
})

// walkSchema lists the keys of struct type t under prefix.
func walkSchema(t reflect.Type, prefix string, index []int) []key {
	var keys []key
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" {
			continue
		}
		name := tag
		if prefix != "" {
			name = prefix + "." + tag
		}
		idx := append(append([]int(nil), index...), i)
		k := key{
			name:   name,
			index:  idx,
			typ:    f.Type,
			alias:  f.Tag.Get("alias"),
			secret: f.Tag.Get("secret") == "true",
			goName: t.Name() + "." + f.Name,
		}
		switch {
		case f.Type == durationType:
			k.kind = kindDuration
		case f.Type.Kind() == reflect.Struct:
			keys = append(keys, walkSchema(f.Type, name, idx)...)
			continue
		case f.Type.Kind() == reflect.String:
			k.kind = kindString
		case f.Type.Kind() == reflect.Bool:
			k.kind = kindBool
		case f.Type.Kind() == reflect.Int:
			k.kind = kindInt
		case f.Type.Kind() == reflect.Float64:
			k.kind = kindFloat
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			k.kind = kindStrings
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			k.kind = kindTables
			k.table = walkSchema(f.Type.Elem(), "", nil)
		default:
			panic("config: unsupported field type " + f.Type.String() + " of " + name)
		}
		keys = append(keys, k)
	}
	return keys
}

// lookupRelative finds the key name (relative, without index) in keys.
func lookupRelative(keys []key, name string) *key {
	for i := range keys {
		if keys[i].name == name {
			return &keys[i]
		}
	}
	return nil
}

// isSection reports whether name is a section ("ike", "ike.retransmit")
// of the schema.
func isSection(name string) bool {
	for _, k := range schema() {
		if strings.HasPrefix(k.name, name+".") {
			return true
		}
	}
	return false
}

// value returns the field of k in c.
func (k key) value(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(k.index)
}
