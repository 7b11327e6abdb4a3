package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

// model is a naive reference of the lease rules: the records the store
// returned, and the identity index they imply. It predicts the outcome of
// each operation independently of the backends' code.
type model struct {
	pool   store.Pool
	leases map[netip.Addr]store.Lease
	index  map[string]netip.Addr // identity -> HoA (one family in this test)
}

// mine returns the identity's lease in the model.
func (m *model) mine(id string) (store.Lease, bool) {
	hoa, ok := m.index[id]
	if !ok {
		return store.Lease{}, false
	}
	return m.leases[hoa], true
}

// expectAcquire returns the error the store must answer, or, for a
// success, the addresses it may choose (nil: any) and whether the lease
// must come back unchanged.
func (m *model) expectAcquire(r store.AcquireRequest) (want error, choices []netip.Addr, unchanged bool) {
	if l, ok := m.mine(r.Identity); ok {
		switch {
		case l.State == store.StateReleased:
			return nil, []netip.Addr{l.HoA}, false
		case l.Owner == r.Owner:
			return nil, []netip.Addr{l.HoA}, true
		default:
			return store.ErrOwnedElsewhere, nil, false
		}
	}
	if r.Pool.Contains(r.Suggested) {
		if l, ok := m.leases[r.Suggested]; !ok || l.State == store.StateReleased {
			return nil, []netip.Addr{r.Suggested}, false
		}
	}
	var free []netip.Addr
	for a := r.Pool.First; r.Pool.Contains(a); a = a.Next() {
		if _, ok := m.leases[a]; !ok {
			free = append(free, a)
		}
	}
	if len(free) > 0 {
		return nil, free, false
	}
	var oldest store.Lease
	for _, l := range m.leases {
		if l.State == store.StateReleased && (!oldest.HoA.IsValid() || l.UpdatedAt.Before(oldest.UpdatedAt) ||
			(l.UpdatedAt.Equal(oldest.UpdatedAt) && l.HoA.Less(oldest.HoA))) {
			oldest = l
		}
	}
	if oldest.HoA.IsValid() {
		return nil, []netip.Addr{oldest.HoA}, false
	}
	return store.ErrPoolExhausted, nil, false
}

// record stores a lease the store returned and keeps the index.
func (m *model) record(l store.Lease) {
	if old, ok := m.leases[l.HoA]; ok && old.Identity != l.Identity && m.index[old.Identity] == l.HoA {
		delete(m.index, old.Identity)
	}
	m.leases[l.HoA] = l
	m.index[l.Identity] = l.HoA
}

// expectTransition returns the error a transition must answer: it needs a
// record at rev, in one of the states ok allows.
func (m *model) expectTransition(hoa netip.Addr, rev store.Revision, ok func(store.Lease) bool) error {
	l, found := m.leases[hoa]
	switch {
	case !found:
		return store.ErrNotFound
	case l.Revision != rev:
		return store.ErrConflict
	case !ok(l):
		return store.ErrState
	}
	return nil
}

