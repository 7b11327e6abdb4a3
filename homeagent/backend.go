package homeagent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/admin"
	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/mip6"
	"github.com/mip6ha/mip6ha/policy"
)

// The admin API (package homeagent/admin) is served from the Service: it
// implements admin.Backend. A single home agent moves no node: Move and
// Drain answer admin.ErrNotSupported until the cluster's handover exists.

var _ admin.Backend = (*Service)(nil)

// Status implements admin.Backend.
func (s *Service) Status(ctx context.Context) (admin.Status, error) {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	ikeSAs, childSAs := s.peers.counts()
	st := admin.Status{
		Member:    s.cfg.Cluster.MemberID,
		Site:      s.cfg.Cluster.Site,
		Version:   s.opts.Version,
		StartedAt: started,
		Store:     s.cfg.Store.Backend,
		Dataplane: "user-space",
		Healthy:   true,
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
// client, on the view of the live members of the store.
func (s *Service) Explain(ctx context.Context, r admin.ExplainRequest) (admin.Explain, error) {
	if err := r.Validate(); err != nil {
		return admin.Explain{}, fmt.Errorf("%w: %w", admin.ErrInvalid, err)
	}
	ms, err := s.store.MemberList(ctx)
	if err != nil {
		return admin.Explain{}, err
	}
	members := make([]policy.Member, 0, len(ms))
	for _, m := range ms {
		members = append(members, config.PolicyMember(m))
	}
	p, err := policy.New(s.cfg.PolicyConfig(), s.cfg.View(members))
	if err != nil {
		return admin.Explain{}, fmt.Errorf("%w: placement policy: %w", admin.ErrUnavailable, err)
	}
	out := admin.Explain{Request: r}
	var req policy.Request
	if r.Identity == "" {
		req = policy.AtInit{Remote: r.Locator, Anycast: r.Anycast, RedirectedFrom: r.RedirectedFrom}
	} else {
		auth := policy.AtAuth{Remote: r.Locator, RedirectedFrom: r.RedirectedFrom, Identity: r.Identity}
		l, err := s.identityLease(ctx, r.Identity)
		switch {
		case err == nil:
			lease := admin.LeaseOf(l)
			out.Lease = &lease
			if l.Served() {
				auth.LeaseOwner, auth.LeaseMoving = l.Owner, l.MovingTo
			}
		case !errors.Is(err, store.ErrNotFound):
			return admin.Explain{}, err
		}
		req = auth
	}
	out.Decision = p.Explain(req)
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

// errSingle is the answer to moves and drains of a single home agent.
var errSingle = fmt.Errorf("%w: no other home agent to move nodes to (store.backend %s)", admin.ErrNotSupported, config.BackendEmbedded)

// Move implements admin.Backend.
func (s *Service) Move(ctx context.Context, r admin.MoveRequest) (admin.Move, error) {
	if err := r.Validate(); err != nil {
		return admin.Move{}, fmt.Errorf("%w: %w", admin.ErrInvalid, err)
	}
	return admin.Move{}, errSingle
}

// Drain implements admin.Backend.
func (s *Service) Drain(context.Context) (admin.DrainStatus, error) {
	return admin.DrainStatus{}, errSingle
}

// DrainStatus implements admin.Backend: no drain was ever started.
func (s *Service) DrainStatus(context.Context) (admin.DrainStatus, error) {
	return admin.DrainStatus{State: admin.DrainIdle, Rate: s.cfg.Cluster.DrainRate}, nil
}

// CancelDrain implements admin.Backend: there is nothing to cancel.
func (s *Service) CancelDrain(ctx context.Context) (admin.DrainStatus, error) {
	return s.DrainStatus(ctx)
}
