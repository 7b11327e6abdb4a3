package storetrace_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/boltstore"
	"github.com/mip6ha/mip6ha/homeagent/store/storetest"
	"github.com/mip6ha/mip6ha/homeagent/store/storetrace"
)

func openBolt(t testing.TB) *boltstore.Store {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), boltstore.FileName), boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The traced store is still a store: it passes the conformance suite.
func TestConformanceThroughWrapper(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	storetest.Run(t, storetest.Config{
		Fresh: func(t *testing.T) storetest.Opener {
			path := filepath.Join(t.TempDir(), boltstore.FileName)
			var cur *boltstore.Store
			refs := 0
			return func(t *testing.T) store.Store {
				if refs == 0 {
					s, err := boltstore.Open(path, boltstore.Options{NoSync: true})
					if err != nil {
						t.Fatal(err)
					}
					cur = s
				}
				refs++
				h := &handle{Store: storetrace.Wrap(cur, tp), release: func() {
					if refs--; refs == 0 {
						cur.Close()
					}
				}}
				t.Cleanup(func() { h.Close() })
				return h
			}
		},
		TTL: time.Second,
	})
}

// handle is one client of a shared embedded store (a file is open once).
type handle struct {
	store.Store
	release func()
	closed  bool
}

func (h *handle) Close() error {
	if !h.closed {
		h.closed = true
		h.release()
	}
	return nil
}

// One move, one trace: the old home agent marks the lease moving inside
// the move's span; the new one continues that trace from the lease record
// and its Transfer span belongs to it.
func TestMoveIsOneTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	base := openBolt(t)
	ha1, ha2 := storetrace.Wrap(base, tp), storetrace.Wrap(base, tp)
	ctx := context.Background()
	pool, _ := store.NewPrefixPool(netip.MustParsePrefix("2001:db8::/120"))

	l, err := ha1.Acquire(ctx, store.AcquireRequest{Identity: "mn", Owner: "ha1", Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	moveCtx, move := tp.Tracer("ha1").Start(ctx, "handover")
	m, err := ha1.MarkMoving(moveCtx, l.HoA, l.Revision, store.Move{From: "ha1", To: "ha2", Deadline: time.Now().Add(time.Minute)})
	move.End()
	if err != nil {
		t.Fatal(err)
	}
	if m.TraceContext != storetrace.TraceParent(moveCtx) || m.TraceContext == "" {
		t.Fatalf("lease trace context %q, want the move span's %q", m.TraceContext, storetrace.TraceParent(moveCtx))
	}

	// ha2, another process: nothing but the lease links it to the move.
	seen, err := ha2.Lease(ctx, l.HoA)
	if err != nil {
		t.Fatal(err)
	}
	attachCtx, attach := tp.Tracer("ha2").Start(storetrace.ContextWithMove(ctx, seen), "attach")
	if _, err := ha2.Transfer(attachCtx, seen.HoA, seen.Revision, "ha2"); err != nil {
		t.Fatal(err)
	}
	attach.End()

	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		spans[s.Name()] = s
	}
	want := move.SpanContext().TraceID()
	for _, name := range []string{"store.MarkMoving", "attach", "store.Transfer"} {
		s, ok := spans[name]
		if !ok {
			t.Fatalf("no span %s among %v", name, spans)
		}
		if s.SpanContext().TraceID() != want {
			t.Errorf("span %s in trace %v, want the move's %v", name, s.SpanContext().TraceID(), want)
		}
	}
	if spans["attach"].Parent().SpanID() != move.SpanContext().SpanID() || !spans["attach"].Parent().IsRemote() {
		t.Errorf("attach's parent %v, want the remote move span", spans["attach"].Parent())
	}
	if spans["store.Acquire"].SpanContext().TraceID() == want {
		t.Error("the Acquire before the move joined the move's trace")
	}
	if got := attr(spans["store.Transfer"], storetrace.AttrOwner); got != "ha2" {
		t.Errorf("Transfer span owner %q", got)
	}
}

// A lost compare-and-swap is an error span naming the sentinel.
func TestErrorSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s := storetrace.Wrap(openBolt(t), tp)
	ctx := context.Background()
	pool, _ := store.NewPrefixPool(netip.MustParsePrefix("2001:db8::/120"))
	l, err := s.Acquire(ctx, store.AcquireRequest{Identity: "mn", Owner: "ha1", Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Release(ctx, l.HoA, l.Revision+1); !errors.Is(err, store.ErrConflict) {
		t.Fatal(err)
	}
	var release sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		if sp.Name() == "store.Release" {
			release = sp
		}
	}
	if release == nil || release.Status().Code != codes.Error || attr(release, storetrace.AttrError) != "conflict" {
		t.Fatalf("release span %+v", release)
	}
	if storetrace.ContextWithMove(ctx, store.Lease{}) != ctx || storetrace.TraceParent(ctx) != "" {
		t.Error("no trace context must leave the context alone")
	}
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) string {
	for _, a := range s.Attributes() {
		if a.Key == k {
			return a.Value.Emit()
		}
	}
	return ""
}
