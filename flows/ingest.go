package flows

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"os"

	"github.com/netfx/netfx/pcapread"
)

// FileResult describes how one capture file was read.
type FileResult struct {
	Path   string
	Format pcapread.Format
	Stats  pcapread.Stats
	SHA256 string // hex, when hashing was asked for
	Err    error  // why reading stopped early, or why the file could not be read
}

// ReadOptions says how ReadCaptures reads its inputs.
type ReadOptions struct {
	Hash bool // compute each file's SHA-256 while reading it
	// WrapInput, if set, wraps each file's reader before it is read, for
	// instance to count bytes for a progress bar.
	WrapInput func(io.Reader) io.Reader
	// Open, if set, opens each path instead of os.Open (and standard
	// input for "-"); what it returns is closed after reading if it is an
	// io.Closer.
	Open func(path string) (io.Reader, error)
}

// batch carries decoded packets from the reading goroutine to the table.
// A batch opens a file (file != ""), carries packets, or closes a file
// (result != nil), in that order within the batch.
type batch struct {
	file    string
	packets []pcapread.Packet
	payload []byte // the packets' captured payloads, which their Payload slices point into
	result  *FileResult
}

const (
	batchSize    = 1024    // packets per batch: about 150 KiB of headers
	batchPayload = 1 << 20 // payload bytes per batch
	batchesAhead = 4       // batches in flight between the two goroutines
)

// ReadCaptures reads the capture files in order through one Table, so that
// a conversation continuing from one file into the next stays one
// conversation. Each finished conversation goes to emit, and each file's
// result to done once the file is read; both are called on the caller's
// goroutine, in input order. Everything read before an error is kept.
//
// Reading and decoding run on one goroutine, handing the table batches of
// decoded headers; the table runs on a second; the caller's goroutine takes
// the finished conversations. The table alone decides conversations, so
// the result is the same as a serial read.
func ReadCaptures(paths []string, cfg Config, opt ReadOptions, emit func(*Conn), done func(FileResult)) {
	full := make(chan *batch, batchesAhead)
	empty := make(chan *batch, batchesAhead)
	for range batchesAhead {
		empty <- &batch{packets: make([]pcapread.Packet, 0, batchSize), payload: make([]byte, 0, batchPayload)}
	}
	go func() {
		defer close(full)
		for _, path := range paths {
			readFile(path, opt, empty, full)
		}
	}()
	// The table runs on a third goroutine and hands its results back in
	// order, so that what the caller does with each conversation (merging,
	// sorting, analysis) runs beside the table instead of after it.
	results := make(chan []tableResult, batchesAhead)
	go func() {
		defer close(results)
		var out []tableResult
		send := func() {
			if len(out) > 0 {
				results <- out
				out = make([]tableResult, 0, resultBatch)
			}
		}
		t := NewTable(cfg, func(c *Conn) {
			out = append(out, tableResult{conn: c})
			if len(out) == resultBatch {
				send()
			}
		})
		for b := range full {
			if b.file != "" {
				t.SetFile(b.file)
			}
			for i := range b.packets {
				t.Add(&b.packets[i])
			}
			if b.result != nil {
				out = append(out, tableResult{file: b.result})
				send()
			}
			b.file, b.packets, b.payload, b.result = "", b.packets[:0], b.payload[:0], nil
			empty <- b
		}
		t.Flush()
		send()
	}()
	for rs := range results {
		for _, r := range rs {
			if r.conn != nil {
				emit(r.conn)
			} else {
				done(*r.file)
			}
		}
	}
}

// tableResult is one thing the table gives back: a finished conversation,
// or a file read to its end.
type tableResult struct {
	conn *Conn
	file *FileResult
}

// resultBatch is how many results go back to the caller at once.
const resultBatch = 256

// readFile reads one capture and sends its packets in batches.
func readFile(path string, opt ReadOptions, empty <-chan *batch, full chan<- *batch) {
	res := &FileResult{Path: path}
	b := <-empty
	defer func() {
		b.result = res
		full <- b
	}()
	var src io.Reader = os.Stdin
	if opt.Open != nil || path != "-" {
		open := opt.Open
		if open == nil {
			open = func(path string) (io.Reader, error) { return os.Open(path) }
		}
		var err error
		if src, err = open(path); err != nil {
			res.Err = err
			return
		}
		if c, ok := src.(io.Closer); ok {
			defer c.Close()
		}
	}
	if opt.WrapInput != nil {
		src = opt.WrapInput(src)
	}
	var h hash.Hash
	if opt.Hash {
		h = sha256.New()
		src = io.TeeReader(src, h)
	}
	r, err := pcapread.NewReader(src, path)
	if err != nil {
		res.Err = err
		return
	}
	defer r.Close() // src is closed above: this releases the buffers
	b.file = path
	for r.Next() {
		p := r.Packet()
		if len(b.packets) == cap(b.packets) || len(b.payload)+len(p.Payload) > cap(b.payload) {
			full <- b
			b = <-empty
		}
		// The payload points into the reader's buffer: copy it into the
		// batch, whose capacity never changes, so the slices stay valid.
		start := len(b.payload)
		b.payload = append(b.payload, p.Payload...)
		b.packets = append(b.packets, *p)
		b.packets[len(b.packets)-1].Payload = b.payload[start:len(b.payload):len(b.payload)]
	}
	res.Format, res.Stats, res.Err = r.Format(), r.Stats(), r.Err()
	if h != nil {
		io.Copy(h, src) // the bytes after the last record read, if any
		res.SHA256 = hex.EncodeToString(h.Sum(nil))
	}
}
