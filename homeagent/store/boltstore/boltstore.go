// Package boltstore is the embedded backend of the lease store: one bbolt
// file in the home agent's data directory, for a deployment of a single
// home agent. It needs no setup and survives restarts.
//
// # Durability
//
// Every lease write is committed in a bbolt read-write transaction and
// fsynced (fdatasync) before the call returns, unless Options.NoSync is
// set: a lease that Acquire returned is on disk. One writer goroutine
// commits the writes that queue up while it is busy in one transaction
// with one fsync (group commit), so concurrent callers share the cost of
// the disk flush; each write still sees the ones before it, as if they
// ran one by one. Reads run concurrently on a consistent snapshot. An
// Acquire that finds the caller already serving the identity's lease
// answers from a read, without a commit.
//
// # Layout
//
// Bucket "meta": "schema" (format version) and "revision" (the last
// revision handed out, 8 octets big-endian; every write of a lease takes
// the next one, so revisions persist and keep growing across restarts).
// Bucket "leases": AddrKey(HoA) -> lease record (JSON, with its revision).
// Bucket "identities": family octet + identity -> AddrKey(HoA).
//
// # Members
//
// Member records live in memory only: a single home agent has just itself
// as member, and after a restart it joins again. Memberships are kept
// alive in process; one that stops being renewed (its Join context ended)
// lapses after its TTL like an etcd lease. Takeover treats an owner that
// is not a member of this process as gone, which after a restart is every
// previous owner.
//
// A file can be open in one Store at a time (bbolt takes an exclusive file
// lock); several home agents need the etcd backend.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/internal/fanout"
	"github.com/mip6ha/mip6ha/homeagent/store/internal/leaseop"
	"github.com/mip6ha/mip6ha/homeagent/store/internal/record"
)

// FileName is the store's file name in a data directory.
const FileName = "leases.db"

// schema is the layout version in the meta bucket.
const schema = 1

var (
	bucketMeta       = []byte("meta")
	bucketLeases     = []byte("leases")
	bucketIdentities = []byte("identities")
	keySchema        = []byte("schema")
	keyRevision      = []byte("revision")
)

// Options tune a Store. The zero value is the production setting.
type Options struct {
	// Now is the clock of record timestamps and move deadlines; nil means
	// time.Now. Member TTLs always run on real time.
	Now func() time.Time
	// NoSync skips the fsync of each commit: faster, but a crash of the
	// machine may lose the latest writes. For tests and benchmarks.
	NoSync bool
	// LockTimeout bounds the wait for the file lock held by another
	// process; zero means one second.
	LockTimeout time.Duration
	// WatchBuffer is how many undelivered events a watcher may have before
	// it is dropped with store.ErrWatchLagged; zero means 4096.
	WatchBuffer int
}

// Store is the embedded lease store. It implements store.Store.
type Store struct {
	db     *bolt.DB
	now    func() time.Time
	buffer int

	// requests carries writes to the writer goroutine, which commits them
	// in batches: one transaction and one fsync for all writes that
	// arrived while the previous batch committed (group commit).
	requests chan *request
	// wmu is held by the writer while it commits and publishes a batch
	// (so watchers see revision order) and by a watch taking its snapshot.
	wmu sync.Mutex
	rev store.Revision // last revision handed out; guarded by wmu
	// hints holds, per pool, an address below which every address of the
	// pool has a record: records are never deleted, so the bound only
	// grows, and allocation scans from it. Guarded by wmu.
	hints map[store.Pool]netip.Addr

	closed atomic.Bool
	done   chan struct{}
	wg     sync.WaitGroup

	// mu guards what follows.
	mu       sync.Mutex
	leaseW   fanout.Set[store.Lease]
	memberW  fanout.Set[store.Member]
	members  map[string]*memberEntry
	reapWake chan struct{}
}

var _ store.Store = (*Store)(nil)

// OpenDir opens (or creates) the store file FileName in dir, creating dir
// (mode 0700) if needed.
func OpenDir(dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: data directory: %w", err)
	}
	return Open(filepath.Join(dir, FileName), opts)
}

