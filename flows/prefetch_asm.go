//go:build amd64 || arm64

package flows

import "unsafe"

// prefetch asks the processor to bring the cache line at addr in, and
// returns without waiting for it.
//
//go:noescape
func prefetch(addr unsafe.Pointer)
