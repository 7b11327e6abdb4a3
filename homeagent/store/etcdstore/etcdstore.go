// Package etcdstore is the etcd backend of the lease store, for a
// deployment of several home agents that share one etcd cluster
// (go.etcd.io/etcd/client/v3; tested against etcd 3.4 to 3.6).
//
// # Key layout
//
// Every key lives under a prefix, one per deployment (Options.Prefix,
// default "/mip6ha/default"):
//
//	<prefix>/leases/4/<8 hex digits>     lease of an IPv4 home address
//	<prefix>/leases/6/<32 hex digits>    lease of an IPv6 home address
//	<prefix>/identities/<identity>/<4|6> identity index: the HoA (text)
//	<prefix>/members/<member ID>         member record, under an etcd lease
//
// Identities and member IDs are path-escaped (url.PathEscape), so a "/" in
// an identity stays inside its path segment. Address keys are fixed-width
// hex so that a key range is an address range: an allocator finds the
// free addresses of a pool with one ordered keys-only range read.
// Values are the JSON records of package record (readable with etcdctl);
// a lease's Revision is its key's ModRevision and is not stored in it.
// Lease keys are never deleted (a released lease stays, reserved for its
// identity until reclaimed), so each client remembers per pool the lowest
// address that may still be free and scans from there. Deleting lease
// keys by hand is safe but may leave addresses unused until a restart.
//
// # Consistency
//
// Every write is one etcd transaction guarded by a compare: transitions
// compare the lease key's ModRevision with the revision the caller read;
// a new address is created only if its key has no revision yet (never
// two owners of one address, whichever home agent allocates); the
// identity index is compared with the revision read with it; a takeover
// also compares the old owner's member key with "absent". Reads are
// linearizable. A transaction that fails its compare is retried (Acquire,
// up to Options.MaxRetries) or reported as store.ErrConflict
// (transitions).
//
// If a call fails with a transport error (a member died mid-request) the
// write may or may not have been applied: read the record again. The
// revision rules make a retried transition safe: it either finds the
// record at the revision it expects or loses with ErrConflict.
//
// # Members
//
// Join grants an etcd lease of the TTL (whole seconds; the server may
// round it up to its minimum, 1.5 election timeouts), puts the member
// record under it and keeps it alive. When the home agent dies or its
// keep-alive stops, etcd deletes the record after the TTL. Membership.Done
// closes when the record is deleted or replaced, or when no keep-alive
// answer arrived within the TTL (the home agent may be cut off from the
// cluster while the others already see it gone).
package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/internal/leaseop"
	"github.com/mip6ha/mip6ha/homeagent/store/internal/record"
)

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "/mip6ha/default"

// Options tune a Store.
type Options struct {
	// Prefix is the key prefix of the deployment, without a trailing
	// slash; empty means DefaultPrefix.
	Prefix string
	// Now is the clock of record timestamps and move deadlines; nil means
	// time.Now.
	Now func() time.Time
	// MaxRetries bounds the attempts of an Acquire that keeps losing
	// allocation races to other home agents; zero means 64.
	MaxRetries int
	// PageSize is the number of keys read per range request when scanning
	// leases; zero means 512.
	PageSize int64
	// WatchBuffer is how many undelivered events a watcher may have before
	// it is dropped with store.ErrWatchLagged; zero means 4096.
	WatchBuffer int
}

// Store is the etcd lease store. It implements store.Store.
type Store struct {
	c       *clientv3.Client
	own     bool
	prefix  string
	now     func() time.Time
	retries int
	page    int64
	buffer  int

	ctx    context.Context // ends when the store closes
	cancel context.CancelFunc
	closed atomic.Bool
	wg     sync.WaitGroup

	mu   sync.Mutex
	regs map[*membership]struct{}
	// hints holds, per pool, an address below which every address of the
	// pool has a record (lease records are never deleted, so the bound
	// only grows); allocation scans from it.
	hints map[store.Pool]netip.Addr
}

var _ store.Store = (*Store)(nil)

