package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/etcdstore/etcdtest"
	"github.com/mip6ha/mip6ha/homeagent/store/internal/record"
)

// write is one successful ownership change as a client saw it.
type write struct {
	hoa      netip.Addr
	expected store.Revision // the revision the caller read
	result   store.Lease
}

// TestClusterKillMemberDuringTransfers moves leases back and forth between
// two home agents (MarkMoving by the owner, Transfer by the target, two
// racers per lease) while the etcd leader is killed. Afterwards the etcd
// history of every lease key must show: every write a client was told
// succeeded, with the revision it was told; no two successes from one
// revision; every owner change a Transfer to the designated target; and
// no more unexplained writes than calls that ended in transport errors.
func TestClusterKillMemberDuringTransfers(t *testing.T) {
	c := cluster(t)
	prefix := newPrefix()
	agents := map[string]store.Store{"ha1": open(t, c.Endpoints(), prefix), "ha2": open(t, c.Endpoints(), prefix)}
	other := map[string]string{"ha1": "ha2", "ha2": "ha1"}
	pool, err := store.PrefixRange(netip.MustParsePrefix("2001:db8:7::/64"), 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const leases = 12
	var hoas []netip.Addr
	for i := range leases {
		l, err := agents["ha1"].Acquire(ctx, store.AcquireRequest{Identity: fmt.Sprintf("mn%02d", i), Owner: "ha1", Pool: pool})
		if err != nil {
			t.Fatal(err)
		}
		hoas = append(hoas, l.HoA)
	}

	var (
		mu        sync.Mutex
		writes    []write
		ambiguous int
		conflicts int
		stop      = make(chan struct{})
		progress  = make(chan struct{}, 1) // a write succeeded
		wg        sync.WaitGroup
	)
	// step makes one move step for hoa and records the outcome.
	step := func(hoa netip.Addr) {
		octx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		cur, err := agents["ha1"].Lease(octx, hoa)
		if err != nil {
			time.Sleep(20 * time.Millisecond) // back off while the cluster elects a leader
			return
		}
		var next store.Lease
		switch cur.State {
		case store.StateBound:
			next, err = agents[cur.Owner].MarkMoving(octx, hoa, cur.Revision, store.Move{
				From: cur.Owner, To: other[cur.Owner], Deadline: time.Now().Add(time.Minute),
				TraceContext: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			})
		case store.StateMoving:
			next, err = agents[cur.MovingTo].Transfer(octx, hoa, cur.Revision, cur.MovingTo)
		default:
			t.Errorf("lease %v in state %v", hoa, cur.State)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			writes = append(writes, write{hoa: hoa, expected: cur.Revision, result: next})
			select {
			case progress <- struct{}{}:
			default:
			}
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrState):
			conflicts++
		case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
			ambiguous++
		default:
			t.Errorf("%v: unexpected error %v", hoa, err)
		}
	}
	for _, hoa := range hoas {
		for range 2 { // two racers per lease
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
						step(hoa)
					}
				}
			}()
		}
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(writes)
	}
	waitWrites := func(n int, within time.Duration) {
		t.Helper()
		deadline := time.After(within)
		for count() < n {
			select {
			case <-progress:
			case <-deadline:
				close(stop)
				wg.Wait()
				t.Fatalf("only %d writes within %v, want %d", count(), within, n)
			}
		}
	}
	waitWrites(100, 30*time.Second)
	lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
	victim := c.Leader(lctx)
	lcancel()
	if victim < 0 {
		victim = 0
	}
	before := count()
	c.Kill(victim)
	t.Logf("killed member %s (leader) after %d writes", c.Members[victim].Name, before)
	waitWrites(before+100, 60*time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d writes, %d conflicts, %d transport errors", len(writes), conflicts, ambiguous)

	// Read the history from the surviving members.
	var alive []string
	for i, m := range c.Members {
		if i != victim {
			alive = append(alive, m.ClientURL)
		}
	}
	cl, err := etcdtest.NewClient(alive)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	history, final := leaseHistory(t, cl, prefix+"/leases/")

	seen := map[netip.Addr]map[store.Revision]store.Lease{}
	for hoa, vs := range history {
		seen[hoa] = map[store.Revision]store.Lease{}
		for i, v := range vs {
			seen[hoa][v.Revision] = v
			if i == 0 {
				continue
			}
			prev := vs[i-1]
			if v.Owner != prev.Owner && !(prev.State == store.StateMoving && v.State == store.StateBound && v.Owner == prev.MovingTo) {
				t.Errorf("%v: owner changed from %v to %v outside a transfer", hoa, prev, v)
			}
		}
		if last := vs[len(vs)-1]; !last.Equal(final[hoa]) {
			t.Errorf("%v: final record %v is not the last in history %v", hoa, final[hoa], last)
		}
	}
	fromRevision := map[netip.Addr]map[store.Revision]bool{}
	for _, w := range writes {
		h, ok := seen[w.hoa][w.result.Revision]
		if !ok || !h.Equal(w.result) {
			t.Errorf("%v: write at revision %d (%v) not in etcd's history (lost)", w.hoa, w.result.Revision, w.result)
		}
		if fromRevision[w.hoa] == nil {
			fromRevision[w.hoa] = map[store.Revision]bool{}
		}
		if fromRevision[w.hoa][w.expected] {
			t.Errorf("%v: two successful writes from revision %d (duplicated ownership)", w.hoa, w.expected)
		}
		fromRevision[w.hoa][w.expected] = true
	}
	unexplained := -leases // the initial acquisitions
	for _, vs := range history {
		unexplained += len(vs)
	}
	unexplained -= len(writes)
	if unexplained < 0 || unexplained > ambiguous {
		t.Errorf("history has %d writes no client was told about, but only %d calls ended in transport errors", unexplained, ambiguous)
	}
}

