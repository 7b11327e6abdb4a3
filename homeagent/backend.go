package homeagent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/admin"
	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/mip6"
	"github.com/mip6ha/mip6ha/policy"
)

// The admin API (package homeagent/admin) is served from the Service: it
// implements admin.Backend. Move, Drain, DrainStatus and CancelDrain are
// the cluster's (move.go, drain.go); a single home agent, with no other
// member in its view, answers them with admin.ErrNotSupported.

var _ admin.Backend = (*Service)(nil)

// Status implements admin.Backend.
func (s *Service) Status(ctx context.Context) (admin.Status, error) {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	ikeSAs, childSAs := s.peers.counts()
	self := s.cluster.selfMember()
	st := admin.Status{
		Member:    s.cfg.Cluster.MemberID,
		Site:      s.cfg.Cluster.Site,
		Version:   s.opts.Version,
		StartedAt: started,
		Store:     s.cfg.Store.Backend,
		Dataplane: "user-space",
		Healthy:   self.Healthy,
		Draining:  self.Draining,
		IKESAs:    ikeSAs,
		HalfOpen:  s.rt.Stats().HalfOpen,
		ChildSAs:  childSAs,
		Capacity:  s.cfg.Cluster.Capacity,
	}
	for _, l := range s.rt.Listeners() {
		if !l.NATT {
			st.Listen = append(st.Listen, l.Addr)
		}
	}
	s.ha.Range(func(b mip6.Binding) bool {
		if b.State == mip6.StateValid {
			st.Bindings++
		}
		return true
	})
	leases, err := s.store.List(ctx, store.Filter{Owner: s.cfg.Cluster.MemberID})
	if err != nil {
		st.Healthy = false
		return st, fmt.Errorf("%w: lease store: %w", admin.ErrUnavailable, err)
	}
	for _, l := range leases {
		if l.Served() {
			st.Leases++
		}
	}
	members, err := s.store.MemberList(ctx)
	if err != nil {
		return st, fmt.Errorf("%w: lease store: %w", admin.ErrUnavailable, err)
	}
	st.Members = len(members)
	return st, nil
}

// Bindings implements admin.Backend: one entry per established IKE SA
// that holds a home address, with its binding cache entry if the node
// registered one.
func (s *Service) Bindings(ctx context.Context) ([]admin.Binding, error) {
	var out []admin.Binding
	now := time.Now()
	for _, p := range s.peers.list() {
		hoas := p.homeAddresses()
		if len(hoas) == 0 {
			continue
		}
		b := admin.Binding{
			Identity: IdentityOf(p.identity),
			HoA:      hoas[0],
			Remote:   p.path.Remote,
			NAT:      p.nat,
			Since:    p.since,
			IKESPI:   admin.IKESPIs{Initiator: admin.IKESPI(p.spis.I), Responder: admin.IKESPI(p.spis.R)},
			ChildSAs: []admin.ChildSA{},
		}
		for _, c := range p.children {
			b.ChildSAs = append(b.ChildSAs, admin.ChildSA{Inbound: admin.ESPSPI(c.InSPI), Outbound: admin.ESPSPI(c.OutSPI)})
		}
		if mb, ok := s.ha.Lookup(hoas[0]); ok && mb.Identity == b.Identity {
			b.CoA, b.State = mb.CoA, bindingState(mb.State)
			if mb.State != mip6.StateDeregistered {
				b.Lifetime = admin.Seconds(max(mb.Expires.Sub(now), 0))
			}
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b admin.Binding) int { return a.HoA.Compare(b.HoA) })
	return out, nil
}

// bindingState names a binding cache state as the admin API does.
func bindingState(st mip6.BindingState) string {
	switch st {
	case mip6.StateValid:
		return "valid"
	case mip6.StateDADPending:
		return "dad-pending"
	case mip6.StateDeregistered:
		return "deregistered"
	}
	return ""
}

// Leases implements admin.Backend.
func (s *Service) Leases(ctx context.Context, f store.Filter) ([]admin.Lease, error) {
	ls, err := s.store.List(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]admin.Lease, 0, len(ls))
	for _, l := range ls {
		out = append(out, admin.LeaseOf(l))
	}
	return out, nil
}

// Members implements admin.Backend.
func (s *Service) Members(ctx context.Context) ([]admin.Member, error) {
	ms, err := s.store.MemberList(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]admin.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, admin.MemberOf(m, s.cfg.Cluster.MemberID))
	}
	return out, nil
}

// Config implements admin.Backend: the configuration in force (the server
// redacts its secrets).
func (s *Service) Config(context.Context) (*config.Config, error) { return s.cfg, nil }

