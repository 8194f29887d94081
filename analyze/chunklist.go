package analyze

// chunkList holds values in the order they came, in chunks of 1<<shift
// that never move: a slice grown by doubling would copy them all, each
// time onto fresh memory, and pointers into it would not last.
type chunkList[T any] struct {
	chunks [][]T
	n      int
	shift  uint
}

// at returns value i, 0 <= i < n.
func (l *chunkList[T]) at(i uint32) *T {
	return &l.chunks[i>>l.shift][i&(1<<l.shift-1)]
}

// add appends v and returns its number.
func (l *chunkList[T]) add(v T) uint32 {
	if l.n&(1<<l.shift-1) == 0 {
		l.chunks = append(l.chunks, make([]T, 0, 1<<l.shift))
	}
	last := &l.chunks[len(l.chunks)-1]
	*last = append(*last, v)
	l.n++
	return uint32(l.n - 1)
}
