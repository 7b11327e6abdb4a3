package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Reading what the daemons under test print: JSON lines (an event stream,
// log/slog's JSON log records), and the end of long output for failure
// messages.

// Tail returns the last n bytes of s, marked as cut ("...") if s is longer.
func Tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// JSONLines decodes every line of s (lines up to 1 MiB) as a JSON value of
// type T. It returns the values in order and, for each line that is not
// one, an error that quotes the line.
func JSONLines[T any](s string) (values []T, bad []error) {
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			bad = append(bad, fmt.Errorf("%q: %w", sc.Text(), err))
			continue
		}
		values = append(values, v)
	}
	return values, bad
}

// LogRecords returns the JSON log records (log/slog's JSONHandler, one a
// line) that p has written to its standard error with message msg, as
// values of R: map[string]any or a type of the caller's with that
// underlying type. Lines that are not JSON objects are passed over.
func LogRecords[R ~map[string]any](p *Proc, msg string) []R {
	all, _ := JSONLines[R](p.Stderr())
	var r []R
	for _, rec := range all {
		if rec["msg"] == msg {
			r = append(r, rec)
		}
	}
	return r
}

// LogText returns the value of key in a JSON log record as text: a string
// as it is, an absent key (or null) as "", anything else as fmt.Sprint
// prints it (a JSON number as 42 or 0.5, a bool as true).
func LogText(rec map[string]any, key string) string {
	switch v := rec[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// AwaitLogRecord waits until p has written n log records with message msg
// for which match (nil: any) holds, and returns the n-th (see LogRecords
// and AwaitNth).
func AwaitLogRecord[R ~map[string]any](ctx context.Context, p *Proc, msg string, n int, match func(R) bool) (R, error) {
	return AwaitNth(ctx, p, fmt.Sprintf("%s log %q #%d", p.name, msg, n), n,
		func() []R { return LogRecords[R](p, msg) }, match, nil)
}

// AwaitNth waits, polling as Poll does, until values (read from p's
// output) holds n values for which match (nil: any) holds, and returns the
// n-th; what names it in errors. A value before it for which end (nil:
// none) returns an error ends the wait at once with that error: an event
// that says the awaited one will never come. So does p's exit, once what
// p printed until then holds no n-th value; the error carries the end of
// p's standard error.
func AwaitNth[T any](ctx context.Context, p *Proc, what string, n int, values func() []T, match func(T) bool, end func(T) error) (T, error) {
	var found T
	err := Poll(ctx, what, func(context.Context) error {
		// Whether p has exited is read first: its output is complete
		// then, so a value it printed just before exiting still counts.
		exited := p.Exited()
		k := 0
		for _, v := range values() {
			if match == nil || match(v) {
				if k++; k == n {
					found = v
					return nil
				}
			}
			if end != nil {
				if err := end(v); err != nil {
					return Permanent(err)
				}
			}
		}
		if exited {
			return Permanent(fmt.Errorf("%s exited (%v): %s", p.name, p.err, Tail(p.Stderr(), 3000)))
		}
		return fmt.Errorf("%d of %d seen", k, n)
	})
	return found, err
}
