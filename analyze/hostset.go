package analyze

import "slices"

// hostSet is a set of hosts' numbers (see hostTable). Its first
// fewHosts members are held in the set itself, as most ports see few
// hosts on either side; then it is a map; once a bitmap over the numbers
// it holds would be smaller, it becomes one, so a port that a flood
// reaches from millions of sources costs a bit per host, not a map entry.
type hostSet struct {
	few   [fewHosts]uint32
	small map[uint32]struct{}
	bits  []uint64
	n     int    // members, while few or once a bitmap
	top   uint32 // the highest number added
}

// fewHosts is how many members a set holds before it makes a map: a
// scanner of random hosts and ports gives each of 65,536 ports one
// originator, which then costs no map and no hashing (docs/performance.md).
const fewHosts = 4

// bitmapFrom is the fewest members a set has before it may become a
// bitmap: a map entry costs about 16 bytes, a bitmap a bit per number up
// to the highest.
const bitmapFrom = 64

func (s *hostSet) add(id uint32) {
	s.top = max(s.top, id)
	switch {
	case s.bits != nil:
		s.set(id)
		return
	case s.small != nil:
	case slices.Contains(s.few[:s.n], id):
		return
	case s.n < fewHosts:
		s.few[s.n] = id
		s.n++
		return
	default:
		s.small = make(map[uint32]struct{}, 2*fewHosts)
		for _, m := range s.few {
			s.small[m] = struct{}{}
		}
		s.n = 0
	}
	s.small[id] = struct{}{}
	if n := len(s.small); n >= bitmapFrom && uint64(n)*16*8 > uint64(s.top)+1 {
		s.bits = make([]uint64, s.top/64+1)
		for m := range s.small {
			s.set(m)
		}
		s.small = nil
	}
}

func (s *hostSet) set(id uint32) {
	w := int(id / 64)
	if w >= len(s.bits) {
		s.bits = append(s.bits, make([]uint64, w+1-len(s.bits))...)
	}
	if bit := uint64(1) << (id % 64); s.bits[w]&bit == 0 {
		s.bits[w] |= bit
		s.n++
	}
}

// len returns the number of members.
func (s *hostSet) len() int {
	if s.small != nil {
		return len(s.small)
	}
	return s.n
}
