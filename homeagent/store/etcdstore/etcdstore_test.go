package etcdstore_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
		TTL:   time.Second,
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
