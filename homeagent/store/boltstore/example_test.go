package boltstore_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/boltstore"
)

// A home agent allocates a home address, re-attaches the same node, and
// hands the address to another home agent make-before-break.
func Example() {
	dir, err := os.MkdirTemp("", "leases")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := boltstore.OpenDir(dir, boltstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()

	pool, err := store.PrefixRange(netip.MustParsePrefix("2001:db8:1::/64"), 0x100, 0x1ff)
	if err != nil {
		log.Fatal(err)
	}
	req := store.AcquireRequest{Identity: "mn1@example.com", Owner: "ha1", Pool: pool}
	l, err := s.Acquire(ctx, req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("attach:", l.HoA, l.State, "at", l.Owner)

	again, _ := s.Acquire(ctx, req)
	fmt.Println("re-attach:", again.HoA, "same revision:", again.Revision == l.Revision)

	m, err := s.MarkMoving(ctx, l.HoA, l.Revision, store.Move{From: "ha1", To: "ha2", Deadline: time.Now().Add(10 * time.Second)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("move:", m.State, "to", m.MovingTo)
	t, err := s.Transfer(ctx, m.HoA, m.Revision, "ha2")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("transfer:", t.HoA, t.State, "at", t.Owner)

	// The old home agent's view is stale: its compare-and-swap loses.
	_, err = s.Release(ctx, m.HoA, m.Revision)
	fmt.Println("stale release:", err)
	// Output:
	// attach: 2001:db8:1::100 bound at ha1
	// re-attach: 2001:db8:1::100 same revision: true
	// move: moving to ha2
	// transfer: 2001:db8:1::100 bound at ha2
	// stale release: release 2001:db8:1::100: store: revision conflict: record is at revision 3, caller read 2
}
