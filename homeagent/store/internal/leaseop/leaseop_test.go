package leaseop

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

func TestPlanAcquire(t *testing.T) {
	pool, _ := store.PrefixRange(netip.MustParsePrefix("2001:db8::/64"), 1, 100)
	in := netip.MustParseAddr("2001:db8::7")
	out := netip.MustParseAddr("2001:db8:9::7")
	lease := func(hoa netip.Addr, identity, owner string, st store.LeaseState) store.Lease {
		l := store.Lease{HoA: hoa, Identity: identity, Owner: owner, State: st, Revision: 3}
		if st == store.StateMoving {
			l.MovingTo = "ha3"
		}
		return l
	}
	other := netip.MustParseAddr("2001:db8::8")
	none := store.Lease{}
	for _, tc := range []struct {
		name      string
		suggested netip.Addr
		require   bool
		mine, sug store.Lease
		step      Step
		err       error
	}{
		{"new identity, no suggestion", netip.Addr{}, false, none, none, Allocate, nil},
		{"own bound lease", netip.Addr{}, false, lease(other, "mn", "ha1", store.StateBound), none, Keep, nil},
		{"own moving lease", netip.Addr{}, false, lease(other, "mn", "ha1", store.StateMoving), none, Keep, nil},
		{"own released lease", netip.Addr{}, false, lease(other, "mn", "", store.StateReleased), none, BindExisting, nil},
		{"bound elsewhere", netip.Addr{}, false, lease(other, "mn", "ha2", store.StateBound), none, 0, store.ErrOwnedElsewhere},
		{"moving elsewhere", netip.Addr{}, false, lease(other, "mn", "ha2", store.StateMoving), none, 0, store.ErrOwnedElsewhere},
		{"existing lease beats suggestion", in, false, lease(other, "mn", "ha1", store.StateBound), none, Keep, nil},
		{"required differs from own", in, true, lease(other, "mn", "ha1", store.StateBound), none, 0, store.ErrState},
		{"required equals own", other, true, lease(other, "mn", "ha1", store.StateBound), none, Keep, nil},
		{"free suggestion", in, false, none, none, TakeSuggested, nil},
		{"released suggestion", in, false, none, lease(in, "x", "", store.StateReleased), TakeSuggested, nil},
		{"taken suggestion", in, false, none, lease(in, "x", "ha1", store.StateBound), Allocate, nil},
		{"taken suggestion, required", in, true, none, lease(in, "x", "ha1", store.StateBound), 0, store.ErrAddressInUse},
		{"suggestion outside the pool", out, false, none, none, Allocate, nil},
	} {
		req := store.AcquireRequest{Identity: "mn", Owner: "ha1", Pool: pool, Suggested: tc.suggested, RequireSuggested: tc.require}
		step, err := PlanAcquire(req, tc.mine, tc.sug)
		if step != tc.step || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%s: step %v err %v, want %v %v", tc.name, step, err, tc.step, tc.err)
		}
	}
}

func TestTransitionsKeepIdentityAndAddress(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := store.Lease{HoA: netip.MustParseAddr("2001:db8::1"), Identity: "mn", Owner: "ha1", State: store.StateBound, Revision: 5, CreatedAt: now}
	m, err := MarkMoving(l, l.HoA, 5, store.Move{From: "ha1", To: "ha2", Deadline: now.Add(time.Second), TicketHash: []byte{1}}, now)
	if err != nil {
		t.Fatal(err)
	}
	m.Revision = 6
	tr, err := Transfer(m, m.HoA, 6, "ha2", now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if tr.HoA != l.HoA || tr.Identity != l.Identity || !tr.CreatedAt.Equal(now) || tr.Owner != "ha2" || tr.TicketHash != nil {
		t.Fatalf("transfer gave %v", tr)
	}
	// The deadline is inclusive; a nanosecond later the move lapsed.
	if _, err := Transfer(m, m.HoA, 6, "ha2", now.Add(time.Second+1)); !errors.Is(err, store.ErrState) {
		t.Fatalf("transfer after the deadline: %v", err)
	}
	// The ticket hash is copied, not aliased.
	h := []byte{1, 2}
	m2, _ := MarkMoving(l, l.HoA, 5, store.Move{From: "ha1", To: "ha2", Deadline: now, TicketHash: h}, now)
	h[0] = 9
	if m2.TicketHash[0] != 1 {
		t.Fatal("MarkMoving aliases the caller's ticket hash")
	}
}
