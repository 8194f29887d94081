package hugeheap

import (
	"bytes"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// hugePage is the size of a transparent huge page with 4 KiB base pages
// (x86-64, most arm64 systems); with others (64 KiB pages: 512 MiB) Advise
// does nothing.
const hugePage = 2 << 20

// Advise makes the next Size bytes of heap that the Go runtime maps
// eligible for transparent huge pages, when the system gives them only on
// request; elsewhere, on 32-bit platforms, under an address-space limit
// (ulimit -v) and under a memory limit (GOMEMLIMIT: huge pages count
// whole towards the resident memory) it does nothing (refusal says why).
// It maps that memory into the heap by allocating it, untouched, advises
// it (MADV_HUGEPAGE), and frees it: the runtime then places later
// allocations in it, lowest addresses first, and the advice stays with
// the mapping when the runtime returns pages to the system and takes
// them again. Call it once, first thing in main: it collects garbage
// once, so that the allocation does not raise the collector's target,
// and gives the freed block back to the system (debug.FreeOSMemory), so
// that the runtime knows its pages are zero: otherwise every allocation
// placed in it would be cleared first, touching (at several µs a page on
// some virtual machines) the room a buffer was given and never uses.
func Advise() {
	if refusal() != "" {
		return
	}
	// No collection while the block is live: its size would become the
	// collector's target.
	percent := debug.SetGCPercent(-1)
	block := make([]byte, Size+hugePage)
	syscall.Madvise(aligned(block, Size), syscall.MADV_HUGEPAGE) // advice: failing changes nothing
	runtime.KeepAlive(block)
	block = nil
	debug.SetGCPercent(percent)
	debug.FreeOSMemory()
	advised.Store(true)
}

// advised says that Advise advised the heap: Map advises its mappings too.
var advised atomic.Bool

// aligned returns the n bytes of block that start at its first huge-page
// boundary; block holds n+hugePage bytes.
func aligned(block []byte, n int) []byte {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(block)))
	from := int((start+hugePage-1)&^(hugePage-1) - start)
	return block[from : from+n]
}

// Map returns n bytes of memory outside the Go heap, never given back,
// for buffers that are kept and reused for the whole run: the collector
// neither scans them nor counts them towards its target. When Advise
// advised the heap, they start at a huge-page boundary and are advised
// too, so that touching them costs a page fault a huge page, not one a
// 4 KiB page. It returns nil when the memory cannot be mapped.
func Map(n int) []byte {
	block, err := syscall.Mmap(-1, 0, n+hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil
	}
	mem := aligned(block, n)
	if advised.Load() {
		syscall.Madvise(mem, syscall.MADV_HUGEPAGE) // advice: failing changes nothing
	}
	return mem[:n:n]
}

// refusal says why Advise does nothing here, or is "".
func refusal() string {
	switch {
	case unsafe.Sizeof(uintptr(0)) < 8:
		return "a 32-bit platform"
	case !onRequest():
		return "transparent huge pages are not given on request (madvise mode)"
	case !hugePageSized():
		return "transparent huge pages are not of 2 MiB"
	case addressLimited():
		return "the address space is limited (ulimit -v)"
	case debug.SetMemoryLimit(-1) != math.MaxInt64:
		return "a memory limit is set (GOMEMLIMIT)"
	}
	return ""
}

// onRequest reports whether transparent huge pages are given only to
// memory advised to have them.
func onRequest() bool {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err == nil && bytes.Contains(mode, []byte("[madvise]"))
}

// hugePageSized reports whether transparent huge pages are hugePage
// bytes.
func hugePageSized() bool {
	size, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
	return err == nil && string(bytes.TrimSpace(size)) == strconv.Itoa(hugePage)
}

// addressLimited reports whether the process's address space is limited,
// where mapping Size bytes more could make a later allocation fail.
func addressLimited() bool {
	var lim syscall.Rlimit
	return syscall.Getrlimit(syscall.RLIMIT_AS, &lim) != nil || lim.Cur != ^uint64(0)
}
