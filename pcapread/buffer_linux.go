package pcapread

import (
	"sync"
	"syscall"
	"unsafe"
)

// arena holds the bytes of record batches outside the Go heap, in one
// mapping advised for transparent huge pages: a reader's caller holds a
// dozen or more batches at once (Batch), which on the heap would count
// twice over towards the collector's goal, while each first touch of a
// 4 KiB page of a mapping of their own would cost a page fault (10 µs
// and more on virtual machines).
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

// hugePage is the size of a transparent huge page on x86-64 and most
// arm64 systems; the mapping is aligned to it.
const hugePage = 2 << 20

// mapBuffer returns n bytes from the arena, and how to give them back; nil
// when the arena has no slot free, was not mapped, or holds slots of
// another size.
func mapBuffer(n int) ([]byte, func()) {
	arena.once.Do(func() {
		mem, err := syscall.Mmap(-1, 0, arenaSlots*n+hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			return
		}
		from := int((uintptr(unsafe.Pointer(unsafe.SliceData(mem)))+hugePage-1)&^(hugePage-1) - uintptr(unsafe.Pointer(unsafe.SliceData(mem))))
		arena.mem, arena.size = mem[from:from+arenaSlots*n], n
		syscall.Madvise(arena.mem, syscall.MADV_HUGEPAGE) // advice: failing changes nothing
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
