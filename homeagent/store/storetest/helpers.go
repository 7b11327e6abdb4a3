package storetest

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

const (
	ha1 = "ha1"
	ha2 = "ha2"
	ha3 = "ha3"
)

// pool6 returns 2001:db8:1::1 .. 2001:db8:1::<n>.
func pool6(t *testing.T, n uint64) store.Pool {
	t.Helper()
	p, err := store.PrefixRange(netip.MustParsePrefix("2001:db8:1::/64"), 1, n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pool4 returns 192.0.2.10 .. 192.0.2.(9+n).
func pool4(t *testing.T, n uint64) store.Pool {
	t.Helper()
	p, err := store.PrefixRange(netip.MustParsePrefix("192.0.2.0/24"), 10, 9+n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func req(identity, owner string, p store.Pool) store.AcquireRequest {
	return store.AcquireRequest{Identity: identity, Owner: owner, Pool: p}
}

func mustAcquire(t *testing.T, s store.Store, c Config, r store.AcquireRequest) store.Lease {
	t.Helper()
	l, err := s.Acquire(ctx(t, c), r)
	if err != nil {
		t.Fatalf("Acquire(%q, owner %q, %v, suggested %v): %v", r.Identity, r.Owner, r.Pool, r.Suggested, err)
	}
	if l.Identity != r.Identity || !r.Pool.Contains(l.HoA) || l.Revision <= 0 {
		t.Fatalf("Acquire(%q) = %v: wrong identity, address outside %v, or no revision", r.Identity, l, r.Pool)
	}
	return l
}

// wantErr fails unless err wraps sentinel; it returns the *LeaseError if
// there is one.
func wantErr(t *testing.T, what string, err, sentinel error) *store.LeaseError {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s: error %v, want %v", what, err, sentinel)
	}
	var le *store.LeaseError
	errors.As(err, &le)
	return le
}

// wantLease fails unless the store's record of hoa equals want.
func wantLease(t *testing.T, s store.Store, c Config, want store.Lease) {
	t.Helper()
	got, err := s.Lease(ctx(t, c), want.HoA)
	if err != nil {
		t.Fatalf("Lease(%v): %v", want.HoA, err)
	}
	if !got.Equal(want) {
		t.Fatalf("Lease(%v) = %v\n want %v", want.HoA, describe(got), describe(want))
	}
}

func describe(l store.Lease) string {
	return fmt.Sprintf("%v trace=%q careof=%v ticket=%x created=%v updated=%v",
		l, l.TraceContext, l.CareOf, l.TicketHash, l.CreatedAt.Format(time.RFC3339Nano), l.UpdatedAt.Format(time.RFC3339Nano))
}

// nextEvent waits for the next event of w.
func nextEvent[T any](t *testing.T, c Config, w *store.Watch[T]) store.Event[T] {
	t.Helper()
	select {
	case ev, ok := <-w.Events:
		if !ok {
			t.Fatalf("watch closed: %v", w.Err())
		}
		return ev
	case <-time.After(c.timeout()):
		t.Fatalf("no watch event within %v", c.timeout())
	}
	panic("unreachable")
}

// farFuture is a move deadline that does not lapse during a test.
func farFuture() time.Time { return time.Now().Add(time.Hour) }
