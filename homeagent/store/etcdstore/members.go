package etcdstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/internal/record"
)

// membership implements store.Membership on an etcd lease.
type membership struct {
	s     *Store
	id    string
	key   string
	lease clientv3.LeaseID
	done  chan struct{}
	once  sync.Once
}

func (r *membership) end() { r.once.Do(func() { close(r.done) }) }

// Done implements store.Membership.
func (r *membership) Done() <-chan struct{} { return r.done }

// Update implements store.Membership: it rewrites the record only while
// it is still held under this membership's etcd lease.
func (r *membership) Update(ctx context.Context, m store.Member) error {
	s := r.s
	if err := s.begin(ctx); err != nil {
		return err
	}
	if err := record.CheckMember(m); err != nil {
		return err
	}
	if m.ID != r.id {
		return fmt.Errorf("%w: membership of %q cannot publish %q", store.ErrInvalid, r.id, m.ID)
	}
	m.Heartbeat = s.now()
	v, err := record.EncodeMember(m)
	if err != nil {
		return err
	}
	resp, err := s.c.Txn(ctx).
		If(clientv3.Compare(clientv3.LeaseValue(r.key), "=", r.lease)).
		Then(clientv3.OpPut(r.key, string(v), clientv3.WithLease(r.lease))).
		Commit()
	if err != nil {
		return s.mapErr(ctx, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: membership of %q lapsed", store.ErrNotFound, r.id)
	}
	return nil
}

// Leave implements store.Membership: revoking the etcd lease deletes the
// record.
func (r *membership) Leave(ctx context.Context) error {
	s := r.s
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer r.end()
	if _, err := s.c.Revoke(ctx, r.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return s.mapErr(ctx, err)
	}
	return nil
}

// revoke withdraws an etcd lease of a failed Join, best effort, bounded
// in time even when etcd is unreachable.
func (s *Store) revoke(ctx context.Context, id clientv3.LeaseID) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s.c.Revoke(rctx, id)
}

// ttlSeconds rounds a TTL up to whole seconds, at least one.
func ttlSeconds(ttl time.Duration) int64 {
	return max(1, int64((ttl+time.Second-1)/time.Second))
}

// Join implements store.Members.
func (s *Store) Join(ctx context.Context, m store.Member, ttl time.Duration) (store.Membership, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := record.CheckMember(m); err != nil {
		return nil, err
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("%w: member TTL %v", store.ErrInvalid, ttl)
	}
	m.Heartbeat = s.now()
	v, err := record.EncodeMember(m)
	if err != nil {
		return nil, err
	}
	grant, err := s.c.Grant(ctx, ttlSeconds(ttl))
	if err != nil {
		return nil, s.mapErr(ctx, err)
	}
	r := &membership{s: s, id: m.ID, key: s.memberKey(m.ID), lease: grant.ID, done: make(chan struct{})}
	put, err := s.c.Put(ctx, r.key, string(v), clientv3.WithLease(grant.ID))
	if err != nil {
		s.revoke(ctx, grant.ID)
		return nil, s.mapErr(ctx, err)
	}
	// The keep-alive lives as long as the caller's context and the store.
	kctx, kcancel := context.WithCancel(ctx)
	stopK := context.AfterFunc(s.ctx, kcancel)
	alive, err := s.c.KeepAlive(kctx, grant.ID)
	if err != nil {
		kcancel()
		stopK()
		s.revoke(ctx, grant.ID)
		return nil, s.mapErr(ctx, err)
	}
	s.mu.Lock()
	s.regs[r] = struct{}{}
	s.mu.Unlock()
	started := s.spawn(func() {
		defer stopK()
		defer kcancel()
		r.watch(alive, put.Header.Revision, time.Duration(grant.TTL)*time.Second)
		s.mu.Lock()
		delete(s.regs, r)
		s.mu.Unlock()
	})
	if !started {
		kcancel()
		stopK()
		r.end()
		return nil, store.ErrClosed
	}
	return r, nil
}

// watch follows the membership until it ends: its record deleted or
// replaced, no keep-alive answer within the TTL, or the store closed.
func (r *membership) watch(alive <-chan *clientv3.LeaseKeepAliveResponse, rev int64, ttl time.Duration) {
	defer r.end()
	s := r.s
	wctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	wch := s.c.Watch(wctx, r.key, clientv3.WithRev(rev+1))
	expiry := time.NewTimer(ttl)
	defer expiry.Stop()
	for {
		select {
		case resp, ok := <-alive:
			if !ok {
				alive = nil // keep-alive stopped: the record lapses after the TTL
				continue
			}
			expiry.Reset(time.Duration(resp.TTL) * time.Second)
		case <-expiry.C:
			return
		case resp, ok := <-wch:
			if !ok || resp.Err() != nil {
				if s.ctx.Err() != nil {
					return
				}
				// The watch broke (no leader, compaction): watch again from
				// now; the expiry timer still guards the membership.
				wch = s.c.Watch(wctx, r.key)
				continue
			}
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypeDelete || clientv3.LeaseID(ev.Kv.Lease) != r.lease {
					return
				}
			}
		case <-r.done:
			return
		case <-s.ctx.Done():
			return
		}
	}
}

func decodeMember(v []byte, _ int64) (store.Member, error) { return record.DecodeMember(v) }

// Member implements store.Members.
func (s *Store) Member(ctx context.Context, id string) (store.Member, error) {
	if err := s.begin(ctx); err != nil {
		return store.Member{}, err
	}
	resp, err := s.c.Get(ctx, s.memberKey(id))
	if err != nil {
		return store.Member{}, s.mapErr(ctx, err)
	}
	if len(resp.Kvs) == 0 {
		return store.Member{}, fmt.Errorf("%w: member %q", store.ErrNotFound, id)
	}
	return record.DecodeMember(resp.Kvs[0].Value)
}

// MemberList implements store.Members.
func (s *Store) MemberList(ctx context.Context) ([]store.Member, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	ms, _, err := s.memberList(ctx)
	return ms, err
}

func (s *Store) memberList(ctx context.Context) ([]store.Member, int64, error) {
	resp, err := s.c.Get(ctx, s.membersPrefix(), clientv3.WithPrefix())
	if err != nil {
		return nil, 0, s.mapErr(ctx, err)
	}
	out := make([]store.Member, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		m, err := record.DecodeMember(kv.Value)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b store.Member) int { return cmp.Compare(a.ID, b.ID) })
	return out, resp.Header.Revision, nil
}

// WatchMembers implements store.Members.
func (s *Store) WatchMembers(ctx context.Context) (*store.Watch[store.Member], error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	current, rev, err := s.memberList(ctx)
	if err != nil {
		return nil, err
	}
	events, errf := watch(s, ctx, s.membersPrefix(), rev, decodeMember, func(key string) store.Member {
		id, _ := url.PathUnescape(strings.TrimPrefix(key, s.membersPrefix()))
		return store.Member{ID: id}
	})
	return store.NewWatch(current, events, errf), nil
}
