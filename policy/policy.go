package policy

import (
	"net/netip"
)

// Policy takes placement decisions for one home agent (View.Self) on one
// view of the cluster. It is immutable and safe for concurrent use; build a
// new one with New when the view or the configuration changes.
type Policy struct {
	cfg Config
	c   *compiled
}

// New validates cfg and v and compiles them for fast decisions. Errors
// are a *ConfigError (wrapping ErrInvalidConfig) or a *ViewError (wrapping
// ErrInvalidView) naming the bad field.
func New(cfg Config, v View) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := compile(v, cfg.DefaultDistance)
	if err != nil {
		return nil, err
	}
	return &Policy{cfg: cfg, c: c}, nil
}

// Config returns the configuration the policy was built with.
func (p *Policy) Config() Config { return p.cfg }

// Self returns the ID of the member the policy decides for.
func (p *Policy) Self() string { return p.c.members[p.c.self].id }

// AtInit decides an IKE_SA_INIT request (RFC 5685 §3, §4). It allocates
// nothing; the Decision has no Scores (use Explain for those).
//
// The rules, first match wins:
//  1. REDIRECTED_FROM names a member, this one can take a new node
//     (healthy, not draining, not full) and the request was not sent to
//     anycast: stay (redirected-here). The unauthenticated REDIRECTED_FROM
//     only waives the distance and load margins of rule 6, never an
//     exclusion.
//  2. No member can take a new node: stay (no-candidate); on anycast,
//     redirect to our own unicast address if we have one.
//  3. This member ranks first: stay (best); on anycast, redirect to our own
//     unicast address (anycast-must-redirect).
//  4. The first-ranked member is the one in REDIRECTED_FROM: stay
//     (redirected-from-guard); on anycast, our own unicast address.
//  5. This member cannot take the node (unhealthy, draining, full, or on
//     anycast has no unicast address for the client): redirect to the
//     first-ranked member (unhealthy, draining, overloaded,
//     anycast-must-redirect).
//  6. The first-ranked member is nearer by more than DistanceMargin
//     (nearer), or no farther and less loaded by more than LoadMargin
//     (less-loaded): redirect there.
//  7. Otherwise stay (hysteresis); on anycast, redirect to our own unicast
//     address.
//
// Members rank by site distance from the client, then load ratio, then a
// hash of the client's address and the member ID (rendezvous hashing, so
// that clients spread over equal members), then member ID.
func (p *Policy) AtInit(r AtInit) Decision {
	loc := p.locate(r.Remote, r.PortCapable)
	return p.place(StageInit, loc, r.Anycast, p.c.memberAt(r.RedirectedFrom))
}

// AtAuth decides an IKE_AUTH request after the client's AUTH was verified
// (RFC 5685 §6). The identity's lease decides first:
//  1. The lease is moving to this member: stay (lease-moving-here).
//  2. The lease is moving to another member that is serving and reachable:
//     redirect there (lease-moving).
//  3. The lease lives here and this member is serving: stay (lease-here).
//  4. The lease lives on another member that is serving and reachable:
//     redirect there (lease-elsewhere), even when that member is the one
//     in REDIRECTED_FROM; its own rule 1 of AtInit and rule 3 here keep
//     the node there.
//
// Otherwise (no lease, or its member is gone, unhealthy or draining) the
// rules of AtInit apply, without the anycast rule. A Redirect whose reason
// is not lease-elsewhere or lease-moving while the lease lives here means
// the home agent must mark the lease as moving to the target before it
// sends the REDIRECT; a Stay while the lease lives on another member
// means it must take the lease over. It allocates nothing.
func (p *Policy) AtAuth(r AtAuth) Decision {
	loc := p.locate(r.Remote, r.PortCapable)
	self := p.c.self
	if mv := p.c.memberID(r.LeaseMoving); mv >= 0 {
		if mv == self {
			return p.stay(StageAuth, ReasonLeaseMovingHere, loc)
		}
		if p.leaseTarget(mv, loc) {
			return p.redirect(StageAuth, ReasonLeaseMoving, mv, loc)
		}
	}
	if o := p.c.memberID(r.LeaseOwner); o >= 0 {
		if o == self {
			if p.c.members[self].serving() {
				return p.stay(StageAuth, ReasonLeaseHere, loc)
			}
		} else if p.leaseTarget(o, loc) {
			return p.redirect(StageAuth, ReasonLeaseElsewhere, o, loc)
		}
	}
	return p.place(StageAuth, loc, false, p.c.memberAt(r.RedirectedFrom))
}

