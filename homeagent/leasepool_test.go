package homeagent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/boltstore"
	"github.com/mip6ha/mip6ha/ike"
)

func assign(t *testing.T, p *LeasePool, req ike.AddressRequest) ike.Assignment {
	t.Helper()
	a, err := p.Assign(context.Background(), req)
	if err != nil {
		t.Fatalf("Assign(%v): %v", req.Peer, err)
	}
	return a
}

// TestLeasePoolSticky: an identity gets its address back after it let go
// of it, even when suggesting another; a suggested address is honoured when
// free, not when another identity's; the home prefix's length, DNS and
// MIP6_HOME_PREFIX are given as asked (RFC 4877 §6.1, RFC 5026 §8.2).
func TestLeasePoolSticky(t *testing.T) {
	p := newTestPool(t, homePrefix, "198.51.100.0/24")
	p.cfg.DNS = []netip.Addr{netip.MustParseAddr("2001:db8::53"), netip.MustParseAddr("192.0.2.53")}
	a, b := ike.FQDN("a.example"), ike.FQDN("b.example")
	ra := assign(t, p, ike.AddressRequest{Peer: a, IPv6: true, IPv4: true, DNS6: true, HomePrefix: true})
	if ra.IPv6 != netip.MustParsePrefix("2001:db8:1::1/64") || ra.IPv4 != netip.MustParseAddr("198.51.100.1") ||
		len(ra.DNS) != 1 || ra.DNS[0] != netip.MustParseAddr("2001:db8::53") || ra.HomePrefix != homePrefix ||
		ra.HomePrefixLifetime != DefaultPrefixLifetime {
		t.Errorf("first assignment %+v", ra)
	}
	rb := assign(t, p, ike.AddressRequest{Peer: b, IPv6: true})
	if rb.IPv6.Addr() != netip.MustParseAddr("2001:db8:1::2") {
		t.Errorf("second identity got %v", rb.IPv6)
	}
	p.Release(context.Background(), a, ra)
	again := assign(t, p, ike.AddressRequest{Peer: a, IPv6: true, SuggestedIPv6: netip.MustParsePrefix("2001:db8:1::99/128")})
	if again.IPv6 != ra.IPv6 {
		t.Errorf("sticky: %v, want %v", again.IPv6, ra.IPv6)
	}
	c := ike.FQDN("c.example")
	if rc := assign(t, p, ike.AddressRequest{Peer: c, IPv6: true, SuggestedIPv6: netip.MustParsePrefix("2001:db8:1::99/128")}); rc.IPv6.Addr() != netip.MustParseAddr("2001:db8:1::99") {
		t.Errorf("suggested free address: got %v", rc.IPv6)
	}
	d := ike.FQDN("d.example")
	if rd := assign(t, p, ike.AddressRequest{Peer: d, IPv6: true, SuggestedIPv6: rb.IPv6}); rd.IPv6 == rb.IPv6 {
		t.Error("suggested address held by b given to d")
	}
	l, err := p.cfg.Store.Lease(context.Background(), ra.IPv6.Addr())
	if err != nil || l.Identity != IdentityOf(a) || l.Owner != "ha1" || l.State != store.StateBound {
		t.Errorf("lease %+v (%v)", l, err)
	}
}

// TestLeasePoolHolders: an address held by two IKE SAs of one identity (a
// reconnection that overlaps the old SA) is released in the store only
// when the last lets go, and stays reserved for the identity.
func TestLeasePoolHolders(t *testing.T) {
	ctx := context.Background()
	p := newTestPool(t, homePrefix, "")
	a := ike.FQDN("a.example")
	r1 := assign(t, p, ike.AddressRequest{Peer: a, IPv6: true})
	r2 := assign(t, p, ike.AddressRequest{Peer: a, IPv6: true})
	if r1.IPv6 != r2.IPv6 {
		t.Fatalf("second SA of the identity got %v, want %v", r2.IPv6, r1.IPv6)
	}
	p.Release(ctx, a, r1)
	if l, _ := p.cfg.Store.Lease(ctx, r1.IPv6.Addr()); l.State != store.StateBound {
		t.Errorf("released by one of two holders: %v", l.State)
	}
	p.Release(ctx, a, r2)
	l, _ := p.cfg.Store.Lease(ctx, r1.IPv6.Addr())
	if l.State != store.StateReleased || l.Identity != IdentityOf(a) {
		t.Errorf("after both holders: %+v, want released and still a's", l)
	}
	if held := p.Held(); len(held) != 0 {
		t.Errorf("held %v", held)
	}
	p.Release(ctx, a, r1) // once more: nothing held, nothing done
}

