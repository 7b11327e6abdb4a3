package boltstore

import (
	"context"
	"sync"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

// subscriber delivers the events of one watch in order. Writers push
// without blocking; a goroutine (run) hands the queue to the watcher. A
// watcher that lets more than limit events pile up is dropped with
// store.ErrWatchLagged rather than stalling writers or growing without
// bound.
type subscriber[T any] struct {
	ctx   context.Context
	limit int
	out   chan store.Event[T]
	wake  chan struct{}
	kill  chan struct{}

	mu    sync.Mutex
	queue []store.Event[T]
	err   error
}

func newSubscriber[T any](ctx context.Context, limit int) *subscriber[T] {
	return &subscriber[T]{
		ctx: ctx, limit: limit,
		out:  make(chan store.Event[T], 16),
		wake: make(chan struct{}, 1),
		kill: make(chan struct{}),
	}
}

// push queues ev; it reports false once the subscriber is dead.
func (s *subscriber[T]) push(ev store.Event[T]) bool {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return false
	}
	if len(s.queue) >= s.limit {
		s.mu.Unlock()
		s.fail(store.ErrWatchLagged)
		return false
	}
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// fail ends the subscription with err (the first reason wins).
func (s *subscriber[T]) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
		s.queue = nil
		close(s.kill)
	}
}

func (s *subscriber[T]) errFunc() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// run delivers queued events until the subscription ends, then closes out.
func (s *subscriber[T]) run() {
	defer close(s.out)
	for {
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, ev := range q {
			select {
			case s.out <- ev:
			case <-s.kill:
				return
			case <-s.ctx.Done():
				s.fail(s.ctx.Err())
				return
			}
		}
		select {
		case <-s.wake:
		case <-s.kill:
			return
		case <-s.ctx.Done():
			s.fail(s.ctx.Err())
			return
		}
	}
}

// watchers is a set of subscribers of one kind of record.
type watchers[T any] struct {
	set map[*subscriber[T]]struct{}
}

func (w *watchers[T]) add(s *subscriber[T]) {
	if w.set == nil {
		w.set = make(map[*subscriber[T]]struct{})
	}
	w.set[s] = struct{}{}
}

func (w *watchers[T]) remove(s *subscriber[T]) { delete(w.set, s) }

func (w *watchers[T]) publish(ev store.Event[T]) {
	for s := range w.set {
		if !s.push(ev) {
			delete(w.set, s)
		}
	}
}

func (w *watchers[T]) failAll(err error) {
	for s := range w.set {
		s.fail(err)
	}
	w.set = nil
}
