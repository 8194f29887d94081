package pcapread

import (
	"context"
	"errors"
	"io"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"unsafe"
)

// ahead frames a Reader's records into batches on a goroutine of its own
// (the reads and the framer's checks), so that this runs beside the
// decoding of the records before: on many cores, reading a capture is then
// two stages of about equal cost instead of one.
type ahead struct {
	full, empty chan *recordBatch
	stop        chan struct{}
	stopOnce    sync.Once
	batch       *recordBatch // the batch Next takes records from
	i           int          // its next record
	ended       bool         // the goroutine has sent its last batch
	// badFractions is the framer's count as of the batch taken last.
	badFractions int64
	// made counts the batches made, by the one goroutine that takes them
	// from empty: as many as are in flight and held (Batch), at most
	// maxAheadBatches.
	made   int
	closed atomic.Bool // close has run: released batches go to the pool
}

// recordBatch is records framed ahead, their bytes in data; the
// last batch of a file ends with the error that ended framing (io.EOF at
// a clean end) and where the read that failed began.
type recordBatch struct {
	held         Batch
	recs         []record
	data         []byte
	err          error
	pos          int64
	badFractions int64
	// For a classic pcap file, what load read into data at loadOffset:
	// loaded bytes, the first walked of them already walked by the framer
	// (they came from the read buffer), then readErr, the error that ended
	// reading, if it did.
	loaded, walked int
	readErr        error
}

// Batch is a batch of records read ahead whose bytes a caller keeps past
// Next (Reader.Batch): the Reader reuses it once the caller has released
// every Hold, and it has read past it. A caller may hold a few dozen
// batches at once: past maxAheadBatches made, the Reader waits for one.
type Batch struct {
	holds atomic.Int32 // the Reader's own, while it reads the batch, and the caller's
	batch *recordBatch
	a     *ahead
}

// Hold keeps the batch's bytes valid until a Release.
func (b *Batch) Hold() { b.holds.Add(1) }

// Release ends a Hold, or the Reader's own; the last gives the batch back
// for reuse. It may be called on any goroutine.
func (b *Batch) Release() {
	if b.holds.Add(-1) == 0 {
		b.a.recycle(b.batch)
	}
}

const (
	aheadBatches = 4    // batches in flight
	aheadRecords = 4096 // records a batch, at most (of a pcapng file)
	// maxAheadBatches bounds the batches a Reader makes: those in flight
	// and those its caller holds (Batch), which must be far fewer.
	maxAheadBatches = 64
	// aheadBytes is the record bytes of a batch, about. A batch is read
	// and framed on one core, then decoded on another while the next is
	// read: batches of 256 KiB stay in the caches between the two, where
	// batches of 1 MiB took 1–10 % more CPU (docs/performance.md).
	aheadBytes = 256 << 10
	readChunk  = 128 << 10 // bytes a read of a classic pcap file, at most
	// A classic pcap file's batch holds the bytes of up to aheadBytes
	// read at loadOffset, after room for a record that the batch before
	// could not hold whole: room for any record of a 64 KiB snap length,
	// the usual largest; a longer one is framed in bytes of its own
	// (framePcapRecords).
	loadOffset = 16 + 64<<10
)

// errStopped ends the records of a Reader closed, or whose context of
// ReadAhead is done, before its end.
var errStopped = errors.New("reading stopped")

// ReadAhead makes the Reader frame its records on a goroutine of its own
// from now on, so that framing runs beside decoding; the goroutine takes
// ctx's profiler labels and stops when ctx is done or the Reader closed.
// Call it, or LoadAhead, before the first Next, at most once. It costs
// the hand-off of each batch, and a copy of each record of a pcapng file,
// so it pays only with a second core.
func (r *Reader) ReadAhead(ctx context.Context) { r.readAhead(ctx, false) }

// LoadAhead is ReadAhead, and reads a classic pcap file on one more
// goroutine (labelled stage "load"), so that the read system calls, which
// copy every byte, run beside the framing too: the longest serial step of
// reading is then about a third of it, not two thirds. The hand-offs cost
// about 3 % more CPU, so it pays only with a third core.
func (r *Reader) LoadAhead(ctx context.Context) { r.readAhead(ctx, true) }

