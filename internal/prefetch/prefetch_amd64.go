package prefetch

import "unsafe"

// ForRead brings the cache lines of the size bytes at addr in to be read.
//
//go:noescape
func ForRead(addr unsafe.Pointer, size uintptr)

//go:noescape
func prefetchW(addr unsafe.Pointer, size uintptr)

// hasPrefetchW reports whether the processor has PREFETCHW (CPUID
// 80000001H, ECX bit 8): AMD's since the K6, Intel's since Broadwell.
func hasPrefetchW() bool

// forWrite is PREFETCHW where the processor has it, PREFETCHT0 elsewhere.
var forWrite = func() func(unsafe.Pointer, uintptr) {
	if hasPrefetchW() {
		return prefetchW
	}
	return ForRead
}()
