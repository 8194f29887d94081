// Package extsort sorts more values than memory should hold: it keeps a
// fixed number in memory and spills sorted runs to temporary files (never
// next to the evidence; in memory, compressed, when TMPDIR cannot be
// written), merging them when the values are read back. netfx
// uses it to order conversation records for output and to join capture
// conversations with flow-log connections by 5-tuple. A run goes to disk
// as it is while the runs written that way and not yet removed hold less
// than maxPlainHeld (all sorters together): writing a few hundred
// megabytes to the page cache costs less CPU than compressing them (a
// gigabyte of capture's 71 MB of records: `netfx conns` 6 % less CPU).
// Past that, runs are compressed with S2 (github.com/klauspost/compress/s2,
// already netfx's decompressor): records compress about fourfold, and on a
// cloud VM a page of temporary file costs more system time to write than
// to compress once the files grow (3 M spilled records of a SYN flood: 5.3
// s of system time before, 1.3 s after). Runs kept in memory are
// compressed with zstd (the same module), which takes longer but holds
// them in less memory, unless the Sorter's owner bounds that memory
// otherwise (FastInMemory).
package extsort

import (
	"bufio"
	"cmp"
	"container/heap"
	"context"
	"errors"
	"io"
	"iter"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/netfx/netfx/internal/tempfile"
)

// Sorter orders values by cmp.
type Sorter[T any] struct {
	limit int
	// Optional bound on the bytes held in memory, by size's measure.
	maxBytes, bytes int
	size            func(T) int
	cmp             func(a, b T) int
	codec           Codec[T]
	buf             []T
	runs            []*run
	err             error
	fanIn           int // runs merged at once, at most; maxFanIn
	merged          int // the runs before this are merges of the current level
	spilled         int
	written         int
	// With SpillInBackground: the run being written, its buffer, and the
	// buffer of the run written before it, for reuse.
	background, firstInBackground bool
	spilling                      chan error
	inflight                      []T
	spare                         []T
	fastInMemory                  bool
}

// Codec writes values to a spilled run and reads them back. A codec that
// keeps state for the run it writes or reads (as gob keeps type
// information) also has a method ForRun() Codec[T]: the Sorter then asks
// it for a fresh codec for each run.
type Codec[T any] interface {
	Encode(w *bufio.Writer, v T) error
	// ReadRun returns the values of the run r holds, as Encode wrote
	// them: Decoding's, or a reader of the codec's own, which may keep
	// values' bytes where it read them rather than copy them again.
	ReadRun(r io.Reader) Run[T]
}

// Decoding returns a run of the values decode reads one at a time from r,
// buffered; decode returns io.EOF after the last.
func Decoding[T any](r io.Reader, decode func(*bufio.Reader) (T, error)) Run[T] {
	return &decodedRun[T]{decode: decode, r: bufio.NewReaderSize(r, runBlock)}
}

// forRun returns the codec for one run: c's ForRun, or c itself.
func forRun[T any](c Codec[T]) Codec[T] {
	if r, ok := c.(interface{ ForRun() Codec[T] }); ok {
		return r.ForRun()
	}
	return c
}

// NewWithCodec returns a Sorter that spills with codec.
func NewWithCodec[T any](limit int, cmp func(a, b T) int, codec Codec[T]) *Sorter[T] {
	return &Sorter[T]{limit: max(limit, 1), cmp: cmp, codec: codec, fanIn: maxFanIn}
}

// SpillInBackground makes the Sorter, once it has spilled a first run,
// sort and write each further run on a goroutine of its own while Add
// goes on filling a second buffer; the two buffers then hold half the
// limit each, so memory stays as bounded, and values that fit in memory
// are never spilled.
func (s *Sorter[T]) SpillInBackground() { s.background = true }

// SpillAllInBackground is SpillInBackground for the first run too: Add
// never waits for a run to be written unless the run before it is still
// being written. While the first run is written the second buffer fills
// to half the limit, so memory holds up to one and a half times the limit.
func (s *Sorter[T]) SpillAllInBackground() { s.background, s.firstInBackground = true, true }

