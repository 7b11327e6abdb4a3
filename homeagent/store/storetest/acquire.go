package storetest

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

// testAcquireNew: a new identity gets a bound lease from the pool, owned
// by the caller, readable by address and by identity.
func testAcquireNew(t *testing.T, c Config) {
	s := c.Fresh(t)(t)
	p := pool6(t, 16)
	r := req("mn1@example.com", ha1, p)
	r.Attributes.CareOf = netip.MustParseAddrPort("[2001:db8:2::7]:4500")
	l := mustAcquire(t, s, c, r)
	if l.State != store.StateBound || l.Owner != ha1 || l.MovingTo != "" || !l.Deadline.IsZero() {
		t.Fatalf("new lease %v: want bound at %s", l, ha1)
	}
	if l.CreatedAt.IsZero() || !l.UpdatedAt.Equal(l.CreatedAt) {
		t.Fatalf("new lease timestamps created %v updated %v", l.CreatedAt, l.UpdatedAt)
	}
	if l.CareOf != r.Attributes.CareOf {
		t.Fatalf("care-of address %v, want %v", l.CareOf, r.Attributes.CareOf)
	}
	wantLease(t, s, c, l)
	byID, err := s.IdentityLease(ctx(t, c), "mn1@example.com", store.IPv6)
	if err != nil || !byID.Equal(l) {
		t.Fatalf("IdentityLease = %v, %v; want %v", byID, err, l)
	}
	_, err = s.IdentityLease(ctx(t, c), "mn1@example.com", store.IPv4)
	wantErr(t, "IdentityLease of a family without lease", err, store.ErrNotFound)
	_, err = s.Lease(ctx(t, c), addr("2001:db8:1::ff"))
	wantErr(t, "Lease of a free address", err, store.ErrNotFound)

	// Certificate identities carry '/', ',' and '=': they index like any.
	const dn = "C=XX, O=Example/OU=Lab, CN=mn2"
	l2 := mustAcquire(t, s, c, req(dn, ha1, p))
	if l2.HoA == l.HoA || l2.Revision <= l.Revision {
		t.Fatalf("second lease %v after %v: want another address and a later revision", l2, l)
	}
	if got, err := s.IdentityLease(ctx(t, c), dn, store.IPv6); err != nil || !got.Equal(l2) {
		t.Fatalf("IdentityLease(%q) = %v, %v; want %v", dn, got, err, l2)
	}
	if _, err := s.IdentityLease(ctx(t, c), "C=XX, O=Example", store.IPv6); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("IdentityLease of a prefix of an identity: %v", err)
	}
}

// testAcquireSticky: the same identity gets the same address back, as long
// as it is bound at the caller, and after a release.
func testAcquireSticky(t *testing.T, c Config) {
	s := c.Fresh(t)(t)
	p := pool6(t, 16)
	first := mustAcquire(t, s, c, req("mn1", ha1, p))
	mustAcquire(t, s, c, req("other", ha1, p))

	again := mustAcquire(t, s, c, req("mn1", ha1, p))
	if !again.Equal(first) {
		t.Fatalf("re-acquire by the owner changed the lease: %v, was %v", again, first)
	}
	rel, err := s.Release(ctx(t, c), first.HoA, first.Revision)
	if err != nil {
		t.Fatal(err)
	}
	back := mustAcquire(t, s, c, req("mn1", ha2, p))
	if back.HoA != first.HoA || back.Owner != ha2 || back.State != store.StateBound || back.Revision <= rel.Revision {
		t.Fatalf("after release, Acquire = %v; want %v bound at %s at a new revision", back, first.HoA, ha2)
	}
	if !back.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("rebinding kept no creation time: %v, was %v", back.CreatedAt, first.CreatedAt)
	}
	// A suggestion does not move an identity off its address.
	r := req("mn1", ha2, p)
	r.Suggested = addr("2001:db8:1::9")
	if l := mustAcquire(t, s, c, r); l.HoA != first.HoA {
		t.Fatalf("suggestion moved the identity to %v, want its lease %v", l.HoA, first.HoA)
	}
}

