package pcapread

import (
	"sync"

	"github.com/netfx/netfx/internal/hugeheap"
)

// arena holds the bytes of record batches outside the Go heap, in one
// mapping (hugeheap.Map): a reader's caller holds a dozen or more batches
// at once (Batch), which on the heap would count twice over towards the
// collector's goal.
var arena struct {
	once sync.Once
	mem  []byte // nil if it could not be mapped
	size int    // bytes a slot
	mu   sync.Mutex
	free []int // slots given back
	next int   // the first slot never handed out
}

// arenaSlots is how many batches the arena holds: as many as one Reader
// makes at most. Batches past them are allocated on the heap.
const arenaSlots = maxAheadBatches

// arenaBuffer returns n bytes from the arena, and how to give them back;
// nil when the arena has no slot free, could not be mapped, or holds
// slots of another size.
func arenaBuffer(n int) ([]byte, func()) {
	arena.once.Do(func() {
		if arena.mem = hugeheap.Map(arenaSlots * n); arena.mem != nil {
			arena.size = n
		}
	})
	if arena.mem == nil || n != arena.size {
		return nil, nil
	}
	arena.mu.Lock()
	defer arena.mu.Unlock()
	slot := arena.next
	if k := len(arena.free); k > 0 {
		slot, arena.free = arena.free[k-1], arena.free[:k-1]
	} else if slot < arenaSlots {
		arena.next++
	} else {
		return nil, nil
	}
	return arena.mem[slot*n : (slot+1)*n : (slot+1)*n], func() {
		arena.mu.Lock()
		arena.free = append(arena.free, slot)
		arena.mu.Unlock()
	}
}