// FastInMemory makes the runs the Sorter keeps in memory (TMPDIR cannot
// be written) compressed with S2, as on disk, instead of zstd: for a
// Sorter whose owner bounds the memory its runs hold by other means, and
// reads them back soon. Conversation records then take about 1.6 times
// the memory and a tenth less CPU to sort (docs/performance.md).
func (s *Sorter[T]) FastInMemory() { s.fastInMemory = true }

// Add takes a value. An error spilling a run is kept: Err returns it, and
// All then yields nothing.
func (s *Sorter[T]) Add(v T) {
	if s.err != nil {
		return
	}
	s.buf = append(s.buf, v)
	if s.size != nil {
		s.bytes += s.size(v)
	}
	divisor := 1
	if s.background && len(s.runs) > 0 {
		divisor = 2
	}
	if len(s.buf) >= max(s.limit/divisor, 1) || (s.size != nil && s.bytes >= s.maxBytes/divisor) {
		s.err = s.spill()
	}
}

// LimitBytes makes the Sorter spill also when the values in memory add up
// to n bytes, as size measures them.
func (s *Sorter[T]) LimitBytes(n int, size func(T) int) {
	s.maxBytes, s.size = n, size
}

// Spilled reports how many runs went to temporary files.
func (s *Sorter[T]) Spilled() int { return s.spilled }

// Written reports how many of the runs spilled have been written and
// their values let go: a value added while Spilled was k is no longer
// held once Written is more than k. With SpillInBackground, a run counts
// as written once Add has waited for it, as it does before the next run.
func (s *Sorter[T]) Written() int { return s.written }

// spill writes the buffered values, sorted, to a temporary file: at once,
// or, with SpillInBackground and after the first run, in the background
// once the run before has been written.
func (s *Sorter[T]) spill() error {
	if len(s.runs) >= 2*s.fanIn {
		// Each run is an open file: merge some before writing more.
		if err := s.wait(); err != nil {
			return err
		}
		if err := s.mergeStep(s.fanIn); err != nil {
			return err
		}
	}
	r := &run{file: tempfile.New("netfx-sort-*")} // in memory if TMPDIR cannot be written
	s.runs = append(s.runs, r)
	s.spilled++
	buf := s.buf
	s.bytes = 0
	if !s.background || len(s.runs) == 1 && !s.firstInBackground {
		err := s.writeRun(r, buf)
		clear(buf)
		s.buf = buf[:0]
		s.written++
		return err
	}
	if err := s.wait(); err != nil {
		return err
	}
	if s.spare == nil {
		// The next run is likely the size of this one: room for it at
		// once, not a copy each time the buffer doubles.
		s.spare = make([]T, 0, len(buf))
	}
	s.buf, s.spare, s.inflight = s.spare, nil, buf
	done := make(chan error, 1)
	s.spilling = done
	// Labelled for CPU profiles as a stage of its own, since it runs
	// beside the goroutine that adds (docs/performance.md).
	go pprof.Do(context.Background(), pprof.Labels("stage", "spill"), func(context.Context) { done <- s.writeRun(r, buf) })
	return nil
}

// wait waits for the run being written in the background, if any, and
// keeps its buffer for the next.
func (s *Sorter[T]) wait() error {
	if s.spilling == nil {
		return nil
	}
	err := <-s.spilling
	clear(s.inflight)
	s.spilling, s.spare, s.inflight = nil, s.inflight[:0], nil
	s.written++
	return err
}

// writeRun sorts buf and writes it to r, as it is while the runs held
// that way leave room. It uses only the codec and cmp of the Sorter, so it
// can run on another goroutine.
func (s *Sorter[T]) writeRun(r *run, buf []T) error {
	slices.SortFunc(buf, s.cmp)
	bound := maxPlainHeld()
	r.plain = !tempfile.InMemory(r.file) && plainHeld.Load() < bound && freeSpace(r.file) >= 4*bound
	return s.encodeRun(r, slices.Values(buf))
}

