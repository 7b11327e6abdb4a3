package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/boltstore"
	"github.com/mip6ha/mip6ha/homeagent/store/storetest"
)

func benchOpen(opts boltstore.Options) func(b *testing.B) store.Store {
	return func(b *testing.B) store.Store {
		s, err := boltstore.Open(filepath.Join(b.TempDir(), boltstore.FileName), opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
}

// BenchmarkStore measures the production setting: every write fsynced.
func BenchmarkStore(b *testing.B) { storetest.Bench(b, benchOpen(boltstore.Options{})) }

// BenchmarkStoreNoSync measures the store without the fsync of each
// commit: the cost of the store itself.
func BenchmarkStoreNoSync(b *testing.B) {
	storetest.Bench(b, benchOpen(boltstore.Options{NoSync: true}))
}
