package record

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

// sampleLeases returns one lease of each state and family, with every
// optional field used somewhere.
func sampleLeases() []store.Lease {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)
	return []store.Lease{
		{HoA: netip.MustParseAddr("2001:db8:1::1"), Identity: "mn1@example.com", Owner: "ha1", State: store.StateBound,
			CreatedAt: t0, UpdatedAt: t0, Revision: 1},
		{HoA: netip.MustParseAddr("2001:db8:1::2"), Identity: "CN=mn2, O=Example", Owner: "ha1", State: store.StateMoving,
			MovingTo: "ha2", Deadline: t0.Add(30 * time.Second),
			TraceContext: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			Attributes:   store.Attributes{CareOf: netip.MustParseAddrPort("[2001:db8:2::9]:4500"), TicketHash: []byte{0xde, 0xad}},
			CreatedAt:    t0, UpdatedAt: t0.Add(time.Second), Revision: 42},
		{HoA: netip.MustParseAddr("192.0.2.10"), Identity: "mn3", State: store.StateReleased,
			Attributes: store.Attributes{CareOf: netip.MustParseAddrPort("198.51.100.4:4500")},
			CreatedAt:  t0, UpdatedAt: t0.Add(time.Hour), Revision: 1 << 40},
	}
}

func TestLeaseRoundTrip(t *testing.T) {
	for _, l := range sampleLeases() {
		got, err := DecodeLease(must(EncodeLease(l, true)))
		if err != nil || !got.Equal(l) {
			t.Fatalf("round trip of %v: %v, %v", l, got, err)
		}
		got, err = DecodeLease(must(EncodeLease(l, false)))
		l.Revision = 0
		if err != nil || !got.Equal(l) {
			t.Fatalf("round trip without revision of %v: %v, %v", l, got, err)
		}
	}
}

func TestLeaseRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		var a [16]byte
		for i := range a {
			a[i] = byte(r.IntN(256))
		}
		l := store.Lease{HoA: netip.AddrFrom16(a), Identity: string(rune('a' + r.IntN(26))), Revision: store.Revision(r.Int64N(1 << 62))}
		if r.IntN(2) == 0 {
			l.HoA = netip.AddrFrom4([4]byte(a[:4]))
		}
		if l.HoA.Is4In6() {
			continue
		}
		l.CreatedAt = time.Unix(r.Int64N(1<<33), r.Int64N(1e9)).UTC()
		l.UpdatedAt = l.CreatedAt
		switch r.IntN(3) {
		case 0:
			l.State, l.Owner = store.StateBound, "ha1"
		case 1:
			l.State, l.Owner, l.MovingTo, l.Deadline = store.StateMoving, "ha1", "ha2", l.CreatedAt.Add(time.Minute)
		default:
			l.State = store.StateReleased
		}
		got, err := DecodeLease(must(EncodeLease(l, true)))
		if err != nil || !got.Equal(l) {
			t.Fatalf("round trip of %v: %v, %v", l, got, err)
		}
	}
}

