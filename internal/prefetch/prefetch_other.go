//go:build !amd64 && !arm64

package prefetch

import "unsafe"

// ForRead does nothing where netfx has no instruction for it.
func ForRead(unsafe.Pointer, uintptr) {}

var forWrite func(unsafe.Pointer, uintptr)
