package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every *KeyError: the configuration cannot be used.
var ErrInvalid = errors.New("config: invalid configuration")

// KeyError reports one unusable configuration value by the key that holds
// it. Validate and Load return every KeyError they find, joined with
// errors.Join; errors.As finds the first, and
//
//	var errs interface{ Unwrap() []error }
//
// lists them all.
type KeyError struct {
	// Key is the key as a configuration file writes it, e.g. "home.prefix";
	// an entry of a list of tables carries its index, e.g.
	// "cluster.sites[1].prefix".
	Key string
	// Value is the offending value as given, or "" when the key's
	// absence (or the relation between keys) is the problem.
	Value string
	// Reason says what is wrong, phrased to follow the quoted value
	// ("is not a valid IPv6 prefix") or, without a value, on its own
	// ("is required when store.backend is etcd").
	Reason string
	// Source says where the value came from, when Load knows it: a file
	// and line ("homeagent.yaml:12"), an environment variable
	// ("$MIP6HA_HOME_PREFIX") or a flag ("--home.prefix").
	Source string
}

// Error formats the error as "config: KEY: "VALUE" REASON (SOURCE)".
func (e *KeyError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	b.WriteString(e.Key)
	b.WriteString(": ")
	if e.Value != "" {
		fmt.Fprintf(&b, "%q ", e.Value)
	}
	b.WriteString(e.Reason)
	if e.Source != "" {
		b.WriteString(" (")
		b.WriteString(e.Source)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns ErrInvalid.
func (e *KeyError) Unwrap() error { return ErrInvalid }

// KeyErrors returns the *KeyError values in err (as Validate and Load
// return them, joined), in order.
func KeyErrors(err error) []*KeyError {
	var out []*KeyError
	var walk func(error)
	walk = func(err error) {
		var ke *KeyError
		switch e := err.(type) {
		case nil:
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		default:
			if errors.As(err, &ke) {
				out = append(out, ke)
			}
		}
	}
	walk(err)
	return out
}

// problems collects KeyErrors in the order they are found.
type problems struct {
	errs []error
}

// add records that key's value is unusable. Format and args describe why.
func (p *problems) add(key, value, format string, args ...any) {
	p.errs = append(p.errs, &KeyError{Key: key, Value: value, Reason: fmt.Sprintf(format, args...)})
}

// addError records a KeyError built elsewhere.
func (p *problems) addError(e *KeyError) { p.errs = append(p.errs, e) }

// addAll records the KeyErrors in err.
func (p *problems) addAll(err error) {
	for _, ke := range KeyErrors(err) {
		p.errs = append(p.errs, ke)
	}
}

// has reports whether a problem was recorded for key or below it.
func (p *problems) has(key string) bool {
	for _, err := range p.errs {
		if ke, ok := err.(*KeyError); ok {
			if ke.Key == key || strings.HasPrefix(ke.Key, key+".") || strings.HasPrefix(ke.Key, key+"[") {
				return true
			}
		}
	}
	return false
}

// err returns the joined problems, or nil.
func (p *problems) err() error { return errors.Join(p.errs...) }
