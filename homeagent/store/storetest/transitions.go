package storetest

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// testRelease: release is a CAS, leaves the record reserved for its
// identity, and cannot be repeated.
func testRelease(t *testing.T, c Config) {
	s := c.Fresh(t)(t)
	l := mustAcquire(t, s, c, req("mn", ha1, pool6(t, 4)))
	_, err := s.Release(ctx(t, c), l.HoA, l.Revision+1)
	wantErr(t, "Release at a wrong revision", err, store.ErrConflict)
	_, err = s.Release(ctx(t, c), addr("2001:db8:1::ff"), l.Revision)
	wantErr(t, "Release of an address without lease", err, store.ErrNotFound)
	r, err := s.Release(ctx(t, c), l.HoA, l.Revision)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != store.StateReleased || r.Owner != "" || r.Identity != "mn" || r.Revision <= l.Revision || r.UpdatedAt.Before(l.UpdatedAt) {
		t.Fatalf("released lease %v", r)
	}
	wantLease(t, s, c, r)
	_, err = s.Release(ctx(t, c), l.HoA, r.Revision)
	wantErr(t, "Release of a released lease", err, store.ErrState)
	_, err = s.MarkMoving(ctx(t, c), l.HoA, r.Revision, store.Move{From: ha1, To: ha2, Deadline: farFuture()})
	wantErr(t, "MarkMoving of a released lease", err, store.ErrState)
	wantLease(t, s, c, r)
}

// testRevisionConflict: every transition fails with ErrConflict on a
// stale revision, carries the current record, and changes nothing.
func testRevisionConflict(t *testing.T, c Config) {
	open := c.Fresh(t)
	s1, s2 := open(t), open(t)
	old := mustAcquire(t, s1, c, req("mn", ha1, pool6(t, 4)))
	cur, err := s2.SetAttributes(ctx(t, c), old.HoA, old.Revision, store.Attributes{CareOf: netip.MustParseAddrPort("192.0.2.1:4500")})
	if err != nil {
		t.Fatal(err)
	}
	hoa, stale := old.HoA, old.Revision
	ops := map[string]func() (store.Lease, error){
		"Release": func() (store.Lease, error) { return s1.Release(ctx(t, c), hoa, stale) },
		"MarkMoving": func() (store.Lease, error) {
			return s1.MarkMoving(ctx(t, c), hoa, stale, store.Move{From: ha1, To: ha2, Deadline: farFuture()})
		},
		"CancelMove":    func() (store.Lease, error) { return s1.CancelMove(ctx(t, c), hoa, stale) },
		"Transfer":      func() (store.Lease, error) { return s1.Transfer(ctx(t, c), hoa, stale, ha2) },
		"Takeover":      func() (store.Lease, error) { return s1.Takeover(ctx(t, c), hoa, stale, ha2) },
		"SetAttributes": func() (store.Lease, error) { return s1.SetAttributes(ctx(t, c), hoa, stale, store.Attributes{}) },
	}
	for name, op := range ops {
		_, err := op()
		le := wantErr(t, name+" at a stale revision", err, store.ErrConflict)
		if le == nil || !le.Lease.Equal(cur) {
			t.Fatalf("%s: conflict error does not carry the current lease %v: %#v", name, cur, le)
		}
	}
	wantLease(t, s1, c, cur)
}

// testConcurrentTransitions: many callers on two clients race a
// compare-and-swap on the same revision: exactly one wins, the others get
// ErrConflict, and the record is the winner's.
func testConcurrentTransitions(t *testing.T, c Config) {
	open := c.Fresh(t)
	clients := []store.Store{open(t), open(t)}
	l := mustAcquire(t, clients[0], c, req("mn", ha1, pool6(t, 4)))
	const racers = 12
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []store.Lease
	)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := []string{ha2, ha3}[i%2]
			m, err := clients[i%2].MarkMoving(ctx(t, c), l.HoA, l.Revision, store.Move{From: ha1, To: to, Deadline: farFuture(), TraceContext: traceparent})
			if errors.Is(err, store.ErrConflict) {
				return
			}
			if err != nil {
				t.Errorf("MarkMoving: %v", err)
				return
			}
			mu.Lock()
			winners = append(winners, m)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d racers won the same revision, want 1: %v", len(winners), winners)
	}
	wantLease(t, clients[1], c, winners[0])

	// The same for Transfer: only the move's target may, once.
	m := winners[0]
	winners = nil
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tl, err := clients[i%2].Transfer(ctx(t, c), m.HoA, m.Revision, m.MovingTo)
			if errors.Is(err, store.ErrConflict) {
				return
			}
			if err != nil {
				t.Errorf("Transfer: %v", err)
				return
			}
			mu.Lock()
			winners = append(winners, tl)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(winners) != 1 || winners[0].Owner != m.MovingTo {
		t.Fatalf("transfers that won: %v; want one, to %s", winners, m.MovingTo)
	}
	wantLease(t, clients[0], c, winners[0])
}

