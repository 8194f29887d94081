package analyze

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/flows"
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

// TestPairMapWithoutTemporaryFile: when no temporary file can be made in
// TMPDIR, the pairs spill to one in memory, as compact as on disk, and
// none is lost.
func TestPairMapWithoutTemporaryFile(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	p := newPairMap[pairAcc](2, pairAccCodec{})
	defer p.close()
	for k := range uint64(10) {
		p.set(k, pairAcc{bytes: k, conversations: 1})
	}
	if len(p.runs) != 5 || p.full {
		t.Fatalf("%d runs, full %v: want 5, in memory", len(p.runs), p.full)
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

// TestPiecesSpill: the pieces of gap-cut connections give the
// same long-connection findings whether they stay in memory or spill a
// 5-tuple at a time.
func TestPiecesSpill(t *testing.T) {
	var conns []*flows.Conn
	for i := range 12 { // twelve connections, each cut into three pieces
		for j, history := range []string{"ShADad", "DadA", "Dad"} {
			c := conn("10.0.0.6", "192.0.2.9", uint16(50000+i), 8443, time.Duration(j*40)*time.Minute+time.Duration(i)*time.Second, 30*time.Minute)
			c.History, c.UID = history, fmt.Sprintf("C%d-%d", i, j)
			conns = append(conns, c)
		}
	}
	whys := func(limit int) []string {
		s := NewSummary(Options{})
		detectorOf[*longConnectionDetector](s).pieces.limit = limit
		for _, c := range conns {
			s.AddConn(c)
		}
		if limit < pairMapLimit && len(detectorOf[*longConnectionDetector](s).pieces.runs) < 2 {
			t.Fatalf("%d runs of pieces, want several", len(detectorOf[*longConnectionDetector](s).pieces.runs))
		}
		var got []string
		for _, f := range findingsWhere(s, ofKind("long_connection")) {
			got = append(got, fmt.Sprint(f.Why, f.Count, f.Evidence.UIDs))
		}
		slices.Sort(got)
		return got
	}
	want := whys(pairMapLimit)
	if len(want) != 12 || !strings.Contains(want[0], "in 3 pieces") {
		t.Fatalf("in memory: %q, want twelve connections in three pieces each", want)
	}
	if got := whys(1); !slices.Equal(got, want) {
		t.Errorf("spilled a 5-tuple at a time: %q, want %q", got, want)
	}
}

// TestPiecesDamagedRunIsReported: pieces that cannot be read back make
// Summary.Err say so, as every other spilled state does.
func TestPiecesDamagedRunIsReported(t *testing.T) {
	s := NewSummary(Options{})
	detectorOf[*longConnectionDetector](s).pieces.limit = 1
	for i := range 4 {
		c := conn("10.0.0.6", "192.0.2.9", uint16(50000+i), 8443, time.Duration(i)*time.Minute, time.Minute)
		c.History = "DadA"
		s.AddConn(c)
	}
	pieces := detectorOf[*longConnectionDetector](s).pieces
	if len(pieces.runs) < 2 {
		t.Fatalf("%d runs of pieces, want several", len(pieces.runs))
	}
	if _, err := pieces.file.WriteAt([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, 0); err != nil {
		t.Fatal(err)
	}
	s.Report()
	if s.Err() == nil {
		t.Error("a damaged run of pieces: no error")
	}
}

// TestPiecesCodec: the pieces of one key survive encoding, and merging
// keeps 5-tuples that share a key apart.
func TestPiecesCodec(t *testing.T) {
	a := flows.EndpointsOf(netip.MustParseAddr("10.0.0.6"), netip.MustParseAddr("192.0.2.9"), 50000, 8443, 6)
	b := flows.EndpointsOf(netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("fe80::2%eth0"), 1, 2, 6)
	older := []piecesAcc{{ends: a, first: 10, last: 20, n: 2, carried: 2, orig: a.A, kept: []keptRef{1, 2}}}
	var codec piecesCodec
	got, err := codec.decode(codec.append(nil, older))
	if err != nil || !reflect.DeepEqual(got, older) {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, older)
	}
	newer := []piecesAcc{{ends: b, first: 5, last: 6, n: 1, orig: b.B, kept: []keptRef{7}}, {ends: a, first: 30, last: 40, n: 1, carried: 1, orig: a.B, kept: []keptRef{3}}}
	merged := codec.merge(got, newer)
	want := []piecesAcc{{ends: a, first: 10, last: 40, n: 3, carried: 3, orig: a.A, kept: []keptRef{1, 2, 3}}, newer[0]}
	if !reflect.DeepEqual(merged, want) {
		t.Errorf("merged: %+v, want %+v", merged, want)
	}
	enc := codec.append(nil, merged)
	for i := range enc { // cut short anywhere: an error, never a panic
		if _, err := codec.decode(enc[:i]); err == nil {
			t.Errorf("decoding the first %d of %d bytes: no error", i, len(enc))
		}
	}
}
