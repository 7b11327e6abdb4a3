package store

// Event is one change of a record seen by a watch.
type Event[T any] struct {
	// Value is the record after the change; for a deletion, the last
	// value the store had.
	Value T
	// Prev is the record before the change; the zero value when the
	// record was created (or the backend no longer knows it).
	Prev T
	// Deleted reports that the record is gone (a member expired or left).
	Deleted bool
}

// Watch is a stream of changes that starts from a consistent snapshot:
// Current is the state when the watch started and Events delivers every
// change after it, in the store's order, with none missing. Events is
// closed when the watch's context ends, the store closes, or the watch
// fails; Err then says why.
type Watch[T any] struct {
	// Current is every record when the watch started.
	Current []T
	// Events delivers the changes after Current, in order.
	Events <-chan Event[T]
	err    func() error
}

// NewWatch assembles a Watch. It is for backends: err must be safe to call
// from any goroutine and must return the reason once events is closed.
func NewWatch[T any](current []T, events <-chan Event[T], err func() error) *Watch[T] {
	return &Watch[T]{Current: current, Events: events, err: err}
}

// Err returns why Events was closed: nil while it is open, the context's
// error when the watch's context ended, ErrClosed when the store closed,
// ErrWatchLagged when the watcher fell behind, or a backend error.
func (w *Watch[T]) Err() error {
	if w.err == nil {
		return nil
	}
	return w.err()
}
