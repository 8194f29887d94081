package flows

import (
	"math/rand/v2"
	"testing"
)

// TestIndexAgainstMap inserts and removes random keys from a small key
// space, so probe chains collide and deletions shift entries, and compares
// every lookup with a Go map.
func TestIndexAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ix := newIndex()
	var convs []conv
	ref := map[key]int32{}
	var free []int32
	for step := range 200000 {
		var k key
		k.lo[15] = byte(rng.IntN(40))
		k.hi[15] = byte(rng.IntN(40))
		k.loPort = uint16(rng.IntN(20))
		k.proto = 6
		h := hashKey(&k)
		slot, ok := ix.lookup(&k, h, convs, nil)
		want, wantOK := ref[k]
		if ok != wantOK || (ok && slot != want) {
			t.Fatalf("step %d: lookup %v %v, map %v %v", step, slot, ok, want, wantOK)
		}
		if wantOK {
			if rng.IntN(2) == 0 {
				ix.remove(h, want)
				delete(ref, k)
				free = append(free, want)
			}
			continue
		}
		var i int32
		if n := len(free); n > 0 {
			i, free = free[n-1], free[:n-1]
		} else {
			convs = append(convs, conv{})
			i = int32(len(convs) - 1)
		}
		convs[i] = conv{key: k, hash: h}
		ix.insert(h, i)
		ref[k] = i
	}
	if ix.count != len(ref) {
		t.Fatalf("index holds %d keys, map %d", ix.count, len(ref))
	}
	for k, want := range ref {
		if got, ok := ix.lookup(&k, hashKey(&k), convs, nil); !ok || got != want {
			t.Fatalf("key %v: %v %v, want %v", k, got, ok, want)
		}
	}
}