// Open opens (or creates, mode 0600) the store file at path.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoSync: opts.NoSync})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	s := &Store{
		db: db, now: opts.Now, buffer: opts.WatchBuffer,
		done: make(chan struct{}), members: make(map[string]*memberEntry), hints: make(map[store.Pool]netip.Addr),
		reapWake: make(chan struct{}, 1), requests: make(chan *request),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.buffer <= 0 {
		s.buffer = 4096
	}
	if err := db.Update(s.initialise); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: %s: %w", path, err)
	}
	s.wg.Add(2)
	go s.reap()
	go s.writer()
	return s, nil
}

// initialise creates the buckets of a new file and loads the revision of
// an existing one.
func (s *Store) initialise(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	if v := meta.Get(keySchema); v == nil {
		if err := meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, schema)); err != nil {
			return err
		}
	} else if len(v) != 8 || binary.BigEndian.Uint64(v) != schema {
		return fmt.Errorf("%w: unsupported schema %x", store.ErrCorrupt, v)
	}
	if v := meta.Get(keyRevision); v != nil {
		if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) < 0 {
			return fmt.Errorf("%w: revision %x", store.ErrCorrupt, v)
		}
		s.rev = store.Revision(binary.BigEndian.Uint64(v))
	}
	for _, name := range [][]byte{bucketLeases, bucketIdentities} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the file. Watches end with store.ErrClosed, memberships end.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.done) // the writer finishes its batch and stops
	s.wmu.Lock()
	s.mu.Lock()
	s.leaseW.FailAll(store.ErrClosed)
	s.memberW.FailAll(store.ErrClosed)
	for id, e := range s.members {
		e.reg.end()
		delete(s.members, id)
	}
	s.mu.Unlock()
	err := s.db.Close()
	s.wmu.Unlock()
	s.wg.Wait()
	return err
}

// txn is one write transaction: the revisions it hands out and the events
// to publish once it committed. Every write goes through its methods,
// which count them.
type txn struct {
	tx     *bolt.Tx
	rev    store.Revision
	writes int
	events []store.Event[store.Lease]
}

// put writes l (the successor of prev, or a new record when prev.HoA is
// invalid) under the next revision.
func (t *txn) put(prev, l store.Lease) (store.Lease, error) {
	l.Revision = t.rev + 1
	v, err := record.EncodeLease(l, true)
	if err != nil {
		return store.Lease{}, err
	}
	t.writes++
	if err := t.tx.Bucket(bucketLeases).Put(record.AddrKey(l.HoA), v); err != nil {
		return store.Lease{}, err
	}
	t.rev++
	// Watchers get their own copy of the ticket hash, not the caller's.
	ev := l
	ev.TicketHash = bytes.Clone(l.TicketHash)
	t.events = append(t.events, store.Event[store.Lease]{Value: ev, Prev: prev})
	return l, nil
}

// index points the identity index entry key at hoa.
func (t *txn) index(key []byte, hoa netip.Addr) error {
	t.writes++
	return t.tx.Bucket(bucketIdentities).Put(key, record.AddrKey(hoa))
}

// unindex deletes the identity index entry key if it names hoa.
func (t *txn) unindex(key []byte, hoa netip.Addr) error {
	idx := t.tx.Bucket(bucketIdentities)
	if v := idx.Get(key); v == nil || !bytes.Equal(v, record.AddrKey(hoa)) {
		return nil
	}
	t.writes++
	return idx.Delete(key)
}

// request is one write waiting for the writer.
type request struct {
	fn        func(t *txn) error
	committed []func()
	err       error
	done      chan struct{}
}

// maxBatch bounds the writes committed in one transaction.
const maxBatch = 256

// update runs fn in a write transaction and publishes its events. The
// committed funcs run after a successful commit, still serialised with
// other writes. fn may share its transaction with other writes: when it
// fails it must not have written (the writer then retries the others
// without it).
func (s *Store) update(ctx context.Context, fn func(t *txn) error, committed ...func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	r := &request{fn: fn, committed: committed, done: make(chan struct{})}
	select {
	case s.requests <- r:
	case <-s.done:
		return store.ErrClosed
	}
	// Once queued, the write happens (or fails) whatever ctx does: the
	// caller learns which.
	<-r.done
	return r.err
}

