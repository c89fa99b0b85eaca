package observer

// ring keeps the newest n values pushed into it. Its storage grows up to n
// as values arrive, so a ring that sees few values stays small.
type ring[T any] struct {
	buf   []T
	n     int
	start int // index of the oldest value once the ring is full
}

func newRing[T any](n int) ring[T] { return ring[T]{n: n} }

func (r *ring[T]) push(v T) {
	if len(r.buf) < r.n {
		r.buf = append(r.buf, v)
		return
	}
	r.buf[r.start] = v
	r.start = (r.start + 1) % r.n
}

// len returns how many values the ring holds.
func (r *ring[T]) len() int { return len(r.buf) }

// slice returns a copy of the values, oldest first.
func (r *ring[T]) slice() []T {
	out := make([]T, 0, len(r.buf))
	out = append(out, r.buf[r.start:]...)
	return append(out, r.buf[:r.start]...)
}
