// Package prefetch asks the processor to bring memory into its cache
// before it is used, without waiting for it: for the few places on
// netfx's hot path where the next address is known well ahead and a cache
// miss would otherwise stall the work (the flow table's index and slots,
// the batch slots the reader copies packets into). Where netfx has no
// instruction for it (platforms other than amd64 and arm64), the calls do
// nothing.
package prefetch

import "unsafe"

// lineSize is the cache line size of the processors netfx runs on, or
// less (a larger line is then asked for more than once).
const lineSize = 64

// ForRead brings the cache lines of the size bytes at addr in to be read.
func ForRead(addr unsafe.Pointer, size uintptr) {
	for off := uintptr(0); off < size; off += lineSize {
		lineForRead(unsafe.Add(addr, off))
	}
}

// ForWrite brings the cache lines of the size bytes at addr in to be
// written: on another core's cache, their copies there are given up now
// rather than when the first write needs them (amd64 processors without
// PREFETCHW: as for reading).
func ForWrite(addr unsafe.Pointer, size uintptr) {
	for off := uintptr(0); off < size; off += lineSize {
		lineForWrite(unsafe.Add(addr, off))
	}
}
