package config

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// LoadOptions says where Load finds the configuration.
type LoadOptions struct {
	// File is the YAML configuration file. Empty: the file named by the
	// --config flag in Flags, else by $MIP6HA_CONFIG, else none (the
	// defaults, the environment and the flags alone).
	File string
	// Flags are the command's flags after parsing, registered with
	// RegisterFlags. The flags a user set override every other source.
	// Nil: no flags.
	Flags *pflag.FlagSet
	// Env is the environment, "NAME=VALUE" strings; nil means
	// os.Environ(). Tests pass their own.
	Env []string
}

// EnvConfigFile names the configuration file when neither LoadOptions.File
// nor the --config flag does.
const EnvConfigFile = EnvPrefix + "_CONFIG"

// maxConfigFile bounds the size of a configuration file.
const maxConfigFile = 16 << 20

// maxYAMLNodes bounds the YAML nodes a file may expand to (aliases
// included), so that a file of nested aliases cannot exhaust memory.
const maxYAMLNodes = 100000

// Load builds the configuration from, in increasing precedence, the
// defaults (Default), a YAML file, the environment (MIP6HA_SECTION_KEY) and
// the flags the user set, then completes the derived defaults
// (cluster.member_id from the host name) and checks it: every key
// (Validate) and every file it names (CheckFiles). It returns every problem
// found, joined, each a *KeyError naming the key and where its value came
// from; an unknown key in the file or an environment variable that is not
// valid for its key is one of them. It returns a Config only when there is
// no problem.
//
// Environment variables are read by Load itself, not by viper's
// AutomaticEnv, so that LoadOptions.Env can stand in for the process's.
// A variable set to the empty string sets a string or list key to empty;
// for other keys it is an error. A list of strings is comma-separated; a
// list of tables (ike.psks, cluster.sites, cluster.distances) is JSON.
// Variables with the prefix that name no key are ignored: the prefix is
// shared with other tools (MIP6HA_CACHE).
func Load(opts LoadOptions) (*Config, error) {
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	envMap := map[string]string{}
	for _, kv := range env {
		if name, value, ok := strings.Cut(kv, "="); ok {
			envMap[name] = value
		}
	}
	file := opts.File
	if file == "" && opts.Flags != nil {
		if f := opts.Flags.Lookup(ConfigFlag); f != nil {
			file = f.Value.String()
		}
	}
	if file == "" {
		file = envMap[EnvConfigFile]
	}

	var data []byte
	if file != "" {
		var err error
		if data, err = readConfigFile(file); err != nil {
			return nil, err
		}
	}
	return load(file, data, envMap, opts.Flags, true)
}

// load is Load once the file is read: file names it (empty: no file).
// checkFiles runs CheckFiles and the permission check of a file holding
// secrets.
func load(file string, data []byte, env map[string]string, flags *pflag.FlagSet, checkFiles bool) (*Config, error) {
	l := &loader{origins: map[string]string{}}
	v := viper.New()
	def := Default()
	for _, k := range schema() {
		v.SetDefault(k.name, plainValue(k, k.value(def)))
	}
	if file != "" {
		m, err := l.parse(file, data)
		if err != nil {
			return nil, err
		}
		if err := v.MergeConfigMap(m); err != nil {
			return nil, fmt.Errorf("config: %s: %w", file, err)
		}
	}
	if err := v.MergeConfigMap(l.environment(env)); err != nil {
		return nil, fmt.Errorf("config: environment: %w", err)
	}
	if flags != nil {
		for _, k := range schema() {
			if !k.hasFlag() {
				continue
			}
			f := flags.Lookup(k.flag())
			if f == nil {
				continue
			}
			if err := v.BindPFlag(k.name, f); err != nil {
				return nil, fmt.Errorf("config: flag --%s: %w", k.flag(), err)
			}
			if f.Changed {
				l.origins[k.name] = "--" + k.flag()
			}
		}
	}

	cfg := &Config{}
	if err := v.UnmarshalExact(cfg, decoderConfig); err != nil {
		l.values.errs = append(l.values.errs, decodeErrors(err)...)
	}
	cfg.normalize()
	if cfg.Cluster.MemberID == "" {
		l.origins["cluster.member_id"] = "the host name"
	}
	if err := cfg.complete(); err != nil {
		l.values.add("cluster.member_id", "", "is empty and the host name is unknown: %v", err)
	}
	// Validate even after other problems, so that all are reported at
	// once; but a key already reported (one that did not decode, say) is
	// not reported again.
	for _, ke := range KeyErrors(cfg.Validate()) {
		if !l.values.has(ke.Key) {
			l.values.addError(ke)
		}
	}
	if len(l.file.errs)+len(l.values.errs) == 0 && checkFiles {
		l.values.addAll(cfg.CheckFiles())
		if file != "" {
			l.checkFileHoldsSecrets(file)
		}
	}
	if len(l.file.errs)+len(l.values.errs) > 0 {
		return nil, l.err()
	}
	return cfg, nil
}

