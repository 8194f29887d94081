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
}

const (
	aheadBatches = 4         // batches in flight
	aheadRecords = 4096      // records a batch, at most
	aheadBytes   = 1 << 20   // record bytes a batch, about
	readChunk    = 128 << 10 // bytes a read of a classic pcap file, at most
)

// errStopped ends the records of a Reader closed, or whose context of
// ReadAhead is done, before its end.
var errStopped = errors.New("reading stopped")

// ReadAhead makes the Reader frame its records on a goroutine of its own
// from now on, so that framing runs beside decoding; the goroutine takes
// ctx's profiler labels and stops when ctx is done or the Reader closed.
// Call it before the first Next, at most once. It costs the hand-off of
// each batch, and a copy of each record of a pcapng file, so it pays only
// with a second core.
func (r *Reader) ReadAhead(ctx context.Context) {
	a := &ahead{
		full:  make(chan *recordBatch, aheadBatches),
		empty: make(chan *recordBatch, aheadBatches),
		stop:  make(chan struct{}),
	}
	for range aheadBatches {
		a.empty <- newRecordBatch()
	}
	r.ahead = a
	fill := r.copyRecords
	if r.pcap != nil {
		fill = r.readPcapRecords()
	}
	go func() {
		pprof.SetGoroutineLabels(ctx)
		defer r.releaseBuffer()
		a.frame(ctx, r, fill)
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
		data: make([]byte, 0, aheadBytes+16+maxCaptureLength), // a record begun under aheadBytes fits
	}
}

// releaseBuffer gives the read buffer back for another Reader.
func (r *Reader) releaseBuffer() {
	r.br.Reset(nil)
	bigReaders.Put(r.br)
	r.br = nil
}

// frame fills batches until an error, io.EOF included, ends them, or
// until it is stopped: each with fill, which sets the batch's records
// and, once they end, its err and pos.
func (a *ahead) frame(ctx context.Context, r *Reader, fill func(*recordBatch)) {
	defer close(a.full)
	for {
		var b *recordBatch
		select {
		case b = <-a.empty:
		case <-a.stop:
			return
		case <-ctx.Done():
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

// readPcapRecords returns the fill of batches for a classic pcap file,
// whose records are read straight into the batches, through the framer
// but not the read buffer, so that their bytes are copied once, by the
// read system call; a record cut by the end of a batch's reads goes at the
// start of the next batch. Records, errors and positions are those of
// frameRecord.
func (r *Reader) readPcapRecords() func(*recordBatch) {
	var (
		rest []byte // bytes read past the last batch's records
		rerr error  // the error that ended reading: io.EOF at the end of the file
		// What the read buffer holds past the file header comes first.
		buffered = r.br.Buffered()
	)
	return func(b *recordBatch) {
		data := b.data[:cap(b.data)]
		filled := copy(data, rest)
		if buffered > 0 {
			n, _ := io.ReadFull(r.br, data[filled:filled+buffered]) // from the buffer: cannot fail
			filled += n
			buffered = 0
		}
		// fill reads until want bytes follow off, or reading ends. It
		// reads up to aheadBytes, in reads of at most readChunk, and past
		// it no more than the record that crosses it needs: the bytes read
		// past a batch's last record are copied again.
		fill := func(off, want int) bool {
			for zeros := 0; filled-off < want && rerr == nil; {
				end := max(min(aheadBytes, filled+readChunk), off+want)
				n, err := r.fr.Read(data[filled:end])
				filled += n
				if err != nil {
					rerr = err
				} else if n == 0 {
					if zeros++; zeros == 100 {
						rerr = io.ErrNoProgress
					}
				}
			}
			return filled-off >= want
		}
		off := 0
		for len(b.recs) < cap(b.recs) && off < aheadBytes {
			pos := r.fr.off - int64(filled-off) // where the record begins in the file
			if !fill(off, 16) {
				b.err, b.pos = rerr, pos
				if filled > off && rerr == io.EOF {
					b.err = io.ErrUnexpectedEOF
				}
				break
			}
			rec, capLen := r.pcapRecordHeader(data[off : off+16])
			if !fill(off, 16+capLen) {
				b.err, b.pos = rerr, pos
				if rerr == io.EOF {
					b.err = io.ErrUnexpectedEOF
				}
				break
			}
			end := off + 16 + capLen
			rec.data = data[off+16 : end : end]
			b.recs = append(b.recs, rec)
			off = end
		}
		rest = data[off:filled] // copied at the start of the next batch, which may be this one
		b.data = data[:off]
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