// New returns a Store on an existing client. Close leaves the client open.
func New(c *clientv3.Client, opts Options) (*Store, error) {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("%w: etcd key prefix %q must start and not end with '/'", store.ErrInvalid, prefix)
	}
	s := &Store{
		c: c, prefix: prefix, now: opts.Now, retries: opts.MaxRetries, page: opts.PageSize, buffer: opts.WatchBuffer,
		regs: make(map[*membership]struct{}), hints: make(map[store.Pool]netip.Addr),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.retries <= 0 {
		s.retries = 64
	}
	if s.page <= 0 {
		s.page = 512
	}
	if s.buffer <= 0 {
		s.buffer = 4096
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Open connects to etcd with cfg and returns a Store that owns the client.
func Open(cfg clientv3.Config, opts Options) (*Store, error) {
	c, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcdstore: %w", err)
	}
	s, err := New(c, opts)
	if err != nil {
		c.Close()
		return nil, err
	}
	s.own = true
	return s, nil
}

// Close stops watches and keep-alives (memberships lapse after their TTL;
// call Leave first to withdraw at once) and closes the client if the
// store opened it.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cancel()
	s.mu.Lock()
	for r := range s.regs {
		r.end()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.own {
		return s.c.Close()
	}
	return nil
}

// spawn runs f on a goroutine that Close waits for, unless the store is
// closed (then it reports false). Checking and counting under s.mu keeps
// every Add before Close's Wait.
func (s *Store) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// Prefix returns the store's key prefix.
func (s *Store) Prefix() string { return s.prefix }

func (s *Store) leasesPrefix() string { return s.prefix + "/leases/" }

func (s *Store) leaseKey(hoa netip.Addr) string { return s.leasesPrefix() + record.AddrText(hoa) }

func (s *Store) identityKey(identity string, f store.Family) string {
	return fmt.Sprintf("%s/identities/%s/%d", s.prefix, url.PathEscape(identity), f)
}

func (s *Store) membersPrefix() string { return s.prefix + "/members/" }

func (s *Store) memberKey(id string) string { return s.membersPrefix() + url.PathEscape(id) }

// begin checks the store is open and the context alive.
func (s *Store) begin(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// mapErr turns client errors into the contract's: a closed store or
// client is ErrClosed, an ended context its error.
func (s *Store) mapErr(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case s.closed.Load():
		return fmt.Errorf("%w: %v", store.ErrClosed, err)
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.Canceled) && s.ctx.Err() != nil:
		return store.ErrClosed
	case store.Sentinel(err) != nil:
		return err
	}
	return fmt.Errorf("%w: etcd: %w", store.ErrUnavailable, err)
}

// decodeLease decodes a lease key-value; the revision is the key's.
func decodeLease(value []byte, modRevision int64) (store.Lease, error) {
	l, err := record.DecodeLease(value)
	if err != nil {
		return store.Lease{}, err
	}
	l.Revision = store.Revision(modRevision)
	return l, nil
}

// lease reads the record of hoa; HoA invalid when there is none.
func (s *Store) lease(ctx context.Context, hoa netip.Addr) (store.Lease, error) {
	resp, err := s.c.Get(ctx, s.leaseKey(hoa))
	if err != nil {
		return store.Lease{}, s.mapErr(ctx, err)
	}
	if len(resp.Kvs) == 0 {
		return store.Lease{}, nil
	}
	kv := resp.Kvs[0]
	l, err := decodeLease(kv.Value, kv.ModRevision)
	if err == nil && l.HoA != hoa {
		err = fmt.Errorf("%w: key of %v holds the lease of %v", store.ErrCorrupt, hoa, l.HoA)
	}
	return l, err
}

// identityLease follows the identity index. It returns the lease (HoA
// invalid when none, or when the entry is stale) and the index key's
// ModRevision (0 when absent), which a write of the index compares.
func (s *Store) identityLease(ctx context.Context, identity string, f store.Family) (store.Lease, int64, error) {
	resp, err := s.c.Get(ctx, s.identityKey(identity, f))
	if err != nil {
		return store.Lease{}, 0, s.mapErr(ctx, err)
	}
	if len(resp.Kvs) == 0 {
		return store.Lease{}, 0, nil
	}
	idxRev := resp.Kvs[0].ModRevision
	hoa, err := netip.ParseAddr(string(resp.Kvs[0].Value))
	if err != nil || store.FamilyOf(hoa) != f {
		return store.Lease{}, 0, fmt.Errorf("%w: identity index of %q: %q", store.ErrCorrupt, identity, resp.Kvs[0].Value)
	}
	l, err := s.lease(ctx, hoa)
	if err != nil || l.Identity != identity {
		return store.Lease{}, idxRev, err
	}
	return l, idxRev, nil
}

