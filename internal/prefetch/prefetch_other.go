//go:build !amd64 && !arm64

package prefetch

import "unsafe"

// Read does nothing where netfx has no instruction for it.
func Read(unsafe.Pointer) {}

var forWrite func(unsafe.Pointer, uintptr)
