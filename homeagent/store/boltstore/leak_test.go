package boltstore_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/boltstore"
)

// Close waits for every goroutine the store started: keep-alives, the
// member reaper, watch deliveries.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), boltstore.FileName), boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Join(ctx, store.Member{ID: "ha1"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WatchLeases(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WatchMembers(ctx); err != nil {
		t.Fatal(err)
	}
	if runtime.NumGoroutine() <= before {
		t.Fatal("the store started no goroutines; the test checks nothing")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close returns once each goroutine has called wg.Done; a goroutine
	// still returns from its function after that, an exit nothing can
	// await: allow it a moment.
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