// run is a spilled run: its file, and whether it holds its values as the
// codec wrote them (plain) rather than compressed, and how many bytes.
type run struct {
	file  tempfile.File
	plain bool
	size  int64 // of a plain run, counted in plainHeld until it is closed
}

// maxPlainHeld bounds the bytes of the plain runs of every Sorter at
// once (plainHeld): past it, runs are compressed. A merge of runs is
// always compressed, so the bound is passed by a run at most for each
// Sorter. It is a sixteenth of the machine's memory (its cgroup's limit,
// if less), at most 512 MiB: the pages written and not yet on disk stay
// well below the share of memory past which Linux makes writers wait for
// the disk (vm.dirty_ratio, 20 % by default). Runs are also compressed
// when TMPDIR has less than four times the bound free, so that plain
// runs never take more than a quarter of its room. A variable for tests.
var (
	maxPlainHeld = sync.OnceValue(func() int64 {
		return min(tempfile.MachineMemory()/16, 512<<20)
	})
	plainHeld atomic.Int64
	freeSpace = tempfile.Free // a variable for tests
)

// close removes the run's file.
func (r *run) close() {
	tempfile.Close(r.file)
	plainHeld.Add(-r.size)
	r.size = 0
}

// runBlock is the S2 block size of runs: a run being read holds about two
// blocks and a buffer of the same size.
const runBlock = 64 << 10

// memoryRunWindow is the zstd window of a run kept in memory. Each run
// being read holds about five times as much (its window, room for blocks
// ahead of it, a block being decoded): 1.3 MiB a run with a 256 KiB window,
// 150 MiB for a merge of 113 runs. Conversation records compress as well
// in 64 KiB (1–3 % larger than with 256 KiB).
const memoryRunWindow = 64 << 10

