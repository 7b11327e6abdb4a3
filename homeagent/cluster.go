package homeagent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/policy"
)

// How the Service takes part in the cluster (docs/cluster.md).
const (
	// loadPublishInterval is the longest a change of load waits before
	// the member record is updated, and the shortest time between two
	// updates for load alone: a busy home agent writes its record about
	// once a second, not once per attach.
	loadPublishInterval = time.Second
	// clusterRetry is the pause before a store watch or a Join is tried
	// again after it failed.
	clusterRetry = time.Second
)

// cluster is the Service as a member of the cluster: the record it
// publishes in the store (Members.Join, kept alive by the store, updated
// with the live load, health and draining flag) and its live view of the
// other members, from a watch of the store's member records. The view and
// the configured sites and distances make the placement policy that the
// Redirector (IKE_SA_INIT, IKE_AUTH), the re-evaluation of bindings,
// moves, drains and explain use; it is rebuilt on every change
// (policy.Policy is immutable) and swapped in atomically.
//
// A member whose record lapses (its keep-alive stopped: it died or was cut
// off from the store) leaves the view at once; its leases may be taken over
// by the members its nodes return to (store.Leases.Takeover).
type cluster struct {
	s    *Service
	self string
	cfg  policy.Config
	// view is the placement policy on the current view: never nil once
	// newCluster returned.
	view atomic.Pointer[policy.Policy]
	// changed wakes the publisher when the local state changed.
	changed chan struct{}
	// viewChanged is closed and replaced whenever the view is rebuilt.
	viewChanged atomic.Pointer[chan struct{}]

	// buildMu serialises rebuilds, so that a view built from older state
	// never replaces a newer one.
	buildMu sync.Mutex

	mu         sync.Mutex
	members    map[string]store.Member // live records of the other members
	refused    map[string]string       // members left out of the view, and why
	membership store.Membership        // nil while not joined
	draining   bool
	healthy    bool
	published  store.Member // the record as last written
}

// newCluster joins the store as cfg's member and builds the first view
// (this member alone). ctx bounds the membership's keep-alive.
func newCluster(ctx context.Context, s *Service) (*cluster, error) {
	c := &cluster{s: s, self: s.cfg.Cluster.MemberID, cfg: s.cfg.PolicyConfig(), changed: make(chan struct{}, 1),
		members: map[string]store.Member{}, refused: map[string]string{}, healthy: true}
	ch := make(chan struct{})
	c.viewChanged.Store(&ch)
	rec := c.record()
	ms, err := joinStore(ctx, s.store, rec, s.cfg.Cluster.MembershipTTL)
	if err != nil {
		return nil, fmt.Errorf("homeagent: joining the store as member %q: %w", c.self, err)
	}
	c.membership, c.published = ms, rec
	if err := c.rebuild(); err != nil {
		return nil, fmt.Errorf("homeagent: placement view: %w", err)
	}
	return c, nil
}

// record is this member's record as it should be published now.
func (c *cluster) record() store.Member {
	m := c.s.cfg.StoreMember()
	m.Load = c.s.peers.served()
	c.mu.Lock()
	m.Draining, m.Healthy = c.draining, c.healthy
	c.mu.Unlock()
	return m
}

// policy returns the placement policy on the current view.
func (c *cluster) policy() *policy.Policy { return c.view.Load() }

// changes returns a channel that is closed at the next rebuild of the view.
func (c *cluster) changes() <-chan struct{} { return *c.viewChanged.Load() }

// member returns the live record of member id (this member's as published).
func (c *cluster) member(id string) (policy.Member, bool) {
	if id == c.self {
		return c.selfMember(), true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.members[id]
	if !ok || c.refused[id] != "" {
		return policy.Member{}, false
	}
	return config.PolicyMember(m), true
}

// others returns how many other members are in the view.
func (c *cluster) others() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.members) - len(c.refused)
}

// selfMember is this member as the view holds it: the configured record
// with the live load, health and draining flag, which are more recent than
// the store's echo of our record.
func (c *cluster) selfMember() policy.Member {
	return config.PolicyMember(c.record())
}

// setDraining sets the draining flag, republishes the record and rebuilds
// the view, so that the Redirector sends new nodes elsewhere at once.
func (c *cluster) setDraining(on bool) {
	c.mu.Lock()
	was := c.draining
	c.draining = on
	c.mu.Unlock()
	if was != on {
		c.poke()
		if err := c.rebuild(); err != nil {
			c.s.log.Warn("placement view not rebuilt", "err", err)
		}
	}
}

