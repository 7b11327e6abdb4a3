package boltstore

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

// A write that fails after writing spoils its batch: the transaction is
// rolled back and the other writes of the batch commit without it; a
// write that fails before writing only reports its error.
func TestCommitRetriesBatchWithoutSpoiledWrite(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), FileName), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lease := func(a string) store.Lease {
		return store.Lease{HoA: netip.MustParseAddr(a), Identity: "id-" + a, Owner: "ha1", State: store.StateBound}
	}
	put := func(l store.Lease, fail error) *request {
		return &request{fn: func(t *txn) error {
			if _, err := t.put(store.Lease{}, l); err != nil {
				return err
			}
			return fail
		}, done: make(chan struct{})}
	}
	refuse := &request{fn: func(*txn) error { return store.ErrState }, done: make(chan struct{})}
	boom := errors.New("index write failed")
	batch := []*request{
		put(lease("2001:db8::1"), nil),
		put(lease("2001:db8::2"), boom), // wrote, then failed
		refuse,
		put(lease("2001:db8::3"), nil),
	}
	s.commit(batch)
	if batch[0].err != nil || batch[3].err != nil || !errors.Is(batch[1].err, boom) || !errors.Is(refuse.err, store.ErrState) {
		t.Fatalf("errors %v %v %v %v", batch[0].err, batch[1].err, refuse.err, batch[3].err)
	}
	ctx := context.Background()
	all, err := s.List(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].HoA != lease("2001:db8::1").HoA || all[1].HoA != lease("2001:db8::3").HoA {
		t.Fatalf("store holds %v; want ::1 and ::3 only", all)
	}
	// Revisions stay dense and persisted: the rolled-back write used none.
	if all[0].Revision != 1 || all[1].Revision != 2 || s.rev != 2 {
		t.Fatalf("revisions %d, %d, store at %d; want 1, 2, 2", all[0].Revision, all[1].Revision, s.rev)
	}
}
