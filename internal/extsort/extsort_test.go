package extsort

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/gob"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/netfx/netfx/internal/tempfile"
)

// gobCodec spills any value with encoding/gob: an encoder or decoder per
// run, bound to the run's writer or reader at first use (ForRun).
type gobCodec[T any] struct {
	enc *gob.Encoder
	dec *gob.Decoder
}

func (*gobCodec[T]) ForRun() Codec[T] { return &gobCodec[T]{} }

func (c *gobCodec[T]) Encode(w *bufio.Writer, v T) error {
	if c.enc == nil {
		c.enc = gob.NewEncoder(w)
	}
	return c.enc.Encode(&v)
}

func (c *gobCodec[T]) ReadRun(r io.Reader) Run[T] { return Decoding(r, c.Decode) }

func (c *gobCodec[T]) Decode(r *bufio.Reader) (T, error) {
	if c.dec == nil {
		c.dec = gob.NewDecoder(r)
	}
	var v T
	err := c.dec.Decode(&v)
	return v, err
}

type item struct {
	Key   int
	Label string
}

func compareItems(a, b *item) int {
	return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Label, b.Label))
}

// TestSortSpillsAndMerges sorts more values than the sorter may hold in
// memory, with every limit from all-in-memory to one value per run, and
// spilling in the background (after the first run, each buffer half the
// limit); past the runs merged at once, groups of them are merged first,
// on one level or several, and at most twice as many are open while
// values come.
func TestSortSpillsAndMerges(t *testing.T) {
	var in []*item
	for i := range 500 {
		in = append(in, &item{Key: (i * 7919) % 97, Label: string(rune('a' + i%26))})
	}
	want := slices.Clone(in)
	slices.SortFunc(want, compareItems)
	const inForeground, inBackground, allInBackground = 0, 1, 2
	for _, tc := range []struct {
		limit, runs int
		spill       int
		fanIn       int
	}{{1000, 0, inForeground, 0}, {100, 5, inForeground, 0}, {7, 71, inForeground, 0}, {1, 500, inForeground, 0},
		{1000, 0, inBackground, 0}, {100, 9, inBackground, 0}, {7, 165, inBackground, 0}, {1, 500, inBackground, 0},
		{1000, 0, allInBackground, 0}, {100, 9, allInBackground, 0}, {7, 165, allInBackground, 0}, {1, 500, allInBackground, 0},
		{7, 71, inForeground, 4}, {1, 500, inBackground, 3}, {7, 165, allInBackground, 3}} {
		s := NewWithCodec(tc.limit, compareItems, &gobCodec[*item]{})
		if tc.fanIn > 0 {
			s.fanIn = tc.fanIn
		}
		switch tc.spill {
		case inBackground:
			s.SpillInBackground()
		case allInBackground:
			s.SpillAllInBackground()
		}
		for _, v := range in {
			s.Add(v)
			if len(s.runs) > 2*s.fanIn {
				t.Fatalf("limit %d: %d runs open, more than twice the %d merged at once", tc.limit, len(s.runs), s.fanIn)
			}
		}
		if s.Spilled() != tc.runs {
			t.Errorf("limit %d: %d runs spilled, want %d", tc.limit, s.Spilled(), tc.runs)
		}
		var got []*item
		if err := s.Each(16, func(b []*item) error { got = append(got, b...); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, func(a, b *item) bool { return *a == *b }) {
			t.Fatalf("limit %d: wrong order or values", tc.limit)
		}
	}
}

// TestPlainRunsHaveABound: runs go to disk as they are until the plain
// runs held reach maxPlainHeld, then compressed, and compressed from the
// start when TMPDIR has less than four times that free; a merge is
// compressed, and a run removed gives its bytes back. Every mix sorts the
// same.
func TestPlainRunsHaveABound(t *testing.T) {
	defer func(f func() int64, free func(tempfile.File) int64) {
		maxPlainHeld, freeSpace = f, free
	}(maxPlainHeld, freeSpace)
	var in []*item
	for i := range 2000 {
		in = append(in, &item{Key: (i * 7919) % 1009, Label: strings.Repeat("x", i%40)})
	}
	want := slices.Clone(in)
	slices.SortFunc(want, compareItems)
	for _, tc := range []struct {
		bound, free   int64 // maxPlainHeld, and TMPDIR's free space
		plain, packed bool  // runs of each kind expected
		fanIn         int
	}{{0, 1 << 40, false, true, 0}, {4 << 10, 1 << 40, true, true, 0}, {1 << 20, 1 << 40, true, false, 0},
		{4 << 10, 1 << 40, true, true, 4}, {1 << 20, 4<<20 - 1, false, true, 0}} {
		maxPlainHeld = func() int64 { return tc.bound }
		freeSpace = func(tempfile.File) int64 { return tc.free }
		s := NewWithCodec(100, compareItems, &gobCodec[*item]{})
		s.SpillAllInBackground()
		if tc.fanIn > 0 {
			s.fanIn = tc.fanIn
		}
		var plain, packed bool
		for i, v := range in {
			s.Add(v)
			if i%50 == 0 {
				s.wait()
				for _, r := range s.runs {
					plain, packed = plain || r.plain, packed || !r.plain
				}
				if held, limit := plainHeld.Load(), tc.bound+(16<<10); held > limit {
					t.Fatalf("bound %d: %d bytes of plain runs held", tc.bound, held)
				}
			}
		}
		if plain != tc.plain || packed != tc.packed {
			t.Errorf("bound %d: plain runs %v, compressed %v; want %v and %v", tc.bound, plain, packed, tc.plain, tc.packed)
		}
		var got []*item
		if err := s.Each(64, func(b []*item) error { got = append(got, b...); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, func(a, b *item) bool { return *a == *b }) {
			t.Fatalf("bound %d: wrong order or values", tc.bound)
		}
		if held := plainHeld.Load(); held != 0 {
			t.Errorf("bound %d: %d bytes of plain runs still counted after the sort", tc.bound, held)
		}
	}
}

// TestStoppingEarlyRemovesRuns checks that the temporary files go away
// when the reader stops before the end.
func TestStoppingEarlyRemovesRuns(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	s := NewWithCodec(3, cmp.Compare[int], &gobCodec[int]{})
	for i := range 20 {
		s.Add(20 - i)
	}
	for v := range s.All() {
		if v != 1 {
			t.Fatalf("first value %d, want 1", v)
		}
		break
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}

// TestLimitBytes spills by the size of the values held, not their number.
func TestLimitBytes(t *testing.T) {
	s := NewWithCodec(1000, cmp.Compare[string], &gobCodec[string]{})
	s.LimitBytes(100, func(v string) int { return len(v) })
	for i := range 30 {
		s.Add(string(rune('a'+i%26)) + "123456789") // 10 bytes each: a run every 10
	}
	if s.Spilled() != 3 {
		t.Errorf("%d runs spilled, want 3", s.Spilled())
	}
	var got []string
	for v := range s.All() {
		got = append(got, v)
	}
	if len(got) != 30 || !slices.IsSorted(got) || s.Err() != nil {
		t.Errorf("%d values, sorted %v, err %v", len(got), slices.IsSorted(got), s.Err())
	}
}

// TestWritten: a run spilled at once counts as written at once; one
// written in the background once Add has waited for it, before the next
// run; every run once All has read them.
func TestWritten(t *testing.T) {
	for _, background := range []bool{false, true} {
		s := NewWithCodec(10, cmp.Compare[int], &gobCodec[int]{})
		if background {
			s.SpillAllInBackground()
		}
		for i := range 40 {
			s.Add(40 - i)
			want := s.Spilled()
			if background {
				want = max(want-1, 0)
			}
			if s.Written() != want {
				t.Fatalf("background %v: %d runs written of %d spilled after %d values", background, s.Written(), s.Spilled(), i+1)
			}
		}
		for range s.All() {
		}
		if s.Spilled() < 4 || s.Written() != s.Spilled() {
			t.Errorf("background %v: %d runs written of %d spilled once read", background, s.Written(), s.Spilled())
		}
	}
}

// TestPrefetch: the values come in order, whatever the block size; an
// early stop stops the producer; what the producer does after its last
// value is visible once Prefetch returns.
func TestPrefetch(t *testing.T) {
	for _, block := range []int{1, 3, 256} {
		finished := false
		seq := func(yield func(int) bool) {
			for i := range 1000 {
				if !yield(i) {
					return
				}
			}
			finished = true
		}
		i := 0
		for v := range Prefetch(seq, block) {
			if v != i {
				t.Fatalf("block %d: value %d is %d", block, i, v)
			}
			i++
		}
		if i != 1000 || !finished {
			t.Fatalf("block %d: %d values, producer finished %v", block, i, finished)
		}
		produced := 0
		stopped := func(yield func(int) bool) {
			for i := 0; ; i++ {
				produced = i
				if !yield(i) {
					return
				}
			}
		}
		for v := range Prefetch(stopped, block) {
			if v == 10 {
				break
			}
		}
		if produced > 10+5*block { // two blocks in the channel, one being sent, one used
			t.Errorf("block %d: the producer went on to %d after the consumer stopped at 10", block, produced)
		}
	}
}

// TestSorterWithoutTemporaryFiles: when no temporary file can be made in
// TMPDIR, the Sorter spills its runs to memory and gives every value back,
// in order, and tempfile.Failed says why.
func TestSorterWithoutTemporaryFiles(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	for _, fast := range []bool{false, true} {
		s := NewWithCodec[int](3, cmp.Compare[int], &gobCodec[int]{})
		if fast {
			s.FastInMemory()
		}
		want := []int{}
		for i := range 50 {
			s.Add((i * 7919) % 50)
			want = append(want, i)
		}
		if s.Spilled() < 10 {
			t.Errorf("fast %v: %d runs spilled, want at least 10", fast, s.Spilled())
		}
		// A run in memory starts with its compressor's magic: zstd's
		// frame, or S2's stream identifier.
		magic := []byte{0x28, 0xb5, 0x2f, 0xfd}
		if fast {
			magic = []byte("\xff\x06\x00\x00S2sTwO")
		}
		head := make([]byte, len(magic))
		if _, err := s.runs[0].file.ReadAt(head, 0); err != nil || !bytes.Equal(head, magic) {
			t.Errorf("fast %v: a run in memory starts % x (%v), want % x", fast, head, err, magic)
		}
		got := slices.Collect(s.All())
		if s.Err() != nil || !slices.Equal(got, want) {
			t.Errorf("fast %v: got %v, %v", fast, got, s.Err())
		}
	}
	if err := tempfile.Failed(); err == nil || !strings.Contains(err.Error(), "TMPDIR") {
		t.Errorf("tempfile.Failed() = %v", err)
	}
}

// failingCodec is gobCodec whose decoders fail after decoding a number of
// values between them.
type failingCodec struct {
	gobCodec[int]
	left *atomic.Int32
}

func (c *failingCodec) ForRun() Codec[int] { return &failingCodec{left: c.left} }

func (c *failingCodec) ReadRun(r io.Reader) Run[int] { return Decoding(r, c.Decode) }

func (c *failingCodec) Decode(r *bufio.Reader) (int, error) {
	if c.left.Add(-1) < 0 {
		return 0, errors.New("damaged run")
	}
	return c.gobCodec.Decode(r)
}

// TestRunErrorEndsTheMerge: a run that cannot be read back ends All, whose
// error Err then returns, whether the runs are decoded ahead or not.
func TestRunErrorEndsTheMerge(t *testing.T) {
	for _, values := range []int{40, 400} { // 8 runs (decoded ahead), 80 (not)
		left := new(atomic.Int32)
		left.Store(int32(values / 2))
		s := NewWithCodec(5, cmp.Compare[int], &failingCodec{left: left})
		for i := range values {
			s.Add(values - i)
		}
		n := 0
		for range s.All() {
			n++
		}
		if s.Err() == nil || !strings.Contains(s.Err().Error(), "damaged run") || n >= values {
			t.Errorf("%d values: %d came out, error %v; want fewer and the run's error", values, n, s.Err())
		}
	}
}