// TestLeasePoolExhausted: a full pool, or a family without a pool, is
// ErrPoolExhausted (INTERNAL_ADDRESS_FAILURE); a request for two families
// of which one can be served gets that one.
func TestLeasePoolExhausted(t *testing.T) {
	p := newTestPool(t, netip.MustParsePrefix("2001:db8:1::/126"), "192.0.2.0/30")
	size := int(p.v6.Size())
	for i := range size + 1 {
		id := ike.FQDN(fmt.Sprintf("n%d.example", i))
		_, err := p.Assign(context.Background(), ike.AddressRequest{Peer: id, IPv6: true})
		if i < size && err != nil {
			t.Fatalf("address %d of %d: %v", i+1, size, err)
		}
		if i == size && (!errors.Is(err, ErrPoolExhausted) || !errors.Is(err, store.ErrPoolExhausted)) {
			t.Errorf("one address more than the pool has: %v, want ErrPoolExhausted wrapping the store's", err)
		}
	}
	last := ike.FQDN(fmt.Sprintf("n%d.example", size))
	r, err := p.Assign(context.Background(), ike.AddressRequest{Peer: last, IPv6: true, IPv4: true})
	if err != nil || r.IPv6.IsValid() || !r.IPv4.IsValid() {
		t.Errorf("both families, IPv6 exhausted: %+v, %v; want the IPv4 address alone", r, err)
	}
	none := newTestPool(t, netip.Prefix{}, "")
	if _, err := none.Assign(context.Background(), ike.AddressRequest{Peer: ike.FQDN("a"), IPv6: true}); !errors.Is(err, ErrPoolExhausted) {
		t.Errorf("no IPv6 prefix: %v", err)
	}
}

// TestLeasePoolReleaseStale: leases a previous run left bound at this
// member are released at start-up, still reserved for their identities;
// leases an IKE SA holds now are not.
func TestLeasePoolReleaseStale(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := boltstore.OpenDir(dir, boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p1, err := NewLeasePool(LeasePoolConfig{Store: st, Owner: "ha1", Prefix: homePrefix})
	if err != nil {
		t.Fatal(err)
	}
	old := assign(t, p1, ike.AddressRequest{Peer: ike.FQDN("old.example"), IPv6: true})
	// A new run: a new pool over the same store, which holds nothing yet.
	p2, err := NewLeasePool(LeasePoolConfig{Store: st, Owner: "ha1", Prefix: homePrefix})
	if err != nil {
		t.Fatal(err)
	}
	cur := assign(t, p2, ike.AddressRequest{Peer: ike.FQDN("new.example"), IPv6: true})
	released, err := p2.ReleaseStale(ctx)
	if err != nil || len(released) != 1 || released[0] != old.IPv6.Addr() {
		t.Fatalf("ReleaseStale = %v, %v; want %v", released, err, old.IPv6.Addr())
	}
	if l, _ := st.Lease(ctx, cur.IPv6.Addr()); l.State != store.StateBound {
		t.Errorf("a held lease was released: %+v", l)
	}
	if again := assign(t, p2, ike.AddressRequest{Peer: ike.FQDN("old.example"), IPv6: true}); again.IPv6 != old.IPv6 {
		t.Errorf("the identity of a stale lease got %v, want %v", again.IPv6, old.IPv6)
	}
}

// TestLeasePoolSetCareOf records the care-of endpoint without changing
// the lease's owner or state.
func TestLeasePoolSetCareOf(t *testing.T) {
	ctx := context.Background()
	p := newTestPool(t, homePrefix, "")
	a := assign(t, p, ike.AddressRequest{Peer: ike.FQDN("a"), IPv6: true, Remote: netip.MustParseAddrPort("[2001:db8:2::1]:4500")})
	coa := netip.MustParseAddrPort("[2001:db8:4::1]:4500")
	if err := p.SetCareOf(ctx, a.IPv6.Addr(), coa); err != nil {
		t.Fatal(err)
	}
	l, _ := p.cfg.Store.Lease(ctx, a.IPv6.Addr())
	if l.CareOf != coa || l.State != store.StateBound || l.Owner != "ha1" {
		t.Errorf("lease %+v", l)
	}
}

// BenchmarkLeasePoolAssign measures a lease acquisition and release
// through the embedded store (without fsync): what an IKE_AUTH adds to an
// attach.
func BenchmarkLeasePoolAssign(b *testing.B) {
	p := newTestPool(b, homePrefix, "")
	ctx := context.Background()
	id := ike.FQDN("bench.example")
	b.ReportAllocs()
	for b.Loop() {
		a, err := p.Assign(ctx, ike.AddressRequest{Peer: id, IPv6: true})
		if err != nil {
			b.Fatal(err)
		}
		p.Release(ctx, id, a)
	}
}

// oneLeaseStore is an in-memory lease store of one address that keeps the
// rules of store.Leases the pool relies on: Acquire returns the
// identity's served lease unchanged (no write, the same revision) and
// binds its released lease again; Release is a compare-and-swap. With
// releasing set, Release first reports that it was called and waits for
// proceed: the pool has read the lease and decided to release it, the
// write is to come.
type oneLeaseStore struct {
	store.Leases // the other methods are not used

	releasing chan struct{}
	proceed   chan struct{}

	mu sync.Mutex
	l  store.Lease
}

func (s *oneLeaseStore) Acquire(_ context.Context, req store.AcquireRequest) (store.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.l.HoA.IsValid():
		s.l = store.Lease{HoA: req.Pool.First, Identity: req.Identity, Owner: req.Owner, State: store.StateBound, Revision: 1}
	case s.l.Identity != req.Identity:
		return store.Lease{}, store.ErrPoolExhausted
	case s.l.State == store.StateReleased:
		s.l.Owner, s.l.State = req.Owner, store.StateBound
		s.l.Revision++
	case s.l.Owner != req.Owner:
		return store.Lease{}, store.ErrOwnedElsewhere
	}
	return s.l, nil
}

