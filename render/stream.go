package render

import (
	"cmp"
	"iter"
	"math"
	"slices"
	"strings"

	"github.com/netfx/netfx/internal/extsort"
	"github.com/netfx/netfx/internal/tempfile"
)

// When TMPDIR cannot be written, a ConnWriter's sorted runs stay in
// memory, compressed, and a flood's millions of records would hold
// gigabytes there until the end. Past streamAfter bytes held in memory
// (a sixteenth of the budget of files in memory, if less), the writer
// streams instead: at each watermark (Watermark) it writes the
// records below it, merging the sorted sources it holds (the sorter's
// records, read back) with a heap of the records added since, so that
// memory holds only the records not yet below a watermark. When the
// watermark stalls (a conversation that goes on for hours holds it at
// its start) and the heap reaches heapLimit, the records collect in a
// sorter again, compressed, until the watermark passes the earliest of
// them; that sorter's records then become one more source. The output is
// the same bytes as a sorted one as long as the packet times do not go
// back; a record that comes after one of a later time was written is
// written where it comes, and counted (OutOfOrder). Streaming early
// costs less than holding: records held in memory are compressed, which
// took a third of the CPU of a DNS flood's conns when it was zstd. The
// writer's first sorter compresses with S2 (extsort's FastInMemory),
// since streamAfter bounds what it holds: 24 MiB of S2 holds as many
// records as 16 of zstd did (a gigabyte of capture's records, 71 MB,
// stay under it, and the writer does not stream them), for 7 % less CPU
// on that gigabyte and 3–15 % on floods; the records that collect while
// the watermark stalls, which nothing bounds so, keep zstd.
const (
	streamAfter = 24 << 20
	heapLimit   = 32 << 20
	// maxSources bounds the sources merged: past it, records collect
	// until Close.
	maxSources = 16
)

// heldTooMuch is a ConnWriter's pressure: what memory holds in TMPDIR's
// stead has passed streamAfter, or a sixteenth of what it may hold.
func heldTooMuch() bool {
	return tempfile.Failed() != nil && tempfile.Held() >= min(streamAfter, tempfile.Budget()/16)
}

// streamState is a ConnWriter's state once it streams.
type streamState struct {
	sources []*source
	// The records added since streaming began or the last collection
	// ended, a heap in sort order, and the bytes of their texts.
	heap      []encodedConn
	heapBytes int
	// arenaBytes is what the records of the heap took of the arena since
	// it was last compacted: past a few times heapBytes, the texts still
	// held are copied into a fresh arena, so that a few records left
	// behind do not hold many chunks.
	arenaBytes int
	// collecting, when not nil, takes the records added, the earliest
	// of which is collectedTS.
	collecting  *extsort.Sorter[encodedConn]
	collectedTS int64
	collections int // how many times the heap went to a collection
	// The key of the last record written, and how many came below it.
	lastTS     int64
	lastUID    string
	wrote      bool
	outOfOrder int64
	// batches writes the records once one was held with its answers
	// apart and there are cores to spare (writeStreamed).
	batches *textBatches
}

// source is a sorter's records, read back in order: head, then what
// next pulls.
type source struct {
	next func() (encodedConn, bool)
	stop func()
	head encodedConn
}

// newSource starts reading a sorter's records back; nil when it has none.
func newSource(s *extsort.Sorter[encodedConn]) *source {
	next, stop := iter.Pull(s.All())
	src := &source{next: next, stop: stop}
	if !src.advance() {
		return nil
	}
	return src
}

// advance moves to the next record, and reports whether there is one;
// once there is none, the sorter's memory is given back.
func (src *source) advance() bool {
	var ok bool
	if src.head, ok = src.next(); !ok {
		src.stop()
	}
	return ok
}

// Watermark tells the writer that no record added from now on has a ts
// below ts (ingest.Sink.Watermark). Records are held until Close, sorted,
// unless TMPDIR cannot be written and they hold more than streamAfter
// bytes of memory: the writer then writes those below each watermark.
func (w *ConnWriter) Watermark(ts int64) {
	if w.stream == nil {
		if !w.pressed.Load() {
			return
		}
		w.startStreaming()
	}
	if s := w.stream; s.collecting != nil {
		if ts > s.collectedTS && len(s.sources) < maxSources {
			w.endCollecting()
		} else {
			ts = min(ts, s.collectedTS)
		}
	}
	w.writeBelow(ts)
}

// OutOfOrder returns how many records were written after a record of a
// later time, when the writer streamed (Watermark) and packet times went
// back.
func (w *ConnWriter) OutOfOrder() int64 {
	if w.stream == nil {
		return 0
	}
	return w.stream.outOfOrder
}

// startStreaming writes the header and starts reading the sorter's
// records back; records added from now on go to the heap.
func (w *ConnWriter) startStreaming() {
	w.stopEncoders()
	if err := w.format.header(w.out, w.firstTS); err != nil {
		w.fail(err)
	}
	w.stream = &streamState{}
	w.stream.addSource(w.sorter)
}

func (s *streamState) addSource(sorter *extsort.Sorter[encodedConn]) {
	if src := newSource(sorter); src != nil {
		s.sources = append(s.sources, src)
	}
}

