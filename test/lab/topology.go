package lab

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// The project topology (the lab recipe netns/topo.sh):
//
//	mn ── visited link "west" ─┐
//	                            r ── home link (bridge br-home in r) ── ha1, ha2
//	mn ┄┄ visited link "east" ─┘ └── cn link ── cn
//
// r is the router. Each visited link is a bridge in r (br-west, br-east);
// the mobile node's one uplink (mn:eth0 ── r:r-mn) is a port of the bridge
// of the link it is on, so moving it re-plugs the cable in r and leaves mn
// with the same interface, as a real node roaming between access points.

// Addrs is an IPv6 and an IPv4 address of one host on one link.
type Addrs struct {
	V6 netip.Addr
	V4 netip.Addr
}

// Subnet is the IPv6 and the IPv4 prefix of a link.
type Subnet struct {
	V6 netip.Prefix
	V4 netip.Prefix
}

// Default prefixes (documentation ranges, RFC 3849 and RFC 5737). The east
// link exists only with TopologyConfig.East; the two visited links split
// 192.0.2.0/24.
var (
	DefaultWest = Subnet{netip.MustParsePrefix("2001:db8:2::/64"), netip.MustParsePrefix("192.0.2.0/25")}
	DefaultEast = Subnet{netip.MustParsePrefix("2001:db8:4::/64"), netip.MustParsePrefix("192.0.2.128/25")}
	DefaultHome = Subnet{netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParsePrefix("198.51.100.0/24")}
	DefaultCN   = Subnet{netip.MustParsePrefix("2001:db8:3::/64"), netip.MustParsePrefix("203.0.113.0/24")}
)

// hostNum is a host's number inside a link's IPv6 prefix (the interface
// identifier) and inside its IPv4 prefix, as topo.sh numbers them.
type hostNum struct{ v6, v4 uint64 }

var (
	routerNum = hostNum{0x1, 1}     // r on the visited and cn links: 2001:db8:2::1, 192.0.2.1
	mnNum     = hostNum{0x100, 100} // mn on a visited link: 2001:db8:2::100, 192.0.2.100
	cnNum     = hostNum{0x3, 3}     // cn: 2001:db8:3::3, 203.0.113.3
	homeRNum  = hostNum{0xfe, 1}    // r on the home link: 2001:db8:1::fe, 198.51.100.1
)

// haNum numbers home agent i (from 1): 2001:db8:1::<i>, 198.51.100.<10+i>.
func haNum(i int) hostNum { return hostNum{uint64(i), uint64(10 + i)} }

// Policy routing tables in r that send anycast traffic from each visited
// link to that link's nearer home agent.
const (
	TableWest = 100
	TableEast = 101
)

// TopologyConfig chooses the variant of the project topology. The zero
// value is topo.sh without NAT: one visited link, two home agents.
type TopologyConfig struct {
	// East adds the second visited link, so that mn can move.
	East bool
	// NAT44 and NAT66 make r masquerade what comes from the visited links
	// (mn then appears with r's address on the far links).
	NAT44, NAT66 bool
	// NATSites names the visited links ("west", "east") that NAT44 and
	// NAT66 apply to; empty means all of them.
	NATSites []string
	// HAs is the number of home agents on the home link; 0 means 2.
	HAs int
	// Anycast, if set, is given to every home agent (on lo), and r routes
	// it to ha1 for traffic from the west link and to ha2 for traffic
	// from the east link (policy routing, tables TableWest and TableEast),
	// so "the nearer agent" depends on where mn is. Either family may be
	// left zero. It must lie outside the lab's link prefixes.
	Anycast Addrs
	// Prefixes; zero values take the Default* prefixes.
	West, EastNet, Home, CN Subnet
}

// Site is a visited link.
type Site struct {
	Name   string
	Subnet Subnet
	Router Addrs  // r's addresses: mn's default gateways there
	MN     Addrs  // mn's addresses while attached there
	Bridge *Iface // the link's bridge in r
}

// Topology is the project topology, built by NewTopology.
type Topology struct {
	Lab *Lab

	MN, R, CN *Host
	HA1, HA2  *Host   // HA2 is nil with a single home agent
	HAs       []*Host // ha1, ha2, ...

	West, East *Site // East is nil unless configured

	Home       Subnet
	HomeRouter Addrs   // r on the home link
	HAAddrs    []Addrs // HAAddrs[i] belongs to HAs[i]
	CNNet      Subnet
	CNRouter   Addrs // r on the cn link
	CNAddr     Addrs
	Anycast    Addrs

	MNLink *Link // mn:eth0 ── r:r-mn
	site   *Site // where mn is attached; nil while detached
}

// NewTopology creates a lab for t and builds the project topology in it.
func NewTopology(t testing.TB, cfg TopologyConfig) *Topology {
	t.Helper()
	return New(t).Topology(cfg)
}

