package boltstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/internal/fanout"
	"github.com/mip6ha/mip6ha/homeagent/store/internal/record"
)

// memberEntry is a live member record and the registration keeping it.
type memberEntry struct {
	m       store.Member
	expires time.Time
	reg     *membership
}

// membership implements store.Membership for the embedded store.
type membership struct {
	s    *Store
	id   string
	ttl  time.Duration
	stop chan struct{} // closed by Leave or when replaced
	done chan struct{} // closed when the membership ended
	once sync.Once
}

// end marks the membership ended; callers hold s.mu.
func (r *membership) end() {
	r.once.Do(func() {
		close(r.done)
		close(r.stop)
	})
}

// Done implements store.Membership.
func (r *membership) Done() <-chan struct{} { return r.done }

// current returns r's entry if r still holds it; callers hold s.mu.
func (r *membership) current() *memberEntry {
	e := r.s.members[r.id]
	if e == nil || e.reg != r {
		return nil
	}
	return e
}

// Update implements store.Membership.
func (r *membership) Update(ctx context.Context, m store.Member) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := record.CheckMember(m); err != nil {
		return err
	}
	if m.ID != r.id {
		return fmt.Errorf("%w: membership of %q cannot publish %q", store.ErrInvalid, r.id, m.ID)
	}
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return store.ErrClosed
	}
	s.expire(time.Now())
	e := r.current()
	if e == nil {
		return fmt.Errorf("%w: membership of %q lapsed", store.ErrNotFound, r.id)
	}
	prev := e.m
	m = cloneMember(m)
	m.Heartbeat = s.now()
	e.m = m
	e.expires = time.Now().Add(r.ttl)
	s.memberW.Publish(store.Event[store.Member]{Value: cloneMember(m), Prev: prev})
	return nil
}

// Leave implements store.Membership.
func (r *membership) Leave(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := r.current(); e != nil {
		s.removeMember(e)
	}
	r.end()
	return nil
}

// removeMember deletes e and announces it; callers hold s.mu.
func (s *Store) removeMember(e *memberEntry) {
	delete(s.members, e.m.ID)
	e.reg.end()
	s.memberW.Publish(store.Event[store.Member]{Value: cloneMember(e.m), Prev: cloneMember(e.m), Deleted: true})
}

func cloneMember(m store.Member) store.Member {
	m.Addrs = slices.Clone(m.Addrs)
	m.NATAddrs = slices.Clone(m.NATAddrs)
	return m
}

// Join implements store.Members.
func (s *Store) Join(ctx context.Context, m store.Member, ttl time.Duration) (store.Membership, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := record.CheckMember(m); err != nil {
		return nil, err
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("%w: member TTL %v", store.ErrInvalid, ttl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	r := &membership{s: s, id: m.ID, ttl: ttl, stop: make(chan struct{}), done: make(chan struct{})}
	m = cloneMember(m)
	m.Heartbeat = s.now()
	var prev store.Member
	if old := s.members[m.ID]; old != nil {
		prev = old.m
		old.reg.end()
	}
	s.members[m.ID] = &memberEntry{m: m, expires: time.Now().Add(ttl), reg: r}
	s.memberW.Publish(store.Event[store.Member]{Value: cloneMember(m), Prev: prev})
	s.wakeReaper()
	s.wg.Add(1)
	go s.keepAlive(ctx, r)
	return r, nil
}

// keepAlive renews r every third of its TTL until ctx ends, r stops, or
// the store closes. When ctx ends the record is left to lapse.
func (s *Store) keepAlive(ctx context.Context, r *membership) {
	defer s.wg.Done()
	t := time.NewTicker(r.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.mu.Lock()
			if e := r.current(); e != nil {
				e.expires = time.Now().Add(r.ttl)
			}
			s.mu.Unlock()
		case <-ctx.Done():
			return
		case <-r.stop:
			return
		case <-s.done:
			return
		}
	}
}

func (s *Store) wakeReaper() {
	select {
	case s.reapWake <- struct{}{}:
	default:
	}
}

// reap removes members whose TTL lapsed.
func (s *Store) reap() {
	defer s.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.mu.Lock()
		next := s.expire(time.Now())
		s.mu.Unlock()
		t.Reset(time.Until(next))
		select {
		case <-t.C:
		case <-s.reapWake:
		case <-s.done:
			return
		}
	}
}

// expire removes the members whose TTL lapsed by now and returns the next
// expiry (at most an hour ahead); callers hold s.mu.
func (s *Store) expire(now time.Time) time.Time {
	next := now.Add(time.Hour)
	for _, e := range s.members {
		if !e.expires.After(now) {
			s.removeMember(e)
		} else if e.expires.Before(next) {
			next = e.expires
		}
	}
	return next
}

// alive reports whether id is a live member.
func (s *Store) alive(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(time.Now())
	return s.members[id] != nil
}

// Member implements store.Members.
func (s *Store) Member(ctx context.Context, id string) (store.Member, error) {
	if err := ctx.Err(); err != nil {
		return store.Member{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return store.Member{}, store.ErrClosed
	}
	s.expire(time.Now())
	e := s.members[id]
	if e == nil {
		return store.Member{}, fmt.Errorf("%w: member %q", store.ErrNotFound, id)
	}
	return cloneMember(e.m), nil
}

// MemberList implements store.Members.
func (s *Store) MemberList(ctx context.Context) ([]store.Member, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	return s.memberList(), nil
}

// memberList returns the live members by ID; callers hold s.mu.
func (s *Store) memberList() []store.Member {
	s.expire(time.Now())
	out := make([]store.Member, 0, len(s.members))
	for _, e := range s.members {
		out = append(out, cloneMember(e.m))
	}
	slices.SortFunc(out, func(a, b store.Member) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// WatchMembers implements store.Members.
func (s *Store) WatchMembers(ctx context.Context) (*store.Watch[store.Member], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	sub := fanout.New[store.Member](ctx, s.buffer)
	s.memberW.Add(sub)
	s.startSubscriber(func() {
		sub.Run()
		s.mu.Lock()
		s.memberW.Remove(sub)
		s.mu.Unlock()
	})
	return store.NewWatch(s.memberList(), sub.Events(), sub.Err), nil
}
