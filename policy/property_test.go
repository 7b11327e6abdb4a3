package policy

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Property tests over random views and clients (gen_test.go). Each runs a
// fixed number of seeded scenarios, so a failure names a seed that
// reproduces it.

// forScenarios runs f on n seeded scenarios (a tenth with -short).
func forScenarios(t *testing.T, n int, o genOpts, f func(t *testing.T, r *rand.Rand, sc scenario)) {
	t.Helper()
	if testing.Short() {
		n /= 10
	}
	for seed := range uint64(n) {
		r := rand.New(rand.NewPCG(seed, 0x6d69703668610000))
		sc := genScenario(r, o)
		f(t, r, sc)
		if t.Failed() {
			t.Fatalf("seed %d, view %+v, config %+v", seed, sc.view, sc.cfg)
		}
	}
}

// policies returns one Policy per member, keyed by ID, on the same view.
func policies(t *testing.T, sc scenario) map[string]*Policy {
	t.Helper()
	ps := map[string]*Policy{}
	for _, m := range sc.view.Members {
		ps[m.ID] = mustNew(t, sc.cfg, sc.withSelf(m.ID))
	}
	return ps
}

// The target of a redirect, asked about the same client on the same view
// (the client now sending REDIRECTED_FROM with the address it used),
// keeps it: a redirect chain ends after one hop (RFC 5685 §7 loops
// cannot form on a consistent view).
func TestPropertyInitTargetStays(t *testing.T) {
	forScenarios(t, 3000, genOpts{}, func(t *testing.T, r *rand.Rand, sc scenario) {
		ps := policies(t, sc)
		for _, m := range sc.view.Members {
			for _, remote := range sc.clients {
				req := AtInit{Remote: remote, Anycast: r.IntN(3) == 0, RedirectedFrom: genRedirectedFrom(r, sc), PortCapable: r.IntN(3) == 0}
				if req.Anycast && memberWithAddr(sc.view, req.RedirectedFrom) != "" {
					// A member redirected the client to the anycast
					// address: members never do (they name unicast
					// addresses), so this is no consistent view.
					continue
				}
				local, ok := localOf(m, remote)
				if req.Anycast {
					local, ok = sc.anycast, true
				}
				if !ok {
					continue // the client cannot have reached m
				}
				d := ps[m.ID].AtInit(req)
				if d.Action != ActionRedirect {
					continue
				}
				follow := AtInit{Remote: remote, RedirectedFrom: local, PortCapable: req.PortCapable}
				if d2 := ps[d.Target].AtInit(follow); d2.Action != ActionStay {
					t.Errorf("%s: %+v -> %v; then %s: %+v -> %v", m.ID, req, d, d.Target, follow, d2)
				}
			}
		}
	})
}

// The same for IKE_AUTH: the member a lease or placement redirect names
// keeps the client at IKE_AUTH, and at IKE_SA_INIT unless it is full: the
// REDIRECTED_FROM the client then sends waives no exclusion (RFC 5685 §11),
// and at IKE_SA_INIT nothing says the client is the one whose lease it
// holds. A full member sends it on, never back to the sender.
func TestPropertyAuthTargetStays(t *testing.T) {
	forScenarios(t, 3000, genOpts{}, func(t *testing.T, r *rand.Rand, sc scenario) {
		ps := policies(t, sc)
		for _, m := range sc.view.Members {
			for _, remote := range sc.clients {
				req := AtAuth{
					Remote: remote, RedirectedFrom: genRedirectedFrom(r, sc), PortCapable: r.IntN(3) == 0,
					LeaseOwner: genLease(r, sc.view), LeaseMoving: genLease(r, sc.view),
				}
				local, ok := localOf(m, remote)
				if !ok {
					continue
				}
				d := ps[m.ID].AtAuth(req)
				if d.Action != ActionRedirect {
					continue
				}
				if d.Target == m.ID {
					t.Fatalf("%s redirected to itself at IKE_AUTH: %+v -> %v", m.ID, req, d)
				}
				init := AtInit{Remote: remote, RedirectedFrom: local, PortCapable: req.PortCapable}
				if d2 := ps[d.Target].AtInit(init); d2.Action != ActionStay &&
					(!full(sc, d.Target) || d2.Reason != ReasonOverloaded || d2.Target == m.ID) {
					t.Errorf("%s: %+v -> %v; then %s at init: %v", m.ID, req, d, d.Target, d2)
				}
				auth := req
				auth.RedirectedFrom = local
				if d3 := ps[d.Target].AtAuth(auth); d3.Action != ActionStay {
					t.Errorf("%s: %+v -> %v; then %s at auth: %v", m.ID, req, d, d.Target, d3)
				}
			}
		}
	})
}

