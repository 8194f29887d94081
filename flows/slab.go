package flows

// slab holds a table's slots in chunks, so that growing it never copies
// the slots already there: with a flood's hundreds of thousands of live
// conversations, each growth of one slice copied hundreds of megabytes and
// touched as many fresh pages.
type slab[T any] struct {
	chunks [][]T
	n      int32
}

// Slots per chunk: about 1 MiB of conversations, 416 KiB of lite slots.
const (
	slabShift = 12
	slabChunk = 1 << slabShift
)

// at returns slot i.
func (s *slab[T]) at(i int32) *T { return &s.chunks[i>>slabShift][i&(slabChunk-1)] }

// add adds a zero slot and returns its index.
func (s *slab[T]) add() int32 {
	if int(s.n>>slabShift) == len(s.chunks) {
		s.chunks = append(s.chunks, make([]T, slabChunk))
	}
	s.n++
	return s.n - 1
}

// len returns the number of slots.
func (s *slab[T]) len() int32 { return s.n }

// trim gives back the chunks past the one after slot n's, and returns
// how many slots the slab keeps: n rounded up to a whole chunk, and a
// chunk more, so that a table holding about a chunk's worth does not
// give one back and make it again at each turn. The caller must use no
// slot from there on.
func (s *slab[T]) trim(n int32) int32 {
	keep := (n+slabChunk-1)&^(slabChunk-1) + slabChunk
	if keep >= s.n {
		return s.n
	}
	clear(s.chunks[keep>>slabShift:])
	s.chunks = s.chunks[:keep>>slabShift]
	s.n = keep
	return keep
}