// encodeRun writes values, in order, to r as a run, and rewinds its file.
// A run on disk is plain or compressed with S2; one in memory (TMPDIR
// cannot be written) is compressed with zstd's fastest level, which for
// conversation records takes 8–10 times less memory instead of 5–6, for a
// little more time, or with S2 (FastInMemory).
func (s *Sorter[T]) encodeRun(r *run, values iter.Seq[T]) error {
	f := r.file
	var zw io.WriteCloser
	switch {
	case r.plain:
		zw = nopCloser{f}
	case !tempfile.InMemory(f) || s.fastInMemory:
		zw = s2.NewWriter(f, s2.WriterConcurrency(1), s2.WriterBlockSize(runBlock))
	default:
		var err error
		if zw, err = zstd.NewWriter(f, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(memoryRunWindow)); err != nil {
			panic(err) // only options out of range fail
		}
	}
	bw := bufio.NewWriterSize(zw, runBlock)
	enc := forRun(s.codec)
	for v := range values {
		if err := enc.Encode(bw, v); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if r.plain {
		size, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		r.size = size
		plainHeld.Add(size)
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// openRun returns a reader of a run.
func (s *Sorter[T]) openRun(run *run) Run[T] {
	f := run.file
	var r io.Reader = f
	switch {
	case run.plain:
	case !tempfile.InMemory(f) || s.fastInMemory:
		r = s2.NewReader(f, s2.ReaderMaxBlockSize(runBlock))
	default:
		// One goroutine (no decoding ahead), the window the run was
		// written with.
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(memoryRunWindow))
		if err != nil {
			panic(err) // only options out of range fail
		}
		r = zr
	}
	return forRun(s.codec).ReadRun(r)
}

// maxFanIn bounds the runs merged at once, so that the memory of the runs
// being read (about 200 KiB each, 50 MiB in all) does not grow with the
// input: past it, groups of consecutive runs are first merged into one
// each, every run once before any merged run is merged again. Each level
// reads and writes every value once more: 256 runs of 48 MiB (conns's
// half buffers) are 12 GiB of records before one is needed.
const maxFanIn = 256

// reduceRuns merges groups of runs until at most fanIn are left.
func (s *Sorter[T]) reduceRuns() error {
	for len(s.runs) > s.fanIn {
		if err := s.mergeStep(len(s.runs) - s.fanIn + 1); err != nil {
			return err
		}
	}
	return nil
}

// mergeStep merges up to k runs (at most fanIn), the first that are not
// yet merges of the current level, into one. Each group is consecutive,
// so values that compare equal keep their order.
func (s *Sorter[T]) mergeStep(k int) error {
	if len(s.runs)-s.merged < 2 {
		s.merged = 0 // every run is a merge: the next level
	}
	if err := s.mergeRuns(s.merged, min(k, s.fanIn, len(s.runs)-s.merged)); err != nil {
		return err
	}
	s.merged++
	return nil
}

// mergeRuns merges the k runs from index i into one, which takes their
// place.
func (s *Sorter[T]) mergeRuns(i, k int) error {
	merged := &run{file: tempfile.New("netfx-sort-*")}
	group := s.runs[i : i+k]
	runs := make([]Run[T], k)
	for j, old := range group {
		runs[j] = s.openRun(old)
	}
	var mergeErr error
	err := s.encodeRun(merged, func(yield func(T) bool) { mergeErr = Merge(runs, s.cmp, yield) })
	for _, old := range group {
		old.close()
	}
	s.runs = slices.Replace(s.runs, i, i+k, merged)
	return cmp.Or(mergeErr, err)
}

// Err returns the first error spilling or reading back a run.
func (s *Sorter[T]) Err() error { return s.err }

// All yields the values in order and removes the temporary files when it
// is done or stopped; check Err afterwards. The Sorter cannot be used
// after All.
func (s *Sorter[T]) All() iter.Seq[T] {
	return func(yield func(T) bool) {
		defer s.removeRuns()
		if err := s.wait(); err != nil && s.err == nil {
			s.err = err
		}
		if s.err != nil {
			return
		}
		slices.SortFunc(s.buf, s.cmp)
		if len(s.runs) == 0 {
			for _, v := range s.buf {
				if !yield(v) {
					return
				}
			}
			return
		}
		if s.err = s.reduceRuns(); s.err != nil {
			return
		}
		var runs []Run[T]
		for _, f := range s.runs {
			runs = append(runs, s.openRun(f))
		}
		if len(runs) <= maxAheadRuns {
			// Each run is decoded on a core of its own, the merge on this one.
			for i, r := range runs {
				ahead, stop := decodeAhead(r, max(aheadValues/len(runs), 16))
				defer stop()
				runs[i] = ahead
			}
		}
		runs = append(runs, &memRun[T]{s.buf})
		s.err = Merge(runs, s.cmp, yield)
	}
}

// The final merge of All decodes each run ahead when there are at most
// maxAheadRuns, holding up to about aheadValues values for all of them.
const (
	maxAheadRuns = 64
	aheadValues  = 4096
)

// decodeAhead returns r as a Run decoded on a goroutine of its own, blocks
// of values ahead (Prefetch), and the function that stops it early.
func decodeAhead[T any](r Run[T], block int) (Run[T], func()) {
	var err error
	values := Prefetch(func(yield func(T) bool) {
		for {
			v, ok, e := r.Next()
			if e != nil {
				err = e
				return
			}
			if !ok || !yield(v) {
				return
			}
		}
	}, block)
	next, stop := iter.Pull(values)
	return &pulledRun[T]{next: next, err: &err}, stop
}

// pulledRun is a Run whose values are pulled from an iterator; err is set
// once the iterator has ended, if a read failed.
type pulledRun[T any] struct {
	next func() (T, bool)
	err  *error
}

func (p *pulledRun[T]) Next() (T, bool, error) {
	v, ok := p.next()
	if !ok {
		return v, false, *p.err
	}
	return v, true, nil
}

// Each calls fn with the values in order, in blocks of up to block values.
func (s *Sorter[T]) Each(block int, fn func([]T) error) error {
	out := make([]T, 0, block)
	for v := range s.All() {
		out = append(out, v)
		if len(out) == block {
			if err := fn(out); err != nil {
				return err
			}
			out = make([]T, 0, block)
		}
	}
	if s.err != nil {
		return s.err
	}
	if len(out) > 0 {
		return fn(out)
	}
	return nil
}

// Close releases the Sorter's temporary files, after the run being
// written in the background, if any: for a Sorter whose values are not
// all read (All releases them itself). Values not yet read are lost.
func (s *Sorter[T]) Close() {
	s.wait()
	s.removeRuns()
}

func (s *Sorter[T]) removeRuns() {
	for _, r := range s.runs {
		r.close()
	}
	s.runs = nil
}

// Run is one sorted sequence of values for Merge.
type Run[T any] interface {
	// Next returns the next value, ok false after the last.
	Next() (v T, ok bool, err error)
}

// decodedRun reads a spilled run back a value at a time (Decoding).
type decodedRun[T any] struct {
	decode func(*bufio.Reader) (T, error)
	r      *bufio.Reader
}

func (d *decodedRun[T]) Next() (T, bool, error) {
	v, err := d.decode(d.r)
	if errors.Is(err, io.EOF) {
		return v, false, nil
	}
	return v, err == nil, err
}

// memRun is values in memory, sorted.
type memRun[T any] struct{ vs []T }

func (m *memRun[T]) Next() (v T, ok bool, err error) {
	if len(m.vs) == 0 {
		return v, false, nil
	}
	v, m.vs = m.vs[0], m.vs[1:]
	return v, true, nil
}

// Merge yields the values of sorted runs in cmp order, values that compare
// equal in the order of their runs, until yield returns false or a run
// fails; it returns that run's error.
func Merge[T any](runs []Run[T], cmp func(a, b T) int, yield func(T) bool) error {
	h := &mergeHeap[T]{cmp: cmp}
	for i, r := range runs {
		v, ok, err := r.Next()
		if err != nil {
			return err
		}
		if ok {
			h.items = append(h.items, &mergeItem[T]{run: r, order: i, head: v})
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		top := h.items[0]
		if !yield(top.head) {
			return nil
		}
		v, ok, err := top.run.Next()
		if err != nil {
			return err
		}
		if ok {
			top.head = v
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return nil
}

type mergeItem[T any] struct {
	run   Run[T]
	order int
	head  T
}

type mergeHeap[T any] struct {
	cmp   func(a, b T) int
	items []*mergeItem[T]
}

func (h *mergeHeap[T]) Len() int { return len(h.items) }
func (h *mergeHeap[T]) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if c := h.cmp(a.head, b.head); c != 0 {
		return c < 0
	}
	return a.order < b.order
}
func (h *mergeHeap[T]) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *mergeHeap[T]) Push(x any)    { h.items = append(h.items, x.(*mergeItem[T])) }
func (h *mergeHeap[T]) Pop() any {
	it := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return it
}

// Prefetch yields what seq yields, in order, running seq on a goroutine of
// its own a few blocks of values ahead: merging and decoding runs then
// proceed on one core while the values are used on another. Stopping
// early stops seq. Whatever seq does after its last value (a Sorter
// setting Err) happens before Prefetch returns.
func Prefetch[T any](seq iter.Seq[T], block int) iter.Seq[T] {
	return func(yield func(T) bool) {
		full, free := make(chan []T, 2), make(chan []T, 3)
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			defer close(full)
			b := make([]T, 0, block)
			send := func() bool {
				select {
				case full <- b:
				case <-stop:
					return false
				}
				select {
				case b = <-free:
				default:
					b = make([]T, 0, block)
				}
				return true
			}
			for v := range seq {
				if b = append(b, v); len(b) == block && !send() {
					return
				}
			}
			if len(b) > 0 {
				send()
			}
		}()
		defer func() {
			close(stop)
			<-done // seq has returned
		}()
		for b := range full {
			for _, v := range b {
				if !yield(v) {
					return
				}
			}
			clear(b)
			select {
			case free <- b[:0]:
			default:
			}
		}
	}
}