// testMoveThenTransfer: the make-before-break flow of ARCHITECTURE §2.
func testMoveThenTransfer(t *testing.T, c Config) {
	open := c.Fresh(t)
	s1, s2 := open(t), open(t)
	l := mustAcquire(t, s1, c, req("mn", ha1, pool6(t, 4)))
	deadline := time.Now().Add(time.Minute).Round(time.Millisecond)
	ticket := []byte{0xde, 0xad, 0xbe, 0xef}

	_, err := s1.MarkMoving(ctx(t, c), l.HoA, l.Revision, store.Move{From: ha2, To: ha3, Deadline: deadline})
	wantErr(t, "MarkMoving by a member that does not own the lease", err, store.ErrState)
	_, err = s1.MarkMoving(ctx(t, c), l.HoA, l.Revision, store.Move{From: ha1, To: ha1, Deadline: deadline})
	wantErr(t, "MarkMoving to the owner itself", err, store.ErrInvalid)

	m, err := s1.MarkMoving(ctx(t, c), l.HoA, l.Revision, store.Move{From: ha1, To: ha2, Deadline: deadline, TraceContext: traceparent, TicketHash: ticket})
	if err != nil {
		t.Fatal(err)
	}
	if m.State != store.StateMoving || m.Owner != ha1 || m.MovingTo != ha2 || !m.Deadline.Equal(deadline) ||
		m.TraceContext != traceparent || !bytes.Equal(m.TicketHash, ticket) || m.Revision <= l.Revision {
		t.Fatalf("moving lease %v", describe(m))
	}
	// The new agent sees the same record.
	seen, err := s2.IdentityLease(ctx(t, c), "mn", store.IPv6)
	if err != nil || !seen.Equal(m) {
		t.Fatalf("target reads %v, %v; want %v", seen, err, m)
	}
	_, err = s2.Transfer(ctx(t, c), m.HoA, m.Revision, ha3)
	wantErr(t, "Transfer to a member the lease is not moving to", err, store.ErrState)
	tr, err := s2.Transfer(ctx(t, c), m.HoA, m.Revision, ha2)
	if err != nil {
		t.Fatal(err)
	}
	if tr.State != store.StateBound || tr.Owner != ha2 || tr.MovingTo != "" || !tr.Deadline.IsZero() ||
		tr.TraceContext != traceparent || tr.TicketHash != nil || tr.Revision <= m.Revision || tr.HoA != l.HoA {
		t.Fatalf("transferred lease %v", describe(tr))
	}
	wantLease(t, s1, c, tr)
	// A second transfer from the old revision loses.
	_, err = s2.Transfer(ctx(t, c), m.HoA, m.Revision, ha2)
	wantErr(t, "second Transfer", err, store.ErrConflict)
	// The node keeps its address at the new owner.
	if got := mustAcquire(t, s2, c, req("mn", ha2, pool6(t, 4))); !got.Equal(tr) {
		t.Fatalf("Acquire at the new owner = %v, want %v", got, tr)
	}
	_, err = s1.Acquire(ctx(t, c), req("mn", ha1, pool6(t, 4)))
	wantErr(t, "Acquire at the old owner", err, store.ErrOwnedElsewhere)

	// A move can be re-targeted before it completes.
	m2, err := s2.MarkMoving(ctx(t, c), tr.HoA, tr.Revision, store.Move{From: ha2, To: ha1, Deadline: deadline})
	if err != nil {
		t.Fatal(err)
	}
	m3, err := s2.MarkMoving(ctx(t, c), m2.HoA, m2.Revision, store.Move{From: ha2, To: ha3, Deadline: deadline})
	if err != nil || m3.MovingTo != ha3 || m3.TraceContext != "" {
		t.Fatalf("re-targeted move = %v, %v", describe(m3), err)
	}
}

