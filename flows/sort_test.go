package flows

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
)

// TestSorterSpillsAndMerges sorts more records than it may hold in memory
// and checks the order and that every record survives the temporary files.
func TestSorterSpillsAndMerges(t *testing.T) {
	var want []*Conn
	for i := range 1000 {
		want = append(want, &Conn{
			TS: int64((i * 7919) % 613), UID: fmt.Sprintf("C%04d", i), Orig: netip.MustParseAddr("10.0.0.1"),
			Resp: netip.MustParseAddr("2001:db8::1"), OrigPort: uint16(i), Proto: 6, History: "ShAD", Files: []string{"a", "b"},
		})
	}
	for _, limit := range []int{1, 7, 100, 5000} {
		s := NewSorter(limit)
		for _, c := range want {
			s.Add(c)
		}
		var got []*Conn
		if err := s.Each(64, func(b []*Conn) error { got = append(got, b...); return nil }); err != nil {
			t.Fatal(err)
		}
		sorted := slices.Clone(want)
		slices.SortFunc(sorted, CompareConns)
		if len(got) != len(sorted) {
			t.Fatalf("limit %d: %d records, want %d", limit, len(got), len(sorted))
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], sorted[i]) {
				t.Fatalf("limit %d: record %d = %+v, want %+v", limit, i, got[i], sorted[i])
			}
		}
	}
}
