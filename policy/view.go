package policy

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// ErrInvalidView is wrapped by every error New returns for a bad View.
var ErrInvalidView = errors.New("invalid cluster view")

// ViewError locates the part of a View that is unusable. It wraps
// ErrInvalidView.
type ViewError struct {
	Path   string // e.g. "Members[2].Addrs[0]"
	Reason string
}

// Error returns "policy: view <Path>: <Reason>".
func (e *ViewError) Error() string { return "policy: view " + e.Path + ": " + e.Reason }

// Unwrap returns ErrInvalidView.
func (e *ViewError) Unwrap() error { return ErrInvalidView }

// View is the cluster as one home agent sees it: the members with their
// load and health, where clients are (site prefixes) and how far sites are
// from each other. Every member of a consistent cluster computes the same
// placement from the same View (only Self differs), which is what keeps
// redirects loop-free.
type View struct {
	// Self is the ID of the member that takes the decisions.
	Self string `json:"self"`
	// Members lists every home agent of the cluster, Self included. Their
	// order does not matter.
	Members []Member `json:"members"`
	// Sites maps client prefixes to sites; the longest matching prefix
	// wins. IPv4 prefixes are written in IPv4 form (not ::ffff:0:0/96).
	// A client address that matches none has an unknown site: every
	// member is then at Config.DefaultDistance. Add 0.0.0.0/0 and ::/0 for
	// a catch-all site.
	Sites []SitePrefix `json:"sites,omitempty"`
	// Distances lists the cost from a client's site to a member's site.
	// A pair given one way also holds the other way unless listed there
	// too. A site is at distance 0 from itself unless listed; unlisted
	// pairs are at Config.DefaultDistance.
	Distances []Distance `json:"distances,omitempty"`
}

// Member is one home agent of the cluster.
type Member struct {
	// ID names the member uniquely (the store's member key).
	ID string `json:"id"`
	// Site is where the member is; distances are between sites.
	Site string `json:"site"`
	// Addrs are the member's unicast addresses that clients reach on the
	// standard IKE ports (UDP 500 and 4500), most preferred first. A
	// redirect names the first one of the client's address family. List
	// every address clients may use, so that REDIRECTED_FROM is
	// recognised.
	Addrs []netip.Addr `json:"addrs,omitempty"`
	// NATAddrs are public address:port pairs of a port-forwarding NAT in
	// front of the member, for members not reachable on the standard
	// ports. They are offered only to clients that announced support for
	// a redirect carrying a port.
	NATAddrs []netip.AddrPort `json:"nat_addrs,omitempty"`
	// Capacity is how many nodes the member serves at most; 0 takes none.
	Capacity int `json:"capacity"`
	// Load is how many nodes the member serves now.
	Load int `json:"load"`
	// Healthy is false for a member that must not get nodes (failed
	// heartbeat, failed dataplane).
	Healthy bool `json:"healthy"`
	// Draining is true while the member moves its nodes away and takes
	// no new ones.
	Draining bool `json:"draining,omitempty"`
}

// SitePrefix maps the client addresses in Prefix to Site.
type SitePrefix struct {
	Prefix netip.Prefix `json:"prefix"`
	Site   string       `json:"site"`
}

// Distance is the cost from site From to site To. Lower is nearer.
type Distance struct {
	From string `json:"from"`
	To   string `json:"to"`
	Cost uint32 `json:"cost"`
}

// Address families, as indexes.
const (
	fam4 = 0
	fam6 = 1
)

func familyOf(a netip.Addr) int {
	if a.Is4() {
		return fam4
	}
	return fam6
}

// member is a Member compiled for fast decisions.
type member struct {
	id       string
	siteName string
	site     int // index into compiled.sites
	load     int
	capacity int
	ratio    float64 // load/capacity; 1 when capacity is 0
	healthy  bool
	draining bool
	addr     [2]netip.Addr     // first standard address per family
	nat      [2]netip.AddrPort // first forwarded address per family
	idHash   uint64
}

// newExclusion is why the member cannot take a new node, not counting
// addresses.
func (m *member) newExclusion() Exclusion {
	switch {
	case !m.healthy:
		return ExcludedUnhealthy
	case m.draining:
		return ExcludedDraining
	case m.load >= m.capacity:
		return ExcludedFull
	}
	return ExcludedNone
}