func (s *oneLeaseStore) Lease(_ context.Context, hoa netip.Addr) (store.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if hoa != s.l.HoA {
		return store.Lease{}, store.ErrNotFound
	}
	return s.l, nil
}

func (s *oneLeaseStore) Release(_ context.Context, hoa netip.Addr, expected store.Revision) (store.Lease, error) {
	if s.releasing != nil {
		s.releasing <- struct{}{}
		<-s.proceed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if hoa != s.l.HoA || expected != s.l.Revision {
		return store.Lease{}, store.ErrConflict
	}
	s.l.Owner, s.l.State = "", store.StateReleased
	s.l.Revision++
	return s.l, nil
}

// TestLeasePoolReleaseRacesReassign: a node whose last IKE SA ends while it
// sets up a new one (strongSwan's break-before-make reauthentication)
// keeps its lease. The release of the old SA's address reads the lease and
// decides before it writes; an assignment to the new SA in between gets
// the identity's lease unchanged, so the release's compare-and-swap would
// still succeed and leave the new SA with an address the store counts as
// free (for another identity, or another member). The pool serialises the
// two: the lease ends bound, held by the new SA.
func TestLeasePoolReleaseRacesReassign(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		st := &oneLeaseStore{}
		p, err := NewLeasePool(LeasePoolConfig{Store: st, Owner: "ha1", Prefix: homePrefix})
		if err != nil {
			t.Fatal(err)
		}
		id := ike.FQDN("mn.example")
		old := assign(t, p, ike.AddressRequest{Peer: id, IPv6: true})

		st.releasing, st.proceed = make(chan struct{}), make(chan struct{})
		released := make(chan struct{})
		go func() {
			defer close(released)
			p.Release(ctx, id, old) // the old IKE SA ended
		}()
		<-st.releasing
		type result struct {
			a   ike.Assignment
			err error
		}
		reassigned := make(chan result, 1)
		go func() {
			a, err := p.Assign(ctx, ike.AddressRequest{Peer: id, IPv6: true}) // the new IKE SA's IKE_AUTH
			reassigned <- result{a, err}
		}()
		synctest.Wait() // the assignment is done, or waits for the release
		close(st.proceed)
		<-released
		r := <-reassigned
		if r.err != nil || r.a.IPv6 != old.IPv6 {
			t.Fatalf("new IKE SA assigned %v (%v), want %v", r.a.IPv6, r.err, old.IPv6)
		}
		if l, _ := st.Lease(ctx, old.IPv6.Addr()); l.State != store.StateBound || l.Owner != "ha1" {
			t.Errorf("lease held by the new IKE SA: %v, want bound at ha1", l)
		}
		if held := p.Held(); len(held) != 1 || held[0] != old.IPv6.Addr() {
			t.Errorf("held %v", held)
		}
		if len(p.locks) != 0 {
			t.Errorf("identity locks left: %v", p.locks)
		}
		st.releasing = nil
		p.Release(ctx, id, r.a)
		if l, _ := st.Lease(ctx, old.IPv6.Addr()); l.State != store.StateReleased {
			t.Errorf("after the new IKE SA ended: %v, want released", l)
		}
	})
}
