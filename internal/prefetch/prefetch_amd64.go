package prefetch

import "unsafe"

//go:noescape
func lineForRead(addr unsafe.Pointer)

// lineForWrite prefetches with PREFETCHW where the processor has it
// (havePrefetchW), PREFETCHT0 elsewhere.
//
//go:noescape
func lineForWrite(addr unsafe.Pointer)

// havePrefetchW is whether the processor has PREFETCHW.
var havePrefetchW = hasPrefetchW()

// hasPrefetchW reports whether the processor has PREFETCHW (CPUID
// 80000001H, ECX bit 8): AMD's since the K6, Intel's since Broadwell.
func hasPrefetchW() bool
