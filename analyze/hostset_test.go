package analyze

import (
	"math/rand/v2"
	"testing"
)

// TestHostSet compares the set with a map as members arrive densely,
// sparsely and repeated, held in the set, then in a map, across its
// change into a bitmap.
func TestHostSet(t *testing.T) {
	for _, tc := range []struct {
		name   string
		adds   int
		ids    uint32 // numbers drawn from [0, ids)
		bitmap bool   // whether the set ends as a bitmap
	}{
		{"one, repeated", 20, 1, false},
		{"held in the set", 50, fewHosts, false},
		{"one more than that", 200, fewHosts + 1, false},
		{"few", 10, 1 << 20, false},
		{"sparse", 5000, 1 << 30, false},
		{"dense", 100_000, 50_000, true},
		{"dense then growing", 200_000, 1 << 22, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(7, uint64(tc.adds)))
			var s hostSet
			want := map[uint32]bool{}
			for i := range tc.adds {
				id := rnd.Uint32N(tc.ids)
				if tc.name == "dense then growing" && i < tc.adds/2 {
					id %= 4096
				}
				s.add(id)
				want[id] = true
				if i%997 == 0 && s.len() != len(want) {
					t.Fatalf("after %d adds: %d members, want %d", i+1, s.len(), len(want))
				}
			}
			if s.len() != len(want) || (s.bits != nil) != tc.bitmap {
				t.Errorf("%d members (bitmap %v), want %d (bitmap %v)", s.len(), s.bits != nil, len(want), tc.bitmap)
			}
			if held := s.small == nil && s.bits == nil; held != (len(want) <= fewHosts) {
				t.Errorf("%d members held in the set: %v", len(want), held)
			}
		})
	}
}
