package homeagent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/admin"
	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/mip6"
	"github.com/mip6ha/mip6ha/policy"
)

// A drain empties this home agent: it publishes the draining flag (the
// placement policy of every member then sends new nodes elsewhere, and
// this member redirects the ones that still reach it), then moves every
// node it serves to the member the policy ranks first for it
// (policy.PlanDrain), one move per token of cluster.drain_rate, planning
// again before each move so that the plan follows the view (members
// filling up, joining, leaving). A node whose move fails or lapses is
// planned again, up to drainAttempts moves in all (a store that failed
// over, a node that was slow; a node whose Home Agent Switch lapsed once
// its binding has ended, then with a REDIRECT if it has no binding left); a
// node that cannot be told to move at all (no binding, no RFC 5685
// support) is given up at once; a node no member can take stays
// (DrainStatus.Unplaced). The drain is done when nothing is left to move
// and no move is under way; the member stays draining until the drain is
// cancelled (or the home agent restarts).

// drainRun is one drain.
type drainRun struct {
	s      *Service
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}

	mu       sync.Mutex
	status   admin.DrainStatus
	inflight int
	attempts map[string]int  // moves that failed, by identity
	failed   map[string]bool // identities given up on
}

const (
	// drainReplan is the longest a drain with moves under way waits
	// before it plans again.
	drainReplan = time.Second
	// drainAttempts is how many moves a drain tries for one node.
	drainAttempts = 3
)

// finished counts a move the drain started that ended.
func (d *drainRun) finished(identity string, moved bool) {
	d.mu.Lock()
	d.inflight--
	if moved {
		d.status.Moved++
	} else {
		d.failedLocked(identity)
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// failedLocked counts a failed move of identity; d.mu is held.
func (d *drainRun) failedLocked(identity string) {
	if d.attempts[identity]++; d.attempts[identity] >= drainAttempts {
		d.status.Failed++
		d.failed[identity] = true
	}
}

// snapshot returns the drain's progress.
func (d *drainRun) snapshot() admin.DrainStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.status
	st.Unplaced = slices.Clone(st.Unplaced)
	return st
}

// run executes the drain until it is done or ctx ends (cancelled).
func (d *drainRun) run(ctx context.Context) {
	defer close(d.done)
	s := d.s
	lim, err := s.cfg.DrainLimiter()
	if err != nil {
		d.stop(admin.DrainDone, err.Error())
		return
	}
	for {
		if ctx.Err() != nil {
			d.stop(admin.DrainCancelled, "")
			return
		}
		changes := s.cluster.changes()
		nodes := map[netip.Addr]servedNode{}
		var bound []policy.Binding
		d.mu.Lock()
		failed := maps.Clone(d.failed)
		d.mu.Unlock()
		deferred := 0
		for _, n := range s.nodes() {
			if _, moving := s.mover.moving(n.hoa()); moving || failed[n.identity()] {
				continue
			}
			// A node whose binding was switched already (a move that
			// lapsed) is planned again once its binding has ended or been
			// renewed after a deregistration.
			if n.bound && n.binding.Switching {
				deferred++
				continue
			}
			nodes[n.hoa()] = n
			bound = append(bound, s.policyBinding(n))
		}
		plan := s.cluster.policy().PlanDrain(bound)
		d.mu.Lock()
		d.status.Unplaced = d.status.Unplaced[:0]
		for _, b := range plan.Unplaced {
			d.status.Unplaced = append(d.status.Unplaced, b.Identity)
		}
		d.status.Remaining = len(plan.Moves) + d.inflight + deferred
		d.status.Total = d.status.Moved + d.status.Failed + d.status.Remaining
		idle := d.inflight == 0 && deferred == 0
		d.mu.Unlock()

		if len(plan.Moves) == 0 {
			if idle {
				d.stop(admin.DrainDone, "")
				return
			}
			d.pause(ctx, changes, drainReplan)
			continue
		}
		if now := time.Now(); !lim.Allow(now) {
			d.pause(ctx, changes, time.Until(lim.Next(now)))
			continue
		}
		next := plan.Moves[0]
		n := nodes[next.Binding.HoA]
		mem, ok := s.cluster.member(next.Decision.Target)
		if !ok {
			continue // the member went between the plan and now: plan again
		}
		d.mu.Lock()
		d.inflight++
		d.mu.Unlock()
		if _, err := s.mover.start(ctx, n, moveTargetOf(next.Decision, mem), moveReasonDrain, d); err != nil {
			s.log.Warn("drain: move not started", "identity", n.identity(), "to", next.Decision.Target, "err", err)
			d.mu.Lock()
			d.inflight--
			if errors.Is(err, errCannotTell) {
				d.status.Failed++
				d.failed[n.identity()] = true
			} else {
				d.failedLocked(n.identity())
			}
			d.mu.Unlock()
		}
	}
}

// pause waits for a move to end, the view to change, d or ctx, whichever
// comes first.
func (d *drainRun) pause(ctx context.Context, changes <-chan struct{}, wait time.Duration) {
	t := time.NewTimer(max(wait, time.Millisecond))
	defer t.Stop()
	select {
	case <-t.C:
	case <-d.wake:
	case <-changes:
	case <-ctx.Done():
	}
}

// stop records the end of the drain.
func (d *drainRun) stop(state admin.DrainState, why string) {
	d.mu.Lock()
	d.status.State, d.status.FinishedAt, d.status.Error = state, time.Now(), why
	st := d.status
	d.mu.Unlock()
	d.s.log.Info("drain ended", "state", string(st.State), "moved", st.Moved, "failed", st.Failed,
		"remaining", st.Remaining, "unplaced", len(st.Unplaced))
}

// Drain implements admin.Backend: it marks this member draining and starts
// moving every node away at cluster.drain_rate. Draining a member that is
// draining returns the progress; a home agent that is stopping refuses
// (admin.ErrUnavailable).
func (s *Service) Drain(context.Context) (admin.DrainStatus, error) {
	if s.cluster.others() == 0 {
		return admin.DrainStatus{}, errNoOther
	}
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	if s.bgCtx.Err() != nil { // Run cancels it under drainMu before it waits for s.bg
		return admin.DrainStatus{}, fmt.Errorf("%w: the home agent is stopping", admin.ErrUnavailable)
	}
	if d := s.drain; d != nil && d.snapshot().State == admin.DrainRunning {
		return d.snapshot(), nil
	}
	ctx, cancel := context.WithCancel(s.bgCtx)
	d := &drainRun{s: s, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1),
		attempts: map[string]int{}, failed: map[string]bool{},
		status: admin.DrainStatus{State: admin.DrainRunning, StartedAt: time.Now(), Rate: s.cfg.Cluster.DrainRate}}
	s.drain = d
	s.cluster.setDraining(true)
	s.log.Info("drain started", "rate", s.cfg.Cluster.DrainRate)
	s.bg.Go(func() { d.run(ctx) })
	return d.snapshot(), nil
}

