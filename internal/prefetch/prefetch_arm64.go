package prefetch

import "unsafe"

// Read brings the cache line at addr in to be read.
//
//go:noescape
func Read(addr unsafe.Pointer)

//go:noescape
func prefetchStore(addr unsafe.Pointer, size uintptr)

var forWrite = prefetchStore
