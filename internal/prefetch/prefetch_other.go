//go:build !amd64 && !arm64

package prefetch

import "unsafe"

// Where netfx has no instruction for it, a line is not asked for.
func lineForRead(unsafe.Pointer)  {}
func lineForWrite(unsafe.Pointer) {}
