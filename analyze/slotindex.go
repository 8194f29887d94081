package analyze

// slotIndex finds entries numbered from 0, kept elsewhere, by the hash of
// their key: open addressing with linear probing from the position the
// hash's top 32 bits give; a slot is 0 when empty, else those 32 bits and
// the number plus one, so that growing needs no entry. Slots of 8 bytes,
// at most three quarters full, take 11–21 bytes an entry where a Go map
// keyed by an address took about 40, and a lookup that misses (a flood's
// every new address) reads one cache line or two, and no entry.
type slotIndex struct {
	slots []uint64
	n     int
}

func newSlotIndex() slotIndex { return slotIndex{slots: make([]uint64, 1024)} }

// find returns the slot of the entry of hash h that is reports as the one
// sought, or the empty slot where it would go.
func (x *slotIndex) find(h uint64, is func(id uint32) bool) (slot int, found bool) {
	mask := len(x.slots) - 1
	for i := int(h>>32) & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			return i, false
		}
		if s>>32 == h>>32 && is(uint32(s)-1) {
			return i, true
		}
	}
}

// id returns the number of the entry in slot, which find found.
func (x *slotIndex) id(slot int) uint32 { return uint32(x.slots[slot]) - 1 }

// add puts entry id, of hash h, where find said it would go, growing the
// index first when it would be more than three quarters full.
func (x *slotIndex) add(slot int, h uint64, id uint32) {
	if x.n++; x.n > len(x.slots)/4*3 {
		x.grow()
		slot = x.empty(h)
	}
	x.slots[slot] = h&^0xFFFFFFFF | uint64(id+1)
}

// empty returns the first empty slot from where hash h starts.
func (x *slotIndex) empty(h uint64) int {
	mask := len(x.slots) - 1
	i := int(h>>32) & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	return i
}

// grow doubles the index and puts every entry back in it.
func (x *slotIndex) grow() {
	old := x.slots
	x.slots = make([]uint64, 2*len(old))
	for _, s := range old {
		if s != 0 {
			x.slots[x.empty(s)] = s
		}
	}
}
