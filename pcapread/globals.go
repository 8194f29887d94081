package pcapread

import (
	"unsafe"

	"github.com/gopacket/gopacket/layers"

	"github.com/netfx/netfx/internal/hugeheap"
)

// gopacket/layers, which pcapgo imports, holds two tables of 65,536
// entries (EthernetTypeMetadata and PPPTypeMetadata, 2.5 MiB each, nearly
// all zero) among the program's zeroed globals, which every garbage
// collection reads through. Read first by the first collection, their
// 1,300 pages took it 10 ms of page faults on the development VM; in huge
// pages, made before any collection, they take none, and the resident
// memory stays as it was: the collection reads nearly every page of them
// anyway (docs/performance.md).
func init() {
	bytes := func(table *[65536]layers.EnumMetadata) []byte {
		return unsafe.Slice((*byte)(unsafe.Pointer(table)), unsafe.Sizeof(*table))
	}
	hugeheap.Collapse(bytes(&layers.EthernetTypeMetadata), bytes(&layers.PPPTypeMetadata))
}