// complete fills in the defaults that depend on the machine.
func (c *Config) complete() error {
	if c.Cluster.MemberID == "" {
		h, err := os.Hostname()
		if err != nil {
			return err
		}
		c.Cluster.MemberID, _, _ = strings.Cut(h, ".")
	}
	return nil
}

// loader collects the layers' values, where each key's value came from, and
// the problems found on the way.
type loader struct {
	origins map[string]string
	// file holds the problems of the file's structure (unknown keys, a
	// section given a value), in the file's order; values those of the
	// values, from any source.
	file, values problems
	name         string // of the file
	nodes        int
}

// err returns the problems: the file's first, then the values' in schema
// order, each with where its value came from.
func (l *loader) err() error {
	slices.SortStableFunc(l.values.errs, func(a, b error) int {
		return cmp.Compare(schemaPosition(a.(*KeyError).Key), schemaPosition(b.(*KeyError).Key))
	})
	all := append(l.file.errs, l.values.errs...)
	for _, err := range all {
		ke := err.(*KeyError)
		if ke.Source != "" {
			continue
		}
		for k := ke.Key; k != ""; k = parentKey(k) {
			if src, ok := l.origins[k]; ok {
				ke.Source = src
				break
			}
		}
	}
	return errors.Join(all...)
}

// schemaPosition returns the position in the schema of the key that name
// is, or is in (a table's key, a section), for sorting problems; names
// outside the schema go last.
func schemaPosition(name string) int {
	for k := name; k != ""; k = parentKey(k) {
		for i, sk := range schema() {
			if sk.name == k || strings.HasPrefix(sk.name, k+".") {
				return i
			}
		}
	}
	return len(schema())
}

// parentKey drops the last component of a key: "a.b[1].c" -> "a.b[1]" ->
// "a.b" -> "a" -> "".
func parentKey(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i < 0 {
		return ""
	}
	return k[:i]
}

// readConfigFile reads a configuration file of at most maxConfigFile
// octets.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("%w: %s: larger than %d octets", ErrInvalid, path, maxConfigFile)
	}
	return data, nil
}

// parse reads a YAML configuration file, checking every key against the
// schema. It returns the known keys' values as nested maps. Unknown keys
// are recorded as problems and left out, so that all problems are reported
// at once.
func (l *loader) parse(name string, data []byte) (m map[string]any, err error) {
	l.name = name
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s: holds more than one YAML document", ErrInvalid, name)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	m = map[string]any{}
	switch root = l.resolve(root); {
	case root == nil:
		return nil, fmt.Errorf("%w: %s: YAML aliases expand to more than %d nodes", ErrInvalid, name, maxYAMLNodes)
	case root.Kind == 0 || isNull(root):
		return m, nil
	case root.Kind != yaml.MappingNode:
		return nil, fmt.Errorf("%w: %s:%d: the file is not a table of sections", ErrInvalid, name, root.Line)
	}
	l.section(root, "", m)
	return m, nil
}