// testAcquireSuggested: a suggested address is honoured when free,
// released, or the identity's own; another identity's bound address is
// not handed out, and an address outside the pool is ignored.
func testAcquireSuggested(t *testing.T, c Config) {
	s := c.Fresh(t)(t)
	p := pool6(t, 16)

	r := req("a", ha1, p)
	r.Suggested = addr("2001:db8:1::9")
	a := mustAcquire(t, s, c, r)
	if a.HoA != r.Suggested {
		t.Fatalf("free suggested address not honoured: got %v", a.HoA)
	}

	r = req("b", ha1, p)
	r.Suggested = a.HoA
	b := mustAcquire(t, s, c, r)
	if b.HoA == a.HoA {
		t.Fatalf("another identity's address %v handed to b", a.HoA)
	}
	wantLease(t, s, c, a)

	r = req("c", ha1, p)
	r.Suggested = addr("2001:db8:99::1")
	if l := mustAcquire(t, s, c, r); l.HoA == r.Suggested {
		t.Fatalf("address outside the pool handed out")
	}

	// A released address of another identity is reclaimed on request.
	rel, err := s.Release(ctx(t, c), a.HoA, a.Revision)
	if err != nil {
		t.Fatal(err)
	}
	r = req("d", ha2, p)
	r.Suggested = a.HoA
	d := mustAcquire(t, s, c, r)
	if d.HoA != a.HoA || d.Revision <= rel.Revision || d.Owner != ha2 {
		t.Fatalf("released suggested address: got %v", d)
	}
	if d.CreatedAt.Before(rel.UpdatedAt) {
		t.Fatalf("reclaimed lease kept the old identity's creation time %v", d.CreatedAt)
	}
	_, err = s.IdentityLease(ctx(t, c), "a", store.IPv6)
	wantErr(t, "IdentityLease of the identity whose address was reclaimed", err, store.ErrNotFound)
	// a comes back and gets another address.
	a2 := mustAcquire(t, s, c, req("a", ha1, p))
	if a2.HoA == a.HoA {
		t.Fatalf("reclaimed address %v given back to its old identity", a.HoA)
	}
}

// testAcquireRequireSuggested: with RequireSuggested the answer is the
// suggested address or an error.
func testAcquireRequireSuggested(t *testing.T, c Config) {
	s := c.Fresh(t)(t)
	p := pool6(t, 16)
	r := req("a", ha1, p)
	r.Suggested, r.RequireSuggested = addr("2001:db8:1::3"), true
	a := mustAcquire(t, s, c, r)
	if a.HoA != r.Suggested {
		t.Fatalf("required address not given: %v", a.HoA)
	}
	r.Identity = "b"
	_, err := s.Acquire(ctx(t, c), r)
	le := wantErr(t, "required address held by another identity", err, store.ErrAddressInUse)
	if le == nil || !le.Lease.Equal(a) {
		t.Fatalf("error does not carry the holder's lease: %#v", le)
	}
	r.Identity, r.Suggested = "a", addr("2001:db8:1::4")
	_, err = s.Acquire(ctx(t, c), r)
	wantErr(t, "identity requiring a second address", err, store.ErrState)
	r.Suggested = addr("2001:db8:2::4")
	_, err = s.Acquire(ctx(t, c), r)
	wantErr(t, "required address outside the pool", err, store.ErrInvalid)
	// Nothing changed.
	wantLease(t, s, c, a)
	if all, err := s.List(ctx(t, c), store.Filter{}); err != nil || len(all) != 1 {
		t.Fatalf("List = %v, %v; want only %v", all, err, a)
	}
}