// poke asks the publisher to write the record now.
func (c *cluster) poke() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// rebuild compiles the placement policy on the current members and swaps
// it in. A member whose record the policy cannot use (a duplicate address,
// a negative load) is left out and logged once; the rest of the view
// stands.
func (c *cluster) rebuild() error {
	c.buildMu.Lock()
	defer c.buildMu.Unlock()
	self := c.selfMember()
	c.mu.Lock()
	ids := slices.Sorted(maps.Keys(c.members))
	members := []policy.Member{self}
	for _, id := range ids {
		if id != c.self {
			members = append(members, config.PolicyMember(c.members[id]))
		}
	}
	for id := range c.refused {
		delete(c.refused, id)
	}
	c.mu.Unlock()
	for {
		p, err := policy.New(c.cfg, c.s.cfg.View(members))
		if err == nil {
			c.view.Store(p)
			if c.s.view != nil {
				c.s.view.p.Store(p)
			}
			next := make(chan struct{})
			close(*c.viewChanged.Swap(&next))
			return nil
		}
		i := refusedMember(err)
		if i <= 0 || i >= len(members) { // never leave ourselves out
			return err
		}
		id := members[i].ID
		c.mu.Lock()
		c.refused[id] = err.Error()
		c.mu.Unlock()
		c.s.log.Warn("member record not usable: left out of the placement view", "member", id, "err", err)
		members = slices.Delete(members, i, i+1)
	}
}

// refusedMember returns the index of the member a *policy.ViewError names
// ("Members[2].Addrs[0]"), or -1.
func refusedMember(err error) int {
	var ve *policy.ViewError
	if !errors.As(err, &ve) {
		return -1
	}
	rest, ok := strings.CutPrefix(ve.Path, "Members[")
	if !ok {
		return -1
	}
	n, _, ok := strings.Cut(rest, "]")
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(n)
	if err != nil {
		return -1
	}
	return i
}

// run follows the cluster until ctx ends: the member watch, the publisher
// of this member's record, and the lease watch (leases that moved away).
func (c *cluster) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { c.watchMembers(ctx) })
	wg.Go(func() { c.publish(ctx) })
	wg.Go(func() { c.watchLeases(ctx) })
	wg.Wait()
}

// watchMembers keeps the member table from the store's member watch,
// watching again after a watch ends (a lagging watcher, an etcd failure).
func (c *cluster) watchMembers(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := c.s.store.WatchMembers(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.s.log.Warn("member watch failed; retrying", "err", err)
				sleepCtx(ctx, clusterRetry)
			}
			continue
		}
		c.setMembers(w.Current)
		for ev := range w.Events {
			c.applyMember(ev)
		}
		if ctx.Err() == nil {
			c.s.log.Warn("member watch ended; watching again", "err", w.Err())
			sleepCtx(ctx, clusterRetry)
		}
	}
}

// setMembers replaces the member table with a watch's snapshot.
func (c *cluster) setMembers(ms []store.Member) {
	next := map[string]store.Member{}
	for _, m := range ms {
		if m.ID != c.self {
			next[m.ID] = m
		}
	}
	c.mu.Lock()
	for id := range next {
		if _, ok := c.members[id]; !ok {
			c.s.log.Info("member joined", "member", id, "site", next[id].Site, "addrs", fmt.Sprint(next[id].Addrs))
		}
	}
	for id := range c.members {
		if _, ok := next[id]; !ok {
			c.s.log.Info("member gone", "member", id)
		}
	}
	c.members = next
	c.mu.Unlock()
	if err := c.rebuild(); err != nil {
		c.s.log.Warn("placement view not rebuilt", "err", err)
	}
}

// applyMember applies one change of a member record.
func (c *cluster) applyMember(ev store.Event[store.Member]) {
	m := ev.Value
	if m.ID == c.self {
		return // our own record: the local state is newer
	}
	c.mu.Lock()
	_, known := c.members[m.ID]
	if ev.Deleted {
		delete(c.members, m.ID)
	} else {
		c.members[m.ID] = m
	}
	c.mu.Unlock()
	switch {
	case ev.Deleted:
		c.s.log.Info("member gone (left, or its record lapsed)", "member", m.ID)
	case !known:
		c.s.log.Info("member joined", "member", m.ID, "site", m.Site, "addrs", fmt.Sprint(m.Addrs))
	}
	if err := c.rebuild(); err != nil {
		c.s.log.Warn("placement view not rebuilt", "err", err)
	}
}