// writer commits queued writes in batches until the store closes.
func (s *Store) writer() {
	defer s.wg.Done()
	for {
		var batch []*request
		select {
		case r := <-s.requests:
			batch = append(batch, r)
		case <-s.done:
			return
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case r := <-s.requests:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		s.commit(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

// commit runs a batch in one transaction. A request that fails without
// writing just reports its error; one that fails after writing spoils the
// transaction, which is rolled back and the batch retried without it.
func (s *Store) commit(batch []*request) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for len(batch) > 0 {
		var (
			t       txn
			spoiled = -1
		)
		err := s.db.Update(func(tx *bolt.Tx) error {
			t = txn{tx: tx, rev: s.rev}
			for i, r := range batch {
				before := t.writes
				r.err = mapErr(r.fn(&t))
				if r.err != nil && t.writes != before {
					spoiled = i
					return r.err
				}
			}
			if t.rev == s.rev {
				return nil
			}
			return tx.Bucket(bucketMeta).Put(keyRevision, binary.BigEndian.AppendUint64(nil, uint64(t.rev)))
		})
		if spoiled >= 0 {
			batch = append(batch[:spoiled:spoiled], batch[spoiled+1:]...)
			continue
		}
		if err != nil {
			for _, r := range batch {
				if r.err == nil {
					r.err = mapErr(err)
				}
			}
			return
		}
		s.rev = t.rev
		for _, r := range batch {
			if r.err == nil {
				for _, f := range r.committed {
					f()
				}
			}
		}
		if len(t.events) > 0 {
			s.mu.Lock()
			for _, ev := range t.events {
				s.leaseW.Publish(ev)
			}
			s.mu.Unlock()
		}
		return
	}
}

// view runs fn in a read transaction.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	return mapErr(s.db.View(fn))
}

// mapErr gives a bbolt error the contract's sentinel.
func mapErr(err error) error {
	switch {
	case err == nil || store.Sentinel(err) != nil:
		return err
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return store.ErrClosed
	}
	return fmt.Errorf("%w: bbolt: %w", store.ErrUnavailable, err)
}

// lease reads the record of hoa; HoA invalid when there is none.
func lease(tx *bolt.Tx, hoa netip.Addr) (store.Lease, error) {
	v := tx.Bucket(bucketLeases).Get(record.AddrKey(hoa))
	if v == nil {
		return store.Lease{}, nil
	}
	return record.DecodeLease(v)
}

func identityKey(identity string, f store.Family) []byte {
	return append([]byte{byte(f)}, identity...)
}

// identityLease follows the identity index; a stale entry (naming a lease
// of another identity) counts as none.
func identityLease(tx *bolt.Tx, identity string, f store.Family) (store.Lease, error) {
	v := tx.Bucket(bucketIdentities).Get(identityKey(identity, f))
	if v == nil {
		return store.Lease{}, nil
	}
	hoa, err := record.ParseAddrKey(v)
	if err != nil {
		return store.Lease{}, err
	}
	l, err := lease(tx, hoa)
	if err != nil || l.Identity != identity {
		return store.Lease{}, err
	}
	return l, nil
}

// Acquire implements store.Leases.
func (s *Store) Acquire(ctx context.Context, req store.AcquireRequest) (store.Lease, error) {
	if err := leaseop.Validate(req); err != nil {
		return store.Lease{}, err
	}
	// A node re-attaching to the member that serves it needs no write
	// (and no fsync): look first.
	var out store.Lease
	kept := false
	err := s.view(ctx, func(tx *bolt.Tx) error {
		mine, err := identityLease(tx, req.Identity, req.Pool.Family())
		if err != nil || !mine.HoA.IsValid() {
			return err
		}
		if step, perr := leaseop.PlanAcquire(req, mine, store.Lease{}); perr == nil && step == leaseop.Keep {
			out, kept = mine, true
		}
		return nil
	})
	if err != nil || kept {
		return out, err
	}
	var hint netip.Addr
	err = s.update(ctx, func(t *txn) error {
		now := s.now()
		mine, err := identityLease(t.tx, req.Identity, req.Pool.Family())
		if err != nil {
			return err
		}
		var suggested store.Lease
		if req.Pool.Contains(req.Suggested) {
			if suggested, err = lease(t.tx, req.Suggested); err != nil {
				return err
			}
		}
		step, err := leaseop.PlanAcquire(req, mine, suggested)
		if err != nil {
			return err
		}
		switch step {
		case leaseop.Keep:
			out = mine
			return nil
		case leaseop.BindExisting:
			out, err = t.put(mine, leaseop.Bind(mine, req, now))
			return err
		case leaseop.TakeSuggested:
			out, err = s.take(t, req, req.Suggested, suggested, now)
			return err
		}
		hoa, cur, err := free(t.tx, req.Pool, s.hints[req.Pool])
		if err != nil {
			return err
		}
		if !hoa.IsValid() {
			return leaseop.Exhausted(req)
		}
		if !cur.HoA.IsValid() {
			hint = hoa
		}
		out, err = s.take(t, req, hoa, cur, now)
		return err
	}, func() {
		if hint.IsValid() {
			s.hints[req.Pool] = hint
		}
	})
	return out, err
}

// take gives hoa (no record, or the released record cur) to the request's
// identity and points the identity index at it.
func (s *Store) take(t *txn, req store.AcquireRequest, hoa netip.Addr, cur store.Lease, now time.Time) (store.Lease, error) {
	next := leaseop.New(req, hoa, now)
	if cur.HoA.IsValid() {
		next = leaseop.Bind(cur, req, now)
	}
	l, err := t.put(cur, next)
	if err != nil {
		return store.Lease{}, err
	}
	if cur.HoA.IsValid() && cur.Identity != req.Identity {
		// The identity whose released address this was loses its entry.
		if err := t.unindex(identityKey(cur.Identity, store.FamilyOf(hoa)), hoa); err != nil {
			return store.Lease{}, err
		}
	}
	return l, t.index(identityKey(req.Identity, req.Pool.Family()), hoa)
}

// free returns the lowest address of p without a record, scanning from
// hint (every address of p below it has a record); else the least
// recently released lease of p (and its record); else an invalid address.
func free(tx *bolt.Tx, p store.Pool, hint netip.Addr) (netip.Addr, store.Lease, error) {
	c := tx.Bucket(bucketLeases).Cursor()
	want := p.First
	if p.Contains(hint) {
		want = hint
	}
	last := record.AddrKey(p.Last)
	for k, _ := c.Seek(record.AddrKey(want)); k != nil && string(k) <= string(last); k, _ = c.Next() {
		a, err := record.ParseAddrKey(k)
		if err != nil {
			return netip.Addr{}, store.Lease{}, err
		}
		if a != want {
			return want, store.Lease{}, nil
		}
		if a == p.Last {
			want = netip.Addr{}
			break
		}
		want = a.Next()
	}
	if want.IsValid() && p.Contains(want) {
		return want, store.Lease{}, nil
	}
	var oldest store.Lease
	for k, v := c.Seek(record.AddrKey(p.First)); k != nil && string(k) <= string(last); k, v = c.Next() {
		l, err := record.DecodeLease(v)
		if err != nil {
			return netip.Addr{}, store.Lease{}, err
		}
		if leaseop.Reclaimable(l) && (!oldest.HoA.IsValid() || leaseop.Older(l, oldest)) {
			oldest = l
		}
	}
	return oldest.HoA, oldest, nil
}

// Lease implements store.Leases.
func (s *Store) Lease(ctx context.Context, hoa netip.Addr) (store.Lease, error) {
	var out store.Lease
	err := s.view(ctx, func(tx *bolt.Tx) error {
		l, err := lease(tx, hoa)
		if err != nil {
			return err
		}
		if !l.HoA.IsValid() {
			return store.Errorf(leaseop.OpLease, hoa, l, store.ErrNotFound, "no lease")
		}
		out = l
		return nil
	})
	return out, err
}

// IdentityLease implements store.Leases.
func (s *Store) IdentityLease(ctx context.Context, identity string, f store.Family) (store.Lease, error) {
	var out store.Lease
	err := s.view(ctx, func(tx *bolt.Tx) error {
		l, err := identityLease(tx, identity, f)
		if err != nil {
			return err
		}
		if !l.HoA.IsValid() {
			return store.Errorf(leaseop.OpLease, netip.Addr{}, l, store.ErrNotFound, "no %v lease for %q", f, identity)
		}
		out = l
		return nil
	})
	return out, err
}

// List implements store.Leases.
func (s *Store) List(ctx context.Context, f store.Filter) ([]store.Lease, error) {
	var out []store.Lease
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = list(tx, f)
		return err
	})
	return out, err
}

