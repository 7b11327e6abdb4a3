package boltstore_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/boltstore"
	"github.com/mip6ha/mip6ha/homeagent/store/storetest"
)

// shared hands out handles onto one open bolt store (a file can be open
// once): the store closes when the last handle closes, and the next open
// reopens the file (a restart).
type shared struct {
	path string
	mu   sync.Mutex
	s    *boltstore.Store
	refs int
}

type handle struct {
	*boltstore.Store
	sh   *shared
	once sync.Once
}

func (h *handle) Close() error {
	var err error
	h.once.Do(func() {
		h.sh.mu.Lock()
		defer h.sh.mu.Unlock()
		if h.sh.refs--; h.sh.refs == 0 {
			err = h.sh.s.Close()
			h.sh.s = nil
		}
	})
	return err
}

func (sh *shared) open(t *testing.T) store.Store {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.s == nil {
		s, err := boltstore.Open(sh.path, boltstore.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		sh.s = s
	}
	sh.refs++
	h := &handle{Store: sh.s, sh: sh}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{
		Fresh: func(t *testing.T) storetest.Opener {
			sh := &shared{path: filepath.Join(t.TempDir(), boltstore.FileName)}
			return sh.open
		},
		// Generous against a loaded machine: keep-alives every third of it.
		TTL:     time.Second,
		Timeout: 5 * time.Second,
	})
}