// testMoveDeadlineAndCancel: a lapsed move cannot be completed; the owner
// cancels it and serves on.
func testMoveDeadlineAndCancel(t *testing.T, c Config) {
	s := c.Fresh(t)(t)
	l := mustAcquire(t, s, c, req("mn", ha1, pool6(t, 4)))
	_, err := s.CancelMove(ctx(t, c), l.HoA, l.Revision)
	wantErr(t, "CancelMove of a bound lease", err, store.ErrState)
	_, err = s.MarkMoving(ctx(t, c), l.HoA, l.Revision, store.Move{From: ha1, To: ha2, Deadline: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	wantErr(t, "MarkMoving with a deadline that cannot be stored", err, store.ErrInvalid)
	wantLease(t, s, c, l)
	m, err := s.MarkMoving(ctx(t, c), l.HoA, l.Revision, store.Move{From: ha1, To: ha2, Deadline: time.Now().Add(-time.Second), TicketHash: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Transfer(ctx(t, c), m.HoA, m.Revision, ha2)
	wantErr(t, "Transfer after the deadline", err, store.ErrState)
	wantLease(t, s, c, m)
	b, err := s.CancelMove(ctx(t, c), m.HoA, m.Revision)
	if err != nil {
		t.Fatal(err)
	}
	if b.State != store.StateBound || b.Owner != ha1 || b.MovingTo != "" || !b.Deadline.IsZero() || b.TicketHash != nil {
		t.Fatalf("cancelled move left %v", describe(b))
	}
}

// testTakeover: a live owner's lease cannot be taken; once the owner's
// membership lapsed, one live member takes it over with a CAS.
func testTakeover(t *testing.T, c Config) {
	open := c.Fresh(t)
	s1, s2 := open(t), open(t)
	joinCtx, crash := context.WithCancel(context.Background())
	defer crash()
	if _, err := s1.Join(joinCtx, store.Member{ID: ha1, Site: "west", Healthy: true}, c.ttl()); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Join(ctx(t, c), store.Member{ID: ha2, Site: "east", Healthy: true}, c.ttl()); err != nil {
		t.Fatal(err)
	}
	w, err := s2.WatchMembers(ctx(t, c))
	if err != nil {
		t.Fatal(err)
	}
	l := mustAcquire(t, s1, c, req("mn", ha1, pool6(t, 4)))
	_, err = s2.Takeover(ctx(t, c), l.HoA, l.Revision, ha2)
	wantErr(t, "Takeover from a live owner", err, store.ErrOwnerAlive)
	_, err = s2.Takeover(ctx(t, c), l.HoA, l.Revision, ha1)
	wantErr(t, "Takeover by the owner itself", err, store.ErrState)
	wantLease(t, s2, c, l)

	// ha1 "crashes": its keep-alive stops, nothing withdraws its record.
	crash()
	for {
		ev := nextEvent(t, c, w)
		if ev.Deleted && ev.Value.ID == ha1 {
			break
		}
	}
	if _, err := s2.Member(ctx(t, c), ha1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Member(%s) after its TTL lapsed: %v", ha1, err)
	}
	_, err = s2.Takeover(ctx(t, c), l.HoA, l.Revision-1, ha2)
	wantErr(t, "Takeover at a stale revision", err, store.ErrConflict)
	tk, err := s2.Takeover(ctx(t, c), l.HoA, l.Revision, ha2)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Owner != ha2 || tk.State != store.StateBound || tk.Revision <= l.Revision {
		t.Fatalf("taken over lease %v", tk)
	}
	wantLease(t, s1, c, tk)
	_, err = s1.Takeover(ctx(t, c), l.HoA, l.Revision, ha3)
	wantErr(t, "second Takeover from the same revision", err, store.ErrConflict)
}

// testSetAttributes: attributes change, owner and state do not.
func testSetAttributes(t *testing.T, c Config) {
	s := c.Fresh(t)(t)
	l := mustAcquire(t, s, c, req("mn", ha1, pool6(t, 4)))
	a := store.Attributes{CareOf: netip.MustParseAddrPort("[2001:db8:5::1]:4500"), TicketHash: []byte{9, 9}}
	u, err := s.SetAttributes(ctx(t, c), l.HoA, l.Revision, a)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Attributes.Equal(a) || u.Owner != l.Owner || u.State != l.State || u.Revision <= l.Revision {
		t.Fatalf("SetAttributes gave %v", describe(u))
	}
	wantLease(t, s, c, u)
}

// testListFilter: List filters by owner, state and identity, in address
// order.
func testListFilter(t *testing.T, c Config) {
	s := c.Fresh(t)(t)
	p := pool6(t, 8)
	a := mustAcquire(t, s, c, req("a", ha1, p))
	b := mustAcquire(t, s, c, req("b", ha2, p))
	cl := mustAcquire(t, s, c, req("c", ha1, p))
	cl, err := s.MarkMoving(ctx(t, c), cl.HoA, cl.Revision, store.Move{From: ha1, To: ha2, Deadline: farFuture()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    store.Filter
		want []store.Lease
	}{
		{store.Filter{}, []store.Lease{a, b, cl}},
		{store.Filter{Owner: ha1}, []store.Lease{a, cl}},
		{store.Filter{Owner: ha2}, []store.Lease{b}},
		{store.Filter{State: store.StateMoving}, []store.Lease{cl}},
		{store.Filter{Owner: ha1, State: store.StateBound}, []store.Lease{a}},
		{store.Filter{Identity: "b"}, []store.Lease{b}},
		{store.Filter{Owner: ha3}, nil},
	} {
		got, err := s.List(ctx(t, c), tc.f)
		if err != nil {
			t.Fatal(err)
		}
		// Allocation order is the backend's; List is in address order.
		slices.SortFunc(tc.want, func(x, y store.Lease) int { return x.HoA.Compare(y.HoA) })
		if len(got) != len(tc.want) {
			t.Fatalf("List(%+v) = %v, want %v", tc.f, got, tc.want)
		}
		for i := range got {
			if !got[i].Equal(tc.want[i]) {
				t.Fatalf("List(%+v)[%d] = %v, want %v", tc.f, i, got[i], tc.want[i])
			}
		}
	}
}
