package etcdstore

import (
	"context"
	"fmt"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

// watch streams the changes of the keys under prefix after revision rev
// as events. decode turns a value into a record; fromKey names the record
// of a deletion whose previous value etcd no longer has. The watch
// requires a leader: a member cut off from the cluster ends it (the
// consumer watches again) rather than leaving it silent.
func watch[T any](s *Store, ctx context.Context, prefix string, rev int64,
	decode func(value []byte, modRevision int64) (T, error), fromKey func(key string) T,
) (<-chan store.Event[T], func() error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	stop := context.AfterFunc(s.ctx, cancel)
	out := make(chan store.Event[T], 16)
	var (
		mu   sync.Mutex
		werr error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if werr == nil {
			werr = err
		}
	}
	wch := s.c.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithPrevKV())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer stop()
		defer cancel()
		defer close(out)
		defer func() {
			switch {
			case s.closed.Load():
				fail(store.ErrClosed)
			case ctx.Err() != nil:
				fail(ctx.Err())
			default:
				fail(fmt.Errorf("etcdstore: watch of %s ended", prefix))
			}
		}()
		for resp := range wch {
			if err := resp.Err(); err != nil {
				if resp.CompactRevision != 0 {
					fail(fmt.Errorf("%w: history compacted at revision %d", store.ErrWatchLagged, resp.CompactRevision))
				} else if !s.closed.Load() && ctx.Err() == nil {
					fail(fmt.Errorf("etcdstore: watch: %w", err))
				}
				return
			}
			for _, ev := range resp.Events {
				e, err := convert(ev, decode, fromKey)
				if err != nil {
					fail(err)
					return
				}
				select {
				case out <- e:
				case <-wctx.Done():
					return
				}
			}
		}
	}()
	return out, func() error {
		mu.Lock()
		defer mu.Unlock()
		return werr
	}
}

func convert[T any](ev *clientv3.Event, decode func([]byte, int64) (T, error), fromKey func(string) T) (store.Event[T], error) {
	var e store.Event[T]
	if ev.PrevKv != nil {
		prev, err := decode(ev.PrevKv.Value, ev.PrevKv.ModRevision)
		if err != nil {
			return e, err
		}
		e.Prev = prev
	}
	if ev.Type == clientv3.EventTypeDelete {
		e.Deleted = true
		if ev.PrevKv != nil {
			e.Value = e.Prev
		} else {
			e.Value = fromKey(string(ev.Kv.Key))
		}
		return e, nil
	}
	v, err := decode(ev.Kv.Value, ev.Kv.ModRevision)
	if err != nil {
		return e, err
	}
	e.Value = v
	return e, nil
}