// Reevaluate decides whether a node bound here should move (a Home Agent
// Switch, RFC 5142). Rules, first match wins:
//  1. No member can take the node: stay (no-candidate).
//  2. This member ranks first: stay (best).
//  3. The first-ranked member is the one the node arrived from less than
//     LoopWindow ago: stay (redirected-from-guard).
//  4. This member cannot keep the node (unhealthy, draining, over
//     capacity): redirect to the first-ranked member.
//  5. The first-ranked member is nearer by more than DistanceMargin:
//     redirect there (nearer).
//  6. Otherwise stay (hysteresis). Load alone never moves a bound node.
//
// The caller applies the move rate limit (Limiter). It allocates nothing.
func (p *Policy) Reevaluate(r Reevaluate) Decision {
	b := &r.Binding
	loc := p.locate(b.Remote, b.PortCapable)
	best, be, se := p.scan(p.c.members, loc, modeKeep)
	self := p.c.self
	from := -1
	if p.cfg.LoopWindow > 0 && b.ArrivedFrom != "" && r.Now.Sub(b.ArrivedAt) < p.cfg.LoopWindow {
		from = p.c.memberID(b.ArrivedFrom)
	}
	switch {
	case best < 0:
		return p.stay(StageReevaluate, ReasonNoCandidate, loc)
	case best == self:
		return p.stay(StageReevaluate, ReasonBest, loc)
	case best == from:
		return p.stay(StageReevaluate, ReasonRedirectedFromGuard, loc)
	case se.excl != ExcludedNone:
		return p.redirect(StageReevaluate, reasonFor(se.excl), best, loc)
	case p.nearer(be.dist, se.dist):
		return p.redirect(StageReevaluate, ReasonNearer, best, loc)
	}
	return p.stay(StageReevaluate, ReasonHysteresis, loc)
}

// Explain takes the same decision as AtInit, AtAuth or Reevaluate for r
// and adds the scored table: every member with its distance, load,
// eligibility and rank. It allocates; it is meant for the operator's
// explain command and for tracing, not for every packet.
func (p *Policy) Explain(r Request) Decision {
	var (
		d    Decision
		loc  locator
		mode selfMode
	)
	switch r := r.(type) {
	case AtInit:
		d, loc = p.AtInit(r), p.locate(r.Remote, r.PortCapable)
		mode = modeNew
		if r.Anycast {
			mode = modeNewAnycast
		}
	case AtAuth:
		d, loc, mode = p.AtAuth(r), p.locate(r.Remote, r.PortCapable), modeNew
	case Reevaluate:
		d, loc, mode = p.Reevaluate(r), p.locate(r.Binding.Remote, r.Binding.PortCapable), modeKeep
	default:
		return Decision{}
	}
	d.Scores = p.table(p.c.members, loc, mode)
	return d
}

// selfMode says how the deciding member's own eligibility is judged.
type selfMode uint8

const (
	// modeNew: may we take a new node? The client already talks to us, so
	// no address is needed.
	modeNew selfMode = iota
	// modeNewAnycast: as modeNew, and we need a unicast address to
	// redirect the client to ourselves.
	modeNewAnycast
	// modeKeep: may we keep a node we already serve?
	modeKeep
	// modeDrain: we take nothing.
	modeDrain
)

