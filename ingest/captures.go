package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime/pprof"
	"unsafe"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/prefetch"
	"github.com/netfx/netfx/pcapread"
)

// captureOptions say how readCaptures opens and reads each file.
type captureOptions struct {
	hash bool                                 // compute each file's SHA-256 while reading it
	wrap func(io.Reader) io.Reader            // wraps each file's reader, to count bytes for a progress bar
	open func(path string) (io.Reader, error) // closed after reading if it is an io.Closer
	// workers is how many flow tables share the work (flows.Sharded);
	// 0 or 1 is one.
	workers int
	// readAhead frames each file's records on a goroutine of their own
	// (pcapread.Reader.ReadAhead; LoadAhead, which reads them on one more,
	// with more than one table): worth it with a second core.
	readAhead bool
	// watermark, if not nil, is told the table's watermarks
	// (flows.Table.OnWatermark), on the caller's goroutine, between the
	// conversations.
	watermark func(ts int64)
}

// batch carries decoded packets from the reading goroutine to the table.
// A batch opens a file (file != ""), carries packets, or closes a file
// (result != nil), in that order within the batch.
type batch struct {
	file    string
	packets []pcapread.Packet
	// held is the reader's batches of records that the packets' Payload
	// slices point into, kept until the table is done with them; payload
	// holds copies of the payloads that lie elsewhere (reassembled from
	// fragments, or read without reading ahead); its capacity never
	// changes once made, so their slices stay valid.
	held    []*pcapread.Batch
	payload []byte
	result  *CaptureResult
}

// release gives the reader's batches back and empties b.
func (b *batch) release() {
	for _, h := range b.held {
		h.Release()
	}
	clear(b.held)
	b.file, b.packets, b.held, b.payload, b.result = "", b.packets[:0], b.held[:0], b.payload[:0], nil
}

const (
	batchSize    = 1024    // packets per batch: about 150 KiB of headers
	batchPayload = 1 << 20 // payload bytes per batch
	batchesAhead = 4       // batches in flight between the two goroutines
	// maxHeld bounds the reader's batches of records a batch holds: 1 MiB
	// of records, as many as payload bytes it would copy.
	maxHeld = 4
	// resultsAhead is how many batches of results the table may hand on
	// before the caller takes them: the table's results come in bursts
	// (a sweep, a file's end), and with room for a few thousand
	// conversations it goes on decoding while the caller takes them
	// (docs/performance.md: 5–10 % less time on pcapgen's gigabyte, 12 %
	// on a flood of one-packet DNS conversations).
	resultsAhead = 64
)