func (r *Reader) readAhead(ctx context.Context, load bool) {
	a := &ahead{
		full:  make(chan *recordBatch, aheadBatches),
		empty: make(chan *recordBatch, maxAheadBatches),
		stop:  make(chan struct{}),
	}
	r.ahead = a
	takeEmpty := func() *recordBatch { return a.emptyBatch(ctx) }
	if r.pcap == nil {
		go func() {
			pprof.SetGoroutineLabels(ctx)
			defer r.releaseBuffer()
			a.frame(ctx, r, takeEmpty, r.copyRecords)
		}()
		return
	}
	l := r.newPcapLoader()
	frame := r.framePcapRecords(l.buffered)
	if !load {
		go func() {
			pprof.SetGoroutineLabels(ctx)
			a.frame(ctx, r, takeEmpty, func(b *recordBatch) {
				l.fill(b)
				frame(b)
			})
		}()
		return
	}
	loaded := make(chan *recordBatch, aheadBatches)
	framed := make(chan struct{}) // closed when framing ends
	go func() {
		pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("stage", "load")))
		l.run(ctx, takeEmpty, loaded, framed)
	}()
	go func() {
		pprof.SetGoroutineLabels(ctx)
		defer close(framed)
		a.frame(ctx, r, func() *recordBatch {
			select {
			case b := <-loaded:
				return b // nil once load has stopped
			case <-a.stop:
			case <-ctx.Done():
			}
			return nil
		}, frame)
	}()
}

// emptyBatch returns a batch to fill: one given back, or a new one while
// fewer than maxAheadBatches were made; nil once the Reader is closed or
// ctx done. Only one goroutine calls it.
func (a *ahead) emptyBatch(ctx context.Context) *recordBatch {
	select {
	case b := <-a.empty:
		return b
	default:
	}
	if a.made < maxAheadBatches {
		a.made++
		return newRecordBatch(a)
	}
	select {
	case b := <-a.empty:
		return b
	case <-a.stop:
	case <-ctx.Done():
	}
	return nil
}

// recycle takes back a batch nobody holds: for this Reader's next
// batches, or, once it is closed, for another Reader's.
func (a *ahead) recycle(b *recordBatch) {
	if !a.closed.Load() {
		select {
		case a.empty <- b: // never blocks: it holds every batch made
			return
		default:
		}
	}
	recordBatches.Put(b)
}

// DeferChecksums makes the Reader leave the TCP and UDP checksums it would
// verify to Packet.VerifyChecksum, so that whoever takes the packets can
// verify them on other cores: until then, such a packet's Payload holds
// the whole segment, header first.
func (r *Reader) DeferChecksums() { r.dec.deferChecksums = true }

// recordBatches recycles the batches of Readers that read to their end,
// so that a folder of many small captures does not allocate them for each.
var recordBatches sync.Pool

// newRecordBatch returns a batch of a's, from the pool or new. A new
// batch's bytes (a record begun under aheadBytes fits) come from outside
// the Go heap where the system allows (arenaBuffer), given back when the
// batch is collected.
func newRecordBatch(a *ahead) *recordBatch {
	b, ok := recordBatches.Get().(*recordBatch)
	if !ok {
		b = &recordBatch{recs: make([]record, 0, aheadRecords)}
		data, giveBack := arenaBuffer(loadOffset + aheadBytes)
		if data == nil {
			data = make([]byte, loadOffset+aheadBytes)
		} else {
			runtime.AddCleanup(b, func(giveBack func()) { giveBack() }, giveBack)
		}
		b.data = data[:0]
		b.held.batch = b
	}
	b.held.a = a
	return b
}

// releaseBuffer gives the read buffer back for another Reader.
func (r *Reader) releaseBuffer() {
	r.br.Reset(nil)
	bigReaders.Put(r.br)
	r.br = nil
}

