package flows

import (
	"encoding/binary"
	"math/bits"
)

// index maps conversation keys to slots of the table's conversation array.
// It is an open-addressing hash table of uint64 entries, each holding the
// high 32 bits of the key's hash (a tag that rules out most mismatches
// without touching the conversation, and whose low bits are the entry's
// home position) and the slot number plus one; 0 is empty. It has no
// pointers for the garbage collector to scan; a lookup touches one cache
// line of the index and, on a tag match, the conversation the caller
// needs next anyway; growing and deleting touch the index alone.
// Deletion shifts later entries back, so there are no tombstones.
type index struct {
	entries []uint64
	mask    uint64
	count   int
}

const minIndexSize = 1 << 12

func newIndex() *index {
	return &index{entries: make([]uint64, minIndexSize), mask: minIndexSize - 1}
}

// hashKey mixes the key's 40 bytes into 64 bits.
func hashKey(k *key) uint64 {
	const m = 0x9E3779B97F4A7C15
	h := uint64(k.proto) | uint64(k.loPort)<<8 | uint64(k.hiPort)<<24
	if k.v6 {
		h |= 1 << 40
	}
	for _, w := range [4]uint64{
		binary.LittleEndian.Uint64(k.lo[0:8]), binary.LittleEndian.Uint64(k.lo[8:16]),
		binary.LittleEndian.Uint64(k.hi[0:8]), binary.LittleEndian.Uint64(k.hi[8:16]),
	} {
		hi, lo := bits.Mul64(h^w, m)
		h = hi ^ lo
	}
	hi, lo := bits.Mul64(h, m)
	return hi ^ lo
}

// lookup returns the slot of key k, using convs and lites to compare keys.
func (ix *index) lookup(k *key, h uint64, convs *slab[conv], lites *slab[lite]) (int32, bool) {
	tag := h >> 32
	for pos := tag & ix.mask; ; pos = (pos + 1) & ix.mask {
		e := ix.entries[pos]
		if e == 0 {
			return 0, false
		}
		if e>>32 == tag {
			slot := int32(uint32(e)) - 1
			if slot&liteBit != 0 {
				if lites.at(slot&^liteBit).key == *k {
					return slot, true
				}
			} else if convs.at(slot).key == *k {
				return slot, true
			}
		}
	}
}

// at returns the entry where the probe for key hash h starts.
func (ix *index) at(h uint64) *uint64 { return &ix.entries[h>>32&ix.mask] }

// insert adds key hash h for slot; the key must not be present.
func (ix *index) insert(h uint64, slot int32) {
	if (ix.count+1)*2 > len(ix.entries) {
		ix.grow()
	}
	ix.place(entryOf(h, slot))
	ix.count++
}

// home returns the position where entry e's probe sequence starts.
func (ix *index) home(e uint64) uint64 { return e >> 32 & ix.mask }

func (ix *index) place(e uint64) {
	pos := ix.home(e)
	for ix.entries[pos] != 0 {
		pos = (pos + 1) & ix.mask
	}
	ix.entries[pos] = e
}

func (ix *index) grow() {
	old := ix.entries
	ix.entries = make([]uint64, 2*len(old))
	ix.mask = uint64(len(ix.entries) - 1)
	for _, e := range old {
		if e != 0 {
			ix.place(e)
		}
	}
}

// entryOf returns the index entry of slot, whose key hashes to h.
func entryOf(h uint64, slot int32) uint64 { return h>>32<<32 | uint64(uint32(slot+1)) }

// find returns the position of entry e.
func (ix *index) find(e uint64) uint64 {
	pos := ix.home(e)
	for ix.entries[pos] != e {
		pos = (pos + 1) & ix.mask
	}
	return pos
}

// replace points the entry of slot, whose key hashes to h, at slot to.
func (ix *index) replace(h uint64, slot, to int32) {
	ix.entries[ix.find(entryOf(h, slot))] = entryOf(h, to)
}

// remove deletes the entry of slot, whose key hashes to h, and shifts
// back the entries after it that would otherwise become unreachable.
func (ix *index) remove(h uint64, slot int32) {
	pos := ix.find(entryOf(h, slot))
	ix.count--
	for {
		ix.entries[pos] = 0
		next := pos
		for {
			next = (next + 1) & ix.mask
			e := ix.entries[next]
			if e == 0 {
				return
			}
			// The entry at next may move to pos if its home position
			// is not in the cyclic range (pos, next].
			home := ix.home(e)
			if (next > pos && (home <= pos || home > next)) || (next < pos && home <= pos && home > next) {
				ix.entries[pos] = e
				pos = next
				break
			}
		}
	}
}
