// Package fanout delivers store events to watchers: each watcher has a
// bounded queue that writers fill without blocking and a goroutine that
// hands it on in order. A watcher that lets its queue fill up is dropped
// with store.ErrWatchLagged instead of stalling writers or growing
// without bound.
package fanout

import (
	"context"
	"sync"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

// Sub delivers the events of one watch in order.
type Sub[T any] struct {
	ctx   context.Context
	limit int
	out   chan store.Event[T]
	wake  chan struct{}
	kill  chan struct{}

	mu    sync.Mutex
	queue []store.Event[T]
	err   error
}

// New returns a subscription whose watch ends with ctx, holding at most
// limit undelivered events.
func New[T any](ctx context.Context, limit int) *Sub[T] {
	return &Sub[T]{
		ctx: ctx, limit: limit,
		out:  make(chan store.Event[T], 16),
		wake: make(chan struct{}, 1),
		kill: make(chan struct{}),
	}
}

// Push queues ev; it reports false once the subscription has ended.
func (s *Sub[T]) Push(ev store.Event[T]) bool {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return false
	}
	if len(s.queue) >= s.limit {
		s.mu.Unlock()
		s.Fail(store.ErrWatchLagged)
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

// Fail ends the subscription with err (the first reason wins).
func (s *Sub[T]) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
		s.queue = nil
		close(s.kill)
	}
}

// Err returns why the subscription ended, nil while it runs.
func (s *Sub[T]) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Events returns the channel Run delivers on.
func (s *Sub[T]) Events() <-chan store.Event[T] { return s.out }

// Run delivers queued events until the subscription ends, then closes
// the events channel.
func (s *Sub[T]) Run() {
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
				s.Fail(s.ctx.Err())
				return
			}
		}
		select {
		case <-s.wake:
		case <-s.kill:
			return
		case <-s.ctx.Done():
			s.Fail(s.ctx.Err())
			return
		}
	}
}

// Set is a set of subscriptions to one kind of record. It is not safe
// for concurrent use: its owner locks it.
type Set[T any] struct {
	set map[*Sub[T]]struct{}
}

// Add adds s.
func (w *Set[T]) Add(s *Sub[T]) {
	if w.set == nil {
		w.set = make(map[*Sub[T]]struct{})
	}
	w.set[s] = struct{}{}
}

// Remove removes s.
func (w *Set[T]) Remove(s *Sub[T]) { delete(w.set, s) }

// Publish queues ev to every subscription, dropping those that ended.
func (w *Set[T]) Publish(ev store.Event[T]) {
	for s := range w.set {
		if !s.Push(ev) {
			delete(w.set, s)
		}
	}
}

// FailAll ends every subscription with err and empties the set.
func (w *Set[T]) FailAll(err error) {
	for s := range w.set {
		s.Fail(err)
	}
	w.set = nil
}