// Acquire implements store.Leases.
func (s *Store) Acquire(ctx context.Context, req store.AcquireRequest) (store.Lease, error) {
	if err := s.begin(ctx); err != nil {
		return store.Lease{}, err
	}
	if err := leaseop.Validate(req); err != nil {
		return store.Lease{}, err
	}
	for range s.retries {
		l, done, err := s.tryAcquire(ctx, req)
		if done || err != nil {
			return l, err
		}
	}
	return store.Lease{}, store.Errorf(leaseop.OpAcquire, req.Suggested, store.Lease{}, store.ErrConflict,
		"lost the allocation race %d times for %q", s.retries, req.Identity)
}

// tryAcquire makes one attempt; done is false when a compare failed and
// the caller should try again.
func (s *Store) tryAcquire(ctx context.Context, req store.AcquireRequest) (l store.Lease, done bool, err error) {
	f := req.Pool.Family()
	mine, idxRev, err := s.identityLease(ctx, req.Identity, f)
	if err != nil {
		return store.Lease{}, true, err
	}
	var suggested store.Lease
	if req.Pool.Contains(req.Suggested) {
		if suggested, err = s.lease(ctx, req.Suggested); err != nil {
			return store.Lease{}, true, err
		}
	}
	step, err := leaseop.PlanAcquire(req, mine, suggested)
	if err != nil {
		return store.Lease{}, true, err
	}
	now := s.now()
	switch step {
	case leaseop.Keep:
		return mine, true, nil
	case leaseop.BindExisting:
		return s.put(ctx, mine, leaseop.Bind(mine, req, now), nil, nil)
	case leaseop.TakeSuggested:
		return s.take(ctx, req, req.Suggested, suggested, idxRev, now)
	}
	hoa, cur, err := s.free(ctx, req.Pool)
	if err != nil {
		return store.Lease{}, true, err
	}
	if !hoa.IsValid() {
		return store.Lease{}, true, leaseop.Exhausted(req)
	}
	return s.take(ctx, req, hoa, cur, idxRev, now)
}

// take gives hoa (no record, or the released record cur) to the request's
// identity and points the identity index at it, in one transaction.
func (s *Store) take(ctx context.Context, req store.AcquireRequest, hoa netip.Addr, cur store.Lease, idxRev int64, now time.Time) (store.Lease, bool, error) {
	next := leaseop.New(req, hoa, now)
	idxKey := s.identityKey(req.Identity, req.Pool.Family())
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(idxKey), "=", idxRev)}
	ops := []clientv3.Op{clientv3.OpPut(idxKey, hoa.String())}
	if cur.HoA.IsValid() {
		next = leaseop.Bind(cur, req, now)
		if cur.Identity != req.Identity {
			// Drop the index entry of the identity whose released address
			// this is, if it still names the address.
			old := s.identityKey(cur.Identity, store.FamilyOf(hoa))
			ops = append(ops, clientv3.OpTxn(
				[]clientv3.Cmp{clientv3.Compare(clientv3.Value(old), "=", hoa.String())},
				[]clientv3.Op{clientv3.OpDelete(old)}, nil))
		}
	}
	return s.put(ctx, cur, next, cmps, ops)
}

// put writes next if the lease key is still at cur's revision (absent when
// cur has no HoA) and cmps hold, together with ops. done is false when a
// compare failed.
func (s *Store) put(ctx context.Context, cur, next store.Lease, cmps []clientv3.Cmp, ops []clientv3.Op) (store.Lease, bool, error) {
	key := s.leaseKey(next.HoA)
	cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", int64(cur.Revision)))
	v, err := record.EncodeLease(next, false)
	if err != nil {
		return store.Lease{}, true, err
	}
	ops = append(ops, clientv3.OpPut(key, string(v)))
	resp, err := s.c.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return store.Lease{}, true, s.mapErr(ctx, err)
	}
	if !resp.Succeeded {
		return store.Lease{}, false, nil
	}
	next.Revision = store.Revision(resp.Header.Revision)
	return next, true, nil
}

