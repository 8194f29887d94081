// Package prefetch asks the processor to bring memory into its cache
// before it is used, without waiting for it: for the few places on
// netfx's hot path where the next address is known well ahead and a cache
// miss would otherwise stall the work (the flow table's index and slots,
// the batch slots the reader decodes packets into). Where netfx has no
// instruction for it (platforms other than amd64 and arm64), the calls do
// nothing.
package prefetch

import "unsafe"

// ForWrite brings the cache lines of the size bytes at addr in to be
// written: on another core's cache, their copies there are given up now
// rather than when the first write needs them (amd64 processors without
// PREFETCHW: as for reading).
func ForWrite(addr unsafe.Pointer, size uintptr) {
	if forWrite != nil {
		forWrite(addr, size)
	}
}
