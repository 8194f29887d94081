package hugeheap

import (
	"bytes"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
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

// Collapse backs the memory around each of mems with huge pages now, and
// advises it to stay so: every huge page that holds part of it, as far as
// the mapping that holds it goes (MADV_COLLAPSE, Linux 6.1 and later;
// elsewhere, and where Advise does nothing, it does nothing). It is meant
// for large global tables that every garbage collection reads: the
// program's zeroed globals are mapped 4 KiB at a time, each first read a
// page fault (about 10 µs on the development VM), where a huge page takes
// one fault, or none once collapsed. The huge pages are resident whole,
// 2 MiB each.
func Collapse(mems ...[]byte) {
	if refusal() != "" {
		return
	}
	for _, mem := range mems {
		collapse(mem)
	}
}

// collapse collapses the memory around one of Collapse's mems, and
// returns MADV_COLLAPSE's error: EINVAL also where no page of a huge
// page's room was touched yet (the advice then gives it a huge page when
// it is).
func collapse(mem []byte) error {
	if len(mem) == 0 {
		return nil
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	from, to, ok := mappingOf(lo)
	if !ok {
		return nil
	}
	from = max(from+hugePage-1, lo&^(hugePage-1)) &^ (hugePage - 1)
	to = min(to, (lo+uintptr(len(mem))+hugePage-1)&^(hugePage-1)) &^ (hugePage - 1)
	if from >= to {
		return nil
	}
	// By address: the huge pages hold other globals than mem, which a
	// slice over them would straddle.
	madvise(from, to-from, syscall.MADV_HUGEPAGE) // advice: failing changes nothing
	return madvise(from, to-from, unix.MADV_COLLAPSE)
}

// madvise gives advice on the n bytes at addr, which lie in memory that
// never moves (the program's globals).
func madvise(addr, n uintptr, advice int) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, addr, n, uintptr(advice)); errno != 0 {
		return errno
	}
	return nil
}

// mappingOf returns the bounds of the private anonymous memory around
// addr, from /proc/self/maps: the mapping that holds it, with the
// mappings next to it that are private and anonymous too (advice splits
// a mapping in several).
func mappingOf(addr uintptr) (from, to uintptr, ok bool) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, 0, false
	}
	holds := func() bool { return ok && from <= addr && addr < to }
	for line := range bytes.Lines(maps) {
		// from-to perms offset device inode [path]
		fields := bytes.Fields(line)
		if len(fields) < 5 {
			continue
		}
		bounds, _, _ := bytes.Cut(fields[0], []byte("-"))
		lo, err1 := strconv.ParseUint(string(bounds), 16, 64)
		hi, err2 := strconv.ParseUint(string(fields[0][len(bounds)+1:]), 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		anonymous := len(fields) == 5 && string(fields[4]) == "0" && string(fields[1]) == "rw-p"
		if anonymous && ok && uintptr(lo) == to {
			to = uintptr(hi)
			continue
		}
		if holds() {
			return from, to, true
		}
		from, to, ok = uintptr(lo), uintptr(hi), anonymous
	}
	return from, to, holds()
}

// refusal says why Advise and Collapse do nothing here, or is "".
var refusal = sync.OnceValue(func() string {
	switch {
	case os.Getenv("NETFX_HUGEPAGES") == "off":
		return "NETFX_HUGEPAGES=off"
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
})

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
