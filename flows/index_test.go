package flows

import (
	"bytes"
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// TestIndexAgainstMap inserts and removes random keys from a small key
// space, so probe chains collide and deletions shift entries, and compares
// every lookup with a Go map.
func TestIndexAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ix := newIndex()
	var convs slab[conv]
	ref := map[key]int32{}
	var free []int32
	for step := range 200000 {
		var k key
		k.lo[15] = byte(rng.IntN(40))
		k.hi[15] = byte(rng.IntN(40))
		k.loPort = uint16(rng.IntN(20))
		k.proto = 6
		h := hashKey(&k)
		slot, ok := ix.lookup(&k, h, &convs, nil)
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
			i = convs.add()
		}
		*convs.at(i) = conv{key: k, hash: h}
		ix.insert(h, i)
		ref[k] = i
	}
	if ix.count != len(ref) {
		t.Fatalf("index holds %d keys, map %d", ix.count, len(ref))
	}
	for k, want := range ref {
		if got, ok := ix.lookup(&k, hashKey(&k), &convs, nil); !ok || got != want {
			t.Fatalf("key %v: %v %v, want %v", k, got, ok, want)
		}
	}
}

// TestSelectSmallest checks that the k smallest values come first, for
// every k, on random, sorted, reversed, constant-step and organ-pipe
// inputs.
func TestSelectSmallest(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	inputs := map[string]func(n int) []int{
		"random":   func(n int) []int { return rng.Perm(n) },
		"sorted":   func(n int) []int { s := rng.Perm(n); slices.Sort(s); return s },
		"reversed": func(n int) []int { s := rng.Perm(n); slices.Sort(s); slices.Reverse(s); return s },
		"organ pipe": func(n int) []int {
			s := make([]int, n)
			for i := range s {
				s[i] = min(i, n-i)*2 + i%2 // distinct: a total order
			}
			return s
		},
	}
	for name, input := range inputs {
		for _, n := range []int{1, 2, 3, 10, 257} {
			for k := 1; k <= n; k++ {
				s := input(n)
				want := slices.Sorted(slices.Values(s))[:k]
				selectSmallest(s, k, cmp.Compare[int])
				got := slices.Sorted(slices.Values(s[:k]))
				if !slices.Equal(got, want) {
					t.Fatalf("%s, n %d, k %d: the first k are %v, want %v", name, n, k, got, want)
				}
			}
		}
	}
}

// TestCompareAddrPort: addresses order as their bytes, then ports, as
// bytes.Compare and cmp.Compare order them, IPv4-mapped ones included.
func TestCompareAddrPort(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	addr := func() [16]byte {
		var a [16]byte
		if rnd.IntN(2) == 0 {
			a = netip.AddrFrom4([4]byte{10, 0, byte(rnd.IntN(2)), byte(rnd.IntN(3))}).As16()
		} else {
			a[0], a[15] = byte(rnd.IntN(2)), byte(rnd.IntN(3))
		}
		return a
	}
	for range 10000 {
		a, b := addr(), addr()
		ap, bp := uint16(rnd.IntN(3)), uint16(rnd.IntN(3))
		want := bytes.Compare(a[:], b[:])
		if want == 0 {
			want = cmp.Compare(ap, bp)
		}
		if got := compareAddrPort(a, b, ap, bp); got != want {
			t.Fatalf("compareAddrPort(%x, %x, %d, %d) = %d, want %d", a, b, ap, bp, got, want)
		}
	}
}
