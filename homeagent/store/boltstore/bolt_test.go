package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/boltstore"
)

func testPool(t testing.TB, n uint64) store.Pool {
	t.Helper()
	p, err := store.PrefixRange(netip.MustParsePrefix("2001:db8:1::/64"), 1, n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A file is open in one Store at a time.
func TestOpenLocksTheFile(t *testing.T) {
	dir := t.TempDir()
	s, err := boltstore.OpenDir(filepath.Join(dir, "data"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = boltstore.OpenDir(filepath.Join(dir, "data"), boltstore.Options{LockTimeout: 50 * time.Millisecond})
	if err == nil {
		t.Fatal("second Open of the same file succeeded")
	}
}

// A file of another schema is refused, not reinterpreted.
func TestOpenRefusesUnknownSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), boltstore.FileName)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("schema"), []byte{0, 0, 0, 0, 0, 0, 0, 9})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := boltstore.Open(path, boltstore.Options{}); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Open of a schema 9 file: %v, want ErrCorrupt", err)
	}
}

// A watcher that does not read is dropped with ErrWatchLagged once its
// buffer is full; writers never wait for it.
func TestWatchLagged(t *testing.T) {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), boltstore.FileName), boltstore.Options{NoSync: true, WatchBuffer: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	w, err := s.WatchLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := testPool(t, 64)
	for i := range 40 {
		if _, err := s.Acquire(ctx, store.AcquireRequest{Identity: fmt.Sprint("mn", i), Owner: "ha1", Pool: p}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for range w.Events {
		n++
	}
	if !errors.Is(w.Err(), store.ErrWatchLagged) || n >= 40 {
		t.Fatalf("watch delivered %d of 40 events and ended with %v, want ErrWatchLagged", n, w.Err())
	}
}

// The embedded store hands out the lowest free address: allocation is
// deterministic, which operators and tests can rely on.
func TestLowestFreeAddress(t *testing.T) {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), boltstore.FileName), boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	p := testPool(t, 8)
	r := store.AcquireRequest{Identity: "s", Owner: "ha1", Pool: p, Suggested: netip.MustParseAddr("2001:db8:1::2")}
	if _, err := s.Acquire(ctx, r); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"2001:db8:1::1", "2001:db8:1::3", "2001:db8:1::4"} {
		l, err := s.Acquire(ctx, store.AcquireRequest{Identity: fmt.Sprint("mn", i), Owner: "ha1", Pool: p})
		if err != nil || l.HoA != netip.MustParseAddr(want) {
			t.Fatalf("Acquire %d = %v, %v; want %s", i, l.HoA, err, want)
		}
	}
}
