package etcdstore

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/internal/fanout"
)

// watch streams the changes of the keys under prefix after revision rev
// as events. decode turns a value into a record; fromKey names the record
// of a deletion whose previous value etcd no longer has. The watch
// requires a leader: a member cut off from the cluster ends it (the
// consumer watches again) rather than leaving it silent. Events wait in a
// bounded queue (Options.WatchBuffer); a consumer that lets it fill is
// dropped with store.ErrWatchLagged.
func watch[T any](s *Store, ctx context.Context, prefix string, rev int64,
	decode func(value []byte, modRevision int64) (T, error), fromKey func(key string) T,
) (<-chan store.Event[T], func() error) {
	sub := fanout.New[T](ctx, s.buffer)
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	stop := context.AfterFunc(s.ctx, func() {
		sub.Fail(store.ErrClosed)
		cancel()
	})
	wch := s.c.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithPrevKV())
	deliver := func() {
		sub.Run()
		cancel() // the consumer is gone: stop the etcd watch too
	}
	if !s.spawn(deliver) {
		stop()
		cancel()
		sub.Fail(store.ErrClosed)
		go sub.Run() // closes the events channel at once
		return sub.Events(), sub.Err
	}
	if !s.spawn(func() {
		defer stop()
		defer cancel()
		for resp := range wch {
			if err := resp.Err(); err != nil {
				switch {
				case resp.CompactRevision != 0:
					sub.Fail(fmt.Errorf("%w: history compacted at revision %d", store.ErrWatchLagged, resp.CompactRevision))
				case s.closed.Load():
					sub.Fail(store.ErrClosed)
				case ctx.Err() != nil:
					sub.Fail(ctx.Err())
				default:
					sub.Fail(fmt.Errorf("etcdstore: watch: %w", err))
				}
				return
			}
			for _, ev := range resp.Events {
				e, err := convert(ev, decode, fromKey)
				if err != nil {
					sub.Fail(err)
					return
				}
				if !sub.Push(e) {
					return
				}
			}
		}
		switch {
		case s.closed.Load():
			sub.Fail(store.ErrClosed)
		case ctx.Err() != nil:
			sub.Fail(ctx.Err())
		default:
			sub.Fail(fmt.Errorf("etcdstore: watch of %s ended", prefix))
		}
	}) {
		stop()
		cancel()
		sub.Fail(store.ErrClosed)
	}
	return sub.Events(), sub.Err
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
