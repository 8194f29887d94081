package flows

import (
	"cmp"
	"strings"

	"github.com/netfx/netfx/internal/extsort"
)

// DefaultSortMemory is the number of records a sorter holds in memory
// before it spills to temporary files: about 60 MiB of records.
const DefaultSortMemory = 200_000

// CompareConns orders records as netfx writes them: by ts, then uid.
func CompareConns(a, b *Conn) int {
	if a.TS != b.TS {
		return cmp.Compare(a.TS, b.TS)
	}
	return strings.Compare(a.UID, b.UID)
}

// NewSorter returns a sorter that puts records in output order, holding
// at most limit of them in memory, so memory stays bounded however many
// conversations the input has.
func NewSorter(limit int) *extsort.Sorter[*Conn] {
	return extsort.NewWithCodec(limit, CompareConns, ConnCodec())
}
