//go:build !amd64 && !arm64

package flows

import "unsafe"

// prefetch does nothing where netfx has no instruction for it.
func prefetch(unsafe.Pointer) {}