// frame fills the batches that take gives until an error, io.EOF
// included, ends them, or until it is stopped (take gives nil): each with
// fill, which sets the batch's records and, once they end, its err and
// pos.
func (a *ahead) frame(ctx context.Context, r *Reader, take func() *recordBatch, fill func(*recordBatch)) {
	defer close(a.full)
	for {
		b := take()
		if b == nil { // stopped, or load has stopped
			return
		}
		b.recs, b.err = b.recs[:0], nil
		fill(b)
		b.badFractions = r.fr.badFractions
		select {
		case a.full <- b:
		case <-a.stop:
			return
		case <-ctx.Done():
			return
		}
		if b.err != nil {
			return
		}
	}
}

// copyRecords fills a batch with copies of the records frameRecord reads.
func (r *Reader) copyRecords(b *recordBatch) {
	b.data = b.data[:0]
	for len(b.recs) < cap(b.recs) && len(b.data) < aheadBytes {
		rec, pos, err := r.frameRecord()
		if err != nil {
			b.err, b.pos = err, pos
			return
		}
		start := len(b.data)
		b.data = append(b.data, rec.data...)
		rec.data = b.data[start:len(b.data):len(b.data)]
		b.recs = append(b.recs, rec)
	}
}

// pcapLoader reads a classic pcap file into batches, in order, for
// framePcapRecords: up to aheadBytes each, at loadOffset, those that the
// read buffer holds past the file header first.
type pcapLoader struct {
	r        *Reader
	buffered int // bytes the read buffer holds, not yet taken
	// damaged says that the framer found a damaged header in the bytes
	// it let into the read buffer: it did not keep those it read past
	// the header, so what the file holds next does not follow the bytes
	// framed, and is not read.
	damaged bool
}

// newPcapLoader returns the loader of r's records, and gives the read
// buffer back if it holds none.
func (r *Reader) newPcapLoader() *pcapLoader {
	l := &pcapLoader{r: r, buffered: r.br.Buffered(), damaged: r.fr.err != nil}
	if l.buffered == 0 {
		r.releaseBuffer()
	}
	return l
}

// fill reads the next bytes into b, giving the read buffer back once it
// has taken what it held, and returns the error that ended reading, if
// one did (io.EOF at the end of the file); b.readErr is set to it.
func (l *pcapLoader) fill(b *recordBatch) error {
	data := b.data[loadOffset : loadOffset+aheadBytes]
	n := 0
	if l.buffered > 0 { // at most readBufferSize: in the first batches
		n, _ = io.ReadFull(l.r.br, data[:min(l.buffered, len(data))]) // from the buffer: cannot fail
		if l.buffered -= n; l.buffered == 0 {
			l.r.releaseBuffer()
		}
	}
	walked := n
	var readErr error
	if l.damaged {
		readErr = io.EOF
	}
	for zeros := 0; n < len(data) && readErr == nil; {
		m, err := l.r.fr.r.Read(data[n:min(len(data), n+readChunk)])
		n += m
		if err != nil {
			readErr = err
		} else if m == 0 {
			if zeros++; zeros == 100 {
				readErr = io.ErrNoProgress
			}
		}
	}
	b.loaded, b.walked, b.readErr = n, walked, readErr
	return readErr
}

