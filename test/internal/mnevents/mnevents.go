// Package mnevents follows cmd/mnclient running in a lab host through the
// events it prints on its standard output, one JSON object a line
// (mnclient.JSONLines), so that an end-to-end test can wait for the n-th
// event of a kind.
//
//	s := mnevents.Stream{T: t, Proc: proc, Fatal: []string{mnclient.EventError}}
//	e := s.Wait(ctx, mnclient.EventHomeAddress, 1, nil)
package mnevents

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// Stream is the event stream of one cmd/mnclient process.
type Stream struct {
	// T is the test: Wait fails it, and so does every line of the
	// client's standard output that is not an event (Errorf), unless
	// Lenient.
	T testing.TB
	// Proc is the client's process.
	Proc *lab.Proc
	// Name names the client in errors; empty means "mnclient".
	Name string
	// Fatal are the kinds of event that end a wait for another kind at
	// once, with an error: the awaited event will not come after them
	// (mnclient.EventError; mnclient.EventBindingRejected where the
	// client registers a binding).
	Fatal []string
	// Lenient passes over lines that are not events.
	Lenient bool
}

func (s Stream) name() string {
	if s.Name == "" {
		return "mnclient"
	}
	return s.Name
}

// Events returns the client's events so far.
func (s Stream) Events() []mnclient.Event {
	events, bad := lab.JSONLines[mnclient.Event](s.Proc.Stdout())
	if !s.Lenient {
		for _, err := range bad {
			s.T.Errorf("%s printed a line that is not an event: %v", s.name(), err)
		}
	}
	return events
}

// Await waits for the n-th event (n from 1) of kind for which match (nil:
// any) holds and returns it. An event of a Fatal kind before it, or the
// client's exit, ends the wait at once with an error.
func (s Stream) Await(ctx context.Context, kind string, n int, match func(mnclient.Event) bool) (mnclient.Event, error) {
	return lab.AwaitNth(ctx, s.Proc, fmt.Sprintf("%s event %q #%d", s.name(), kind, n), n, s.Events,
		func(e mnclient.Event) bool { return e.Event == kind && (match == nil || match(e)) },
		func(e mnclient.Event) error {
			if e.Event != kind && slices.Contains(s.Fatal, e.Event) {
				return fmt.Errorf("%s: %s %s %s", s.name(), e.Event, e.Status, e.Error)
			}
			return nil
		})
}

// Wait is Await that fails the test, listing the client's events.
func (s Stream) Wait(ctx context.Context, kind string, n int, match func(mnclient.Event) bool) mnclient.Event {
	s.T.Helper()
	e, err := s.Await(ctx, kind, n, match)
	if err != nil {
		s.T.Fatalf("%v\nevents:\n%s", err, s.Proc.Stdout())
	}
	return e
}
