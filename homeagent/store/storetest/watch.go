package storetest

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

// testWatchLeases: a watch starts from a snapshot and then delivers every
// change, in revision order, with the previous record.
func testWatchLeases(t *testing.T, c Config) {
	s := c.Fresh(t)(t)
	p := pool6(t, 8)
	before := mustAcquire(t, s, c, req("before", ha1, p))
	w, err := s.WatchLeases(ctx(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Current) != 1 || !w.Current[0].Equal(before) {
		t.Fatalf("watch snapshot %v, want [%v]", w.Current, before)
	}
	// A sequence of changes; the watch must report exactly these.
	var want []store.Event[store.Lease]
	a := mustAcquire(t, s, c, req("a", ha1, p))
	want = append(want, store.Event[store.Lease]{Value: a})
	m, err := s.MarkMoving(ctx(t, c), a.HoA, a.Revision, store.Move{From: ha1, To: ha2, Deadline: farFuture(), TraceContext: traceparent})
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, store.Event[store.Lease]{Value: m, Prev: a})
	tr, err := s.Transfer(ctx(t, c), m.HoA, m.Revision, ha2)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, store.Event[store.Lease]{Value: tr, Prev: m})
	rb, err := s.Release(ctx(t, c), before.HoA, before.Revision)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, store.Event[store.Lease]{Value: rb, Prev: before})
	for i, we := range want {
		ev := nextEvent(t, c, w)
		if ev.Deleted || !ev.Value.Equal(we.Value) {
			t.Fatalf("event %d: %v (deleted %v), want %v", i, describe(ev.Value), ev.Deleted, describe(we.Value))
		}
		if ev.Prev.HoA.IsValid() && !ev.Prev.Equal(we.Prev) {
			t.Fatalf("event %d: previous %v, want %v", i, describe(ev.Prev), describe(we.Prev))
		}
		if we.Prev.HoA.IsValid() && !ev.Prev.HoA.IsValid() {
			t.Fatalf("event %d: no previous record, want %v", i, we.Prev)
		}
	}
	select {
	case ev, ok := <-w.Events:
		if ok {
			t.Fatalf("unexpected extra event %v", ev.Value)
		}
	default:
	}
}

// testWatchOtherClient: the old home agent watching its leases sees the
// new one take the lease (the "my lease moved" signal), and a watch ends
// with the context's error when its context ends.
func testWatchOtherClient(t *testing.T, c Config) {
	open := c.Fresh(t)
	old, nu := open(t), open(t)
	p := pool6(t, 8)
	l := mustAcquire(t, old, c, req("mn", ha1, p))
	wctx, stop := context.WithCancel(ctx(t, c))
	w, err := old.WatchLeases(wctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := old.MarkMoving(ctx(t, c), l.HoA, l.Revision, store.Move{From: ha1, To: ha2, Deadline: farFuture()})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := nu.Transfer(ctx(t, c), m.HoA, m.Revision, ha2)
	if err != nil {
		t.Fatal(err)
	}
	var last store.Event[store.Lease]
	for last.Value.Revision < tr.Revision {
		last = nextEvent(t, c, w)
	}
	if !last.Value.Equal(tr) || last.Prev.Owner != ha1 || last.Value.Owner != ha2 {
		t.Fatalf("old agent saw %v (previous owner %q), want the transfer %v", last.Value, last.Prev.Owner, tr)
	}
	stop()
	deadline := time.After(c.timeout())
	for {
		select {
		case _, ok := <-w.Events:
			if !ok {
				if !errors.Is(w.Err(), context.Canceled) {
					t.Fatalf("watch ended with %v, want context.Canceled", w.Err())
				}
				return
			}
		case <-deadline:
			t.Fatal("watch not closed after its context ended")
		}
	}
}

// testRestart: leases, the identity index and revisions survive closing
// every client and opening again; later revisions are larger.
func testRestart(t *testing.T, c Config) {
	open := c.Fresh(t)
	s := open(t)
	p := pool6(t, 8)
	a := mustAcquire(t, s, c, req("a", ha1, p))
	b := mustAcquire(t, s, c, req("b", ha1, p))
	m, err := s.MarkMoving(ctx(t, c), b.HoA, b.Revision, store.Move{From: ha1, To: ha2, Deadline: farFuture(), TraceContext: traceparent, TicketHash: []byte{7}})
	if err != nil {
		t.Fatal(err)
	}
	v4 := mustAcquire(t, s, c, req("a", ha1, pool4(t, 2)))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t)
	for _, l := range []store.Lease{a, m, v4} {
		wantLease(t, s, c, l)
	}
	if got, err := s.IdentityLease(ctx(t, c), "a", store.IPv4); err != nil || !got.Equal(v4) {
		t.Fatalf("identity index after restart: %v, %v", got, err)
	}
	// Stickiness across the restart, and revisions keep growing.
	if got := mustAcquire(t, s, c, req("a", ha1, p)); !got.Equal(a) {
		t.Fatalf("Acquire after restart = %v, want %v", got, a)
	}
	n := mustAcquire(t, s, c, req("new", ha1, p))
	if n.Revision <= v4.Revision {
		t.Fatalf("revision after restart %d, not above %d", n.Revision, v4.Revision)
	}
	tr, err := s.Transfer(ctx(t, c), m.HoA, m.Revision, ha2)
	if err != nil || tr.Revision <= n.Revision {
		t.Fatalf("Transfer after restart: %v, %v", tr, err)
	}
}