// resolve follows aliases and counts nodes against maxYAMLNodes; nil means
// the budget is spent.
func (l *loader) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	l.nodes++
	if l.nodes > maxYAMLNodes {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func (l *loader) at(n *yaml.Node) string { return fmt.Sprintf("%s:%d", l.name, n.Line) }

// section reads the mapping n of the section prefix ("" for the root)
// into out.
func (l *loader) section(n *yaml.Node, prefix string, out map[string]any) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := l.resolve(n.Content[i]), l.resolve(n.Content[i+1])
		if kn == nil || vn == nil {
			l.file.addError(&KeyError{Key: prefix, Reason: fmt.Sprintf("expands YAML aliases to more than %d nodes", maxYAMLNodes), Source: l.at(n)})
			return
		}
		name := kn.Value
		full := name
		if prefix != "" {
			full = prefix + "." + name
		}
		if kn.ShortTag() == "!!merge" {
			l.file.addError(&KeyError{Key: full, Reason: "is a YAML merge key, which is not supported", Source: l.at(kn)})
			continue
		}
		if line, dup := seen[name]; dup {
			l.file.addError(&KeyError{Key: full, Reason: fmt.Sprintf("appears twice (first on line %d)", line), Source: l.at(kn)})
			continue
		}
		seen[name] = kn.Line
		if k := schemaIndex()[full]; k != nil {
			if isNull(vn) {
				continue // an empty value keeps the default
			}
			l.origins[full] = l.at(kn)
			if v, ok := l.leaf(vn, k, full); ok {
				out[name] = v
			}
			continue
		}
		if isSection(full) {
			if isNull(vn) {
				continue
			}
			if vn.Kind != yaml.MappingNode {
				l.file.addError(&KeyError{Key: full, Reason: "is a section: it holds keys, not a value", Source: l.at(kn)})
				continue
			}
			sub := map[string]any{}
			l.section(vn, full, sub)
			out[name] = sub
			continue
		}
		l.file.addError(&KeyError{Key: full, Reason: "is not a known key" + suggest(full), Source: l.at(kn)})
	}
}

// leaf converts the value node of key k. Scalars meant as strings keep the
// text as written (a secret "0x1234" or a site "01" stays as it is).
func (l *loader) leaf(n *yaml.Node, k *key, full string) (any, bool) {
	bad := func(reason string) (any, bool) {
		l.values.addError(&KeyError{Key: full, Reason: reason, Source: l.at(n)})
		return nil, false
	}
	switch k.kind {
	case kindString:
		if n.Kind != yaml.ScalarNode {
			return bad("is not a single value")
		}
		return n.Value, true
	case kindStrings:
		switch n.Kind {
		case yaml.ScalarNode:
			return splitList(n.Value), true
		case yaml.SequenceNode:
			out := make([]any, 0, len(n.Content))
			for _, item := range n.Content {
				item = l.resolve(item)
				if item == nil || item.Kind != yaml.ScalarNode || isNull(item) {
					return bad("is not a list of strings")
				}
				out = append(out, item.Value)
			}
			return out, true
		}
		return bad("is not a list of strings")
	case kindTables:
		if n.Kind != yaml.SequenceNode {
			return bad("is not a list of tables")
		}
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			item = l.resolve(item)
			key := fmt.Sprintf("%s[%d]", full, i)
			if item == nil || item.Kind != yaml.MappingNode {
				l.values.addError(&KeyError{Key: key, Reason: "is not a table", Source: l.at(n)})
				continue
			}
			l.origins[key] = l.at(item)
			out = append(out, l.table(item, k, key))
		}
		return out, true
	}
	if n.Kind != yaml.ScalarNode {
		return bad("is not a single value")
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return bad("is not a value: " + err.Error())
	}
	return v, true
}