// A bound node moved to the target of Reevaluate stays there.
func TestPropertyReevaluateTargetStays(t *testing.T) {
	forScenarios(t, 3000, genOpts{}, func(t *testing.T, r *rand.Rand, sc scenario) {
		ps := policies(t, sc)
		for _, m := range sc.view.Members {
			for _, remote := range sc.clients {
				b := genBinding(r, sc, remote)
				d := ps[m.ID].Reevaluate(Reevaluate{Binding: b, Now: epoch})
				if d.Action != ActionRedirect {
					continue
				}
				moved := b
				moved.ArrivedFrom, moved.ArrivedAt = m.ID, epoch
				later := epoch.Add(time.Duration(r.IntN(1000)) * time.Second)
				if d2 := ps[d.Target].Reevaluate(Reevaluate{Binding: moved, Now: later}); d2.Action != ActionStay {
					t.Errorf("%s: %+v -> %v; then %s: %v", m.ID, b, d, d.Target, d2)
				}
			}
		}
	})
}

// Placement never sends a client back to the member in REDIRECTED_FROM,
// and a bound node never goes back to where it came from within the loop
// window. A lease redirect at IKE_AUTH may name that member: the lease,
// not the locator, says where the identity is served.
func TestPropertyNeverBackToRedirectedFrom(t *testing.T) {
	forScenarios(t, 3000, genOpts{}, func(t *testing.T, r *rand.Rand, sc scenario) {
		ps := policies(t, sc)
		for _, m := range sc.view.Members {
			p := ps[m.ID]
			for _, remote := range sc.clients {
				rf := genRedirectedFrom(r, sc)
				from := memberWithAddr(sc.view, rf)
				back := func(d Decision) bool {
					return d.Action == ActionRedirect && from != "" && d.Target == from && d.Target != m.ID
				}
				init := AtInit{Remote: remote, Anycast: r.IntN(3) == 0, RedirectedFrom: rf, PortCapable: r.IntN(2) == 0}
				if d := p.AtInit(init); back(d) {
					t.Errorf("%s: %+v -> %v", m.ID, init, d)
				}
				auth := AtAuth{Remote: remote, RedirectedFrom: rf, LeaseOwner: genLease(r, sc.view), LeaseMoving: genLease(r, sc.view)}
				if d := p.AtAuth(auth); back(d) && d.Reason != ReasonLeaseElsewhere && d.Reason != ReasonLeaseMoving {
					t.Errorf("%s: %+v -> %v", m.ID, auth, d)
				}
				b := genBinding(r, sc, remote)
				d := p.Reevaluate(Reevaluate{Binding: b, Now: epoch})
				if d.Action == ActionRedirect && d.Target == b.ArrivedFrom && epoch.Sub(b.ArrivedAt) < sc.cfg.LoopWindow {
					t.Errorf("%s: %+v -> %v within the loop window", m.ID, b, d)
				}
			}
		}
	})
}

// Decisions depend on the view's content only: reordering members, site
// prefixes and distances changes nothing, tables included, and asking
// twice gives the same answer.
func TestPropertyDeterministic(t *testing.T) {
	forScenarios(t, 1000, genOpts{}, func(t *testing.T, r *rand.Rand, sc scenario) {
		for _, m := range sc.view.Members {
			p := mustNew(t, sc.cfg, sc.withSelf(m.ID))
			shuffled := sc.withSelf(m.ID)
			shuffled.Members = shuffledCopy(r, shuffled.Members)
			shuffled.Sites = shuffledCopy(r, shuffled.Sites)
			shuffled.Distances = shuffledCopy(r, shuffled.Distances)
			q := mustNew(t, sc.cfg, shuffled)
			for _, remote := range sc.clients {
				reqs := []Request{
					AtInit{Remote: remote, Anycast: r.IntN(2) == 0, RedirectedFrom: genRedirectedFrom(r, sc), PortCapable: r.IntN(2) == 0},
					AtAuth{Remote: remote, RedirectedFrom: genRedirectedFrom(r, sc), LeaseOwner: genLease(r, sc.view), LeaseMoving: genLease(r, sc.view)},
					Reevaluate{Binding: genBinding(r, sc, remote), Now: epoch},
				}
				for _, req := range reqs {
					a, b, c := p.Explain(req), q.Explain(req), p.Explain(req)
					if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, c) {
						t.Errorf("%s: %+v\n%+v\n%+v\n%+v", m.ID, req, a, b, c)
					}
				}
			}
		}
	})
}

func shuffledCopy[T any](r *rand.Rand, s []T) []T {
	c := append([]T(nil), s...)
	r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	return c
}