func list(tx *bolt.Tx, f store.Filter) ([]store.Lease, error) {
	var out []store.Lease
	err := tx.Bucket(bucketLeases).ForEach(func(_, v []byte) error {
		l, err := record.DecodeLease(v)
		if err != nil {
			return err
		}
		if f.Match(l) {
			out = append(out, l)
		}
		return nil
	})
	return out, err
}

// transition reads the lease of hoa, applies rule and writes the result.
func (s *Store) transition(ctx context.Context, hoa netip.Addr, rule func(cur store.Lease, now time.Time) (store.Lease, error)) (store.Lease, error) {
	var out store.Lease
	err := s.update(ctx, func(t *txn) error {
		cur, err := lease(t.tx, hoa)
		if err != nil {
			return err
		}
		next, err := rule(cur, s.now())
		if err != nil {
			return err
		}
		out, err = t.put(cur, next)
		return err
	})
	return out, err
}

// Release implements store.Leases.
func (s *Store) Release(ctx context.Context, hoa netip.Addr, expected store.Revision) (store.Lease, error) {
	return s.transition(ctx, hoa, func(cur store.Lease, now time.Time) (store.Lease, error) {
		return leaseop.Release(cur, hoa, expected, now)
	})
}

// MarkMoving implements store.Leases.
func (s *Store) MarkMoving(ctx context.Context, hoa netip.Addr, expected store.Revision, m store.Move) (store.Lease, error) {
	return s.transition(ctx, hoa, func(cur store.Lease, now time.Time) (store.Lease, error) {
		return leaseop.MarkMoving(cur, hoa, expected, m, now)
	})
}

