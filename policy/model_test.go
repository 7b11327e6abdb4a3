package policy

import (
	"math/rand/v2"
	"net/netip"
	"sort"
	"testing"
)

// A naive model of the policy, written from the rules in the package and
// method documentation and working on the View as given: linear scans
// for the longest prefix and the distance table, a full sort of the
// candidates. The fast implementation must agree with it everywhere.

type modelCandidate struct {
	m     Member
	dist  uint32
	ratio float64
	addr  netip.Addr
	port  uint16
	why   Exclusion
}

type model struct {
	cfg  Config
	view View
}

func (md model) site(remote netip.Addr) string {
	best, bits := "", -1
	for _, sp := range md.view.Sites {
		if remote.IsValid() && sp.Prefix.Contains(remote.Unmap()) && sp.Prefix.Bits() > bits {
			best, bits = sp.Site, sp.Prefix.Bits()
		}
	}
	return best
}

func (md model) distance(from, to string) uint32 {
	if from == "" {
		return md.cfg.DefaultDistance
	}
	for _, d := range md.view.Distances {
		if d.From == from && d.To == to {
			return d.Cost
		}
	}
	for _, d := range md.view.Distances {
		if d.From == to && d.To == from {
			return d.Cost
		}
	}
	if from == to {
		return 0
	}
	return md.cfg.DefaultDistance
}

func (md model) address(m Member, remote netip.Addr, portCapable bool) (netip.Addr, uint16, Exclusion) {
	remote = remote.Unmap()
	families := []bool{remote.Is4()} // true: IPv4
	if !remote.IsValid() {
		families = []bool{false, true}
	} else if md.cfg.CrossFamily {
		families = append(families, !remote.Is4())
	}
	sawPort := false
	for _, v4 := range families {
		for _, a := range m.Addrs {
			if a.Is4() == v4 {
				return a, 0, ExcludedNone
			}
		}
		for _, ap := range m.NATAddrs {
			if ap.Addr().Is4() == v4 {
				if portCapable {
					return ap.Addr(), ap.Port(), ExcludedNone
				}
				sawPort = true
			}
		}
	}
	if sawPort {
		return netip.Addr{}, 0, ExcludedNeedsPort
	}
	return netip.Addr{}, 0, ExcludedNoAddress
}

func modelRatio(m Member) float64 {
	if m.Capacity == 0 {
		return 1
	}
	return float64(m.Load) / float64(m.Capacity)
}

// candidates returns every member, judged, sorted with the eligible ones
// first in rank order.
func (md model) candidates(remote netip.Addr, portCapable bool, mode selfMode) []modelCandidate {
	site := md.site(remote)
	var cs []modelCandidate
	for _, m := range md.view.Members {
		c := modelCandidate{m: m, dist: md.distance(site, m.Site), ratio: modelRatio(m)}
		var addrWhy Exclusion
		c.addr, c.port, addrWhy = md.address(m, remote, portCapable)
		self := m.ID == md.view.Self
		switch {
		case self && mode == modeDrain:
			c.why = ExcludedDraining
		case !m.Healthy:
			c.why = ExcludedUnhealthy
		case m.Draining:
			c.why = ExcludedDraining
		case self && mode == modeKeep && m.Load > m.Capacity:
			c.why = ExcludedFull
		case !(self && mode == modeKeep) && m.Load >= m.Capacity:
			c.why = ExcludedFull
		case !self || mode == modeNewAnycast:
			c.why = addrWhy
		}
		cs = append(cs, c)
	}
	key := hashAddr(remote.Unmap())
	if !remote.IsValid() {
		key = 0
	}
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if (a.why == ExcludedNone) != (b.why == ExcludedNone) {
			return a.why == ExcludedNone
		}
		if a.dist != b.dist {
			return a.dist < b.dist
		}
		if a.ratio != b.ratio {
			return a.ratio < b.ratio
		}
		ha, hb := rendezvous(hashString(a.m.ID), key), rendezvous(hashString(b.m.ID), key)
		if ha != hb {
			return ha > hb
		}
		return a.m.ID < b.m.ID
	})
	return cs
}

func (md model) find(cs []modelCandidate, id string) (modelCandidate, bool) {
	for _, c := range cs {
		if c.m.ID == id {
			return c, true
		}
	}
	return modelCandidate{}, false
}

func (md model) memberAt(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return memberWithAddr(md.view, a.Unmap())
}

func (md model) stay(r Reason) want { return want{ActionStay, r, md.view.Self, "", 0} }

func redirectTo(c modelCandidate, r Reason) want {
	a := ""
	if c.addr.IsValid() {
		a = c.addr.String()
	}
	return want{ActionRedirect, r, c.m.ID, a, c.port}
}

func reasonOf(e Exclusion) Reason {
	return map[Exclusion]Reason{
		ExcludedUnhealthy: ReasonUnhealthy, ExcludedDraining: ReasonDraining, ExcludedFull: ReasonOverloaded,
		ExcludedNoAddress: ReasonAnycast, ExcludedNeedsPort: ReasonAnycast,
	}[e]
}