// locator is a client's position as the policy uses it.
type locator struct {
	site        int    // client site index, -1 unknown
	fam         int    // fam4, fam6, or -1 unknown
	key         uint64 // rendezvous-hash key of the client address
	portCapable bool
}

func (p *Policy) locate(remote netip.Addr, portCapable bool) locator {
	loc := locator{site: -1, fam: -1, portCapable: portCapable}
	if remote.IsValid() {
		remote = remote.Unmap()
		loc.site = p.c.siteOf(remote)
		loc.fam = familyOf(remote)
		loc.key = hashAddr(remote)
	}
	return loc
}

// eval is one member judged for one client. The address the client
// would be sent to is looked up only for the member chosen (reach).
type eval struct {
	excl Exclusion
	dist uint32
}

// judge evaluates member i of ms for loc.
func (p *Policy) judge(ms []member, i int, loc locator, mode selfMode) eval {
	m := &ms[i]
	e := eval{dist: p.c.distance(loc.site, m, p.cfg.DefaultDistance)}
	if i != p.c.self {
		e.excl = m.newExclusion()
		if e.excl == ExcludedNone {
			_, _, e.excl = p.reach(m, loc)
		}
		return e
	}
	switch mode {
	case modeNew:
		e.excl = m.newExclusion()
	case modeNewAnycast:
		e.excl = m.newExclusion()
		if e.excl == ExcludedNone {
			_, _, e.excl = p.reach(m, loc)
		}
	case modeKeep:
		e.excl = m.keepExclusion()
	case modeDrain:
		e.excl = ExcludedDraining
	}
	return e
}

// scan judges every member and returns the first-ranked eligible one
// (or -1), its evaluation and the deciding member's own.
func (p *Policy) scan(ms []member, loc locator, mode selfMode) (best int, be, se eval) {
	best = -1
	for i := range ms {
		e := p.judge(ms, i, loc, mode)
		if i == p.c.self {
			se = e
		}
		if e.excl != ExcludedNone {
			continue
		}
		if best < 0 || p.ranksBefore(ms, i, e.dist, best, be.dist, loc.key) {
			best, be = i, e
		}
	}
	return best, be, se
}

// ranksBefore orders eligible members: nearer first, then lower load
// ratio, then higher rendezvous hash of (client, member), then member ID.
// It is a strict total order, the same on every member.
func (p *Policy) ranksBefore(ms []member, i int, di uint32, j int, dj uint32, key uint64) bool {
	if di != dj {
		return di < dj
	}
	if ms[i].ratio != ms[j].ratio {
		return ms[i].ratio < ms[j].ratio
	}
	hi, hj := rendezvous(ms[i].idHash, key), rendezvous(ms[j].idHash, key)
	if hi != hj {
		return hi > hj
	}
	return ms[i].id < ms[j].id
}

// reach picks the address a client at loc uses to reach m: the first
// standard address of the client's family, then a forwarded one if the
// client can follow a port, then (CrossFamily) the same from the other
// family.
func (p *Policy) reach(m *member, loc locator) (netip.Addr, uint16, Exclusion) {
	fams := [2]int{loc.fam, 1 - loc.fam}
	n := 1
	if loc.fam < 0 {
		fams, n = [2]int{fam6, fam4}, 2
	} else if p.cfg.CrossFamily {
		n = 2
	}
	needsPort := false
	for _, f := range fams[:n] {
		if m.addr[f].IsValid() {
			return m.addr[f], 0, ExcludedNone
		}
		if m.nat[f].IsValid() {
			if loc.portCapable {
				return m.nat[f].Addr(), m.nat[f].Port(), ExcludedNone
			}
			needsPort = true
		}
	}
	if needsPort {
		return netip.Addr{}, 0, ExcludedNeedsPort
	}
	return netip.Addr{}, 0, ExcludedNoAddress
}