// CancelMove implements store.Leases.
func (s *Store) CancelMove(ctx context.Context, hoa netip.Addr, expected store.Revision) (store.Lease, error) {
	return s.transition(ctx, hoa, func(cur store.Lease, now time.Time) (store.Lease, error) {
		return leaseop.CancelMove(cur, hoa, expected, now)
	})
}

// Transfer implements store.Leases.
func (s *Store) Transfer(ctx context.Context, hoa netip.Addr, expected store.Revision, to string) (store.Lease, error) {
	return s.transition(ctx, hoa, func(cur store.Lease, now time.Time) (store.Lease, error) {
		return leaseop.Transfer(cur, hoa, expected, to, now)
	})
}

// Takeover implements store.Leases.
func (s *Store) Takeover(ctx context.Context, hoa netip.Addr, expected store.Revision, owner string) (store.Lease, error) {
	return s.transition(ctx, hoa, func(cur store.Lease, now time.Time) (store.Lease, error) {
		return leaseop.Takeover(cur, hoa, expected, owner, s.alive(cur.Owner), now)
	})
}

// SetAttributes implements store.Leases.
func (s *Store) SetAttributes(ctx context.Context, hoa netip.Addr, expected store.Revision, a store.Attributes) (store.Lease, error) {
	return s.transition(ctx, hoa, func(cur store.Lease, now time.Time) (store.Lease, error) {
		return leaseop.SetAttributes(cur, hoa, expected, a, now)
	})
}

// WatchLeases implements store.Leases.
func (s *Store) WatchLeases(ctx context.Context) (*store.Watch[store.Lease], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	var current []store.Lease
	if err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		current, err = list(tx, store.Filter{})
		return err
	}); err != nil {
		return nil, mapErr(err)
	}
	sub := fanout.New[store.Lease](ctx, s.buffer)
	s.mu.Lock()
	s.leaseW.Add(sub)
	s.mu.Unlock()
	s.startSubscriber(func() {
		sub.Run()
		s.mu.Lock()
		s.leaseW.Remove(sub)
		s.mu.Unlock()
	})
	return store.NewWatch(current, sub.Events(), sub.Err), nil
}

func (s *Store) startSubscriber(run func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		run()
	}()
}