// free returns an address of p without a record, chosen at random among
// the lowest few so that concurrent allocators rarely collide; else the
// least recently released lease of p (and its record); else an invalid
// address.
func (s *Store) free(ctx context.Context, p store.Pool) (netip.Addr, store.Lease, error) {
	const candidates = 16
	var found []netip.Addr
	s.mu.Lock()
	want := s.hints[p]
	s.mu.Unlock()
	if !p.Contains(want) {
		want = p.First
	}
	err := s.scan(ctx, want, p.Last, true, func(hoa netip.Addr, _ []byte, _ int64) bool {
		for want.IsValid() && want.Less(hoa) && len(found) < candidates {
			found = append(found, want)
			want = want.Next()
		}
		if len(found) == candidates {
			return false
		}
		if hoa == p.Last {
			want = netip.Addr{}
			return false
		}
		want = hoa.Next()
		return true
	})
	if err != nil {
		return netip.Addr{}, store.Lease{}, err
	}
	for want.IsValid() && p.Contains(want) && len(found) < candidates {
		found = append(found, want)
		if want == p.Last {
			break
		}
		want = want.Next()
	}
	if len(found) > 0 {
		s.mu.Lock()
		if h := s.hints[p]; !h.IsValid() || h.Less(found[0]) {
			s.hints[p] = found[0]
		}
		s.mu.Unlock()
		return found[rand.IntN(len(found))], store.Lease{}, nil
	}
	var oldest store.Lease
	err = s.scan(ctx, p.First, p.Last, false, func(_ netip.Addr, v []byte, rev int64) bool {
		l, derr := decodeLease(v, rev)
		if derr != nil {
			err = derr
			return false
		}
		if leaseop.Reclaimable(l) && (!oldest.HoA.IsValid() || leaseop.Older(l, oldest)) {
			oldest = l
		}
		return true
	})
	return oldest.HoA, oldest, err
}

