package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// A random cluster and clients for the property and model tests. Views
// are small (1-8 members, 1-4 sites) and loads are small numbers, so that
// equal distances and equal load ratios, the cases where rules interact,
// are common.

type genOpts struct {
	bigCapacity bool // capacities 100-1000 instead of 0-10
}

type scenario struct {
	view    View // Self is set per use
	cfg     Config
	anycast netip.Addr
	clients []netip.Addr
}

// anycastFor returns the cluster's anycast address of remote's family.
func (sc scenario) anycastFor(remote netip.Addr) netip.Addr {
	if remote.Is4() {
		return netip.MustParseAddr("192.0.2.254")
	}
	return sc.anycast
}

func genScenario(r *rand.Rand, o genOpts) scenario {
	nSites := 1 + r.IntN(4)
	site := func() string { return fmt.Sprintf("s%d", r.IntN(nSites)) }
	var v View
	nMembers := 1 + r.IntN(8)
	for i := range nMembers {
		m := Member{
			// IDs in random order relative to the member index.
			ID:       fmt.Sprintf("ha-%02d", r.IntN(90)*nMembers+i),
			Site:     site(),
			Healthy:  r.IntN(10) < 8,
			Draining: r.IntN(10) < 2,
		}
		if r.IntN(10) < 8 {
			m.Addrs = append(m.Addrs, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x01, byte(i), 15: 1}))
		}
		if r.IntN(10) < 6 {
			m.Addrs = append(m.Addrs, netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i)}))
		}
		if r.IntN(10) < 1 {
			m.Addrs = append(m.Addrs, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x02, byte(i), 15: 1}))
		}
		if r.IntN(10) < 2 {
			m.NATAddrs = append(m.NATAddrs, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(1 + i)}), uint16(4500+i)))
		}
		if r.IntN(10) < 1 {
			m.NATAddrs = append(m.NATAddrs, netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x03, byte(i), 15: 1}), uint16(4600+i)))
		}
		if o.bigCapacity {
			m.Capacity = 100 + r.IntN(901)
			m.Load = r.IntN(m.Capacity + 1)
		} else {
			m.Capacity = r.IntN(11)
			m.Load = r.IntN(m.Capacity + 2)
		}
		v.Members = append(v.Members, m)
	}
	for s := range nSites {
		if r.IntN(10) < 8 {
			v.Sites = append(v.Sites, SitePrefix{netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x0a, byte(s)}), 48), fmt.Sprintf("s%d", s)})
		}
		if r.IntN(10) < 6 {
			v.Sites = append(v.Sites, SitePrefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(s), 0, 0}), 16), fmt.Sprintf("s%d", s)})
		}
		// A longer prefix inside, mapped to another site.
		if r.IntN(10) < 2 {
			v.Sites = append(v.Sites, SitePrefix{netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x0a, byte(s), 0, 1}), 64), site()})
		}
	}
	seen := map[[2]string]bool{}
	for range r.IntN(2 * nSites * nSites) {
		d := Distance{site(), site(), uint32(r.IntN(5) * 25)}
		if k := [2]string{d.From, d.To}; !seen[k] {
			seen[k] = true
			v.Distances = append(v.Distances, d)
		}
	}
	cfg := DefaultConfig()
	cfg.LoadMargin = []float64{0, 0.1, 0.2, 0.5}[r.IntN(4)]
	cfg.DistanceMargin = uint32([]int{0, 0, 10, 30}[r.IntN(4)])
	cfg.DefaultDistance = uint32([]int{1000, 60}[r.IntN(2)])
	cfg.CrossFamily = r.IntN(4) == 0
	sc := scenario{view: v, cfg: cfg, anycast: netip.MustParseAddr("2001:db8:ac::1")}
	for range 6 {
		sc.clients = append(sc.clients, genClient(r, nSites))
	}
	return sc
}

func genClient(r *rand.Rand, nSites int) netip.Addr {
	s, host := byte(r.IntN(nSites+1)), byte(1+r.IntN(250)) // s == nSites: no site prefix
	sub := byte(r.IntN(2))
	if r.IntN(2) == 0 {
		return netip.AddrFrom4([4]byte{10, s, sub, host})
	}
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x0a, s, 0, sub, 15: host})
}

// withSelf returns the scenario's view as seen by member id.
func (sc scenario) withSelf(id string) View {
	v := sc.view
	v.Self = id
	return v
}

// sameFamilyLocal returns the address a client of remote's family uses to
// reach member m: the first standard address of that family, else a
// forwarded one; false if m has neither.
func sameFamilyLocal(m Member, remote netip.Addr) (netip.Addr, bool) {
	for _, a := range m.Addrs {
		if a.Is4() == remote.Unmap().Is4() {
			return a, true
		}
	}
	for _, ap := range m.NATAddrs {
		if ap.Addr().Is4() == remote.Unmap().Is4() {
			return ap.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// localOf is sameFamilyLocal, falling back to any address of m.
func localOf(m Member, remote netip.Addr) (netip.Addr, bool) {
	if a, ok := sameFamilyLocal(m, remote); ok {
		return a, true
	}
	if len(m.Addrs) > 0 {
		return m.Addrs[0], true
	}
	if len(m.NATAddrs) > 0 {
		return m.NATAddrs[0].Addr(), true
	}
	return netip.Addr{}, false
}

func memberByID(v View, id string) (Member, bool) {
	i := slices.IndexFunc(v.Members, func(m Member) bool { return m.ID == id })
	if i < 0 {
		return Member{}, false
	}
	return v.Members[i], true
}

// memberWithAddr returns the ID of the member owning a, or "".
func memberWithAddr(v View, a netip.Addr) string {
	for _, m := range v.Members {
		if slices.Contains(m.Addrs, a) || slices.ContainsFunc(m.NATAddrs, func(ap netip.AddrPort) bool { return ap.Addr() == a }) {
			return m.ID
		}
	}
	return ""
}

// genRedirectedFrom picks a REDIRECTED_FROM: none, the anycast address,
// or an address of a random member (possibly self).
func genRedirectedFrom(r *rand.Rand, sc scenario) netip.Addr {
	switch r.IntN(4) {
	case 0, 1:
		return netip.Addr{}
	case 2:
		return sc.anycast
	}
	m := sc.view.Members[r.IntN(len(sc.view.Members))]
	a, _ := localOf(m, sc.clients[0])
	return a
}

// genLease picks a lease owner or moving target: none, a member, or a
// member that left the view.
func genLease(r *rand.Rand, v View) string {
	switch r.IntN(4) {
	case 0:
		return ""
	case 1:
		return "gone"
	}
	return v.Members[r.IntN(len(v.Members))].ID
}

var epoch = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func genBinding(r *rand.Rand, sc scenario, remote netip.Addr) Binding {
	b := Binding{
		Identity:    fmt.Sprintf("mn%d@example.net", r.IntN(1000)),
		HoA:         netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 15: byte(r.IntN(256))}),
		CoA:         remote,
		Remote:      remote,
		PortCapable: r.IntN(3) == 0,
	}
	if r.IntN(2) == 0 {
		b.ArrivedFrom = genLease(r, sc.view)
		b.ArrivedAt = epoch.Add(-time.Duration(r.IntN(600)) * time.Second)
	}
	return b
}
