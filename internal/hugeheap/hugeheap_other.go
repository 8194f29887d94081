//go:build !linux

package hugeheap

// Advise does nothing outside Linux.
func Advise() {}

// Map maps no memory outside Linux: callers use the heap.
func Map(int) []byte { return nil }

// Collapse does nothing outside Linux.
func Collapse(...[]byte) {}