// readCaptures reads the capture files in order through one flow table,
// so that a conversation continuing from one file into the next stays one
// conversation. Each finished conversation goes to emit, and each file's
// result to done once the file is read; both are called on the caller's
// goroutine, in input order. Everything read before an error is kept.
//
// Reading and decoding run on one goroutine (with a second core, the
// reader frames the records ahead on one of its own), handing the table
// batches of decoded headers; the table runs on a second, or on
// opt.workers of its own (flows.Sharded); the caller's goroutine takes
// the finished conversations. The table alone decides conversations, and
// a sharded one hands them on as a serial one would, so the result is the
// same as a serial read. Once ctx is done, readCaptures returns at once,
// dropping the conversations still open; its goroutines end at their next
// step (a read blocked on a pipe, at its next byte).
func readCaptures(ctx context.Context, paths []string, cfg flows.Config, opt captureOptions, emit func(*flows.Conn), done func(CaptureResult)) {
	full := make(chan *batch, batchesAhead)
	empty := make(chan *batch, batchesAhead)
	for range batchesAhead {
		empty <- &batch{packets: make([]pcapread.Packet, 0, batchSize), held: make([]*pcapread.Batch, 0, maxHeld)}
	}
	go pprof.Do(ctx, pprof.Labels("stage", "read"), func(ctx context.Context) {
		defer close(full)
		for _, path := range paths {
			if ctx.Err() != nil {
				return
			}
			readFile(ctx, path, opt, empty, full)
		}
	})
	// The table runs on a third goroutine (or, sharded, on workers of its
	// own) and hands its results back in order, so that what the caller
	// does with each conversation (merging, sorting, analysis) runs beside
	// the table instead of after it.
	results := make(chan []tableResult, resultsAhead)
	stage := "table"
	if opt.workers > 1 {
		stage = "route" // the workers are the table
	}
	go pprof.Do(ctx, pprof.Labels("stage", stage), func(ctx context.Context) {
		defer close(results)
		// out and send belong to the goroutine that the table hands its
		// results on: this one, or a Sharded table's merger.
		var out []tableResult
		weight := 0 // of out: see resultWeight
		send := func() {
			if len(out) > 0 {
				select {
				case results <- out:
				case <-ctx.Done():
				}
				out, weight = make([]tableResult, 0, resultBatch), 0
			}
		}
		hand := func(r tableResult) {
			out = append(out, r)
			if weight += resultWeight(r.conn); weight >= resultBatch {
				send()
			}
		}
		emitConn := func(c *flows.Conn) { hand(tableResult{conn: c}) }
		var t flows.Builder
		if opt.workers > 1 {
			t = flows.NewSharded(ctx, cfg, opt.workers, emitConn)
		} else {
			t = flows.NewTable(cfg, emitConn)
		}
		if opt.watermark != nil {
			t.OnWatermark(func(ts int64) { hand(tableResult{watermark: ts, isWatermark: true}) })
		}
		recycle := func(b *batch) {
			b.release()
			empty <- b // never blocks: there are batchesAhead batches
		}
		var early int64 // conversations ended early before this file
		for b := range full {
			if ctx.Err() != nil {
				recycle(b)
				continue
			}
			res := b.result
			if b.file != "" {
				t.SetFile(b.file)
			}
			t.AddBatch(b.packets, func() { recycle(b) })
			if res != nil {
				t.EndFile(func(total int64) {
					res.EndedEarly, early = total-early, total
					out = append(out, tableResult{file: res})
					send()
				})
			}
		}
		// Once ctx is done a Sharded table's Flush only waits for its
		// merger, which must not hand results on after results is closed.
		if ctx.Err() == nil || opt.workers > 1 {
			t.Flush()
		}
		if ctx.Err() == nil {
			send()
		}
	})
	for {
		var rs []tableResult
		var more bool
		select {
		case rs, more = <-results:
		case <-ctx.Done():
			return
		}
		if !more {
			return
		}
		for _, r := range rs {
			switch {
			case r.conn != nil:
				emit(r.conn)
			case r.isWatermark:
				opt.watermark(r.watermark)
			default:
				done(*r.file)
			}
		}
	}
}

// tableResult is one thing the table gives back: a finished conversation,
// a file read to its end, or a watermark.
type tableResult struct {
	conn        *flows.Conn
	file        *CaptureResult
	watermark   int64
	isWatermark bool
}

// resultBatch is how many results go back to the caller at once, at
// most: fewer when they are heavy (resultWeight).
const resultBatch = 256

// resultWeight is what a result counts for in its batch: one, and one
// more for each KiB of DNS answers, so that a flood of responses of 64
// long names each (5 to 18 KB a conversation) holds about as much in
// flight as ordinary results, a few MiB, rather than 80 to 300 MB in
// resultsAhead full batches.
func resultWeight(c *flows.Conn) int {
	if c == nil || c.App == nil || c.App.DNS == nil {
		return 1
	}
	return 1 + c.App.DNS.Answers.Bytes()>>10
}