// Topology builds the project topology in the lab (hosts mn, r, ha1..haN,
// cn) and returns once every address is usable. mn starts on the west link.
func (l *Lab) Topology(cfg TopologyConfig) *Topology {
	l.t.Helper()
	if cfg.HAs == 0 {
		cfg.HAs = 2
	}
	def := func(s, d Subnet) Subnet {
		if !s.V6.IsValid() {
			s.V6 = d.V6
		}
		if !s.V4.IsValid() {
			s.V4 = d.V4
		}
		return s
	}
	cfg.West, cfg.EastNet = def(cfg.West, DefaultWest), def(cfg.EastNet, DefaultEast)
	cfg.Home, cfg.CN = def(cfg.Home, DefaultHome), def(cfg.CN, DefaultCN)

	tp := &Topology{Lab: l, Home: cfg.Home, CNNet: cfg.CN, Anycast: cfg.Anycast}
	tp.MN = l.Host("mn")
	tp.R = l.Host("r", Forwarding())
	for i := 1; i <= cfg.HAs; i++ {
		tp.HAs = append(tp.HAs, l.Host(fmt.Sprintf("ha%d", i)))
	}
	tp.HA1 = tp.HAs[0]
	if len(tp.HAs) > 1 {
		tp.HA2 = tp.HAs[1]
	}
	tp.CN = l.Host("cn")
	r := tp.R

	// Visited links: bridges in r; mn's uplink starts on west.
	tp.West = l.site(r, "west", cfg.West)
	if cfg.East {
		tp.East = l.site(r, "east", cfg.EastNet)
	}
	tp.MNLink = l.Link(tp.MN, "eth0", r, "r-mn")

	// Home link: bridge br-home in r, one port per home agent.
	br := r.Bridge("br-home")
	tp.HomeRouter = hostAddrs(l, cfg.Home, homeRNum)
	br.AddAddr(prefixOf(tp.HomeRouter.V6, cfg.Home.V6), prefixOf(tp.HomeRouter.V4, cfg.Home.V4))
	for i, ha := range tp.HAs {
		lk := l.Link(ha, "eth0", r, fmt.Sprintf("r-ha%d", i+1))
		lk.B.SetMaster(br)
		a := hostAddrs(l, cfg.Home, haNum(i+1))
		tp.HAAddrs = append(tp.HAAddrs, a)
		lk.A.AddAddr(prefixOf(a.V6, cfg.Home.V6), prefixOf(a.V4, cfg.Home.V4))
		ha.DefaultRoute(tp.HomeRouter.V6.String())
		ha.DefaultRoute(tp.HomeRouter.V4.String())
	}

	// cn link.
	lk := l.Link(tp.CN, "eth0", r, "r-cn")
	tp.CNRouter = hostAddrs(l, cfg.CN, routerNum)
	tp.CNAddr = hostAddrs(l, cfg.CN, cnNum)
	lk.B.AddAddr(prefixOf(tp.CNRouter.V6, cfg.CN.V6), prefixOf(tp.CNRouter.V4, cfg.CN.V4))
	lk.A.AddAddr(prefixOf(tp.CNAddr.V6, cfg.CN.V6), prefixOf(tp.CNAddr.V4, cfg.CN.V4))
	tp.CN.DefaultRoute(tp.CNRouter.V6.String())
	tp.CN.DefaultRoute(tp.CNRouter.V4.String())

	for _, s := range tp.Sites() {
		if len(cfg.NATSites) > 0 && !slices.Contains(cfg.NATSites, s.Name) {
			continue
		}
		if cfg.NAT44 {
			r.Masquerade(s.Subnet.V4.String(), s.Bridge.Name)
		}
		if cfg.NAT66 {
			r.Masquerade(s.Subnet.V6.String(), s.Bridge.Name)
		}
	}
	tp.anycast()
	tp.AttachMN(tp.West)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, ha := range tp.HAs {
		tp.waitAddrs(ctx, ha, tp.HAAddrs[i])
	}
	tp.waitAddrs(ctx, tp.CN, tp.CNAddr)
	return tp
}

func (l *Lab) site(r *Host, name string, sn Subnet) *Site {
	l.t.Helper()
	s := &Site{
		Name:   name,
		Subnet: sn,
		Router: hostAddrs(l, sn, routerNum),
		MN:     hostAddrs(l, sn, mnNum),
		Bridge: r.Bridge("br-" + name),
	}
	s.Bridge.AddAddr(prefixOf(s.Router.V6, sn.V6), prefixOf(s.Router.V4, sn.V4))
	return s
}