// testAcquireFamilies: one lease per identity and family; IPv4 ranges.
func testAcquireFamilies(t *testing.T, c Config) {
	s := c.Fresh(t)(t)
	v6 := mustAcquire(t, s, c, req("mn", ha1, pool6(t, 4)))
	v4 := mustAcquire(t, s, c, req("mn", ha1, pool4(t, 4)))
	if v6.Family() != store.IPv6 || v4.Family() != store.IPv4 {
		t.Fatalf("leases %v and %v: want one IPv6 and one IPv4", v6, v4)
	}
	for f, want := range map[store.Family]store.Lease{store.IPv6: v6, store.IPv4: v4} {
		got, err := s.IdentityLease(ctx(t, c), "mn", f)
		if err != nil || !got.Equal(want) {
			t.Fatalf("IdentityLease(%v) = %v, %v; want %v", f, got, err, want)
		}
	}
	all, err := s.List(ctx(t, c), store.Filter{})
	if err != nil || len(all) != 2 || !all[0].Equal(v4) || !all[1].Equal(v6) {
		t.Fatalf("List = %v, %v; want [%v %v] (IPv4 first)", all, err, v4, v6)
	}
}

// testAcquireInvalid: malformed requests change nothing.
func testAcquireInvalid(t *testing.T, c Config) {
	s := c.Fresh(t)(t)
	p := pool6(t, 4)
	for name, r := range map[string]store.AcquireRequest{
		"no identity":   req("", ha1, p),
		"no owner":      req("mn", "", p),
		"long identity": req(strings.Repeat("x", store.MaxIdentityLen+1), ha1, p),
		"no pool":       req("mn", ha1, store.Pool{}),
		"mixed pool":    req("mn", ha1, store.Pool{First: addr("192.0.2.1"), Last: addr("2001:db8::1")}),
		"reversed pool": req("mn", ha1, store.Pool{First: addr("2001:db8::9"), Last: addr("2001:db8::1")}),
	} {
		_, err := s.Acquire(ctx(t, c), r)
		wantErr(t, name, err, store.ErrInvalid)
	}
	if all, err := s.List(ctx(t, c), store.Filter{}); err != nil || len(all) != 0 {
		t.Fatalf("List after invalid requests = %v, %v", all, err)
	}
}

