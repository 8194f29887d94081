//go:build unix

package tempfile

import "syscall"

// newChunk maps memChunk bytes of anonymous memory, outside Go's heap, or
// takes them from the heap if the system refuses.
func newChunk() []byte {
	b, err := syscall.Mmap(-1, 0, memChunk, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, memChunk)
	}
	return b
}

// freeChunk unmaps a chunk of newChunk's; one from the heap fails to unmap
// and is left to the garbage collector.
func freeChunk(b []byte) { syscall.Munmap(b) }