func (tp *Topology) anycast() {
	l := tp.Lab
	l.t.Helper()
	for _, a := range []netip.Addr{tp.Anycast.V6, tp.Anycast.V4} {
		if !a.IsValid() {
			continue
		}
		for _, s := range append(tp.Sites(), &Site{Subnet: tp.Home}, &Site{Subnet: tp.CNNet}) {
			if s.Subnet.V6.Contains(a) || s.Subnet.V4.Contains(a) {
				l.t.Fatalf("lab: anycast address %s lies inside link prefix %v", a, s.Subnet)
			}
		}
		host := netip.PrefixFrom(a, a.BitLen()).String()
		for _, ha := range tp.HAs {
			ha.Iface("lo").AddAddr(host)
		}
		via := func(i int) string {
			if a.Is6() {
				return tp.HAAddrs[i].V6.String()
			}
			return tp.HAAddrs[i].V4.String()
		}
		tp.R.AddRoute(Route{Dst: host, Via: via(0)})
		if tp.East == nil || len(tp.HAs) < 2 {
			continue
		}
		for _, s := range []struct {
			site  *Site
			table int
			ha    int
		}{{tp.West, TableWest, 0}, {tp.East, TableEast, 1}} {
			tp.R.AddRoute(Route{Dst: host, Via: via(s.ha), Table: s.table})
			from := s.site.Subnet.V6
			if a.Is4() {
				from = s.site.Subnet.V4
			}
			tp.R.AddRule(Rule{From: from.String(), Table: s.table, Priority: 1000 + s.table})
		}
	}
}

// Sites lists the visited links: west, then east if configured.
func (tp *Topology) Sites() []*Site {
	if tp.East != nil {
		return []*Site{tp.West, tp.East}
	}
	return []*Site{tp.West}
}

// Site is the visited link mn is attached to, nil while detached.
func (tp *Topology) Site() *Site { return tp.site }

// MNAddrs are mn's current care-of addresses (zero while detached).
func (tp *Topology) MNAddrs() Addrs {
	if tp.site == nil {
		return Addrs{}
	}
	return tp.site.MN
}

// DetachMN unplugs mn: its uplink goes down (mn loses carrier and its
// routes) and leaves every bridge in r, and mn's global addresses are
// removed.
func (tp *Topology) DetachMN() {
	tp.Lab.t.Helper()
	tp.MNLink.A.Down()
	tp.MNLink.A.FlushAddrs()
	tp.MNLink.B.NoMaster()
	tp.site = nil
}

// AttachMN plugs mn into the visited link s: r's end of mn's uplink joins
// the link's bridge, mn gets the link's addresses and default routes, and
// AttachMN returns once they are usable.
func (tp *Topology) AttachMN(s *Site) {
	tp.Lab.t.Helper()
	if s == nil {
		tp.Lab.t.Fatalf("lab: AttachMN: nil site")
	}
	mn := tp.MNLink.A
	tp.MNLink.B.SetMaster(s.Bridge)
	mn.AddAddr(prefixOf(s.MN.V6, s.Subnet.V6), prefixOf(s.MN.V4, s.Subnet.V4))
	mn.Up()
	tp.MN.DefaultRoute(s.Router.V6.String())
	tp.MN.DefaultRoute(s.Router.V4.String())
	tp.site = s
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tp.waitAddrs(ctx, tp.MN, s.MN)
}

// MoveMN moves mn from its visited link to s (DetachMN, then AttachMN):
// mn keeps its interface and changes its care-of addresses, as a node
// that roams. Its open connections from the old addresses break, unless
// something (Mobile IPv6) carries them.
func (tp *Topology) MoveMN(s *Site) {
	tp.Lab.t.Helper()
	tp.DetachMN()
	tp.AttachMN(s)
}

func (tp *Topology) waitAddrs(ctx context.Context, h *Host, a Addrs) {
	tp.Lab.t.Helper()
	for _, x := range []netip.Addr{a.V6, a.V4} {
		if err := h.WaitAddr(ctx, x.String()); err != nil {
			tp.Lab.t.Fatalf("lab: %v", err)
		}
	}
}

// hostAddrs returns the addresses with host number n inside the subnet.
func hostAddrs(l *Lab, s Subnet, n hostNum) Addrs {
	l.t.Helper()
	v6, ok6 := addHost(s.V6, n.v6)
	v4, ok4 := addHost(s.V4, n.v4)
	if !ok6 || !ok4 {
		l.t.Fatalf("lab: subnet %s, %s has no host number %#x, %d", s.V6, s.V4, n.v6, n.v4)
	}
	return Addrs{v6, v4}
}

// addHost adds n to the first address of p; ok is false when the result
// falls outside p or is p's first address.
func addHost(p netip.Prefix, n uint64) (netip.Addr, bool) {
	b := p.Masked().Addr().AsSlice()
	carry := n
	for i := len(b) - 1; i >= 0 && carry > 0; i-- {
		sum := uint64(b[i]) + carry&0xff
		b[i] = byte(sum)
		carry = carry>>8 + sum>>8
	}
	a, _ := netip.AddrFromSlice(b)
	return a, carry == 0 && n > 0 && p.Contains(a)
}

// prefixOf renders addr with the length of the link's prefix.
func prefixOf(addr netip.Addr, p netip.Prefix) string {
	return netip.PrefixFrom(addr, p.Bits()).String()
}