// keepExclusion is why the member cannot keep a node it already serves.
func (m *member) keepExclusion() Exclusion {
	switch {
	case !m.healthy:
		return ExcludedUnhealthy
	case m.draining:
		return ExcludedDraining
	case m.load > m.capacity:
		return ExcludedFull
	}
	return ExcludedNone
}

// serving reports whether the member is up and not draining: it may get a
// node whose lease it holds or that another member sent it.
func (m *member) serving() bool { return m.healthy && !m.draining }

// ratio is load/capacity, 1 when capacity is 0. A division without
// multiply-add, so it rounds the same on every platform and every member
// ranks alike.
func ratio(load, capacity int) float64 {
	if capacity <= 0 {
		return 1
	}
	return float64(load) / float64(capacity)
}

// compiled is a validated View with indexes.
type compiled struct {
	self    int
	members []member // sorted by ID
	byID    map[string]int
	byAddr  map[netip.Addr]int
	sites   []string // index -> name
	dist    []uint32 // len(sites)^2, dist[from*len(sites)+to]
	prefix  map[netip.Prefix]int
	lens    [2][]int // prefix lengths present per family, longest first
}

// compile validates v and builds its indexes.
func compile(v View, defaultDistance uint32) (*compiled, error) {
	c := &compiled{
		byID:   make(map[string]int, len(v.Members)),
		byAddr: make(map[netip.Addr]int),
		prefix: make(map[netip.Prefix]int, len(v.Sites)),
	}
	siteIndex := map[string]int{}
	site := func(name string) int {
		if i, ok := siteIndex[name]; ok {
			return i
		}
		siteIndex[name] = len(c.sites)
		c.sites = append(c.sites, name)
		return len(c.sites) - 1
	}

	if len(v.Members) == 0 {
		return nil, &ViewError{"Members", "empty"}
	}
	order := make([]int, len(v.Members))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(v.Members[a].ID, v.Members[b].ID) })
	c.members = make([]member, 0, len(v.Members))
	for _, i := range order {
		m := &v.Members[i]
		path := fmt.Sprintf("Members[%d]", i)
		if m.ID == "" {
			return nil, &ViewError{path + ".ID", "empty"}
		}
		if _, dup := c.byID[m.ID]; dup {
			return nil, &ViewError{path + ".ID", fmt.Sprintf("duplicate member %q", m.ID)}
		}
		if m.Site == "" {
			return nil, &ViewError{path + ".Site", "empty"}
		}
		if m.Capacity < 0 {
			return nil, &ViewError{path + ".Capacity", fmt.Sprintf("negative (%d)", m.Capacity)}
		}
		if m.Load < 0 {
			return nil, &ViewError{path + ".Load", fmt.Sprintf("negative (%d)", m.Load)}
		}
		cm := member{
			id:       m.ID,
			siteName: m.Site,
			site:     site(m.Site),
			load:     m.Load,
			capacity: m.Capacity,
			ratio:    ratio(m.Load, m.Capacity),
			healthy:  m.Healthy,
			draining: m.Draining,
			idHash:   hashString(m.ID),
		}
		idx := len(c.members)
		for j, a := range m.Addrs {
			p := fmt.Sprintf("%s.Addrs[%d]", path, j)
			if err := checkUnicast(a); err != "" {
				return nil, &ViewError{p, err}
			}
			if err := c.claim(a, idx, p); err != nil {
				return nil, err
			}
			if f := familyOf(a); !cm.addr[f].IsValid() {
				cm.addr[f] = a
			}
		}
		for j, ap := range m.NATAddrs {
			p := fmt.Sprintf("%s.NATAddrs[%d]", path, j)
			if err := checkUnicast(ap.Addr()); err != "" {
				return nil, &ViewError{p, err}
			}
			if ap.Port() == 0 {
				return nil, &ViewError{p, "port 0"}
			}
			if err := c.claim(ap.Addr(), idx, p); err != nil {
				return nil, err
			}
			if f := familyOf(ap.Addr()); !cm.nat[f].IsValid() {
				cm.nat[f] = ap
			}
		}
		c.byID[m.ID] = idx
		c.members = append(c.members, cm)
	}
	self, ok := c.byID[v.Self]
	if !ok {
		return nil, &ViewError{"Self", fmt.Sprintf("%q is not a member", v.Self)}
	}
	c.self = self

	var seenLen [2][129]bool
	for i, sp := range v.Sites {
		path := fmt.Sprintf("Sites[%d]", i)
		p := sp.Prefix
		switch {
		case !p.IsValid():
			return nil, &ViewError{path + ".Prefix", "invalid prefix"}
		case p.Addr().Zone() != "":
			return nil, &ViewError{path + ".Prefix", "zoned prefix " + p.String()}
		case p.Addr().Is4In6():
			return nil, &ViewError{path + ".Prefix", "IPv4-mapped prefix " + p.String() + "; write it in IPv4 form"}
		case p != p.Masked():
			return nil, &ViewError{path + ".Prefix", "host bits set in " + p.String()}
		case sp.Site == "":
			return nil, &ViewError{path + ".Site", "empty"}
		}
		if _, dup := c.prefix[p]; dup {
			return nil, &ViewError{path + ".Prefix", "duplicate prefix " + p.String()}
		}
		c.prefix[p] = site(sp.Site)
		f := familyOf(p.Addr())
		if !seenLen[f][p.Bits()] {
			seenLen[f][p.Bits()] = true
			c.lens[f] = append(c.lens[f], p.Bits())
		}
	}
	for f := range c.lens {
		slices.SortFunc(c.lens[f], func(a, b int) int { return cmp.Compare(b, a) })
	}

	type pair struct{ from, to int }
	given := make(map[pair]bool, len(v.Distances))
	for i, d := range v.Distances {
		path := fmt.Sprintf("Distances[%d]", i)
		if d.From == "" {
			return nil, &ViewError{path + ".From", "empty"}
		}
		if d.To == "" {
			return nil, &ViewError{path + ".To", "empty"}
		}
		k := pair{site(d.From), site(d.To)}
		if given[k] {
			return nil, &ViewError{path, fmt.Sprintf("duplicate distance %s -> %s", d.From, d.To)}
		}
		given[k] = true
	}
	n := len(c.sites)
	c.dist = make([]uint32, n*n)
	for i := range c.dist {
		if i/n != i%n {
			c.dist[i] = defaultDistance
		}
	}
	// Mirrors first, so that a pair given both ways keeps each direction.
	for _, d := range v.Distances {
		c.dist[siteIndex[d.To]*n+siteIndex[d.From]] = d.Cost
	}
	for _, d := range v.Distances {
		c.dist[siteIndex[d.From]*n+siteIndex[d.To]] = d.Cost
	}
	return c, nil
}