// Explain implements admin.Backend: the placement policy's decision for a
// client on the live view of the cluster. Without an identity it is the
// decision at IKE_SA_INIT; with one, the re-evaluation of its binding when
// the node is served here, else the decision at IKE_AUTH, where its lease
// counts.
func (s *Service) Explain(ctx context.Context, r admin.ExplainRequest) (admin.Explain, error) {
	if err := r.Validate(); err != nil {
		return admin.Explain{}, fmt.Errorf("%w: %w", admin.ErrInvalid, err)
	}
	p := s.cluster.policy()
	out := admin.Explain{Request: r}
	if r.Identity == "" {
		out.Decision = p.Explain(policy.AtInit{Remote: r.Locator.Unmap(), Anycast: r.Anycast, RedirectedFrom: r.RedirectedFrom})
		return out, nil
	}
	l, err := s.identityLease(ctx, r.Identity)
	switch {
	case err == nil:
		lease := admin.LeaseOf(l)
		out.Lease = &lease
	case !errors.Is(err, store.ErrNotFound):
		return admin.Explain{}, err
	}
	if n, err := s.findNode(r.Identity, netip.Addr{}); err == nil && n.bound {
		b := s.policyBinding(n)
		b.Remote = r.Locator.Unmap()
		out.Decision = p.Explain(policy.Reevaluate{Binding: b, Now: time.Now()})
		return out, nil
	}
	auth := policy.AtAuth{Remote: r.Locator.Unmap(), RedirectedFrom: r.RedirectedFrom, Identity: r.Identity}
	if out.Lease != nil && l.Served() {
		auth.LeaseOwner, auth.LeaseMoving = l.Owner, l.MovingTo
	}
	out.Decision = p.Explain(auth)
	return out, nil
}

// identityLease finds the lease of an identity given as the store records
// it (IdentityOf) or as an operator writes it (config.ParseIdentity
// syntax): IPv6 first, then IPv4.
func (s *Service) identityLease(ctx context.Context, identity string) (store.Lease, error) {
	names := []string{identity}
	if id, err := config.ParseIdentity(identity); err == nil && IdentityOf(id) != identity {
		names = append(names, IdentityOf(id))
	}
	var last error
	for _, name := range names {
		for _, f := range []store.Family{store.IPv6, store.IPv4} {
			l, err := s.store.IdentityLease(ctx, name, f)
			if err == nil {
				return l, nil
			}
			if last = err; !errors.Is(err, store.ErrNotFound) {
				return store.Lease{}, err
			}
		}
	}
	return store.Lease{}, last
}

// Move implements admin.Backend: it moves one node to the member named
// (or, with To empty or "best", to the member the placement policy ranks
// first for it among the others), make-before-break, at the move rate
// (cluster.move_rate), and returns once the node has been told.
func (s *Service) Move(ctx context.Context, r admin.MoveRequest) (admin.Move, error) {
	if err := r.Validate(); err != nil {
		return admin.Move{}, fmt.Errorf("%w: %w", admin.ErrInvalid, err)
	}
	if s.cluster.others() == 0 {
		return admin.Move{}, errNoOther
	}
	n, err := s.findNode(r.Identity, r.HoA)
	if err != nil {
		return admin.Move{}, err
	}
	t, reason, err := s.moveTarget(n, r.To)
	if err != nil {
		return admin.Move{}, err
	}
	if err := s.mover.wait(ctx); err != nil {
		return admin.Move{}, err
	}
	return s.mover.start(ctx, n, t, reason, nil)
}

// MoveToBest is the MoveRequest.To that lets the placement policy choose,
// as an empty To does.
const MoveToBest = "best"

// moveTarget is where an operator's move sends n: the member named, which
// must be live, healthy, not draining and not full, or the policy's choice
// among the other members.
func (s *Service) moveTarget(n servedNode, to string) (target, string, error) {
	b := s.policyBinding(n)
	if to == "" || to == MoveToBest {
		plan := s.cluster.policy().PlanDrain([]policy.Binding{b})
		if len(plan.Moves) == 0 {
			return target{}, "", fmt.Errorf("%w: no other member can take %s (full, unhealthy, draining or unreachable)",
				admin.ErrConflict, n.identity())
		}
		d := plan.Moves[0].Decision
		m, _ := s.cluster.member(d.Target)
		return moveTargetOf(d, m), moveReasonCommand, nil
	}
	if to == s.cfg.Cluster.MemberID {
		return target{}, "", fmt.Errorf("%w: %s is served here already", admin.ErrInvalid, n.identity())
	}
	m, ok := s.cluster.member(to)
	switch {
	case !ok:
		return target{}, "", fmt.Errorf("%w: no live member %q", admin.ErrNotFound, to)
	case !m.Healthy:
		return target{}, "", fmt.Errorf("%w: member %s is not healthy", admin.ErrConflict, to)
	case m.Draining:
		return target{}, "", fmt.Errorf("%w: member %s is draining", admin.ErrConflict, to)
	case m.Load >= m.Capacity:
		return target{}, "", fmt.Errorf("%w: member %s is full (%d of %d)", admin.ErrConflict, to, m.Load, m.Capacity)
	}
	t, ok := memberTarget(m, b.Remote, b.PortCapable, s.cfg.Cluster.CrossFamily)
	if !ok {
		return target{}, "", fmt.Errorf("%w: member %s has no address %s can reach", admin.ErrConflict, to, n.identity())
	}
	return t, moveReasonCommand, nil
}
