package mnevents

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// errRecorder is a test that records Errorf instead of failing.
type errRecorder struct {
	testing.TB
	errs []string
}

func (r *errRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// A client process (a shell printing what mnclient.JSONLines wrote, and a
// line that is not an event) is awaited event by event. Needs root (the
// lab).
func TestStream(t *testing.T) {
	l := lab.New(t)
	var out bytes.Buffer
	emit := mnclient.JSONLines(&out)
	emit(mnclient.Event{Event: mnclient.EventAttached, Peer: "ha.example"})
	out.WriteString("not an event\n")
	emit(mnclient.Event{Event: mnclient.EventHomeAddress, Address: "2001:db8::1/64"})
	emit(mnclient.Event{Event: mnclient.EventBindingRejected, Status: "Not home subnet", StatusCode: 132})
	emit(mnclient.Event{Event: mnclient.EventHomeAddress, Address: "2001:db8::2/64"})
	file := filepath.Join(l.Dir(), "events")
	if err := os.WriteFile(file, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	proc := l.Host("mn").Start("sh", "-c", `cat "$0"; echo gone >&2; exit 1`, file)
	if err := proc.Wait(t.Context()); err == nil {
		t.Fatal("the client's stand-in exited 0")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	rec := &errRecorder{TB: t}
	if evs := (Stream{T: rec, Proc: proc}).Events(); len(evs) != 4 || evs[3].Address != "2001:db8::2/64" {
		t.Errorf("events %+v, want the 4 written", evs)
	}
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], `mnclient printed a line that is not an event: "not an event"`) {
		t.Errorf("reported %q, want the line that is not an event", rec.errs)
	}
	lenient := &errRecorder{TB: t}
	if evs := (Stream{T: lenient, Proc: proc, Lenient: true}).Events(); len(evs) != 4 || len(lenient.errs) != 0 {
		t.Errorf("Lenient: %d events, reported %q", len(evs), lenient.errs)
	}

	tolerant := Stream{T: t, Proc: proc, Lenient: true}
	e, err := tolerant.Await(ctx, mnclient.EventHomeAddress, 2, nil)
	if err != nil || e.Address != "2001:db8::2/64" {
		t.Errorf("second home_address, nothing fatal: %+v, %v", e, err)
	}
	strict := Stream{T: t, Proc: proc, Name: "mn1", Fatal: []string{mnclient.EventError, mnclient.EventBindingRejected}, Lenient: true}
	if e := strict.Wait(ctx, mnclient.EventHomeAddress, 1, func(e mnclient.Event) bool { return e.Address != "" }); e.Address != "2001:db8::1/64" {
		t.Errorf("first home_address, before the rejection: %+v", e)
	}
	if _, err := strict.Await(ctx, mnclient.EventHomeAddress, 2, nil); err == nil || !strings.Contains(err.Error(), "mn1: binding_rejected Not home subnet") {
		t.Errorf("second home_address, after the rejection: %v", err)
	}
	if _, err := strict.Await(ctx, mnclient.EventBindingRejected, 1, nil); err != nil {
		t.Errorf("the rejection itself: %v", err)
	}
	// The rejection would end the wait first: only the exit ends this one.
	_, err = Stream{T: t, Proc: proc, Name: "mn1", Lenient: true}.Await(ctx, mnclient.EventAttached, 2, nil)
	if err == nil || !strings.Contains(err.Error(), `mn1 event "attached" #2`) || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "gone") {
		t.Errorf("an event the exited client never printed: %v", err)
	}
}