// readFile reads one capture and sends its packets in batches, until ctx
// is done.
func readFile(ctx context.Context, path string, opt captureOptions, empty <-chan *batch, full chan<- *batch) {
	res := &CaptureResult{Path: path}
	var b *batch
	select {
	case b = <-empty:
	case <-ctx.Done():
		return
	}
	defer func() {
		if ctx.Err() != nil {
			return // nobody takes results any more
		}
		b.result = res
		select {
		case full <- b:
		case <-ctx.Done():
		}
	}()
	src, err := opt.open(path)
	if err != nil {
		res.Err = err
		return
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	src = opt.wrap(src)
	var h *hashingReader
	if opt.hash {
		h = &hashingReader{r: src, h: sha256.New()}
		src = h
	}
	r, err := pcapread.NewReader(src, path)
	if err != nil {
		res.Err = err
		return
	}
	defer r.Close() // src is closed above: this releases the buffers
	if opt.readAhead {
		frameCtx := pprof.WithLabels(ctx, pprof.Labels("stage", "frame"))
		if opt.workers > 1 {
			// With cores to spare for the tables, reading gets one of
			// its own too.
			r.LoadAhead(frameCtx)
		} else {
			r.ReadAhead(frameCtx)
		}
	}
	if opt.workers > 1 {
		// With cores to spare for the tables, the tables verify the
		// checksums.
		r.DeferChecksums()
	}
	b.file = path
	for r.Next() {
		p := r.Packet()
		// The payload points into the reader's batch of records, which
		// the batch holds until the table is done with it; or elsewhere,
		// and it is copied into the batch, whose capacity never changes,
		// so the slices stay valid. With the checksum to verify, the
		// payload is the whole segment.
		held := r.Batch()
		newHeld := held != nil && (len(b.held) == 0 || b.held[len(b.held)-1] != held)
		if len(b.packets) == cap(b.packets) || held == nil && b.payload != nil && len(b.payload)+len(p.Payload) > cap(b.payload) || newHeld && len(b.held) == maxHeld {
			select {
			case full <- b:
			case <-ctx.Done():
				res.Err = ctx.Err()
				return
			}
			select {
			case b = <-empty:
			case <-ctx.Done():
				res.Err = ctx.Err()
				return
			}
			newHeld = held != nil // a batch taken anew holds none
		}
		b.packets = append(b.packets, *p)
		if ahead := len(b.packets) + slotsAhead; ahead < cap(b.packets) {
			prefetch.ForWrite(unsafe.Pointer(&b.packets[:cap(b.packets)][ahead]), unsafe.Sizeof(pcapread.Packet{}))
		}
		if newHeld {
			held.Hold()
			b.held = append(b.held, held)
		}
		if held != nil {
			continue
		}
		if b.payload == nil {
			// Made when first needed: reading ahead, only datagrams
			// reassembled from fragments are copied.
			b.payload = make([]byte, 0, batchPayload)
		}
		start := len(b.payload)
		b.payload = append(b.payload, p.Payload...)
		b.packets[len(b.packets)-1].Payload = b.payload[start:len(b.payload):len(b.payload)]
	}
	res.Format, res.Stats, res.Err = r.Format(), r.Stats(), r.Err()
	if h != nil {
		sum, err := h.finish()
		if err != nil {
			res.Err = errors.Join(res.Err, fmt.Errorf("%s: no SHA-256: %w", path, err))
		}
		res.SHA256 = sum
	}
}

// slotsAhead is how many packets ahead readFile asks for a batch slot to
// be brought in for writing: the table read the slot last, on another
// core, whose copy the first write would otherwise wait to take over
// (docs/performance.md).
const slotsAhead = 4

// hashingReader hashes what is read through it and remembers the first
// read error, so that a file that could not be read whole gets no hash
// rather than the hash of a part.
type hashingReader struct {
	r   io.Reader
	h   hash.Hash
	n   int64 // bytes read
	err error
}

func (hr *hashingReader) Read(b []byte) (int, error) {
	n, err := hr.r.Read(b)
	hr.h.Write(b[:n])
	hr.n += int64(n)
	if err != nil && err != io.EOF && hr.err == nil {
		hr.err = err
	}
	return n, err
}

// finish hashes the bytes after the last record read, if any, and returns
// the file's SHA-256 in hex, or why there is none.
func (hr *hashingReader) finish() (string, error) {
	if _, err := io.Copy(io.Discard, hr); err != nil && hr.err == nil {
		hr.err = err
	}
	if hr.err != nil {
		return "", fmt.Errorf("reading stopped at byte %d: %w", hr.n, hr.err)
	}
	return hex.EncodeToString(hr.h.Sum(nil)), nil
}
