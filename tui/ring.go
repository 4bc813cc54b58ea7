package tui

// ring is a fixed-capacity FIFO queue that overwrites its oldest item when
// full, so that pushing never blocks and never grows memory. It is not safe
// for concurrent use: Dashboard guards its rings with a mutex.
type ring[T any] struct {
	buf     []T
	head    int    // index of the oldest item
	n       int    // number of items held
	dropped uint64 // items overwritten before they were taken
}

func newRing[T any](size int) *ring[T] {
	if size < 1 {
		size = 1
	}
	return &ring[T]{buf: make([]T, size)}
}

// push appends v, dropping the oldest item if the ring is full.
func (r *ring[T]) push(v T) {
	if r.n == len(r.buf) {
		r.buf[r.head] = v
		r.head = (r.head + 1) % len(r.buf)
		r.dropped++
		return
	}
	r.buf[(r.head+r.n)%len(r.buf)] = v
	r.n++
}

// items returns a copy of the items held, oldest first.
func (r *ring[T]) items() []T {
	if r.n == 0 {
		return nil
	}
	out := make([]T, r.n)
	for i := range out {
		out[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	return out
}

// take returns the items held, oldest first, and how many were dropped since
// the last take, and empties the ring.
func (r *ring[T]) take() (items []T, dropped uint64) {
	items, dropped = r.items(), r.dropped
	var zero T
	for i := 0; i < r.n; i++ {
		r.buf[(r.head+i)%len(r.buf)] = zero // let go of what the items refer to
	}
	r.head, r.n, r.dropped = 0, 0, 0
	return items, dropped
}

func (r *ring[T]) len() int { return r.n }
