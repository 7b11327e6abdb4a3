package store_test

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

func TestNewPrefixPool(t *testing.T) {
	for _, tc := range []struct {
		prefix      string
		first, last string
		size        uint64
	}{
		// RFC 4291 §2.6.1 Subnet-Router anycast (host 0) and the RFC 2526
		// reserved subnet anycast addresses (top 128) are left out.
		{"2001:db8:1::/64", "2001:db8:1::1", "2001:db8:1::ffff:ffff:ffff:ff7f", 1<<64 - 129},
		{"2001:db8:1::ff00/120", "2001:db8:1::ff01", "2001:db8:1::ff7f", 127},
		{"2001:db8:1::1:0/112", "2001:db8:1::1:1", "2001:db8:1::1:ff7f", 0xff7f},
		{"2001:db8::/127", "2001:db8::", "2001:db8::1", 2},
		{"2001:db8::5/128", "2001:db8::5", "2001:db8::5", 1},
		// IPv4: network and broadcast addresses are left out.
		{"192.0.2.0/24", "192.0.2.1", "192.0.2.254", 254},
		{"198.51.100.7/24", "198.51.100.1", "198.51.100.254", 254},
		{"192.0.2.8/30", "192.0.2.9", "192.0.2.10", 2},
		{"192.0.2.8/31", "192.0.2.8", "192.0.2.9", 2},
		{"192.0.2.8/32", "192.0.2.8", "192.0.2.8", 1},
		// Short prefixes: host offsets stop at 2^64-1.
		{"2001:db8::/48", "2001:db8::1", "2001:db8::ffff:ffff:ffff:ff7f", 1<<64 - 129},
	} {
		p, err := store.NewPrefixPool(netip.MustParsePrefix(tc.prefix))
		if err != nil {
			t.Fatalf("%s: %v", tc.prefix, err)
		}
		if p.First != netip.MustParseAddr(tc.first) || p.Last != netip.MustParseAddr(tc.last) || p.Size() != tc.size {
			t.Errorf("NewPrefixPool(%s) = %v size %d, want %s-%s size %d", tc.prefix, p, p.Size(), tc.first, tc.last, tc.size)
		}
	}
}

func TestPrefixRange(t *testing.T) {
	p, err := store.PrefixRange(netip.MustParsePrefix("2001:db8:1::/64"), 0x1000, 0x1fff)
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != "2001:db8:1::1000-2001:db8:1::1fff" || p.Size() != 0x1000 || p.Family() != store.IPv6 {
		t.Fatalf("pool %v size %d", p, p.Size())
	}
	for a, want := range map[string]bool{
		"2001:db8:1::fff": false, "2001:db8:1::1000": true, "2001:db8:1::1abc": true,
		"2001:db8:1::1fff": true, "2001:db8:1::2000": false, "192.0.2.1": false, "::ffff:192.0.2.1": false,
	} {
		if got := p.Contains(netip.MustParseAddr(a)); got != want {
			t.Errorf("Contains(%s) = %v", a, got)
		}
	}
	// Carry from the low into the high half of the address.
	p, err = store.PrefixRange(netip.MustParsePrefix("2001:db8::/32"), 1<<64-1, 1<<64-1)
	if err != nil {
		t.Fatal(err)
	}
	if p.First != netip.MustParseAddr("2001:db8::ffff:ffff:ffff:ffff") {
		t.Fatalf("offset 2^64-1 in a /32: %v", p.First)
	}
}

func TestPoolInvalid(t *testing.T) {
	v6 := netip.MustParsePrefix("2001:db8:1::/120")
	for name, f := range map[string]func() (store.Pool, error){
		"first after last": func() (store.Pool, error) { return store.PrefixRange(v6, 9, 8) },
		"last outside":     func() (store.Pool, error) { return store.PrefixRange(v6, 1, 256) },
		"invalid prefix":   func() (store.Pool, error) { return store.NewPrefixPool(netip.Prefix{}) },
		"mapped prefix":    func() (store.Pool, error) { return store.NewPrefixPool(netip.MustParsePrefix("::ffff:192.0.2.0/120")) },
		"mixed families": func() (store.Pool, error) {
			return store.NewRangePool(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"))
		},
		"reversed range": func() (store.Pool, error) {
			return store.NewRangePool(netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("192.0.2.1"))
		},
		"zone in an address": func() (store.Pool, error) {
			return store.NewRangePool(netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("fe80::9%eth0"))
		},
	} {
		if _, err := f(); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if (store.Pool{}).Size() != 0 || (store.Pool{}).Contains(netip.MustParseAddr("192.0.2.1")) {
		t.Error("the zero pool is not empty")
	}
}

func TestRangePool(t *testing.T) {
	p, err := store.NewRangePool(netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.200"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Size() != 191 || p.Family() != store.IPv4 || !p.Contains(netip.MustParseAddr("192.0.2.200")) || p.Contains(netip.MustParseAddr("192.0.2.201")) {
		t.Fatalf("pool %v size %d", p, p.Size())
	}
}

func TestLeaseStateText(t *testing.T) {
	for _, s := range []store.LeaseState{store.StateBound, store.StateMoving, store.StateReleased} {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back store.LeaseState
		if err := back.UnmarshalText(b); err != nil || back != s || string(b) != s.String() {
			t.Errorf("%v: text %q back %v, %v", s, b, back, err)
		}
	}
	if _, err := store.LeaseState(0).MarshalText(); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("state 0 marshals: %v", err)
	}
	var s store.LeaseState
	if err := s.UnmarshalText([]byte("gone")); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("unknown state name: %v", err)
	}
}

func TestFamilyOf(t *testing.T) {
	for a, want := range map[string]store.Family{
		"192.0.2.1": store.IPv4, "2001:db8::1": store.IPv6, "::ffff:192.0.2.1": 0, "fe80::1%eth0": 0,
	} {
		if got := store.FamilyOf(netip.MustParseAddr(a)); got != want {
			t.Errorf("FamilyOf(%s) = %v, want %v", a, got, want)
		}
	}
	if store.FamilyOf(netip.Addr{}) != 0 {
		t.Error("invalid address has a family")
	}
}

func TestSentinel(t *testing.T) {
	wrapped := fmt.Errorf("outer: %w", store.Errorf("acquire", netip.Addr{}, store.Lease{}, store.ErrPoolExhausted, "full"))
	if store.Sentinel(wrapped) != store.ErrPoolExhausted {
		t.Fatalf("Sentinel(%v) = %v", wrapped, store.Sentinel(wrapped))
	}
	if store.Sentinel(errors.New("other")) != nil || store.Sentinel(nil) != nil {
		t.Fatal("Sentinel of a foreign error is not nil")
	}
}

func TestLeaseErrorWrapsSentinel(t *testing.T) {
	l := store.Lease{HoA: netip.MustParseAddr("2001:db8::1"), Identity: "mn", Revision: 7}
	err := error(store.Errorf("transfer", netip.Addr{}, l, store.ErrConflict, "caller read %d", 6))
	var le *store.LeaseError
	if !errors.Is(err, store.ErrConflict) || !errors.As(err, &le) || le.Lease.Revision != 7 || le.HoA != l.HoA {
		t.Fatalf("error %v does not wrap ErrConflict with the lease", err)
	}
	if got, want := err.Error(), "transfer 2001:db8::1: store: revision conflict: caller read 6"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}
