package homeagent

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/boltstore"
	"github.com/mip6ha/mip6ha/ike"
)

// arrivals records the LeasePool's Arrived calls.
type arrivals struct {
	mu   sync.Mutex
	prev []store.Lease
}

func (a *arrivals) record(_ context.Context, prev, _ store.Lease) {
	a.mu.Lock()
	a.prev = append(a.prev, prev)
	a.mu.Unlock()
}

// TestLeasePoolTakesMovedLeases: the new member's pool transfers a lease
// that is moving to it when the node presents the move's ticket, or no
// ticket at all (a stock client), and refuses a ticket of another move;
// it takes over a lease whose owner is not a member. Each arrival is
// reported with the record before it.
func TestLeasePoolTakesMovedLeases(t *testing.T) {
	ctx := testContext(t)
	st, err := boltstore.OpenDir(t.TempDir(), boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// ha1 is a member (its leases cannot be taken over); ha0 is not.
	if _, err := st.Join(ctx, store.Member{ID: "ha1", Site: "east", Capacity: 10, Healthy: true}, time.Minute); err != nil {
		t.Fatal(err)
	}
	pool := func(owner string, hook func(context.Context, store.Lease, store.Lease)) *LeasePool {
		p, err := NewLeasePool(LeasePoolConfig{Store: st, Owner: owner, Prefix: homePrefix, Arrived: hook})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var got arrivals
	ha1, ha2 := pool("ha1", nil), pool("ha2", got.record)
	mark := func(peer ike.ID, ticket []byte) netip.Addr {
		a, err := ha1.Assign(ctx, ike.AddressRequest{Peer: peer, IPv6: true})
		if err != nil {
			t.Fatal(err)
		}
		l, err := st.Lease(ctx, a.IPv6.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.MarkMoving(ctx, l.HoA, l.Revision, store.Move{From: "ha1", To: "ha2", Deadline: time.Now().Add(time.Minute),
			TraceContext: testTraceparent, TicketHash: hashOrNil(ticket)}); err != nil {
			t.Fatal(err)
		}
		return l.HoA
	}

	mn1, ticket := ike.FQDN("mn1.example"), []byte("the ticket of this move")
	hoa1 := mark(mn1, ticket)
	if _, err := ha2.Assign(ctx, ike.AddressRequest{Peer: mn1, IPv6: true, Ticket: []byte("another move's ticket")}); !errors.Is(err, ErrTicket) {
		t.Errorf("another ticket: %v, want ErrTicket", err)
	}
	if l, _ := st.Lease(ctx, hoa1); l.Owner != "ha1" || l.State != store.StateMoving {
		t.Errorf("lease after a refused ticket: %v", l)
	}
	a, err := ha2.Assign(ctx, ike.AddressRequest{Peer: mn1, IPv6: true, Ticket: ticket})
	if err != nil || a.IPv6.Addr() != hoa1 {
		t.Fatalf("with the move's ticket: %v, %v; want %v", a.IPv6, err, hoa1)
	}
	l, _ := st.Lease(ctx, hoa1)
	if l.Owner != "ha2" || l.State != store.StateBound || l.TraceContext != testTraceparent {
		t.Errorf("lease after the transfer: %v", l)
	}
	if rev, held := ha2.heldRevision(hoa1); !held || rev != l.Revision {
		t.Errorf("held revision %d (%v), lease %d", rev, held, l.Revision)
	}

	// A stock client presents no ticket: the lease moving here suffices.
	mn2 := ike.FQDN("mn2.example")
	hoa2 := mark(mn2, []byte("a ticket the client never shows"))
	if a, err := ha2.Assign(ctx, ike.AddressRequest{Peer: mn2, IPv6: true}); err != nil || a.IPv6.Addr() != hoa2 {
		t.Errorf("without a ticket: %v, %v; want %v", a.IPv6, err, hoa2)
	}

	// A lease of a member that is gone is taken over.
	mn3 := ike.FQDN("mn3.example")
	ha0 := pool("ha0", nil)
	a0, err := ha0.Assign(ctx, ike.AddressRequest{Peer: mn3, IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := ha2.Assign(ctx, ike.AddressRequest{Peer: mn3, IPv6: true}); err != nil || a.IPv6.Addr() != a0.IPv6.Addr() {
		t.Errorf("takeover: %v, %v; want %v", a.IPv6, err, a0.IPv6)
	}

	got.mu.Lock()
	defer got.mu.Unlock()
	if len(got.prev) != 3 || got.prev[0].MovingTo != "ha2" || got.prev[1].MovingTo != "ha2" ||
		got.prev[2].Owner != "ha0" || got.prev[2].State != store.StateBound {
		t.Errorf("arrivals reported: %v", got.prev)
	}
}

// TestLeasePoolTakesOverLapsedMoveOfGoneMember: a lease moving here whose
// deadline passed can no longer be transferred; when its owner is gone
// too (it died during the move, so nobody calls the move off), the node
// that attaches here gets its address by a takeover, as after any other
// member's failure. While the owner is a member, the lease stays its own.
func TestLeasePoolTakesOverLapsedMoveOfGoneMember(t *testing.T) {
	ctx := testContext(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	st, err := boltstore.OpenDir(t.TempDir(), boltstore.Options{NoSync: true, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Join(ctx, store.Member{ID: "ha1", Site: "east", Capacity: 10, Healthy: true}, time.Hour); err != nil {
		t.Fatal(err)
	}
	var got arrivals
	pools := map[string]*LeasePool{}
	for _, owner := range []string{"ha0", "ha1", "ha2"} {
		p, err := NewLeasePool(LeasePoolConfig{Store: st, Owner: owner, Prefix: homePrefix, Arrived: got.record})
		if err != nil {
			t.Fatal(err)
		}
		pools[owner] = p
	}
	// mn0's lease moves from ha0 (no member: it died) to ha2, mn1's from
	// ha1 (a member) to ha2; neither node reaches ha2 by the deadline.
	moving := func(from string, peer ike.ID) store.Lease {
		a, err := pools[from].Assign(ctx, ike.AddressRequest{Peer: peer, IPv6: true})
		if err != nil {
			t.Fatal(err)
		}
		l, err := st.Lease(ctx, a.IPv6.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if l, err = st.MarkMoving(ctx, l.HoA, l.Revision, store.Move{From: from, To: "ha2", Deadline: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		return l
	}
	mn0, mn1 := ike.FQDN("mn0.example"), ike.FQDN("mn1.example")
	l0, l1 := moving("ha0", mn0), moving("ha1", mn1)
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()

	a, err := pools["ha2"].Assign(ctx, ike.AddressRequest{Peer: mn0, IPv6: true})
	if err != nil || a.IPv6.Addr() != l0.HoA {
		t.Fatalf("node of a lapsed move from a member that is gone: %v, %v; want %v", a.IPv6, err, l0.HoA)
	}
	if l, _ := st.Lease(ctx, l0.HoA); l.Owner != "ha2" || l.State != store.StateBound {
		t.Errorf("lease after the takeover: %v", l)
	}
	if _, err := pools["ha2"].Assign(ctx, ike.AddressRequest{Peer: mn1, IPv6: true}); !errors.Is(err, store.ErrOwnerAlive) {
		t.Errorf("node of a lapsed move from a live member: %v, want ErrOwnerAlive", err)
	}
	if l, _ := st.Lease(ctx, l1.HoA); !l.Equal(l1) {
		t.Errorf("lease of a live member's lapsed move changed: %v, was %v", l, l1)
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	if len(got.prev) != 1 || got.prev[0].Owner != "ha0" {
		t.Errorf("arrivals reported: %v", got.prev)
	}
}

// bumpingStore changes a lease's attributes (as the old member's note of a
// node's care-of address does) just before the first Transfer of it, so
// that the Transfer's compare-and-swap finds a newer revision than the one
// the pool read.
type bumpingStore struct {
	store.Leases
	bumped bool
}

func (s *bumpingStore) Transfer(ctx context.Context, hoa netip.Addr, expected store.Revision, to string) (store.Lease, error) {
	if !s.bumped {
		s.bumped = true
		cur, err := s.Leases.Lease(ctx, hoa)
		if err != nil {
			return store.Lease{}, err
		}
		a := cur.Attributes
		a.CareOf = netip.MustParseAddrPort("[2001:db8:4::100]:4500")
		if _, err := s.Leases.SetAttributes(ctx, hoa, cur.Revision, a); err != nil {
			return store.Lease{}, err
		}
	}
	return s.Leases.Transfer(ctx, hoa, expected, to)
}

// TestLeasePoolTransferAfterConcurrentChange: the lease moving here
// changed between the pool's read and its Transfer (a revision conflict,
// not a refusal): the pool reads it again and transfers it, rather than
// answering the node INTERNAL_ADDRESS_FAILURE.
func TestLeasePoolTransferAfterConcurrentChange(t *testing.T) {
	ctx := testContext(t)
	st, err := boltstore.OpenDir(t.TempDir(), boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bump := &bumpingStore{Leases: st}
	ha1, err := NewLeasePool(LeasePoolConfig{Store: st, Owner: "ha1", Prefix: homePrefix})
	if err != nil {
		t.Fatal(err)
	}
	ha2, err := NewLeasePool(LeasePoolConfig{Store: bump, Owner: "ha2", Prefix: homePrefix})
	if err != nil {
		t.Fatal(err)
	}
	mn := ike.FQDN("mn.example")
	a, err := ha1.Assign(ctx, ike.AddressRequest{Peer: mn, IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.Lease(ctx, a.IPv6.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.MarkMoving(ctx, l.HoA, l.Revision, store.Move{From: "ha1", To: "ha2", Deadline: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	got, err := ha2.Assign(ctx, ike.AddressRequest{Peer: mn, IPv6: true, SuggestedIPv6: a.IPv6})
	if err != nil || got.IPv6 != a.IPv6 {
		t.Fatalf("assignment at the target: %v, %v; want %v", got.IPv6, err, a.IPv6)
	}
	if !bump.bumped {
		t.Fatal("the lease was not changed before the transfer")
	}
	if l, _ := st.Lease(ctx, a.IPv6.Addr()); l.Owner != "ha2" || l.State != store.StateBound {
		t.Errorf("lease after the transfer: %v", l)
	}
}