func TestDecodeLeaseRejects(t *testing.T) {
	for name, v := range map[string]string{
		"not JSON":              `{`,
		"empty":                 ``,
		"version 2":             `{"v":2,"hoa":"2001:db8::1","identity":"a","owner":"h","state":"bound"}`,
		"no address":            `{"v":1,"identity":"a","owner":"h","state":"bound"}`,
		"mapped address":        `{"v":1,"hoa":"::ffff:192.0.2.1","identity":"a","owner":"h","state":"bound"}`,
		"no identity":           `{"v":1,"hoa":"2001:db8::1","owner":"h","state":"bound"}`,
		"unknown state":         `{"v":1,"hoa":"2001:db8::1","identity":"a","owner":"h","state":"lost"}`,
		"no state":              `{"v":1,"hoa":"2001:db8::1","identity":"a","owner":"h"}`,
		"bound without owner":   `{"v":1,"hoa":"2001:db8::1","identity":"a","state":"bound"}`,
		"moving without target": `{"v":1,"hoa":"2001:db8::1","identity":"a","owner":"h","state":"moving","deadline":"2026-01-01T00:00:00Z"}`,
		"released with owner":   `{"v":1,"hoa":"2001:db8::1","identity":"a","owner":"h","state":"released"}`,
		"negative revision":     `{"v":1,"hoa":"2001:db8::1","identity":"a","owner":"h","state":"bound","revision":-4}`,
		"bad care-of":           `{"v":1,"hoa":"2001:db8::1","identity":"a","owner":"h","state":"bound","care_of":"x"}`,
	} {
		if _, err := DecodeLease([]byte(v)); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

func TestMemberRoundTrip(t *testing.T) {
	m := store.Member{
		ID: "ha1", Site: "west", Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::1")},
		NATAddrs: []netip.AddrPort{netip.MustParseAddrPort("203.0.113.1:4500")},
		Capacity: 10, Load: 2, Healthy: true, Draining: true, Heartbeat: time.Unix(1_800_000_000, 5).UTC(),
	}
	got, err := DecodeMember(must(EncodeMember(m)))
	if err != nil || !got.Equal(m) {
		t.Fatalf("round trip %+v: %+v, %v", m, got, err)
	}
	for _, v := range []string{`{"v":1}`, `{"v":3,"id":"x"}`, `[]`, `{"v":1,"id":"x","addrs":["nope"]}`} {
		if _, err := DecodeMember([]byte(v)); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("DecodeMember(%s): %v", v, err)
		}
	}
	for _, bad := range []store.Member{{}, {ID: "a", Capacity: -1}, {ID: "a", Addrs: []netip.Addr{{}}}, {ID: "a", NATAddrs: []netip.AddrPort{{}}}} {
		if err := CheckMember(bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CheckMember(%+v): %v", bad, err)
		}
	}
}

func TestAddrKeysSortLikeAddresses(t *testing.T) {
	addrs := []string{"192.0.2.1", "192.0.2.10", "198.51.100.1", "2001:db8::1", "2001:db8::2", "2001:db8::1:0", "2001:db9::"}
	for i := 1; i < len(addrs); i++ {
		a, b := netip.MustParseAddr(addrs[i-1]), netip.MustParseAddr(addrs[i])
		if bytes.Compare(AddrKey(a), AddrKey(b)) >= 0 || AddrText(a) >= AddrText(b) {
			t.Errorf("keys of %v and %v out of order", a, b)
		}
	}
	for _, s := range addrs {
		a := netip.MustParseAddr(s)
		if got, err := ParseAddrKey(AddrKey(a)); err != nil || got != a {
			t.Errorf("ParseAddrKey(AddrKey(%v)) = %v, %v", a, got, err)
		}
		if got, err := ParseAddrText(AddrText(a)); err != nil || got != a {
			t.Errorf("ParseAddrText(AddrText(%v)) = %v, %v", a, got, err)
		}
	}
	if AddrText(netip.MustParseAddr("192.0.2.1")) != "4/c0000201" {
		t.Errorf("AddrText(192.0.2.1) = %s", AddrText(netip.MustParseAddr("192.0.2.1")))
	}
	for _, bad := range []string{"", "4/", "6/c0000201", "4/C0000201", "4/c00002", "5/c0000201", "4c0000201", "4/zz000201"} {
		if _, err := ParseAddrText(bad); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("ParseAddrText(%q): %v", bad, err)
		}
	}
	for _, bad := range [][]byte{nil, {4}, {6, 192, 0, 2, 1}, {4, 1, 2, 3, 4, 5}} {
		if _, err := ParseAddrKey(bad); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("ParseAddrKey(%x): %v", bad, err)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestEncodeRejectsUnrepresentableTimes(t *testing.T) {
	l := sampleLeases()[1]
	l.Deadline = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := EncodeLease(l, true); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("deadline in the year 10000: %v", err)
	}
	l.Deadline, l.State = time.Time{}, 0
	if _, err := EncodeLease(l, true); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("state 0: %v", err)
	}
}
