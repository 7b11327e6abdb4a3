package config

import (
	"strings"

	"github.com/spf13/pflag"
)

// ConfigFlag is the flag (shorthand -c) that names the configuration file.
const ConfigFlag = "config"

// RegisterFlags adds to fs one flag per key that a flag can set (every key
// but the lists of tables), named after the key with '-' for '_'
// ("--ike.listen", "--store.data-dir"; "--store.data_dir" is accepted too),
// the short aliases of the common ones ("--listen", "--prefix",
// "--data-dir", "--admin", "--log-level", ...; see docs/configuration.md),
// and --config (-c), the file. Flags already in fs are left alone. Their
// defaults are Default()'s, for the help text: a flag only counts when the
// user sets it (Load).
//
// The aliases work through fs's normalization function, which RegisterFlags
// wraps around the one fs has.
func RegisterFlags(fs *pflag.FlagSet) {
	if fs.Lookup(ConfigFlag) == nil {
		short := "c"
		if fs.ShorthandLookup(short) != nil {
			short = ""
		}
		fs.StringP(ConfigFlag, short, "", "configuration file (YAML); also $"+EnvConfigFile)
	}
	def := Default()
	aliases := map[string]string{}
	for _, k := range schema() {
		if !k.hasFlag() || fs.Lookup(k.flag()) != nil {
			continue
		}
		usage := usageOf(k)
		if k.alias != "" {
			aliases[k.alias] = k.flag()
			usage += " (alias --" + k.alias + ")"
		}
		v := k.value(def)
		switch k.kind {
		case kindString:
			fs.String(k.flag(), v.String(), usage)
		case kindBool:
			fs.Bool(k.flag(), v.Bool(), usage)
		case kindInt:
			fs.Int(k.flag(), int(v.Int()), usage)
		case kindFloat:
			fs.Float64(k.flag(), v.Float(), usage)
		case kindDuration:
			fs.Duration(k.flag(), durationOf(v), usage)
		case kindStrings:
			fs.StringSlice(k.flag(), v.Interface().([]string), usage)
		}
	}
	inner := fs.GetNormalizeFunc()
	fs.SetNormalizeFunc(func(f *pflag.FlagSet, name string) pflag.NormalizedName {
		if canonical, ok := aliases[name]; ok {
			name = canonical
		} else if isSection(sectionOf(name)) {
			name = strings.ReplaceAll(name, "_", "-")
		}
		return inner(f, name)
	})
}

// sectionOf returns the part of a flag name before its first dot.
func sectionOf(name string) string {
	s, _, _ := strings.Cut(name, ".")
	return s
}

// usageOf returns the first sentence of the key's description.
func usageOf(k key) string {
	d := keyDocs[k.name]
	if i := strings.Index(d, ". "); i >= 0 {
		d = d[:i]
	}
	d = strings.TrimSuffix(d, ".")
	if d == "" {
		return "see docs/configuration.md"
	}
	return d
}