// scan reads the lease keys from first to last in address order, a page
// at a time, and calls fn for each until it returns false. All pages are
// read at the revision of the first.
func (s *Store) scan(ctx context.Context, first, last netip.Addr, keysOnly bool, fn func(hoa netip.Addr, value []byte, modRevision int64) bool) error {
	start, end := s.leaseKey(first), s.leaseKey(last)+"\x00"
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(s.page)}
		if keysOnly {
			opts = append(opts, clientv3.WithKeysOnly())
		}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.c.Get(ctx, start, opts...)
		if err != nil {
			return s.mapErr(ctx, err)
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			hoa, err := record.ParseAddrText(strings.TrimPrefix(string(kv.Key), s.leasesPrefix()))
			if err != nil {
				return err
			}
			if !fn(hoa, kv.Value, kv.ModRevision) {
				return nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Lease implements store.Leases.
func (s *Store) Lease(ctx context.Context, hoa netip.Addr) (store.Lease, error) {
	if err := s.begin(ctx); err != nil {
		return store.Lease{}, err
	}
	l, err := s.lease(ctx, hoa)
	if err == nil && !l.HoA.IsValid() {
		err = store.Errorf(leaseop.OpLease, hoa, l, store.ErrNotFound, "no lease")
	}
	return l, err
}

// IdentityLease implements store.Leases.
func (s *Store) IdentityLease(ctx context.Context, identity string, f store.Family) (store.Lease, error) {
	if err := s.begin(ctx); err != nil {
		return store.Lease{}, err
	}
	l, _, err := s.identityLease(ctx, identity, f)
	if err == nil && !l.HoA.IsValid() {
		err = store.Errorf(leaseop.OpLease, netip.Addr{}, l, store.ErrNotFound, "no %v lease for %q", f, identity)
	}
	return l, err
}

// List implements store.Leases.
func (s *Store) List(ctx context.Context, f store.Filter) ([]store.Lease, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	ls, _, err := s.list(ctx, f)
	return ls, err
}

// list reads every lease matching f and returns the revision it read at.
func (s *Store) list(ctx context.Context, f store.Filter) ([]store.Lease, int64, error) {
	var (
		out []store.Lease
		rev int64
	)
	start, end := s.leasesPrefix(), clientv3.GetPrefixRangeEnd(s.leasesPrefix())
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(s.page)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.c.Get(ctx, start, opts...)
		if err != nil {
			return nil, 0, s.mapErr(ctx, err)
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			l, err := decodeLease(kv.Value, kv.ModRevision)
			if err != nil {
				return nil, 0, err
			}
			if f.Match(l) {
				out = append(out, l)
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, rev, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// transition reads the lease of hoa, applies rule and writes the result
// with a compare on the revision read (plus the rule's own compares). A
// failed compare means the record changed: read again, where the rule
// reports the conflict on the current record.
func (s *Store) transition(ctx context.Context, op string, hoa netip.Addr, rule func(cur store.Lease, now time.Time) (store.Lease, []clientv3.Cmp, error)) (store.Lease, error) {
	if err := s.begin(ctx); err != nil {
		return store.Lease{}, err
	}
	for range s.retries {
		cur, err := s.lease(ctx, hoa)
		if err != nil {
			return store.Lease{}, err
		}
		next, cmps, err := rule(cur, s.now())
		if err != nil {
			return store.Lease{}, err
		}
		l, done, err := s.put(ctx, cur, next, cmps, nil)
		if done || err != nil {
			return l, err
		}
	}
	return store.Lease{}, store.Errorf(op, hoa, store.Lease{}, store.ErrConflict, "gave up after %d attempts", s.retries)
}

// Release implements store.Leases.
func (s *Store) Release(ctx context.Context, hoa netip.Addr, expected store.Revision) (store.Lease, error) {
	return s.transition(ctx, leaseop.OpRelease, hoa, func(cur store.Lease, now time.Time) (store.Lease, []clientv3.Cmp, error) {
		l, err := leaseop.Release(cur, hoa, expected, now)
		return l, nil, err
	})
}

// MarkMoving implements store.Leases.
func (s *Store) MarkMoving(ctx context.Context, hoa netip.Addr, expected store.Revision, m store.Move) (store.Lease, error) {
	return s.transition(ctx, leaseop.OpMarkMoving, hoa, func(cur store.Lease, now time.Time) (store.Lease, []clientv3.Cmp, error) {
		l, err := leaseop.MarkMoving(cur, hoa, expected, m, now)
		return l, nil, err
	})
}

// CancelMove implements store.Leases.
func (s *Store) CancelMove(ctx context.Context, hoa netip.Addr, expected store.Revision) (store.Lease, error) {
	return s.transition(ctx, leaseop.OpCancelMove, hoa, func(cur store.Lease, now time.Time) (store.Lease, []clientv3.Cmp, error) {
		l, err := leaseop.CancelMove(cur, hoa, expected, now)
		return l, nil, err
	})
}

// Transfer implements store.Leases.
func (s *Store) Transfer(ctx context.Context, hoa netip.Addr, expected store.Revision, to string) (store.Lease, error) {
	return s.transition(ctx, leaseop.OpTransfer, hoa, func(cur store.Lease, now time.Time) (store.Lease, []clientv3.Cmp, error) {
		l, err := leaseop.Transfer(cur, hoa, expected, to, now)
		return l, nil, err
	})
}

// Takeover implements store.Leases. The owner's member key must be absent
// when the write commits.
func (s *Store) Takeover(ctx context.Context, hoa netip.Addr, expected store.Revision, owner string) (store.Lease, error) {
	return s.transition(ctx, leaseop.OpTakeover, hoa, func(cur store.Lease, now time.Time) (store.Lease, []clientv3.Cmp, error) {
		alive := false
		var memberKey string
		if cur.Owner != "" {
			memberKey = s.memberKey(cur.Owner)
			resp, err := s.c.Get(ctx, memberKey, clientv3.WithCountOnly())
			if err != nil {
				return cur, nil, s.mapErr(ctx, err)
			}
			alive = resp.Count > 0
		}
		l, err := leaseop.Takeover(cur, hoa, expected, owner, alive, now)
		if err != nil {
			return l, nil, err
		}
		return l, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(memberKey), "=", 0)}, nil
	})
}

// SetAttributes implements store.Leases.
func (s *Store) SetAttributes(ctx context.Context, hoa netip.Addr, expected store.Revision, a store.Attributes) (store.Lease, error) {
	return s.transition(ctx, leaseop.OpSetAttributes, hoa, func(cur store.Lease, now time.Time) (store.Lease, []clientv3.Cmp, error) {
		l, err := leaseop.SetAttributes(cur, hoa, expected, a, now)
		return l, nil, err
	})
}

// WatchLeases implements store.Leases.
func (s *Store) WatchLeases(ctx context.Context) (*store.Watch[store.Lease], error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	current, rev, err := s.list(ctx, store.Filter{})
	if err != nil {
		return nil, err
	}
	events, errf := watch(s, ctx, s.leasesPrefix(), rev, decodeLease, func(key string) store.Lease {
		hoa, _ := record.ParseAddrText(strings.TrimPrefix(key, s.leasesPrefix()))
		return store.Lease{HoA: hoa}
	})
	return store.NewWatch(current, events, errf), nil
}