// claim records that address a belongs to the member at index idx.
func (c *compiled) claim(a netip.Addr, idx int, path string) error {
	if other, dup := c.byAddr[a]; dup && other != idx {
		return &ViewError{path, fmt.Sprintf("address %s also belongs to member %q", a, c.members[other].id)}
	}
	c.byAddr[a] = idx
	return nil
}

// checkUnicast returns why a cannot be a redirect target, or "".
func checkUnicast(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "invalid address"
	case a.Is4In6():
		return "IPv4-mapped address " + a.String() + "; write it in IPv4 form"
	case a.Zone() != "":
		return "zoned address " + a.String()
	case a.IsUnspecified():
		return "unspecified address " + a.String()
	case a.IsMulticast():
		return "multicast address " + a.String()
	case a.IsLinkLocalUnicast():
		return "link-local address " + a.String()
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast address " + a.String()
	}
	return ""
}

// siteOf returns the site index of a client address by longest-prefix
// match, or -1.
func (c *compiled) siteOf(a netip.Addr) int {
	if !a.IsValid() {
		return -1
	}
	a = a.Unmap().WithZone("")
	f := familyOf(a)
	for _, bits := range c.lens[f] {
		p, err := a.Prefix(bits)
		if err != nil {
			continue
		}
		if s, ok := c.prefix[p]; ok {
			return s
		}
	}
	return -1
}

// distance from client site s (or -1, unknown) to member m.
func (c *compiled) distance(s int, m *member, defaultDistance uint32) uint32 {
	if s < 0 {
		return defaultDistance
	}
	return c.dist[s*len(c.sites)+m.site]
}

// member index of an address, or -1.
func (c *compiled) memberAt(a netip.Addr) int {
	if !a.IsValid() {
		return -1
	}
	if i, ok := c.byAddr[a.Unmap().WithZone("")]; ok {
		return i
	}
	return -1
}

// memberID returns the member index of an ID, or -1 (also for "").
func (c *compiled) memberID(id string) int {
	if id == "" {
		return -1
	}
	if i, ok := c.byID[id]; ok {
		return i
	}
	return -1
}
