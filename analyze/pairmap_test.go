package analyze

import (
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
)

// TestPairMapMergesRuns feeds the same random beacon series to a map that
// never spills and to maps that spill every few pairs: all must give the
// same state for every pair, in key order once spilled.
func TestPairMapMergesRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type obs struct {
		key uint64
		ts  int64
		ref keptRef
	}
	var feed []obs
	for i := range 2000 {
		feed = append(feed, obs{key: uint64(rng.IntN(40)), ts: int64(i), ref: keptRef(i)})
	}
	run := func(limit, maxWeight int) (*pairMap[seriesAcc], map[uint64]seriesAcc, []uint64) {
		p := newPairMap[seriesAcc](limit, seriesCodec{})
		p.maxWeight = maxWeight
		for _, o := range feed {
			s := p.get(o.key)
			if s.n < keptPerPair {
				s.conns[s.n] = o.ref
			}
			s.n++
			if len(s.points) < maxSeries {
				s.points = append(s.points, seriesPoint{o.ts, float64(o.ts % 7)})
				p.grow(1)
			}
			p.set(o.key, s)
		}
		got := map[uint64]seriesAcc{}
		var order []uint64
		for k, v := range p.all() {
			got[k] = v
			order = append(order, k)
		}
		if err := p.Err(); err != nil {
			t.Fatal(err)
		}
		return p, got, order
	}
	_, want, _ := run(1<<20, 0)
	for _, limit := range []struct{ pairs, weight int }{{2, 0}, {5, 0}, {39, 0}, {1 << 20, 100}} {
		p, got, order := run(limit.pairs, limit.weight)
		defer p.close()
		if len(p.runs) == 0 {
			t.Fatalf("limit %+v: nothing spilled", limit)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("limit %+v: merged state differs from the unspilled map", limit)
		}
		for i := 1; i < len(order); i++ {
			if order[i] <= order[i-1] {
				t.Fatalf("limit %+v: keys out of order: %d after %d", limit, order[i], order[i-1])
			}
		}
	}
}

// TestPairMapDamagedRun: a run that cannot be read back ends the sequence
// with an error, never a panic.
func TestPairMapDamagedRun(t *testing.T) {
	p := newPairMap[volumeAcc](2, volumeCodec{})
	defer p.close()
	for k := range uint64(4) {
		p.set(k, volumeAcc{out: k, n: 1})
	}
	if len(p.runs) != 2 {
		t.Fatalf("%d runs, want 2", len(p.runs))
	}
	if _, err := p.file.WriteAt([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, 0); err != nil {
		t.Fatal(err)
	}
	n := 0
	for range p.all() {
		n++
	}
	if p.Err() == nil || n == 4 {
		t.Errorf("%d pairs and error %v; want fewer and an error", n, p.Err())
	}
}

// TestPairMapWithoutTemporaryFile: when no temporary file can be made, the
// pairs stay in memory and none is lost.
func TestPairMapWithoutTemporaryFile(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	p := newPairMap[pairAcc](2, pairAccCodec{})
	for k := range uint64(10) {
		p.set(k, pairAcc{bytes: k, conversations: 1})
	}
	if len(p.runs) != 0 || !p.full {
		t.Fatalf("%d runs, full %v: want none, and the map given up spilling", len(p.runs), p.full)
	}
	n := 0
	for k, v := range p.all() {
		if v.bytes != k {
			t.Errorf("pair %d: %+v", k, v)
		}
		n++
	}
	if n != 10 || p.Err() != nil {
		t.Errorf("%d pairs, error %v; want 10 and none", n, p.Err())
	}
}