func (md model) place(remote netip.Addr, anycast bool, rf netip.Addr, portCapable bool) want {
	mode := modeNew
	if anycast {
		mode = modeNewAnycast
	}
	cs := md.candidates(remote, portCapable, mode)
	self, _ := md.find(cs, md.view.Self)
	from := md.memberAt(rf)
	toSelf := func(r Reason) want {
		if self.addr.IsValid() {
			return redirectTo(self, r)
		}
		return md.stay(r)
	}
	if from != "" && !anycast && self.m.Healthy && !self.m.Draining && self.m.Load < self.m.Capacity {
		return md.stay(ReasonRedirectedHere)
	}
	if cs[0].why != ExcludedNone {
		if anycast {
			return toSelf(ReasonNoCandidate)
		}
		return md.stay(ReasonNoCandidate)
	}
	best := cs[0]
	if best.m.ID == md.view.Self {
		if anycast {
			return redirectTo(self, ReasonAnycast)
		}
		return md.stay(ReasonBest)
	}
	if best.m.ID == from {
		if anycast {
			return toSelf(ReasonRedirectedFromGuard)
		}
		return md.stay(ReasonRedirectedFromGuard)
	}
	if self.why != ExcludedNone {
		return redirectTo(best, reasonOf(self.why))
	}
	if int64(best.dist)+int64(md.cfg.DistanceMargin) < int64(self.dist) {
		return redirectTo(best, ReasonNearer)
	}
	if best.ratio < self.ratio-md.cfg.LoadMargin {
		return redirectTo(best, ReasonLessLoaded)
	}
	if anycast {
		return redirectTo(self, ReasonAnycast)
	}
	return md.stay(ReasonHysteresis)
}

func (md model) auth(r AtAuth) want {
	serving := func(id string) (modelCandidate, bool) {
		m, ok := memberByID(md.view, id)
		if !ok || !m.Healthy || m.Draining {
			return modelCandidate{}, false
		}
		a, port, why := md.address(m, r.Remote, r.PortCapable)
		return modelCandidate{m: m, addr: a, port: port}, why == ExcludedNone
	}
	if _, known := memberByID(md.view, r.LeaseMoving); known {
		if r.LeaseMoving == md.view.Self {
			return md.stay(ReasonLeaseMovingHere)
		}
		if c, ok := serving(r.LeaseMoving); ok {
			return redirectTo(c, ReasonLeaseMoving)
		}
	}
	if r.LeaseOwner == md.view.Self {
		if self, _ := memberByID(md.view, md.view.Self); self.Healthy && !self.Draining {
			return md.stay(ReasonLeaseHere)
		}
	} else if c, ok := serving(r.LeaseOwner); ok {
		return redirectTo(c, ReasonLeaseElsewhere)
	}
	return md.place(r.Remote, false, r.RedirectedFrom, r.PortCapable)
}

func (md model) reevaluate(r Reevaluate) want {
	b := r.Binding
	cs := md.candidates(b.Remote, b.PortCapable, modeKeep)
	self, _ := md.find(cs, md.view.Self)
	best := cs[0]
	switch {
	case best.why != ExcludedNone:
		return md.stay(ReasonNoCandidate)
	case best.m.ID == md.view.Self:
		return md.stay(ReasonBest)
	case md.cfg.LoopWindow > 0 && best.m.ID == b.ArrivedFrom && r.Now.Sub(b.ArrivedAt) < md.cfg.LoopWindow:
		return md.stay(ReasonRedirectedFromGuard)
	case self.why != ExcludedNone:
		return redirectTo(best, reasonOf(self.why))
	case int64(best.dist)+int64(md.cfg.DistanceMargin) < int64(self.dist):
		return redirectTo(best, ReasonNearer)
	}
	return md.stay(ReasonHysteresis)
}

func TestModelAgrees(t *testing.T) {
	forScenarios(t, 2000, genOpts{}, func(t *testing.T, r *rand.Rand, sc scenario) {
		for _, m := range sc.view.Members {
			v := sc.withSelf(m.ID)
			p := mustNew(t, sc.cfg, v)
			md := model{cfg: sc.cfg, view: v}
			for _, remote := range append(sc.clients, netip.Addr{}) {
				init := AtInit{Remote: remote, Anycast: r.IntN(3) == 0, RedirectedFrom: genRedirectedFrom(r, sc), PortCapable: r.IntN(2) == 0}
				check(t, p.AtInit(init), md.place(init.Remote, init.Anycast, init.RedirectedFrom, init.PortCapable))
				auth := AtAuth{Remote: remote, RedirectedFrom: genRedirectedFrom(r, sc), PortCapable: r.IntN(2) == 0,
					LeaseOwner: genLease(r, sc.view), LeaseMoving: genLease(r, sc.view)}
				check(t, p.AtAuth(auth), md.auth(auth))
				re := Reevaluate{Binding: genBinding(r, sc, remote), Now: epoch}
				check(t, p.Reevaluate(re), md.reevaluate(re))

				// The explain table is the model's order and judgement.
				cs := md.candidates(remote, init.PortCapable, modeNew)
				scores := p.Explain(AtInit{Remote: remote, PortCapable: init.PortCapable}).Scores
				byMember := map[string]Score{}
				for _, s := range scores {
					byMember[s.Member] = s
				}
				for i, c := range cs {
					s := byMember[c.m.ID]
					if s.Excluded != c.why || s.Distance != c.dist || (c.why == ExcludedNone && (scores[i].Member != c.m.ID || s.Rank != i+1)) {
						t.Errorf("%s: %s scored %+v, model %+v at %d", m.ID, c.m.ID, s, c, i)
					}
				}
				if t.Failed() {
					t.Fatalf("self %s, client %v", m.ID, remote)
				}
			}
		}
	})
}