// leaseTarget reports whether member i may get a node because it holds or
// receives the node's lease: it must be serving and reachable. Capacity
// does not matter; the node is counted there already or was admitted by
// the move.
func (p *Policy) leaseTarget(i int, loc locator) bool {
	m := &p.c.members[i]
	if !m.serving() {
		return false
	}
	_, _, excl := p.reach(m, loc)
	return excl == ExcludedNone
}

// place applies the placement rules of AtInit (see there).
func (p *Policy) place(st Stage, loc locator, anycast bool, from int) Decision {
	mode := modeNew
	if anycast {
		mode = modeNewAnycast
	}
	ms := p.c.members
	self := p.c.self
	if from >= 0 && !anycast && ms[self].newExclusion() == ExcludedNone {
		// REDIRECTED_FROM is not authenticated (RFC 5685 §11): it waives
		// the margins, never an exclusion.
		return p.stay(st, ReasonRedirectedHere, loc)
	}
	best, be, se := p.scan(ms, loc, mode)
	toSelf := func(r Reason) Decision {
		if _, _, x := p.reach(&ms[self], loc); x == ExcludedNone {
			return p.redirect(st, r, self, loc)
		}
		return p.stay(st, r, loc)
	}
	switch {
	case best < 0:
		if anycast {
			return toSelf(ReasonNoCandidate)
		}
		return p.stay(st, ReasonNoCandidate, loc)
	case best == self:
		if anycast {
			return p.redirect(st, ReasonAnycast, self, loc)
		}
		return p.stay(st, ReasonBest, loc)
	case best == from:
		if anycast {
			return toSelf(ReasonRedirectedFromGuard)
		}
		return p.stay(st, ReasonRedirectedFromGuard, loc)
	case se.excl != ExcludedNone:
		return p.redirect(st, reasonFor(se.excl), best, loc)
	case p.nearer(be.dist, se.dist):
		return p.redirect(st, ReasonNearer, best, loc)
	case ms[best].ratio < ms[self].ratio-p.cfg.LoadMargin:
		// be.dist <= se.dist: best ranks before self.
		return p.redirect(st, ReasonLessLoaded, best, loc)
	case anycast:
		return p.redirect(st, ReasonAnycast, self, loc)
	}
	return p.stay(st, ReasonHysteresis, loc)
}

// nearer reports whether distance a beats b by more than DistanceMargin.
func (p *Policy) nearer(a, b uint32) bool {
	return uint64(a)+uint64(p.cfg.DistanceMargin) < uint64(b)
}

// reasonFor maps the deciding member's own exclusion to the reason for
// sending the node elsewhere.
func reasonFor(e Exclusion) Reason {
	switch e {
	case ExcludedUnhealthy:
		return ReasonUnhealthy
	case ExcludedDraining:
		return ReasonDraining
	case ExcludedFull:
		return ReasonOverloaded
	}
	// No unicast address for an anycast client.
	return ReasonAnycast
}

func (p *Policy) stay(st Stage, r Reason, loc locator) Decision {
	self := p.c.members[p.c.self].id
	return Decision{
		Stage:      st,
		Action:     ActionStay,
		Reason:     r,
		Self:       self,
		Target:     self,
		ClientSite: p.siteName(loc.site),
	}
}

// redirect sends the node to member target, at the address the client at
// loc can use.
func (p *Policy) redirect(st Stage, r Reason, target int, loc locator) Decision {
	addr, port, _ := p.reach(&p.c.members[target], loc)
	return Decision{
		Stage:      st,
		Action:     ActionRedirect,
		Reason:     r,
		Self:       p.c.members[p.c.self].id,
		Target:     p.c.members[target].id,
		Addr:       addr,
		Port:       port,
		ClientSite: p.siteName(loc.site),
	}
}

func (p *Policy) siteName(s int) string {
	if s < 0 {
		return ""
	}
	return p.c.sites[s]
}