// testAcquireOwnedElsewhere: an identity bound (or moving) at another
// member is not silently re-owned.
func testAcquireOwnedElsewhere(t *testing.T, c Config) {
	open := c.Fresh(t)
	s1, s2 := open(t), open(t)
	p := pool6(t, 4)
	l := mustAcquire(t, s1, c, req("mn", ha1, p))
	_, err := s2.Acquire(ctx(t, c), req("mn", ha2, p))
	le := wantErr(t, "Acquire of a lease bound elsewhere", err, store.ErrOwnedElsewhere)
	if le == nil || !le.Lease.Equal(l) {
		t.Fatalf("error does not carry the lease: %#v", le)
	}
	m, err := s1.MarkMoving(ctx(t, c), l.HoA, l.Revision, store.Move{From: ha1, To: ha2, Deadline: farFuture()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s2.Acquire(ctx(t, c), req("mn", ha2, p))
	le = wantErr(t, "Acquire by the target of a moving lease", err, store.ErrOwnedElsewhere)
	if le == nil || !le.Lease.Equal(m) {
		t.Fatalf("error does not carry the moving lease: %#v", le)
	}
	// The owner still gets its moving lease back unchanged.
	if got := mustAcquire(t, s1, c, req("mn", ha1, p)); !got.Equal(m) {
		t.Fatalf("owner re-acquire = %v, want %v", got, m)
	}
	wantLease(t, s2, c, m)
}

// testPoolExhaustedAndReclaim: a full pool fails with ErrPoolExhausted;
// released addresses are reused least recently released first.
func testPoolExhaustedAndReclaim(t *testing.T, c Config) {
	s := c.Fresh(t)(t)
	p := pool4(t, 4)
	var ls []store.Lease
	for i := range 4 {
		ls = append(ls, mustAcquire(t, s, c, req(fmt.Sprint("mn", i), ha1, p)))
	}
	_, err := s.Acquire(ctx(t, c), req("late", ha1, p))
	wantErr(t, "Acquire from a full pool", err, store.ErrPoolExhausted)

	// Release 2, then 0: the next newcomers get 2 first, then 0.
	for _, i := range []int{2, 0} {
		if _, err := s.Release(ctx(t, c), ls[i].HoA, ls[i].Revision); err != nil {
			t.Fatal(err)
		}
	}
	if got := mustAcquire(t, s, c, req("late", ha1, p)); got.HoA != ls[2].HoA {
		t.Fatalf("first reclaim got %v, want the least recently released %v", got.HoA, ls[2].HoA)
	}
	if got := mustAcquire(t, s, c, req("later", ha1, p)); got.HoA != ls[0].HoA {
		t.Fatalf("second reclaim got %v, want %v", got.HoA, ls[0].HoA)
	}
	_, err = s.Acquire(ctx(t, c), req("latest", ha1, p))
	wantErr(t, "Acquire from a full pool again", err, store.ErrPoolExhausted)
	_, err = s.Acquire(ctx(t, c), req("mn0", ha1, p))
	wantErr(t, "Acquire by an identity whose address was reclaimed", err, store.ErrPoolExhausted)
}

// testConcurrentAcquire: many goroutines on two clients (two home agents)
// acquire from one small pool at once: every address is handed out at most
// once, exactly as many succeed as the pool holds, the rest are told the
// pool is exhausted.
func testConcurrentAcquire(t *testing.T, c Config) {
	open := c.Fresh(t)
	clients := []store.Store{open(t), open(t)}
	const size, workers = 24, 40
	p := pool6(t, size)
	var (
		mu     sync.Mutex
		owners = map[netip.Addr]string{}
		wg     sync.WaitGroup
		errs   = make(chan error, workers)
	)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := []string{ha1, ha2}[i%2]
			id := fmt.Sprintf("mn%02d", i)
			l, err := clients[i%2].Acquire(ctx(t, c), req(id, owner, p))
			if errors.Is(err, store.ErrPoolExhausted) {
				return
			}
			if err != nil {
				errs <- fmt.Errorf("%s: %w", id, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if prev, dup := owners[l.HoA]; dup {
				errs <- fmt.Errorf("%v handed to %s and to %s", l.HoA, prev, id)
			}
			owners[l.HoA] = id
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(owners) != size {
		t.Fatalf("%d addresses handed out, want the whole pool of %d", len(owners), size)
	}
	all, err := clients[0].List(ctx(t, c), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != size {
		t.Fatalf("store holds %d leases, want %d", len(all), size)
	}
	for _, l := range all {
		if owners[l.HoA] != l.Identity {
			t.Errorf("store says %v belongs to %q, Acquire said %q", l.HoA, l.Identity, owners[l.HoA])
		}
	}
}

// testConcurrentAcquireSameIdentity: one identity acquired at once by the
// same member many times, and by two members, ends with one lease.
func testConcurrentAcquireSameIdentity(t *testing.T, c Config) {
	open := c.Fresh(t)
	clients := []store.Store{open(t), open(t)}
	p := pool6(t, 64)
	const workers = 16
	type result struct {
		l     store.Lease
		err   error
		owner string
	}
	results := make(chan result, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := []string{ha1, ha2}[i%2]
			l, err := clients[i%2].Acquire(ctx(t, c), req("mn", owner, p))
			results <- result{l, err, owner}
		}()
	}
	wg.Wait()
	close(results)
	var hoa netip.Addr
	winners := map[string]bool{}
	for r := range results {
		switch {
		case r.err == nil:
			if hoa.IsValid() && r.l.HoA != hoa {
				t.Fatalf("identity got two addresses: %v and %v", hoa, r.l.HoA)
			}
			hoa = r.l.HoA
			winners[r.owner] = true
		case errors.Is(r.err, store.ErrOwnedElsewhere):
		default:
			t.Fatalf("Acquire: %v", r.err)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("owners that got the lease: %v; want exactly one", winners)
	}
	all, err := clients[1].List(ctx(t, c), store.Filter{})
	if err != nil || len(all) != 1 || all[0].HoA != hoa {
		t.Fatalf("List = %v, %v; want one lease of %v", all, err, hoa)
	}
}
