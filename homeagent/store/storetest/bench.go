package storetest

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

// Bench runs the store benchmarks against a backend. open returns a store
// on a fresh, empty state. Reported: ns/op and allocations, and the rate
// of operations per second of wall time.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	b.Run("Acquire", func(b *testing.B) { benchAcquire(b, open(b), false) })
	b.Run("AcquireParallel", func(b *testing.B) { benchAcquire(b, open(b), true) })
	b.Run("AcquireSticky", func(b *testing.B) { benchAcquireSticky(b, open(b)) })
	b.Run("Transfer", func(b *testing.B) { benchTransfer(b, open(b)) })
}

func benchPool(b *testing.B) store.Pool {
	p, err := store.NewPrefixPool(netip.MustParsePrefix("2001:db8:1::/64"))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func rate(b *testing.B, start time.Time, unit string) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), unit)
}

// benchAcquire: each operation allocates an address for a new identity;
// the pool fills up as the benchmark runs, as it does in service.
func benchAcquire(b *testing.B, s store.Store, parallel bool) {
	ctx := context.Background()
	p := benchPool(b)
	var n atomic.Int64
	acquire := func() {
		id := fmt.Sprintf("mn%d@example.com", n.Add(1))
		if _, err := s.Acquire(ctx, store.AcquireRequest{Identity: id, Owner: "ha1", Pool: p}); err != nil {
			b.Error(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if parallel {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				acquire()
			}
		})
	} else {
		for range b.N {
			acquire()
		}
	}
	rate(b, start, "acquires/s")
}

// benchAcquireSticky: a node re-attaching to the home agent that serves
// it gets its lease back (no write).
func benchAcquireSticky(b *testing.B, s store.Store) {
	ctx := context.Background()
	r := store.AcquireRequest{Identity: "mn@example.com", Owner: "ha1", Pool: benchPool(b)}
	if _, err := s.Acquire(ctx, r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := s.Acquire(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	rate(b, start, "acquires/s")
}

// benchTransfer: one operation is one make-before-break move of a lease,
// MarkMoving by the owner then Transfer by the target (two CAS writes).
func benchTransfer(b *testing.B, s store.Store) {
	ctx := context.Background()
	l, err := s.Acquire(ctx, store.AcquireRequest{Identity: "mn@example.com", Owner: "ha1", Pool: benchPool(b)})
	if err != nil {
		b.Fatal(err)
	}
	next := map[string]string{"ha1": "ha2", "ha2": "ha1"}
	deadline := time.Now().Add(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		m, err := s.MarkMoving(ctx, l.HoA, l.Revision, store.Move{From: l.Owner, To: next[l.Owner], Deadline: deadline})
		if err != nil {
			b.Fatal(err)
		}
		if l, err = s.Transfer(ctx, m.HoA, m.Revision, m.MovingTo); err != nil {
			b.Fatal(err)
		}
	}
	rate(b, start, "transfers/s")
}
