package prefetch

import "unsafe"

//go:noescape
func lineForRead(addr unsafe.Pointer)

//go:noescape
func lineForWrite(addr unsafe.Pointer)