// table reads one table of a list of tables.
func (l *loader) table(n *yaml.Node, k *key, prefix string) map[string]any {
	out := map[string]any{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := l.resolve(n.Content[i]), l.resolve(n.Content[i+1])
		if kn == nil || vn == nil {
			return out
		}
		full := prefix + "." + kn.Value
		t := lookupRelative(k.table, kn.Value)
		switch {
		case t == nil:
			l.file.addError(&KeyError{Key: full, Reason: "is not a known key" + suggestIn(kn.Value, k.table), Source: l.at(kn)})
			continue
		case seen[kn.Value]:
			l.file.addError(&KeyError{Key: full, Reason: "appears twice", Source: l.at(kn)})
			continue
		case isNull(vn):
			continue
		}
		seen[kn.Value] = true
		l.origins[full] = l.at(kn)
		if v, ok := l.leaf(vn, t, full); ok {
			out[kn.Value] = v
		}
	}
	return out
}

// environment reads the MIP6HA_ variables that name keys into nested maps.
func (l *loader) environment(env map[string]string) map[string]any {
	m := map[string]any{}
	for _, k := range schema() {
		name := k.env()
		val, ok := env[name]
		if !ok {
			continue
		}
		src := "$" + name
		l.origins[k.name] = src
		var v any
		switch k.kind {
		case kindString:
			v = val
		case kindStrings:
			v = splitList(val)
		case kindTables:
			var tables []map[string]any
			if err := json.Unmarshal([]byte(val), &tables); err != nil {
				l.values.addError(&KeyError{Key: k.name, Reason: "is not a JSON list of tables ([{\"key\": value, ...}, ...])", Source: src})
				continue
			}
			list := make([]any, len(tables))
			for i, t := range tables {
				list[i] = jsonTable(t)
			}
			v = list
		default:
			if strings.TrimSpace(val) == "" {
				l.values.addError(&KeyError{Key: k.name, Reason: "is empty: a " + k.kind.String() + " needs a value", Source: src})
				continue
			}
			v = val
		}
		setPath(m, k.name, v)
	}
	return m
}

// jsonTable converts the numbers of a JSON table (float64) that are whole
// to int, so that they decode into integer keys.
func jsonTable(t map[string]any) map[string]any {
	for k, v := range t {
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			t[k] = int64(f)
		}
	}
	return t
}

// setPath stores v at the dotted path in nested maps.
func setPath(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[parts[len(parts)-1]] = v
}

// checkFileHoldsSecrets refuses a configuration file that holds secrets
// and that others can read.
func (l *loader) checkFileHoldsSecrets(path string) {
	for _, k := range schema() {
		if !strings.HasPrefix(l.origins[k.name], path+":") || !holdsSecret(k) {
			continue
		}
		st, err := os.Stat(path)
		if err != nil {
			return
		}
		if err := checkSecretMode(st); err != nil {
			l.values.addError(&KeyError{Key: k.name, Reason: fmt.Sprintf("is a secret in a file that %v", err), Source: l.origins[k.name]})
		}
		return
	}
}

// holdsSecret reports whether k is, or is a list of tables with, a secret.
func holdsSecret(k key) bool {
	if k.secret {
		return true
	}
	for _, t := range k.table {
		if t.secret {
			return true
		}
	}
	return false
}

// plainValue returns the value of field v of key k as viper's defaults
// hold it: lists of tables become lists of maps.
func plainValue(k key, v reflect.Value) any {
	if k.kind != kindTables {
		return v.Interface()
	}
	out := make([]any, v.Len())
	for i := range v.Len() {
		t := map[string]any{}
		for _, tk := range k.table {
			t[tk.name] = v.Index(i).FieldByIndex(tk.index).Interface()
		}
		out[i] = t
	}
	return out
}

// suggest returns ` (did you mean "x"?)` for the known key nearest to an
// unknown one, or "".
func suggest(unknown string) string {
	best, bestDist := "", 4
	for _, k := range schema() {
		if d := editDistance(unknown, k.name); d < bestDist {
			best, bestDist = k.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// suggestIn is suggest among the keys of a table.
func suggestIn(unknown string, keys []key) string {
	best, bestDist := "", 3
	for _, k := range keys {
		if d := editDistance(unknown, k.name); d < bestDist {
			best, bestDist = k.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
