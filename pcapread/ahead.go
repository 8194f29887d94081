package pcapread

import (
	"context"
	"errors"
	"io"
	"runtime/pprof"
	"sync"
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
}

// recordBatch is records framed ahead, their bytes in data; the
// last batch of a file ends with the error that ended framing (io.EOF at
// a clean end) and where the read that failed began.
type recordBatch struct {
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

const (
	aheadBatches = 4    // batches in flight
	aheadRecords = 4096 // records a batch, at most (of a pcapng file)
	// aheadBytes is the record bytes of a batch, about. A batch is read
	// and framed on one core, then decoded on another while the next is
	// read: batches of 256 KiB stay in the caches between the two, where
	// batches of 1 MiB took 1–10 % more CPU (docs/performance.md).
	aheadBytes = 256 << 10
	readChunk  = 128 << 10 // bytes a read of a classic pcap file, at most
	// A classic pcap file's batch holds the bytes of up to aheadBytes
	// read at loadOffset, after room for a record that the batch before
	// could not hold whole.
	loadOffset = 16 + maxCaptureLength
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
		empty: make(chan *recordBatch, aheadBatches),
		stop:  make(chan struct{}),
	}
	for range aheadBatches {
		a.empty <- newRecordBatch()
	}
	r.ahead = a
	if r.pcap == nil {
		go func() {
			pprof.SetGoroutineLabels(ctx)
			defer r.releaseBuffer()
			a.frame(ctx, r, a.empty, r.copyRecords)
		}()
		return
	}
	l := r.newPcapLoader()
	frame := r.framePcapRecords(l.buffered)
	if !load {
		go func() {
			pprof.SetGoroutineLabels(ctx)
			a.frame(ctx, r, a.empty, func(b *recordBatch) {
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
		l.run(ctx, a.empty, loaded, framed)
	}()
	go func() {
		pprof.SetGoroutineLabels(ctx)
		defer close(framed)
		a.frame(ctx, r, loaded, frame)
	}()
}

// DeferChecksums makes the Reader leave the TCP and UDP checksums it would
// verify to Packet.VerifyChecksum, so that whoever takes the packets can
// verify them on other cores; Packet.Segment holds what it needs.
func (r *Reader) DeferChecksums() { r.dec.deferChecksums = true }

// recordBatches recycles the batches of Readers that read to their end,
// so that a folder of many small captures does not allocate them for each.
var recordBatches sync.Pool

func newRecordBatch() *recordBatch {
	if b, ok := recordBatches.Get().(*recordBatch); ok {
		return b
	}
	return &recordBatch{
		recs: make([]record, 0, aheadRecords),
		data: make([]byte, 0, loadOffset+aheadBytes), // a record begun under aheadBytes fits
	}
}

// releaseBuffer gives the read buffer back for another Reader.
func (r *Reader) releaseBuffer() {
	r.br.Reset(nil)
	bigReaders.Put(r.br)
	r.br = nil
}

// frame fills the batches from in until an error, io.EOF included, ends
// them, or until it is stopped: each with fill, which sets the batch's
// records and, once they end, its err and pos.
func (a *ahead) frame(ctx context.Context, r *Reader, in <-chan *recordBatch, fill func(*recordBatch)) {
	defer close(a.full)
	for {
		var b *recordBatch
		select {
		case b = <-in:
		case <-a.stop:
			return
		case <-ctx.Done():
			return
		}
		if b == nil { // in is closed: load has stopped
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
}

// newPcapLoader returns the loader of r's records, and gives the read
// buffer back if it holds none.
func (r *Reader) newPcapLoader() *pcapLoader {
	l := &pcapLoader{r: r, buffered: r.br.Buffered()}
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
	if l.buffered > 0 { // at most readBufferSize, so all of it in the first batch
		n, _ = io.ReadFull(l.r.br, data[:min(l.buffered, len(data))]) // from the buffer: cannot fail
		if l.buffered -= n; l.buffered == 0 {
			l.r.releaseBuffer()
		}
	}
	walked := n
	var readErr error
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
func (l *pcapLoader) run(ctx context.Context, empty <-chan *recordBatch, loaded chan<- *recordBatch, framed <-chan struct{}) {
	defer close(loaded)
	for {
		var b *recordBatch
		select {
		case b = <-empty:
		case <-framed:
			return
		case <-ctx.Done():
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
		data := b.data[:loadOffset+b.loaded]
		start := loadOffset - len(cut)
		copy(data[start:], cut)
		walked := r.fr.walk(data[loadOffset+b.walked:]) // 0 once a header was damaged
		r.fr.off += int64(walked)
		end := loadOffset + b.walked + walked // short of the bytes past a damaged header
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
		pos := base + int64(off-loadOffset) // where the first record not framed begins
		base += int64(b.loaded)
		cut = append(cut[:0], data[off:end]...)
		b.data = data[:off]
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
			a.empty <- b // never blocks: there are aheadBatches
			a.batch = nil
		}
		b, ok := <-a.full
		if !ok {
			a.ended = true
			return nil, 0, errStopped
		}
		a.batch, a.i, a.badFractions = b, 0, b.badFractions
	}
	a.i++
	return &a.batch.recs[a.i-1], 0, nil
}

// close stops the goroutine, if it still runs; once it has sent its last
// batch, its batches are kept for another Reader.
func (a *ahead) close() {
	a.stopOnce.Do(func() { close(a.stop) })
	if !a.ended {
		return // it may be blocked in a read: its batches are left to the collector
	}
	for range a.full {
		// It returns right after its last batch.
	}
	if a.batch != nil {
		recordBatches.Put(a.batch)
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