// testRandomOperations applies random operations from two clients and
// compares every answer, and the whole store after each step, with the
// reference model.
func testRandomOperations(t *testing.T, c Config) {
	open := c.Fresh(t)
	clients := []store.Store{open(t), open(t)}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	m := &model{pool: pool6(t, 6), leases: map[netip.Addr]store.Lease{}, index: map[string]netip.Addr{}}
	owners := []string{ha1, ha2, ha3}
	identities := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	// someLease picks a modelled address (or, rarely, a free one) and a
	// revision that is current or stale.
	someLease := func() (netip.Addr, store.Revision) {
		hoa := m.pool.First
		for range rng.IntN(int(m.pool.Size())) {
			hoa = hoa.Next()
		}
		rev := m.leases[hoa].Revision
		if rng.IntN(5) == 0 {
			rev--
		}
		return hoa, rev
	}
	outcomes := map[string]int{}
	defer func() { t.Logf("outcomes: %v", outcomes) }()
	check := func(step int, what string, err, want error) {
		t.Helper()
		name, _, _ := strings.Cut(what, "(")
		if err != nil {
			name += " " + strings.TrimPrefix(want.Error(), "store: ")
		}
		outcomes[name]++
		if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
			t.Fatalf("step %d (seed %d): %s: error %v, want %v", step, seed, what, err, want)
		}
	}
	const steps = 250
	for step := range steps {
		s := clients[rng.IntN(2)]
		cx := ctx(t, c)
		switch op := rng.IntN(6); op {
		case 0, 1: // acquire
			r := req(pick(identities), pick(owners), m.pool)
			if rng.IntN(3) == 0 {
				r.Suggested, _ = someLease()
			}
			want, choices, unchanged := m.expectAcquire(r)
			l, err := s.Acquire(cx, r)
			what := fmt.Sprintf("Acquire(%s by %s, suggested %v)", r.Identity, r.Owner, r.Suggested)
			check(step, what, err, want)
			if err != nil {
				break
			}
			if choices != nil && !contains(choices, l.HoA) {
				t.Fatalf("step %d (seed %d): %s = %v, want one of %v", step, seed, what, l.HoA, choices)
			}
			if unchanged && !l.Equal(m.leases[l.HoA]) {
				t.Fatalf("step %d (seed %d): %s changed the lease: %v, was %v", step, seed, what, l, m.leases[l.HoA])
			}
			if l.Owner != r.Owner || l.State == store.StateReleased || l.Identity != r.Identity {
				t.Fatalf("step %d (seed %d): %s = %v", step, seed, what, l)
			}
			m.record(l)
		case 2: // release
			hoa, rev := someLease()
			want := m.expectTransition(hoa, rev, store.Lease.Served)
			l, err := s.Release(cx, hoa, rev)
			check(step, fmt.Sprintf("Release(%v@%d)", hoa, rev), err, want)
			if err == nil {
				if l.State != store.StateReleased || l.Owner != "" {
					t.Fatalf("step %d: released lease %v", step, l)
				}
				m.record(l)
			}
		case 3: // mark moving
			hoa, rev := someLease()
			from, to := pick(owners), pick(owners)
			if l := m.leases[hoa]; l.Owner != "" && rng.IntN(3) > 0 {
				from = l.Owner // mostly the owner starts the move
			}
			if from == to {
				break
			}
			want := m.expectTransition(hoa, rev, func(l store.Lease) bool { return l.Served() && l.Owner == from })
			l, err := s.MarkMoving(cx, hoa, rev, store.Move{From: from, To: to, Deadline: farFuture()})
			check(step, fmt.Sprintf("MarkMoving(%v@%d %s->%s)", hoa, rev, from, to), err, want)
			if err == nil {
				if l.State != store.StateMoving || l.Owner != from || l.MovingTo != to {
					t.Fatalf("step %d: moving lease %v", step, l)
				}
				m.record(l)
			}
		case 4: // transfer
			hoa, rev := someLease()
			to := pick(owners)
			if l := m.leases[hoa]; l.MovingTo != "" && rng.IntN(3) > 0 {
				to = l.MovingTo // mostly the target completes the move
			}
			want := m.expectTransition(hoa, rev, func(l store.Lease) bool { return l.State == store.StateMoving && l.MovingTo == to })
			l, err := s.Transfer(cx, hoa, rev, to)
			check(step, fmt.Sprintf("Transfer(%v@%d to %s)", hoa, rev, to), err, want)
			if err == nil {
				if l.State != store.StateBound || l.Owner != to {
					t.Fatalf("step %d: transferred lease %v", step, l)
				}
				m.record(l)
			}
		case 5: // cancel a move
			hoa, rev := someLease()
			want := m.expectTransition(hoa, rev, func(l store.Lease) bool { return l.State == store.StateMoving })
			l, err := s.CancelMove(cx, hoa, rev)
			check(step, fmt.Sprintf("CancelMove(%v@%d)", hoa, rev), err, want)
			if err == nil {
				m.record(l)
			}
		}
		compareWithModel(t, step, seed, clients[rng.IntN(2)], c, m)
	}
}

func contains(xs []netip.Addr, a netip.Addr) bool {
	for _, x := range xs {
		if x == a {
			return true
		}
	}
	return false
}

// compareWithModel checks that the store holds exactly the model's
// records and index.
func compareWithModel(t *testing.T, step int, seed int64, s store.Store, c Config, m *model) {
	t.Helper()
	all, err := s.List(ctx(t, c), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(m.leases) {
		t.Fatalf("step %d (seed %d): store has %d leases, model %d", step, seed, len(all), len(m.leases))
	}
	for _, l := range all {
		if !l.Equal(m.leases[l.HoA]) {
			t.Fatalf("step %d (seed %d): store has %v, model %v", step, seed, describe(l), describe(m.leases[l.HoA]))
		}
	}
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		l, err := s.IdentityLease(ctx(t, c), id, store.IPv6)
		want, ok := m.mine(id)
		switch {
		case !ok && !errors.Is(err, store.ErrNotFound):
			t.Fatalf("step %d (seed %d): IdentityLease(%s) = %v, %v; model has none", step, seed, id, l, err)
		case ok && (err != nil || !l.Equal(want)):
			t.Fatalf("step %d (seed %d): IdentityLease(%s) = %v, %v; model %v", step, seed, id, l, err, want)
		}
	}
}
