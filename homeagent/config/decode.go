package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// valueError is a decode hook's complaint about one value; decodeErrors
// turns it into a *KeyError for the key mapstructure was decoding.
type valueError struct {
	value  string
	reason string
}

func (e *valueError) Error() string { return fmt.Sprintf("%q %s", e.value, e.reason) }

// decodeHook converts the values of a file, the environment or flags to the
// types of Config, strictly: a number where a duration is expected needs a
// unit, a fraction is not an integer, "yes" is not a bool, a table is not a
// string. Values already of the right type pass through.
func decodeHook(_, to reflect.Type, data any) (any, error) {
	if data == nil {
		return nil, nil
	}
	switch {
	case to == durationType:
		return toDuration(data)
	case to.Kind() == reflect.Int:
		return toInt(data)
	case to.Kind() == reflect.Float64:
		return toFloat(data)
	case to.Kind() == reflect.Bool:
		return toBool(data)
	case to.Kind() == reflect.String:
		return toString(data)
	case to.Kind() == reflect.Slice && to.Elem().Kind() == reflect.String:
		switch v := data.(type) {
		case string:
			return splitList(v), nil
		case []any, []string:
			return v, nil
		}
		return nil, &valueError{fmt.Sprint(data), "is not a list of strings"}
	case to.Kind() == reflect.Slice && to.Elem().Kind() == reflect.Struct:
		switch data.(type) {
		case []any, []map[string]any:
			return data, nil
		}
		return nil, &valueError{fmt.Sprint(data), "is not a list of tables"}
	case to.Kind() == reflect.Struct:
		if _, ok := data.(map[string]any); !ok {
			return nil, &valueError{fmt.Sprint(data), "is not a table"}
		}
	}
	return data, nil
}

func toDuration(data any) (any, error) {
	switch v := data.(type) {
	case time.Duration:
		return v, nil
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			if _, nerr := strconv.ParseFloat(strings.TrimSpace(v), 64); nerr == nil {
				return nil, &valueError{v, "is a number without a unit: write a duration such as 30s"}
			}
			return nil, &valueError{v, "is not a duration (a number with a unit: 300ms, 30s, 5m, 1h)"}
		}
		return d, nil
	case int, int64, uint64, float64:
		if n, _ := toFloat(v); n == 0.0 {
			return time.Duration(0), nil
		}
		return nil, &valueError{fmt.Sprint(v), "is a number without a unit: write a duration such as 30s"}
	}
	return nil, &valueError{fmt.Sprint(data), "is not a duration"}
}

func toInt(data any) (any, error) {
	switch v := data.(type) {
	case int:
		return v, nil
	case int64:
		if v < math.MinInt || v > math.MaxInt {
			return nil, &valueError{fmt.Sprint(v), "is out of range"}
		}
		return int(v), nil
	case uint64:
		if v > math.MaxInt {
			return nil, &valueError{fmt.Sprint(v), "is out of range"}
		}
		return int(v), nil
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return nil, &valueError{formatFloat(v), "is not a whole number"}
		}
		return int(v), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 0)
		if err != nil {
			return nil, &valueError{v, "is not a whole number"}
		}
		return int(n), nil
	}
	return nil, &valueError{fmt.Sprint(data), "is not a whole number"}
}

func toFloat(data any) (any, error) {
	switch v := data.(type) {
	case float64:
		return v, nil
	case int:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case uint64:
		return float64(v), nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, &valueError{v, "is not a number"}
		}
		return f, nil
	}
	return nil, &valueError{fmt.Sprint(data), "is not a number"}
}

func toBool(data any) (any, error) {
	switch v := data.(type) {
	case bool:
		return v, nil
	case string:
		switch strings.TrimSpace(v) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, &valueError{v, "is neither true nor false"}
	}
	return nil, &valueError{fmt.Sprint(data), "is neither true nor false"}
}

func toString(data any) (any, error) {
	switch v := data.(type) {
	case string:
		return v, nil
	case int, int64, uint64, bool:
		return fmt.Sprint(v), nil
	case float64:
		return formatFloat(v), nil
	}
	return nil, &valueError{fmt.Sprint(data), "is not a single value"}
}

// splitList splits a comma-separated list (the environment's and flags'
// form of a list), dropping blanks around items and empty items.
func splitList(s string) []string {
	out := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// decoderConfig is the mapstructure configuration shared by Load (through
// viper) and UnmarshalJSON.
func decoderConfig(c *mapstructure.DecoderConfig) {
	c.DecodeHook = mapstructure.DecodeHookFuncType(decodeHook)
	c.ErrorUnused = true
	c.ZeroFields = true
	c.WeaklyTypedInput = false
	c.TagName = "mapstructure"
}

// decodeErrors turns the errors of a mapstructure decode into KeyErrors.
func decodeErrors(err error) []error {
	var out []error
	var walk func(error)
	walk = func(err error) {
		var de *mapstructure.DecodeError
		switch e := err.(type) {
		case nil:
			return
		case *mapstructure.DecodeError:
			de = e
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
			return
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
			return
		default:
			out = append(out, &KeyError{Key: "(configuration)", Reason: err.Error()})
			return
		}
		if joined, ok := de.Unwrap().(interface{ Unwrap() []error }); ok {
			for _, inner := range joined.Unwrap() {
				walk(inner)
			}
			return
		}
		ke := &KeyError{Key: de.Name()}
		var ve *valueError
		switch inner := de.Unwrap(); {
		case errors.As(inner, &ve):
			ke.Value, ke.Reason = ve.value, ve.reason
		case strings.HasPrefix(inner.Error(), "has invalid keys: "):
			for k := range strings.SplitSeq(strings.TrimPrefix(inner.Error(), "has invalid keys: "), ", ") {
				out = append(out, &KeyError{Key: joinKey(de.Name(), k), Reason: "is not a known key"})
			}
			return
		default:
			ke.Reason = inner.Error()
		}
		if isSecret(ke.Key) {
			ke.Value = ""
		}
		out = append(out, ke)
	}
	walk(err)
	return out
}

// isSecret reports whether the key (possibly inside a list of tables,
// "ike.psks[0].secret") holds a secret.
func isSecret(name string) bool {
	base, rest, inTable := strings.Cut(name, "[")
	k := schemaIndex()[base]
	if k == nil {
		return false
	}
	if !inTable {
		return k.secret
	}
	_, field, ok := strings.Cut(rest, "].")
	if !ok {
		return false
	}
	t := lookupRelative(k.table, field)
	return t != nil && t.secret
}

// joinKey appends the key k to the table or section name.
func joinKey(name, k string) string {
	if name == "" || strings.HasPrefix(name, "config.") {
		return k
	}
	return name + "." + k
}

// formatDuration writes d the way a configuration file would: "30s",
// "5m", "1h30m", "300ms", "0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// formatFloat writes f in its shortest exact form.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