// testMembers: join, read, update and watch member records.
func testMembers(t *testing.T, c Config) {
	open := c.Fresh(t)
	s1, s2 := open(t), open(t)
	w, err := s2.WatchMembers(ctx(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Current) != 0 {
		t.Fatalf("fresh store has members %v", w.Current)
	}
	m1 := store.Member{
		ID: ha1, Site: "west", Addrs: []netip.Addr{addr("2001:db8:10::1"), addr("198.51.100.1")},
		NATAddrs: []netip.AddrPort{netip.MustParseAddrPort("203.0.113.1:45000")},
		Capacity: 1000, Load: 3, Healthy: true,
	}
	r1, err := s1.Join(ctx(t, c), m1, c.ttl())
	if err != nil {
		t.Fatal(err)
	}
	_, err = s1.Join(ctx(t, c), store.Member{}, c.ttl())
	wantErr(t, "Join without ID", err, store.ErrInvalid)

	ev := nextEvent(t, c, w)
	if ev.Deleted || !sameMember(ev.Value, m1) || ev.Value.Heartbeat.IsZero() {
		t.Fatalf("join event %+v, want %+v", ev, m1)
	}
	got, err := s2.Member(ctx(t, c), ha1)
	if err != nil || !got.Equal(ev.Value) {
		t.Fatalf("Member(%s) = %+v, %v; want %+v", ha1, got, err, ev.Value)
	}
	if _, err := s2.Member(ctx(t, c), ha2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Member of an unknown ID: %v", err)
	}

	m1.Load, m1.Draining = 7, true
	if err := r1.Update(ctx(t, c), m1); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, c, w)
	if ev.Deleted || !sameMember(ev.Value, m1) {
		t.Fatalf("update event %+v, want %+v", ev.Value, m1)
	}
	if err := r1.Update(ctx(t, c), store.Member{ID: ha2}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Update changing the ID: %v", err)
	}

	m2 := store.Member{ID: ha2, Site: "east", Capacity: 10, Healthy: true}
	if _, err := s2.Join(ctx(t, c), m2, c.ttl()); err != nil {
		t.Fatal(err)
	}
	if ev = nextEvent(t, c, w); !sameMember(ev.Value, m2) {
		t.Fatalf("second join event %+v", ev.Value)
	}
	list, err := s1.MemberList(ctx(t, c))
	if err != nil || len(list) != 2 || !sameMember(list[0], m1) || !sameMember(list[1], m2) {
		t.Fatalf("MemberList = %+v, %v; want ha1, ha2", list, err)
	}
}

// sameMember compares the published fields (not the heartbeat).
func sameMember(a, b store.Member) bool {
	a.Heartbeat, b.Heartbeat = time.Time{}, time.Time{}
	return a.Equal(b)
}

// testMemberExpiry: a member whose keep-alive stops disappears after its
// TTL, and its membership reports the end; one kept alive stays well past
// its TTL.
func testMemberExpiry(t *testing.T, c Config) {
	open := c.Fresh(t)
	s1, s2 := open(t), open(t)
	w, err := s2.WatchMembers(ctx(t, c))
	if err != nil {
		t.Fatal(err)
	}
	keep, err := s2.Join(ctx(t, c), store.Member{ID: ha2, Healthy: true}, c.ttl())
	if err != nil {
		t.Fatal(err)
	}
	jctx, crash := context.WithCancel(context.Background())
	defer crash()
	start := time.Now()
	r, err := s1.Join(jctx, store.Member{ID: ha1, Healthy: true}, c.ttl())
	if err != nil {
		t.Fatal(err)
	}
	crash()
	for {
		ev := nextEvent(t, c, w)
		if ev.Deleted {
			if ev.Value.ID != ha1 {
				t.Fatalf("member %s lapsed, want only %s", ev.Value.ID, ha1)
			}
			break
		}
	}
	if lapsed := time.Since(start); lapsed < c.ttl()/2 {
		t.Fatalf("member lapsed after %v, before its TTL %v", lapsed, c.ttl())
	}
	select {
	case <-r.Done():
	case <-time.After(c.timeout()):
		t.Fatal("Done not closed after the membership lapsed")
	}
	if err := r.Update(ctx(t, c), store.Member{ID: ha1}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Update of a lapsed membership: %v", err)
	}
	// ha2 is kept alive: it is still there after two and a half TTLs.
	time.Sleep(time.Until(start.Add(2*c.ttl() + c.ttl()/2))) // the passage of time is what is tested
	list, err := s1.MemberList(ctx(t, c))
	if err != nil || len(list) != 1 || list[0].ID != ha2 {
		t.Fatalf("MemberList = %+v, %v; want only %s", list, err, ha2)
	}
	select {
	case <-keep.Done():
		t.Fatal("kept-alive membership ended")
	default:
	}
}

