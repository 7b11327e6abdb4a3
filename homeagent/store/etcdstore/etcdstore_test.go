package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/etcdstore"
	"github.com/mip6ha/mip6ha/homeagent/store/etcdstore/etcdtest"
	"github.com/mip6ha/mip6ha/homeagent/store/storetest"
)

// One in-process etcd serves every test of the package; each test gets its
// own key prefix.
var (
	embeddedOnce sync.Once
	embedded     *etcdtest.Embedded
	embeddedErr  error
	embeddedDir  string
	prefixes     atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if embedded != nil {
		embedded.Close()
	}
	if embeddedDir != "" {
		os.RemoveAll(embeddedDir)
	}
	os.Exit(code)
}

func embeddedServer(t testing.TB) *etcdtest.Embedded {
	t.Helper()
	embeddedOnce.Do(func() {
		embeddedDir, embeddedErr = os.MkdirTemp("", "etcdstore-test-")
		if embeddedErr == nil {
			embedded, embeddedErr = etcdtest.StartEmbedded(embeddedDir)
		}
	})
	if embeddedErr != nil {
		t.Fatal(embeddedErr)
	}
	return embedded
}

// newPrefix returns a key prefix no other test uses.
func newPrefix() string {
	return fmt.Sprintf("/mip6ha-test/%d-%d", os.Getpid(), prefixes.Add(1))
}

// open returns a store on a new client of endpoints, closed at cleanup.
func open(tb testing.TB, endpoints []string, prefix string) store.Store {
	tb.Helper()
	c, err := etcdtest.NewClient(endpoints)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := etcdstore.New(c, etcdstore.Options{Prefix: prefix})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Close()
		c.Close()
	})
	return s
}

// opener returns an Opener of clients onto prefix at endpoints.
func opener(endpoints []string, prefix string) storetest.Opener {
	return func(t *testing.T) store.Store { return open(t, endpoints, prefix) }
}

func TestConformanceEmbedded(t *testing.T) {
	srv := embeddedServer(t)
	storetest.Run(t, storetest.Config{
		Fresh: func(t *testing.T) storetest.Opener { return opener(srv.Endpoints, newPrefix()) },
		// Two seconds rather than etcd's one-second minimum: keep-alives
		// (every third of the TTL) must survive a loaded test machine.
		TTL: 2 * time.Second,
	})
}

// cluster starts Debian's etcd as a 3-member cluster, or skips.
func cluster(t testing.TB) *etcdtest.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a 3-member etcd cluster; skipped with -short")
	}
	if _, err := os.Stat(etcdtest.Binary); err != nil {
		t.Skipf("%s not installed (Debian package etcd-server): %v", etcdtest.Binary, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := etcdtest.StartCluster(ctx, etcdtest.Binary, t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// TestConformanceCluster runs the suite against three etcd 3.4 processes:
// the client talks to all members, the server is the one deployed.
func TestConformanceCluster(t *testing.T) {
	c := cluster(t)
	storetest.Run(t, storetest.Config{
		Fresh: func(t *testing.T) storetest.Opener { return opener(c.Endpoints(), newPrefix()) },
		// etcd's minimum lease TTL with the default 1 s election timeout
		// is 1.5 s, granted as 2 s.
		TTL: 2 * time.Second,
	})
}

// Open owns its client: Close closes it, and the store answers ErrClosed.
func TestOpenOwnsClient(t *testing.T) {
	srv := embeddedServer(t)
	s, err := etcdstore.Open(clientv3.Config{Endpoints: srv.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()},
		etcdstore.Options{Prefix: newPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.MemberList(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MemberList(ctx); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("MemberList after Close: %v", err)
	}
}

func TestPrefixMustBeAPath(t *testing.T) {
	for _, p := range []string{"mip6ha", "/mip6ha/", "/"} {
		if _, err := etcdstore.New(nil, etcdstore.Options{Prefix: p}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("prefix %q: %v", p, err)
		}
	}
	s, err := etcdstore.New(nil, etcdstore.Options{})
	if err != nil || s.Prefix() != etcdstore.DefaultPrefix {
		t.Fatalf("default prefix: %v, %v", s, err)
	}
}

// Two deployments with different prefixes on one etcd never see each
// other's leases or members.
func TestPrefixesIsolate(t *testing.T) {
	srv := embeddedServer(t)
	a, b := open(t, srv.Endpoints, newPrefix()), open(t, srv.Endpoints, newPrefix())
	ctx := context.Background()
	pool, _ := store.NewPrefixPool(netip.MustParsePrefix("2001:db8::/120"))
	la, err := a.Acquire(ctx, store.AcquireRequest{Identity: "mn", Owner: "ha1", Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Join(ctx, store.Member{ID: "ha1"}, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lease(ctx, la.HoA); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other deployment sees the lease: %v", err)
	}
	if ms, err := b.MemberList(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("other deployment sees members %v, %v", ms, err)
	}
	if _, err := b.Acquire(ctx, store.AcquireRequest{Identity: "mn", Owner: "ha9", Pool: pool}); err != nil {
		t.Fatalf("same identity in another deployment: %v", err)
	}
}

// A watcher that does not read is dropped with ErrWatchLagged once its
// buffer is full.
func TestWatchLagged(t *testing.T) {
	srv := embeddedServer(t)
	c, err := etcdtest.NewClient(srv.Endpoints)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := etcdstore.New(c, etcdstore.Options{Prefix: newPrefix(), WatchBuffer: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	w, err := s.WatchLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := store.NewPrefixPool(netip.MustParsePrefix("2001:db8::/112"))
	// Far more writes than the queue and channel hold; the watch streams
	// them while nobody reads.
	const writes = 200
	for i := range writes {
		if _, err := s.Acquire(ctx, store.AcquireRequest{Identity: fmt.Sprint("mn", i), Owner: "ha1", Pool: pool}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	timeout := time.After(15 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-w.Events:
			if open {
				n++
			}
		case <-timeout:
			t.Fatalf("watch still open after %d events: the watcher kept up", n)
		}
	}
	if !errors.Is(w.Err(), store.ErrWatchLagged) || n >= writes {
		t.Fatalf("watch delivered %d of %d events and ended with %v, want ErrWatchLagged", n, writes, w.Err())
	}
}
