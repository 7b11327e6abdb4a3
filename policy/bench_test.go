package policy

import (
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"
)

// benchView is a 16-member cluster over 4 sites with 256 client prefixes
// of three lengths per family, and a full distance table.
func benchView() View {
	var v View
	v.Self = "ha-00"
	for i := range 16 {
		v.Members = append(v.Members, Member{
			ID:       fmt.Sprintf("ha-%02d", i),
			Site:     fmt.Sprintf("site%d", i%4),
			Addrs:    []netip.Addr{netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x01, byte(i), 15: 1}), netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})},
			Capacity: 1000,
			Load:     300 + 37*i%200,
			Healthy:  true,
		})
	}
	for i := range 64 {
		site := fmt.Sprintf("site%d", i%4)
		v.Sites = append(v.Sites,
			SitePrefix{netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x0a, byte(i)}), 48), site},
			SitePrefix{netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x0b, byte(i), byte(i)}), 56), site},
			SitePrefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16), site},
			SitePrefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16, byte(i), 0}), 24), site},
		)
	}
	for a := range 4 {
		for b := range 4 {
			if a != b {
				v.Distances = append(v.Distances, Distance{fmt.Sprintf("site%d", a), fmt.Sprintf("site%d", b), uint32(10 * (a + b))})
			}
		}
	}
	return v
}

var sink Decision

func benchPolicy(b *testing.B) *Policy {
	p, err := New(DefaultConfig(), benchView())
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// The per-packet path: an IKE_SA_INIT from a client in another site.
func BenchmarkAtInit(b *testing.B) {
	p := benchPolicy(b)
	req := AtInit{Remote: netip.MustParseAddr("2001:db8:a07::1234")}
	b.ReportAllocs()
	for b.Loop() {
		sink = p.AtInit(req)
	}
	if sink.Action != ActionRedirect {
		b.Fatalf("benchmarked %v, want a redirect", sink)
	}
}

func BenchmarkAtInitAnycastIPv4(b *testing.B) {
	p := benchPolicy(b)
	req := AtInit{Remote: netip.MustParseAddr("172.16.5.9"), Anycast: true}
	b.ReportAllocs()
	for b.Loop() {
		sink = p.AtInit(req)
	}
}

func BenchmarkAtInitUnknownSite(b *testing.B) {
	p := benchPolicy(b)
	req := AtInit{Remote: netip.MustParseAddr("2001:db8:ffff::1")}
	b.ReportAllocs()
	for b.Loop() {
		sink = p.AtInit(req)
	}
}

func BenchmarkAtAuthLeaseElsewhere(b *testing.B) {
	p := benchPolicy(b)
	req := AtAuth{Remote: netip.MustParseAddr("2001:db8:a07::1234"), LeaseOwner: "ha-09", Identity: "mn@example.net"}
	b.ReportAllocs()
	for b.Loop() {
		sink = p.AtAuth(req)
	}
}

func BenchmarkReevaluate(b *testing.B) {
	p := benchPolicy(b)
	remote := netip.MustParseAddr("2001:db8:a07::1234")
	req := Reevaluate{Binding: Binding{Identity: "mn@example.net", Remote: remote, CoA: remote, ArrivedFrom: "ha-03", ArrivedAt: t0}, Now: t0.Add(time.Minute)}
	b.ReportAllocs()
	for b.Loop() {
		sink = p.Reevaluate(req)
	}
}

func BenchmarkExplain(b *testing.B) {
	p := benchPolicy(b)
	req := AtInit{Remote: netip.MustParseAddr("2001:db8:a07::1234")}
	b.ReportAllocs()
	for b.Loop() {
		sink = p.Explain(req)
	}
}

func BenchmarkWriteTable(b *testing.B) {
	d := benchPolicy(b).Explain(AtInit{Remote: netip.MustParseAddr("2001:db8:a07::1234")})
	b.ReportAllocs()
	for b.Loop() {
		if err := d.WriteTable(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNew(b *testing.B) {
	v := benchView()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(DefaultConfig(), v); err != nil {
			b.Fatal(err)
		}
	}
}

// Planning the drain of 1000 nodes.
func BenchmarkPlanDrain1000(b *testing.B) {
	p := benchPolicy(b)
	bs := nodes(1000, func(i int) netip.Addr {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x0a, byte(i % 64), 14: byte(i >> 8), 15: byte(i)})
	})
	b.ReportAllocs()
	for b.Loop() {
		if plan := p.PlanDrain(bs); len(plan.Moves) != len(bs) {
			b.Fatalf("%d moves", len(plan.Moves))
		}
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	l, err := NewLimiter(time.Microsecond, 4)
	if err != nil {
		b.Fatal(err)
	}
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(300 * time.Nanosecond)
		l.Allow(now)
	}
}