// run fills the batches from empty and sends them on loaded until a read
// error (io.EOF included) ends reading, or until framed is closed or ctx
// done.
func (l *pcapLoader) run(ctx context.Context, take func() *recordBatch, loaded chan<- *recordBatch, framed <-chan struct{}) {
	defer close(loaded)
	for {
		b := take()
		if b == nil {
			return
		}
		err := l.fill(b)
		select {
		case loaded <- b: // the framer's from now on
		case <-framed:
			return
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// framePcapRecords returns the fill of the batches a pcapLoader filled, in
// order: the framer walks their bytes (not those the read buffer held,
// which it walked before), and the records are framed where they lie; a
// record cut by the end of a batch's bytes is copied before the next
// batch's. So a record's bytes are copied once, by the read system call,
// unless a batch cuts it. Records, errors and positions are those of
// frameRecord.
func (r *Reader) framePcapRecords(buffered int) func(*recordBatch) {
	var (
		cut  []byte                       // the bytes of a record that the last batch cut
		base = r.fr.off - int64(buffered) // where the next batch's bytes begin in the file
	)
	return func(b *recordBatch) {
		data, front := b.data[:loadOffset+b.loaded], loadOffset
		own := true
		if len(cut) > front {
			// A record longer than the room before the bytes loaded:
			// they move to a buffer with room enough, which the records
			// framed in it keep until the batch is used again.
			grown := make([]byte, len(cut)+b.loaded)
			copy(grown[len(cut):], data[front:])
			data, front, own = grown, len(cut), false
		}
		start := front - len(cut)
		copy(data[start:], cut)
		walked := r.fr.walk(data[front+b.walked:]) // 0 once a header was damaged
		r.fr.off += int64(walked)
		end := front + b.walked + walked // short of the bytes past a damaged header
		off := start
		for end-off >= 16 {
			rec, capLen := r.pcapRecordHeader(data[off : off+16])
			if end-off-16 < capLen {
				break
			}
			next := off + 16 + capLen
			rec.data = data[off+16 : next : next]
			b.recs = append(b.recs, rec)
			off = next
		}
		pos := base + int64(off-front) // where the first record not framed begins
		base += int64(b.loaded)
		cut = append(cut[:0], data[off:end]...)
		if own {
			b.data = data[:off]
		}
		switch {
		case r.fr.err != nil:
			b.err, b.pos = r.fr.err, pos
		case b.readErr == io.EOF && len(cut) > 0:
			b.err, b.pos = io.ErrUnexpectedEOF, pos
		case b.readErr != nil:
			b.err, b.pos = b.readErr, pos
		}
	}
}

// next returns the next record framed ahead, and for an error where the
// read that failed began; the record and its bytes stay valid until next
// is called again.
func (a *ahead) next() (*record, int64, error) {
	for a.batch == nil || a.i == len(a.batch.recs) {
		if b := a.batch; b != nil {
			if b.err != nil {
				a.ended = true
				return nil, b.pos, b.err
			}
			a.batch = nil
			b.held.Release()
		}
		b, ok := <-a.full
		if !ok {
			a.ended = true
			return nil, 0, errStopped
		}
		b.held.holds.Store(1) // the Reader's own
		a.batch, a.i, a.badFractions = b, 0, b.badFractions
	}
	a.i++
	return &a.batch.recs[a.i-1], 0, nil
}

// close stops the goroutine, if it still runs; once it has sent its last
// batch, its batches are kept for another Reader.
func (a *ahead) close() {
	a.stopOnce.Do(func() { close(a.stop) })
	a.closed.Store(true)
	if !a.ended {
		return // it may be blocked in a read: its batches are left to the collector
	}
	for range a.full {
		// It returns right after its last batch.
	}
	if a.batch != nil {
		a.batch.held.Release() // to the pool, unless the caller holds it
		a.batch = nil
	}
	for {
		select {
		case b := <-a.empty:
			recordBatches.Put(b)
		default:
			return
		}
	}
}

// Batch returns the batch of records that the bytes of the packet Next
// returned last lie in, so that a caller may Hold it to keep them past
// Next; nil when they lie elsewhere: the Reader does not read ahead, or
// the packet was reassembled from fragments (its bytes are the Reader's
// until Next is called again).
func (r *Reader) Batch() *Batch {
	a := r.ahead
	if a == nil || a.batch == nil || a.i == 0 {
		return nil
	}
	if !within(r.pkt.Payload, a.batch.recs[a.i-1].data) {
		return nil
	}
	return &a.batch.held
}

// within reports whether part lies inside whole.
func within(part, whole []byte) bool {
	if len(part) == 0 {
		return true
	}
	p, w := uintptr(unsafe.Pointer(unsafe.SliceData(part))), uintptr(unsafe.Pointer(unsafe.SliceData(whole)))
	return p >= w && p+uintptr(len(part)) <= w+uintptr(len(whole))
}