// publish keeps this member's record current: on a change of draining or
// health at once, on a change of load at most every loadPublishInterval.
// When the membership lapses (the store could not keep it alive) the member
// marks itself unhealthy and joins again.
func (c *cluster) publish(ctx context.Context) {
	t := time.NewTicker(loadPublishInterval)
	defer t.Stop()
	for {
		c.mu.Lock()
		ms := c.membership
		c.mu.Unlock()
		var done <-chan struct{}
		if ms != nil {
			done = ms.Done()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.changed:
		case <-done:
			c.lapsed(ctx)
			continue
		}
		if ms == nil {
			c.rejoin(ctx)
			continue
		}
		rec := c.record()
		c.mu.Lock()
		same := rec.Equal(c.published)
		c.mu.Unlock()
		if same {
			continue
		}
		// The view holds our live record at once; the others see it once
		// the update is written.
		if err := c.rebuild(); err != nil {
			c.s.log.Warn("placement view not rebuilt", "err", err)
		}
		uctx, cancel := context.WithTimeout(ctx, DefaultStoreTimeout)
		err := ms.Update(uctx, rec)
		cancel()
		switch {
		case err == nil:
			c.mu.Lock()
			c.published = rec
			c.mu.Unlock()
		case ctx.Err() != nil:
			return
		default:
			c.s.log.Warn("member record not updated", "err", err)
		}
	}
}

// lapsed handles the end of this member's membership while it runs: other
// members may now take its leases over, so it counts itself unhealthy
// (the Redirector sends new nodes elsewhere) until it has joined again.
func (c *cluster) lapsed(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	c.mu.Lock()
	c.membership, c.healthy = nil, false
	c.mu.Unlock()
	c.s.log.Error("membership lapsed: other members may take this member's leases over; joining again", "member", c.self)
	if err := c.rebuild(); err != nil {
		c.s.log.Warn("placement view not rebuilt", "err", err)
	}
	c.rejoin(ctx)
}

// rejoin joins the store again, retrying until it succeeds or ctx ends.
func (c *cluster) rejoin(ctx context.Context) {
	for ctx.Err() == nil {
		c.mu.Lock()
		c.healthy = true
		c.mu.Unlock()
		rec := c.record()
		ms, err := joinStore(c.s.memberCtx, c.s.store, rec, c.s.cfg.Cluster.MembershipTTL)
		if err == nil {
			c.mu.Lock()
			c.membership, c.published = ms, rec
			c.mu.Unlock()
			c.s.log.Info("joined the store again", "member", c.self)
			if err := c.rebuild(); err != nil {
				c.s.log.Warn("placement view not rebuilt", "err", err)
			}
			return
		}
		c.mu.Lock()
		c.healthy = false
		c.mu.Unlock()
		c.s.log.Warn("joining the store failed; retrying", "err", err)
		sleepCtx(ctx, clusterRetry)
	}
}

// leave withdraws this member's record (an orderly shutdown).
func (c *cluster) leave(ctx context.Context) error {
	c.mu.Lock()
	ms := c.membership
	c.mu.Unlock()
	if ms == nil {
		return nil
	}
	return ms.Leave(ctx)
}

// watchLeases follows every lease change in the store and tells the
// Service about the leases it served that another member now serves: a
// make-before-break move completed (Transfer), or a takeover after this
// member's membership lapsed.
func (c *cluster) watchLeases(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := c.s.store.WatchLeases(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.s.log.Warn("lease watch failed; retrying", "err", err)
				sleepCtx(ctx, clusterRetry)
			}
			continue
		}
		for _, l := range w.Current {
			c.s.leaseChanged(l)
		}
		for ev := range w.Events {
			if !ev.Deleted {
				c.s.leaseChanged(ev.Value)
			}
		}
		if ctx.Err() == nil {
			c.s.log.Warn("lease watch ended; watching again", "err", w.Err())
			sleepCtx(ctx, clusterRetry)
		}
	}
}

// joinStore joins st as m. The call is bounded by DefaultStoreTimeout,
// but the membership lives as long as ctx: Members.Join keeps it alive
// with the context it is given, which therefore must not be one that ends
// when the call returns.
func joinStore(ctx context.Context, st store.Members, m store.Member, ttl time.Duration) (store.Membership, error) {
	jctx, cancel := context.WithCancel(ctx)
	bound := time.AfterFunc(DefaultStoreTimeout, cancel)
	ms, err := st.Join(jctx, m, ttl)
	if err != nil {
		bound.Stop()
		cancel()
		return nil, err
	}
	// Joined in time: the membership keeps jctx, which ends with ctx. If
	// the bound fired meanwhile, the membership ends at once and the
	// publisher joins again.
	bound.Stop()
	return ms, nil
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