// Hysteresis: when a member keeps a client because it ranks first, load
// changes of less than half the load margin on every member (eligibility
// unchanged) do not make it redirect.
func TestPropertyHysteresis(t *testing.T) {
	forScenarios(t, 1000, genOpts{bigCapacity: true}, func(t *testing.T, r *rand.Rand, sc scenario) {
		if sc.cfg.LoadMargin == 0 {
			sc.cfg.LoadMargin = 0.2
		}
		for _, m := range sc.view.Members {
			v := sc.withSelf(m.ID)
			p := mustNew(t, sc.cfg, v)
			for _, remote := range sc.clients {
				req := AtInit{Remote: remote, PortCapable: r.IntN(2) == 0}
				if d := p.AtInit(req); d.Action != ActionStay || d.Reason != ReasonBest {
					continue
				}
				for range 5 {
					pv := v
					pv.Members = append([]Member(nil), v.Members...)
					for i := range pv.Members {
						pv.Members[i].Load = perturb(r, pv.Members[i], 0.45*sc.cfg.LoadMargin)
					}
					if d := mustNew(t, sc.cfg, pv).AtInit(req); d.Action != ActionStay {
						t.Errorf("%s: %+v stays on %v, redirects on %v: %v", m.ID, req, v.Members, pv.Members, d)
					}
				}
			}
		}
	})
}

// perturb returns a load whose ratio differs from m's by less than by,
// on the same side of the capacity.
func perturb(r *rand.Rand, m Member, by float64) int {
	span := int(by * float64(m.Capacity))
	l := m.Load + r.IntN(2*span+1) - span
	if m.Load < m.Capacity {
		return max(0, min(l, m.Capacity-1))
	}
	return max(l, m.Capacity)
}

// A client's whole journey on a consistent view: it contacts a member
// (or the anycast address), follows redirects, and authenticates where
// it is kept. It ends within two redirects (one placement, one lease), on
// the member holding or receiving its lease when that member can serve
// it, and that member keeps it at IKE_SA_INIT and IKE_AUTH. When that
// member is full, two more: at IKE_SA_INIT it sends the client to the
// member it ranks first (it cannot know the client holds its lease), which
// sends it back at IKE_AUTH by the lease, and then the REDIRECTED_FROM
// guard keeps it.
func TestPropertyClientJourney(t *testing.T) {
	forScenarios(t, 3000, genOpts{}, func(t *testing.T, r *rand.Rand, sc scenario) {
		ps := policies(t, sc)
		for _, remote := range sc.clients {
			portCapable := r.IntN(3) == 0
			owner, moving := genLease(r, sc.view), genLease(r, sc.view)
			at := sc.view.Members[r.IntN(len(sc.view.Members))]
			anycast := r.IntN(2) == 0
			local, ok := sameFamilyLocal(at, remote)
			if anycast {
				local, ok = sc.anycastFor(remote), true
			}
			if !ok {
				continue
			}
			var (
				rf        netip.Addr
				redirects int
				trail     []string
			)
			limit := 2
			if full(sc, owner) || full(sc, moving) {
				limit = 4
			}
			for {
				trail = append(trail, at.ID+"@"+local.String())
				init := AtInit{Remote: remote, Anycast: anycast, RedirectedFrom: rf, PortCapable: portCapable}
				d := ps[at.ID].AtInit(init)
				if d.Action == ActionStay {
					auth := AtAuth{Remote: remote, RedirectedFrom: rf, PortCapable: portCapable, LeaseOwner: owner, LeaseMoving: moving}
					if d = ps[at.ID].AtAuth(auth); d.Action == ActionStay {
						break
					}
				}
				trail = append(trail, d.String())
				if redirects++; redirects > limit {
					t.Fatalf("more than %d redirects (owner %q, moving %q): %s", limit, owner, moving, strings.Join(trail, " -> "))
				}
				if !d.Addr.IsValid() {
					t.Fatalf("redirect without an address: %s", strings.Join(trail, " -> "))
				}
				rf, local, anycast = local, d.Addr, false
				at, _ = memberByID(sc.view, d.Target)
			}
			// A live lease member is where the journey ends; a node already
			// on the member its lease is moving to stays there too.
			switch {
			case serves(sc, moving, remote, portCapable):
				if at.ID != moving {
					t.Errorf("ended on %s, want %s the lease moves to (owner %q): %s", at.ID, moving, owner, strings.Join(trail, " -> "))
				}
			case serves(sc, owner, remote, portCapable):
				if at.ID != owner && at.ID != moving {
					t.Errorf("ended on %s, want lease owner %s (moving %q): %s", at.ID, owner, moving, strings.Join(trail, " -> "))
				}
			}
		}
	})
}

// full reports whether member id exists and is at or over its capacity.
func full(sc scenario, id string) bool {
	m, ok := memberByID(sc.view, id)
	return ok && m.Load >= m.Capacity
}

// serves reports whether member id exists, is healthy and not draining,
// and has an address a client at remote can be redirected to.
func serves(sc scenario, id string, remote netip.Addr, portCapable bool) bool {
	m, ok := memberByID(sc.view, id)
	if !ok || !m.Healthy || m.Draining {
		return false
	}
	for _, a := range m.Addrs {
		if a.Is4() == remote.Is4() || sc.cfg.CrossFamily {
			return true
		}
	}
	for _, ap := range m.NATAddrs {
		if portCapable && (ap.Addr().Is4() == remote.Is4() || sc.cfg.CrossFamily) {
			return true
		}
	}
	return false
}