// add adds an encoded record to the heap, or to the collection; a heap
// past heapLimit starts one.
func (w *ConnWriter) add(e encodedConn) {
	s := w.stream
	if s.collecting != nil {
		s.collecting.Add(e)
		s.collectedTS = min(s.collectedTS, e.TS)
		return
	}
	w.push(e)
	if s.heapBytes > w.heapLimit {
		s.collecting, s.collectedTS = newRecordSorter(sortMemory), s.heap[0].TS
		s.collections++
		for _, e := range s.heap {
			s.collecting.Add(e)
		}
		clear(s.heap)
		s.heap, s.heapBytes = s.heap[:0], 0
	}
}

// endCollecting makes the records collected a source.
func (w *ConnWriter) endCollecting() {
	s := w.stream
	if err := s.collecting.Err(); err != nil {
		w.fail(err)
	}
	s.addSource(s.collecting)
	s.collecting = nil
}

// push adds an encoded record to the heap.
func (w *ConnWriter) push(e encodedConn) {
	s := w.stream
	s.heapBytes += len(e.Text)
	s.arenaBytes += len(e.Text)
	s.heap = append(s.heap, e)
	for i := len(s.heap) - 1; i > 0; {
		parent := (i - 1) / 2
		if compareEncoded(s.heap[i], s.heap[parent]) >= 0 {
			break
		}
		s.heap[i], s.heap[parent] = s.heap[parent], s.heap[i]
		i = parent
	}
	if s.arenaBytes > 4*s.heapBytes+16<<20 {
		w.compact()
	}
}

// pop removes the least record of the heap.
func (w *ConnWriter) pop() encodedConn {
	s := w.stream
	least := s.heap[0]
	last := len(s.heap) - 1
	s.heap[0] = s.heap[last]
	s.heap[last] = encodedConn{}
	s.heap = s.heap[:last]
	for i := 0; ; {
		child := 2*i + 1
		if child >= last {
			break
		}
		if child+1 < last && compareEncoded(s.heap[child+1], s.heap[child]) < 0 {
			child++
		}
		if compareEncoded(s.heap[i], s.heap[child]) <= 0 {
			break
		}
		s.heap[i], s.heap[child] = s.heap[child], s.heap[i]
		i = child
	}
	s.heapBytes -= len(least.Text)
	return least
}

// compact copies the texts the heap holds into a fresh chunk, which the
// records encoded next fill further.
func (w *ConnWriter) compact() {
	s := w.stream
	chunk := make([]byte, 0, max(2*s.heapBytes, arenaChunk))
	for i := range s.heap {
		start := len(chunk)
		chunk = append(chunk, s.heap[i].Text...)
		s.heap[i].Text = chunk[start:len(chunk):len(chunk)]
	}
	w.arena.chunk = chunk
	s.arenaBytes = s.heapBytes
}

// everything is the bound of writeBelow that writes every record held.
const everything = math.MaxInt64

// writeBelow writes, in order, the records of the sources and the heap
// whose ts is below ts, or all of them.
func (w *ConnWriter) writeBelow(ts int64) {
	s := w.stream
	for w.Err() == nil {
		least := -1 // a source, or len(s.sources) for the heap
		var r encodedConn
		for i, src := range s.sources {
			if least < 0 || compareEncoded(src.head, r) < 0 {
				least, r = i, src.head
			}
		}
		if len(s.heap) > 0 && (least < 0 || compareEncoded(s.heap[0], r) < 0) {
			least, r = len(s.sources), s.heap[0]
		}
		if least < 0 || r.TS >= ts && ts != everything {
			return
		}
		if least == len(s.sources) {
			w.pop()
		} else if !s.sources[least].advance() {
			s.sources = slices.Delete(s.sources, least, least+1)
		}
		if s.wrote && cmp.Or(cmp.Compare(r.TS, s.lastTS), strings.Compare(r.UID, s.lastUID)) < 0 {
			s.outOfOrder++
		} else {
			s.lastTS, s.lastUID, s.wrote = r.TS, r.UID, true
		}
		w.writeStreamed(r.Text)
	}
}

// writeStreamed writes a record's text, through textBatches once
// batched, as writeSorted would: the answers are then written out on
// every core, not on the goroutine that adds the records.
func (w *ConnWriter) writeStreamed(text []byte) {
	s := w.stream
	if s.batches == nil && w.batched() {
		s.batches = w.startBatches()
	}
	if s.batches == nil {
		if err := w.writeText(text); err != nil {
			w.fail(err)
		}
		return
	}
	if !s.batches.add(text) {
		w.closeBatches()
	}
}

// closeBatches waits for the records handed to textBatches to be written.
func (w *ConnWriter) closeBatches() {
	if s := w.stream; s.batches != nil {
		if err := s.batches.close(); err != nil {
			w.fail(err)
		}
		s.batches = nil
	}
}

// closeStream writes the records still held.
func (w *ConnWriter) closeStream() error {
	if w.stream.collecting != nil {
		w.endCollecting()
	}
	w.writeBelow(everything)
	w.closeBatches()
	for _, src := range w.stream.sources {
		src.stop() // after an error
	}
	return cmp.Or(w.Err(), w.sorter.Err())
}