// DrainStatus implements admin.Backend: the progress of the latest drain.
func (s *Service) DrainStatus(context.Context) (admin.DrainStatus, error) {
	s.drainMu.Lock()
	d := s.drain
	s.drainMu.Unlock()
	if d == nil {
		return admin.DrainStatus{State: admin.DrainIdle, Rate: s.cfg.Cluster.DrainRate}, nil
	}
	return d.snapshot(), nil
}

// CancelDrain implements admin.Backend: no further move starts (those
// under way finish or lapse) and the member takes new nodes again.
func (s *Service) CancelDrain(ctx context.Context) (admin.DrainStatus, error) {
	s.drainMu.Lock()
	d := s.drain
	s.drainMu.Unlock()
	s.cluster.setDraining(false)
	if d == nil {
		return s.DrainStatus(ctx)
	}
	d.cancel()
	select {
	case <-d.done:
	case <-ctx.Done():
		return d.snapshot(), ctx.Err()
	}
	return d.snapshot(), nil
}

// errNoOther answers moves and drains when no other member is in the view
// (a single home agent).
var errNoOther = fmt.Errorf("%w: no other home agent to move nodes to (a single member)", admin.ErrNotSupported)

// nodes returns the nodes served here, one per identity (the newest IKE
// SA when a node holds several), without those whose leases moved away,
// in order of identity.
func (s *Service) nodes() []servedNode {
	latest := map[string]peer{}
	for _, p := range s.peers.list() {
		hs := p.homeAddresses()
		if len(hs) == 0 || slices.ContainsFunc(hs, s.mover.isDeparted) {
			continue
		}
		id := IdentityOf(p.identity)
		if q, ok := latest[id]; !ok || p.since.After(q.since) {
			latest[id] = p
		}
	}
	out := make([]servedNode, 0, len(latest))
	for _, id := range slices.Sorted(maps.Keys(latest)) {
		out = append(out, s.nodeOf(latest[id]))
	}
	return out
}

// nodeOf completes a peer with its binding, if it registered one.
func (s *Service) nodeOf(p peer) servedNode {
	n := servedNode{peer: p}
	if a := p.assigned.IPv6.Addr(); a.IsValid() {
		if b, ok := s.ha.Lookup(a); ok && b.State == mip6.StateValid && b.Identity == IdentityOf(p.identity) {
			n.binding, n.bound = b, true
		}
	}
	return n
}

// findNode returns the node an operator names by identity (as the store
// records it, or in ike.identity syntax) or by home address.
func (s *Service) findNode(identity string, hoa netip.Addr) (servedNode, error) {
	names := []string{identity}
	if id, err := config.ParseIdentity(identity); identity != "" && err == nil {
		names = append(names, IdentityOf(id))
	}
	for _, n := range s.nodes() {
		if hoa.IsValid() && slices.Contains(n.peer.homeAddresses(), hoa.Unmap()) ||
			identity != "" && slices.Contains(names, n.identity()) {
			return n, nil
		}
	}
	if hoa.IsValid() {
		return servedNode{}, fmt.Errorf("%w: no node with home address %v is served here", admin.ErrNotFound, hoa)
	}
	return servedNode{}, fmt.Errorf("%w: %s is not served here", admin.ErrNotFound, identity)
}

// policyBinding is the node as the placement policy sees it.
func (s *Service) policyBinding(n servedNode) policy.Binding {
	b := policy.Binding{Identity: n.identity(), HoA: n.hoa(), Remote: n.peer.path.Remote.Addr().Unmap(),
		PortCapable: n.peer.extensions}
	if n.bound {
		b.CoA = n.binding.CoA
	}
	if a, ok := s.mover.arrivalOf(b.HoA); ok {
		b.ArrivedFrom, b.ArrivedAt = a.from, a.at
	}
	return b
}