// leaseHistory returns every version of every lease under prefix, oldest
// first, from etcd's history (the watch from revision 1 with previous
// values), and the current records. It checks the versions chain: each
// one's previous value is the version before it.
func leaseHistory(t *testing.T, cl *clientv3.Client, prefix string) (map[netip.Addr][]store.Lease, map[netip.Addr]store.Lease) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cur, err := cl.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	final := map[netip.Addr]store.Lease{}
	var latest int64 // the last write under prefix
	for _, kv := range cur.Kvs {
		latest = max(latest, kv.ModRevision)
		l, err := record.DecodeLease(kv.Value)
		if err != nil {
			t.Fatal(err)
		}
		l.Revision = store.Revision(kv.ModRevision)
		final[l.HoA] = l
	}
	history := map[netip.Addr][]store.Lease{}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	wch := cl.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(1), clientv3.WithPrevKV())
	for resp := range wch {
		if err := resp.Err(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.Events {
			if ev.Type != clientv3.EventTypePut {
				t.Fatalf("lease key %s deleted", ev.Kv.Key)
			}
			l, err := record.DecodeLease(ev.Kv.Value)
			if err != nil {
				t.Fatal(err)
			}
			l.Revision = store.Revision(ev.Kv.ModRevision)
			key, _ := record.ParseAddrText(strings.TrimPrefix(string(ev.Kv.Key), prefix))
			if key != l.HoA {
				t.Fatalf("key %s holds the lease of %v", ev.Kv.Key, l.HoA)
			}
			vs := history[l.HoA]
			switch {
			case len(vs) == 0 && ev.PrevKv != nil:
				t.Fatalf("%v: first version has a previous value", l.HoA)
			case len(vs) > 0 && (ev.PrevKv == nil || ev.PrevKv.ModRevision != int64(vs[len(vs)-1].Revision)):
				t.Fatalf("%v: version %d does not follow %d", l.HoA, l.Revision, vs[len(vs)-1].Revision)
			}
			history[l.HoA] = append(vs, l)
		}
		if n := len(resp.Events); n > 0 && resp.Events[n-1].Kv.ModRevision >= latest {
			break
		}
	}
	return history, final
}
