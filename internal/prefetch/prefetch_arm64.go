package prefetch

import "unsafe"

// ForRead brings the cache lines of the size bytes at addr in to be read.
//
//go:noescape
func ForRead(addr unsafe.Pointer, size uintptr)

//go:noescape
func prefetchStore(addr unsafe.Pointer, size uintptr)

var forWrite = prefetchStore
