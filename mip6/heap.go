package mip6

import "math"

// heapItem is a timer in a shard's heap: it fires at at, which is never
// later than its entry's deadline. Deadlines that move later (every
// refresh) leave the item alone: it fires early and Tick re-arms it, so a
// Binding Update costs no heap work. Deadlines that move earlier fix the
// item at once.
type heapItem struct {
	at int64
	e  *entry
}

// deadlineHeap is a min-heap of timers, one per entry; each entry knows
// its index, so an item is fixed or removed in O(log n). Times are inline
// so that comparisons do not touch the entries.
type deadlineHeap []heapItem

func (h deadlineHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].e.hidx = int32(i)
	h[j].e.hidx = int32(j)
}

// push adds e with a timer that never fires; lower it with lower.
func (h *deadlineHeap) push(e *entry) {
	e.hidx = int32(len(*h))
	e.armed = math.MaxInt64
	*h = append(*h, heapItem{at: e.armed, e: e})
}

// lower moves e's timer to at if that is earlier. The entry's copy of its
// timer (armed) spares a look at the heap when it is not.
func (h deadlineHeap) lower(e *entry, at int64) {
	if at < e.armed {
		i := int(e.hidx)
		h[i].at, e.armed = at, at
		h.up(i)
	}
}

// set moves e's timer to at.
func (h deadlineHeap) set(e *entry, at int64) {
	i := int(e.hidx)
	h[i].at, e.armed = at, at
	if !h.down(i) {
		h.up(i)
	}
}

func (h *deadlineHeap) remove(e *entry) {
	i := int(e.hidx)
	n := len(*h) - 1
	if i != n {
		h.swap(i, n)
	}
	(*h)[n] = heapItem{}
	*h = (*h)[:n]
	if i != n && !h.down(i) {
		h.up(i)
	}
	e.hidx = -1
}

func (h deadlineHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if h[i].at <= h[j].at {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h deadlineHeap) down(i0 int) bool {
	i, n := i0, len(h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h[r].at < h[l].at {
			j = r
		}
		if h[i].at <= h[j].at {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