// testMemberLeave: Leave withdraws at once.
func testMemberLeave(t *testing.T, c Config) {
	s := c.Fresh(t)(t)
	r, err := s.Join(ctx(t, c), store.Member{ID: ha1}, c.ttl())
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.WatchMembers(ctx(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Current) != 1 {
		t.Fatalf("watch snapshot %+v", w.Current)
	}
	if err := r.Leave(ctx(t, c)); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, c, w); !ev.Deleted || ev.Value.ID != ha1 {
		t.Fatalf("leave event %+v", ev)
	}
	if _, err := s.Member(ctx(t, c), ha1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Member after Leave: %v", err)
	}
	select {
	case <-r.Done():
	case <-time.After(c.timeout()):
		t.Fatal("Done not closed after Leave")
	}
}

// testContextCanceled: calls with an ended context fail with its error
// and change nothing.
func testContextCanceled(t *testing.T, c Config) {
	s := c.Fresh(t)(t)
	p := pool6(t, 4)
	l := mustAcquire(t, s, c, req("mn", ha1, p))
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Acquire(dead, req("other", ha1, p)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire: %v", err)
	}
	if _, err := s.Release(dead, l.HoA, l.Revision); !errors.Is(err, context.Canceled) {
		t.Fatalf("Release: %v", err)
	}
	if _, err := s.Join(dead, store.Member{ID: ha1}, c.ttl()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Join: %v", err)
	}
	if _, err := s.WatchLeases(dead); !errors.Is(err, context.Canceled) {
		t.Fatalf("WatchLeases: %v", err)
	}
	wantLease(t, s, c, l)
	if all, _ := s.List(ctx(t, c), store.Filter{}); len(all) != 1 {
		t.Fatalf("List = %v", all)
	}
}

// testClosed: a closed store fails every call with ErrClosed and ends its
// watches with ErrClosed.
func testClosed(t *testing.T, c Config) {
	s := c.Fresh(t)(t)
	p := pool6(t, 4)
	l := mustAcquire(t, s, c, req("mn", ha1, p))
	w, err := s.WatchLeases(ctx(t, c))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Join(ctx(t, c), store.Member{ID: ha1}, c.ttl())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for name, err := range map[string]error{
		"Acquire":    second(s.Acquire(ctx(t, c), req("x", ha1, p))),
		"Lease":      second(s.Lease(ctx(t, c), l.HoA)),
		"List":       second(s.List(ctx(t, c), store.Filter{})),
		"Transfer":   second(s.Transfer(ctx(t, c), l.HoA, l.Revision, ha2)),
		"Join":       second(s.Join(ctx(t, c), store.Member{ID: ha2}, c.ttl())),
		"MemberList": second(s.MemberList(ctx(t, c))),
		"Watch":      second(s.WatchLeases(ctx(t, c))),
	} {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	deadline := time.After(c.timeout())
	for open := true; open; {
		select {
		case _, open = <-w.Events:
		case <-deadline:
			t.Fatal("watch still open after Close")
		}
	}
	if !errors.Is(w.Err(), store.ErrClosed) {
		t.Fatalf("watch ended with %v, want ErrClosed", w.Err())
	}
	select {
	case <-r.Done():
	case <-time.After(c.timeout()):
		t.Fatal("membership not ended by Close")
	}
}

func second[T any](_ T, err error) error { return err }

// testMemberRejoin: joining again with the same ID (a restarted home
// agent whose old record has not lapsed yet) replaces the record and ends
// the old membership.
func testMemberRejoin(t *testing.T, c Config) {
	open := c.Fresh(t)
	old, restarted := open(t), open(t)
	r1, err := old.Join(ctx(t, c), store.Member{ID: ha1, Load: 5}, c.ttl())
	if err != nil {
		t.Fatal(err)
	}
	r2, err := restarted.Join(ctx(t, c), store.Member{ID: ha1, Load: 0, Healthy: true}, c.ttl())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-r1.Done():
	case <-time.After(c.timeout()):
		t.Fatal("replaced membership not ended")
	}
	if err := r1.Update(ctx(t, c), store.Member{ID: ha1, Load: 9}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Update through the replaced membership: %v", err)
	}
	m, err := old.Member(ctx(t, c), ha1)
	if err != nil || m.Load != 0 || !m.Healthy {
		t.Fatalf("Member(%s) = %+v, %v; want the new record", ha1, m, err)
	}
	select {
	case <-r2.Done():
		t.Fatal("new membership ended")
	default:
	}
	if err := r2.Update(ctx(t, c), store.Member{ID: ha1, Load: 1, Healthy: true}); err != nil {
		t.Fatal(err)
	}
}
