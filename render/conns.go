package render

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/extsort"
	"github.com/netfx/netfx/internal/tempfile"
	"github.com/netfx/netfx/internal/timefmt"
)

// ConnWriter writes conversation records in one format, ordered by ts
// then uid whatever order they are added in. Each record is encoded when it
// is added (by the caller, or by encoders of its own: see Encoders), so
// encoding runs while the input is still being read; Close sorts the
// encoded records (beyond a fixed number in temporary files, never next
// to the evidence) and writes them between the format's header and
// trailer. When temporary files cannot be written and the records would
// hold too much memory, they are written as watermarks allow instead
// (stream.go).
type ConnWriter struct {
	out       *bufio.Writer
	newFormat func() connFormat
	format    connFormat // the caller's, when it encodes
	arena     arena      // the caller's, when it encodes
	chunks    chunkPool
	records   int
	firstTS   int64
	lastTS    int64
	// mu guards the sorter and largeMemory while encoders add to them.
	mu     sync.Mutex
	sorter *extsort.Sorter[encodedConn]
	// largeMemory is the sorter's memory once it has spilled
	// spilledToGrow runs; 0 once it has it.
	largeMemory int
	err         atomic.Pointer[error] // the sorter's error, once it has one
	// pressed says that pressure, checked as records are added, found
	// them holding too much memory (stream.go); stream is not nil once
	// the writer streams.
	pressure  func() bool
	pressed   atomic.Bool
	stream    *streamState
	heapLimit int // heapLimit, but in tests
	// With encoders: the records not yet handed to them, the hand-off,
	// and the encoders running.
	pending  []*flows.Conn
	jobs     chan []*flows.Conn
	encoding sync.WaitGroup
	// holds says that records were held with their DNS answers apart;
	// writers is how many goroutines write them out (held.go).
	holds   atomic.Bool
	writers int
	answers []byte // a record held apart, written out (writeText)
}

// connFormat encodes records in one format.
type connFormat interface {
	// appendRecord appends c's record. With hole not nil, it leaves the
	// value of the DNS answers out and sets *hole to where it goes
	// (heldAnswers).
	appendRecord(b []byte, c *flows.Conn, hole *int) []byte
	// appendAnswers appends the value of the DNS answers field, not
	// empty, as appendRecord writes it.
	appendAnswers(b []byte, answers appid.DNSAnswers) []byte
	// header writes what comes before the records; firstTS is the first
	// record's time, 0 when there are none.
	header(w *bufio.Writer, firstTS int64) error
	// trailer writes what comes after them; lastTS is the latest record
	// time, 0 when there are none.
	trailer(w *bufio.Writer, lastTS int64) error
}

// ConnFormats lists the formats NewConnWriter accepts.
var ConnFormats = []string{"ndjson", "zeek", "csv"}

// sortMemory is how many bytes of encoded records a ConnWriter holds in
// memory before it spills them to a temporary file: 16 MiB at first
// (24 while a run is written in the background), which keeps netfx conns
// on a gigabyte of capture near 100 MiB with its reading framed ahead
// (its 70 MB of records spilled in a few runs cost about 5 % more time
// than holding them, 50 MiB less memory); past spilledToGrow runs (half
// a gigabyte of records), 96 MiB, so that runs stay few enough to be
// merged in one pass up to about 9.5 GiB of records. Growing after 8 runs
// instead held 100 MiB more of a DNS answer flood's half gigabyte of
// records in memory, for no time saved: runs written as they are cost
// little to merge (docs/performance.md). Runs kept in memory (TMPDIR
// cannot be written) stay at 16 MiB: there a larger buffer would only add
// to what memory holds.
const (
	sortMemory      = 16 << 20
	sortMemoryLarge = 96 << 20
	spilledToGrow   = 64
)

// NewConnWriter returns a writer of the named format on w.
func NewConnWriter(w io.Writer, format string) (*ConnWriter, error) {
	return newConnWriter(w, format, sortMemory, sortMemoryLarge)
}

func newConnWriter(w io.Writer, format string, memory, largeMemory int) (*ConnWriter, error) {
	var newFormat func() connFormat
	switch format {
	case "ndjson":
		newFormat = func() connFormat { return &ndjsonFormat{} }
	case "zeek":
		newFormat = func() connFormat { return &zeekFormat{} }
	case "csv":
		newFormat = func() connFormat { return newCSVFormat() }
	default:
		return nil, fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(ConnFormats, ", "))
	}
	sorter := newRecordSorter(memory)
	sorter.FastInMemory() // bounded by streamAfter (stream.go)
	return &ConnWriter{out: bufio.NewWriterSize(w, 256<<10), newFormat: newFormat, format: newFormat(), sorter: sorter, largeMemory: largeMemory, pressure: heldTooMuch, heapLimit: heapLimit,
		writers: runtime.GOMAXPROCS(0)}, nil
}

// newRecordSorter returns a sorter of encoded records that holds memory
// bytes of them before it spills a run.
func newRecordSorter(memory int) *extsort.Sorter[encodedConn] {
	sorter := extsort.NewWithCodec(math.MaxInt, compareEncoded, &encodedCodec{})
	sorter.LimitBytes(memory, encodedSize)
	sorter.SpillAllInBackground()
	return sorter
}

// Encoders makes n goroutines of the writer's own encode the records
// added from now on, when n is more than one; with fewer, the caller's
// goroutine does. The output is the same bytes either way. The records
// added must not change after Add.
func (w *ConnWriter) Encoders(n int) {
	if n <= 1 || w.jobs != nil {
		return
	}
	jobs := make(chan []*flows.Conn, n)
	w.jobs = jobs
	for range n {
		w.encoding.Add(1)
		// Labelled for CPU profiles as a stage that runs on n cores
		// (docs/performance.md).
		go pprof.Do(context.Background(), pprof.Labels("stage", "encode"), func(context.Context) {
			defer w.encoding.Done()
			w.encode(jobs)
		})
	}
}

// encodeBatch is how many records go to an encoder at once.
const encodeBatch = 256

// encode encodes the batches of records from jobs, with a format and an
// arena of its own, and adds them to the sorter.
func (w *ConnWriter) encode(jobs <-chan []*flows.Conn) {
	f := w.newFormat()
	var a arena
	encoded := make([]encodedConn, 0, encodeBatch)
	for batch := range jobs {
		encoded = encoded[:0]
		for _, c := range batch {
			encoded = append(encoded, w.encodeConn(f, &a, c))
		}
		w.mu.Lock()
		for _, e := range encoded {
			w.sort(e)
		}
		w.retire(&a)
		w.mu.Unlock()
	}
}

// An arena is where one encoder's records are encoded: chunks of
// arenaChunk bytes, each filled until less than arenaRoom is left.
type arena struct {
	chunk []byte // the chunk being filled, which encodedConn.Text slices point into
	// full is the chunks filled whose records are not all in the sorter
	// yet: they go to the pool once they are (ConnWriter.retire).
	full [][]byte
	hole int // where the format left DNS answers out of the record encoded last
}

const (
	arenaChunk = 1 << 20
	arenaRoom  = 64 << 10
	// maxFreeChunks bounds the free chunks of the pool: half of a
	// sorter's first memory. A free chunk is live memory to the collector,
	// which lets the heap grow by half of it again: keeping all a run's
	// chunks took the gigabyte capture's peak from 112 to 127 MiB.
	maxFreeChunks = sortMemory / 2 / arenaChunk
)

// encodeConn encodes c into the arena, in a new chunk when it runs short.
func (w *ConnWriter) encodeConn(f connFormat, a *arena, c *flows.Conn) encodedConn {
	if cap(a.chunk)-len(a.chunk) < arenaRoom {
		if a.chunk != nil {
			a.full = append(a.full, a.chunk)
		}
		a.chunk = w.chunks.get()
	}
	start := len(a.chunk)
	var b []byte
	if held := heldAnswers(c); held.Len() == 0 {
		b = f.appendRecord(a.chunk, c, nil)
	} else {
		b = appendHeld(f, a.chunk, c, held, &a.hole)
		if !w.holds.Load() {
			w.holds.Store(true)
		}
	}
	if cap(b) != cap(a.chunk) {
		// A record longer than the room left moved to a larger chunk of
		// its own; the records before it stay in the one it left.
		a.full = append(a.full, a.chunk)
	}
	a.chunk = b
	return encodedConn{c.TS, c.UID, b[start:len(b):len(b)]}
}

// chunkPool recycles the chunks of the arenas: a chunk whose records have
// all gone to the sorter waits there until the sorter has written the
// runs they went to (extsort.Sorter.Written), and is then filled again,
// up to maxFreeChunks at a time. The half gigabyte of records of a DNS
// answer flood then costs less memory to clear and collect
// (docs/performance.md).
type chunkPool struct {
	mu      sync.Mutex
	free    [][]byte
	waiting []waitingChunk
}

// waitingChunk is a chunk that may be filled again once the sorter has
// written more than run runs.
type waitingChunk struct {
	chunk []byte
	run   int
}

// get returns an empty chunk: a free one, or a new one.
func (p *chunkPool) get() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		chunk := p.free[n-1]
		p.free = p.free[:n-1]
		return chunk[:0]
	}
	return make([]byte, 0, arenaChunk)
}

// retire hands the arena's full chunks, whose records are all in the
// sorter now, to the pool; a chunk the sorter has written is free at
// once. While the writer streams its records are held in the writer's
// heap instead, and chunks are left to the collector.
func (w *ConnWriter) retire(a *arena) {
	if len(a.full) == 0 {
		return
	}
	if w.stream == nil {
		p := &w.chunks
		run, written := w.sorter.Spilled(), w.sorter.Written()
		p.mu.Lock()
		for _, chunk := range a.full {
			if cap(chunk) == arenaChunk {
				p.waiting = append(p.waiting, waitingChunk{chunk, run})
			}
		}
		p.waiting = slices.DeleteFunc(p.waiting, func(c waitingChunk) bool {
			if c.run < written {
				if len(p.free) < maxFreeChunks {
					p.free = append(p.free, c.chunk)
				}
				return true
			}
			return false
		})
		p.mu.Unlock()
	}
	clear(a.full)
	a.full = a.full[:0]
}

// sort adds an encoded record to the sorter (to the heap, once the writer
// streams), notes when the records hold too much memory (stream.go), and
// grows the sorter's memory once it has spilled spilledToGrow runs to
// temporary files.
func (w *ConnWriter) sort(e encodedConn) {
	if w.stream != nil {
		w.add(e)
		return
	}
	w.sorter.Add(e)
	if err := w.sorter.Err(); err != nil {
		w.fail(err)
	}
	switch {
	case w.pressure():
		w.pressed.Store(true)
	case w.largeMemory > 0 && w.sorter.Spilled() >= spilledToGrow && tempfile.Failed() == nil:
		w.sorter.LimitBytes(w.largeMemory, encodedSize)
		w.largeMemory = 0
	}
}

// fail keeps the first error that will make Close fail.
func (w *ConnWriter) fail(err error) { w.err.CompareAndSwap(nil, &err) }

func encodedSize(r encodedConn) int { return len(r.Text) + len(r.UID) + 40 }

// encodedConn is one record, encoded, with its sort key.
type encodedConn struct {
	TS   int64
	UID  string
	Text []byte
}

// compareEncoded orders records by ts then uid, and records alike in both
// (conversation logs read twice) by their text as held (held.go), so that
// the order does not depend on the order they were added in.
func compareEncoded(a, b encodedConn) int {
	if a.TS != b.TS {
		return cmp.Compare(a.TS, b.TS)
	}
	if c := strings.Compare(a.UID, b.UID); c != 0 {
		return c
	}
	return bytes.Compare(a.Text, b.Text)
}

// Add encodes a record, or hands it to the encoders.
func (w *ConnWriter) Add(c *flows.Conn) {
	if w.records == 0 || c.TS < w.firstTS {
		w.firstTS = c.TS
	}
	w.lastTS = max(w.lastTS, c.TS)
	w.records++
	if w.jobs != nil {
		w.pending = append(w.pending, c)
		if len(w.pending) == encodeBatch {
			w.jobs <- w.pending
			w.pending = make([]*flows.Conn, 0, encodeBatch)
		}
		return
	}
	w.sort(w.encodeConn(w.format, &w.arena, c))
	w.retire(&w.arena)
}

// Err returns the error that will make Close fail, once there is one (a
// run of records could not be written): records added after it are lost,
// and the caller may stop. It is safe to call while records are added.
func (w *ConnWriter) Err() error {
	if err := w.err.Load(); err != nil {
		return *err
	}
	return nil
}

// Close writes the header, the records in order and the trailer, and
// flushes; it does not close the underlying writer.
func (w *ConnWriter) Close() error {
	if err := w.writeRecords(); err != nil {
		return err
	}
	if err := w.format.trailer(w.out, w.lastTS); err != nil {
		return err
	}
	return w.out.Flush()
}

// stopEncoders hands the encoders the records pending and waits for them
// to finish: records added from now on are encoded on the caller's
// goroutine.
func (w *ConnWriter) stopEncoders() {
	if w.jobs == nil {
		return
	}
	if len(w.pending) > 0 {
		w.jobs <- w.pending
		w.pending = nil
	}
	close(w.jobs)
	w.encoding.Wait()
	w.jobs = nil
}

// writeRecords writes the header, unless streaming wrote it, and the
// records in order.
func (w *ConnWriter) writeRecords() error {
	w.stopEncoders()
	w.chunks = chunkPool{}
	if w.stream != nil {
		return w.closeStream()
	}
	if err := w.format.header(w.out, w.firstTS); err != nil {
		return err
	}
	return w.writeSorted()
}

// encodedCodec spills encoded records: time, uid and text, length-prefixed.
// A run is read back through a buffer of its own (ReadRun), whose records
// are cut in place and their uids and texts copied into chunks, rather
// than made an allocation each.
type encodedCodec struct{}

func (*encodedCodec) Encode(w *bufio.Writer, r encodedConn) error {
	var b [3 * binary.MaxVarintLen64]byte
	n := binary.PutVarint(b[:], r.TS)
	n += binary.PutUvarint(b[n:], uint64(len(r.UID)))
	w.Write(b[:n])
	w.WriteString(r.UID)
	n = binary.PutUvarint(b[:], uint64(len(r.Text)))
	w.Write(b[:n])
	_, err := w.Write(r.Text)
	return err
}

func (*encodedCodec) ReadRun(r io.Reader) extsort.Run[encodedConn] {
	return &encodedRun{r: r, buf: make([]byte, 0, runBuffer)}
}

// runBuffer is the size of the buffer a run is read through, grown for a
// longer record; chunk is the size of the chunks its records' uids and
// texts are copied into, a record longer than a quarter of one getting an
// allocation of its own.
const (
	runBuffer = 64 << 10
	chunk     = 64 << 10
)

// maxSpilledRecord bounds the length of a uid or text read back: longer
// than any record netfx writes.
const maxSpilledRecord = 1 << 24

// encodedRun reads a run of encoded records back.
type encodedRun struct {
	r     io.Reader
	buf   []byte // what was read; buf[off:] is not decoded yet
	off   int
	err   error  // what the run's reader last returned, io.EOF at its end
	chunk []byte // where records' uids and texts go, until it is full
}

func (d *encodedRun) Next() (encodedConn, bool, error) {
	for {
		ts, uid, text, n, need, err := cutEncoded(d.buf[d.off:])
		switch {
		case err != nil:
			return encodedConn{}, false, err
		case n > 0:
			d.off += n
			return d.keep(ts, uid, text), true, nil
		case d.err == io.EOF && d.off == len(d.buf):
			return encodedConn{}, false, nil
		case d.err == io.EOF:
			return encodedConn{}, false, io.ErrUnexpectedEOF
		case d.err != nil:
			return encodedConn{}, false, d.err
		}
		d.fill(need)
	}
}

// fill moves what is left of the buffer to its start, grown to need
// bytes if it is shorter, and reads the run after it.
func (d *encodedRun) fill(need int) {
	rest := copy(d.buf[:cap(d.buf)], d.buf[d.off:])
	if need > cap(d.buf) {
		d.buf = append(make([]byte, 0, need), d.buf[:rest]...)
	}
	n, err := io.ReadFull(d.r, d.buf[rest:cap(d.buf)])
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	d.buf, d.off, d.err = d.buf[:rest+n], 0, err
}

// keep copies a record's uid and text out of the buffer into the chunk.
// A chunk is never written over: the next is a new one.
func (d *encodedRun) keep(ts int64, uid, text []byte) encodedConn {
	n := len(uid) + len(text)
	var room []byte
	if n > chunk/4 {
		room = make([]byte, n)
	} else {
		if cap(d.chunk)-len(d.chunk) < n {
			d.chunk = make([]byte, 0, chunk)
		}
		start := len(d.chunk)
		d.chunk = d.chunk[:start+n]
		room = d.chunk[start : start+n : start+n]
	}
	copy(room[copy(room, uid):], text)
	return encodedConn{TS: ts, UID: unsafe.String(unsafe.SliceData(room), len(uid)), Text: room[len(uid):]}
}

// cutEncoded cuts the record at the start of b, and returns its parts,
// still in b, and its length n; n is 0 when b does not hold it whole, and
// need is then how long b must be to hold it, once its lengths are read.
func cutEncoded(b []byte) (ts int64, uid, text []byte, n, need int, err error) {
	ts, at := binary.Varint(b)
	if at <= 0 {
		return 0, nil, nil, 0, 0, varintError(at)
	}
	var parts [2][]byte // the uid, then the text
	for i := range parts {
		length, k := binary.Uvarint(b[at:])
		if k <= 0 {
			return 0, nil, nil, 0, 0, varintError(k)
		}
		if length > maxSpilledRecord {
			return 0, nil, nil, 0, 0, fmt.Errorf("spilled record of %d bytes", length)
		}
		at += k
		if end := at + int(length); end > len(b) {
			return 0, nil, nil, 0, end, nil
		}
		parts[i] = b[at : at+int(length)]
		at += int(length)
	}
	return ts, parts[0], parts[1], at, at, nil
}

// varintError is the error of a varint that binary.Varint or Uvarint read
// k bytes of: none while it is cut short (k == 0), one when it overflows.
func varintError(k int) error {
	if k < 0 {
		return errors.New("damaged record length read back from a temporary file")
	}
	return nil
}

// plainText is how a plain-text format escapes texts: with escape, which
// leaves printable ASCII without a byte of special (two at most) as it is.
type plainText struct {
	escape  func(string) string
	special string
}

// zeekText escapes the Zeek TSV's texts.
var zeekText = plainText{zeekEscape, zeekSpecial}

// appendItem appends a list item escaped.
func (t plainText) appendItem(b []byte, item string) []byte {
	if printableASCII(item, t.special) {
		return append(b, item...)
	}
	return append(b, t.escape(item)...)
}

// appendPlain appends a field's value as plain text (escaping texts as
// esc says) and reports false when it is unset; lists are joined with
// sep.
func appendPlain(b []byte, f *connField, c *flows.Conn, esc plainText, sep string) ([]byte, bool) {
	switch f.kind {
	case kindTime:
		v, ok := f.time(c)
		return appendTime(b, v), ok
	case kindNumber:
		v, ok := f.num(c)
		return appendUint(b, v), ok
	case kindAddr:
		return appendAddr(b, f.addr(c)), true
	case kindSafe:
		v, ok := f.str(c)
		return append(b, v...), ok
	case kindText:
		v, ok := f.str(c)
		return append(b, esc.escape(v)...), ok
	case kindBool:
		v, ok := f.flag(c)
		if v {
			return append(b, 'T'), ok
		}
		return append(b, 'F'), ok
	}
	if f.answers != nil {
		return appendAnswerItems(b, f.answers(c), esc, sep)
	}
	items := f.list(c)
	for i, item := range items {
		if i > 0 {
			b = append(b, sep...)
		}
		b = esc.appendItem(b, item)
	}
	return b, len(items) > 0
}

// appendAnswerItems appends DNS answers, each "name type value", escaped
// as esc escapes texts and joined with sep. Escaping each part on its own
// gives the bytes escaping the whole item gives (escapeRunes goes rune by
// rune, and the spaces between the parts end any UTF-8 sequence), so the
// name and type of a run of addresses are escaped once (DNSAnswers.Runs).
func appendAnswerItems(b []byte, answers appid.DNSAnswers, esc plainText, sep string) ([]byte, bool) {
	n := 0
	for a, same := range answers.Runs() {
		if n > 0 {
			b = append(b, sep...)
		}
		start := len(b)
		b = append(append(append(append(b, esc.escape(a.Name)...), ' '), esc.escape(a.Type)...), ' ')
		end := len(b)
		if a.Addr.IsValid() {
			b = appendAddr(b, a.Addr)
		} else {
			b = append(b, esc.escape(a.Value)...)
		}
		if same.Len() > 0 {
			var room [64]byte
			b = appendSameAddrs(b, same, append(append(room[:0], sep...), b[start:end]...), "")
		}
		n += 1 + same.Len()
	}
	return b, n > 0
}

// ndjsonFormat is one JSON object a line, with Zeek's field names; unset
// fields are left out, as Zeek's JSON logs do.
type ndjsonFormat struct {
	start []byte // the start of the DNS answer appendAnswers escaped last, up to its value
}

func (*ndjsonFormat) header(*bufio.Writer, int64) error  { return nil }
func (*ndjsonFormat) trailer(*bufio.Writer, int64) error { return nil }

func (n *ndjsonFormat) appendRecord(b []byte, c *flows.Conn, hole *int) []byte {
	b = append(b, '{')
	open := len(b)
	present := presentGroups(c)
	for i := range connFields {
		f := &connFields[i]
		if present&f.group == 0 {
			continue
		}
		// A value is got before its key is written: most of a record's
		// fields are unset, and a key written for nothing costs as much.
		switch f.kind {
		case kindTime:
			if v, ok := f.time(c); ok {
				b = appendTime(appendKey(b, open, i), v)
			}
		case kindNumber:
			if v, ok := f.num(c); ok {
				b = appendUint(appendKey(b, open, i), v)
			}
		case kindBool:
			if v, ok := f.flag(c); ok {
				b = strconv.AppendBool(appendKey(b, open, i), v)
			}
		case kindAddr:
			b = append(appendAddr(append(appendKey(b, open, i), '"'), f.addr(c)), '"')
		case kindSafe:
			if v, ok := f.str(c); ok {
				b = append(append(append(appendKey(b, open, i), '"'), v...), '"')
			}
		case kindText:
			if v, ok := f.str(c); ok {
				b = appendJSONString(appendKey(b, open, i), v)
			}
		case kindList:
			if f.answers != nil && hole != nil {
				b = appendKey(b, open, i)
				*hole = len(b)
				break
			}
			if f.answers != nil {
				mark := len(b)
				var ok bool
				if b, ok = n.appendAnswerArray(appendKey(b, open, i), f.answers(c)); !ok {
					b = b[:mark]
				}
				break
			}
			items := f.list(c)
			if len(items) == 0 {
				break
			}
			b = appendKey(b, open, i)
			b = append(b, '[')
			for j, item := range items {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, item)
			}
			b = append(b, ']')
		}
	}
	return append(b, '}', '\n')
}

// appendKey appends field i's key to a JSON object whose first key is
// (or goes) at open.
func appendKey(b []byte, open, i int) []byte {
	if len(b) > open {
		b = append(b, ',')
	}
	return append(b, connJSONKeys[i]...)
}

func (n *ndjsonFormat) appendAnswers(b []byte, answers appid.DNSAnswers) []byte {
	b, _ = n.appendAnswerArray(b, answers)
	return b
}

// appendAnswerArray appends DNS answers as a JSON array of "name type value"
// strings, the bytes the list's items would give: escaping each part on
// its own gives the same bytes as escaping them joined, since the spaces
// between them end any UTF-8 sequence. Answers share their names and
// types, so the start of an item, up to its value, is escaped once for
// the answers in a row that have it.
func (n *ndjsonFormat) appendAnswerArray(b []byte, answers appid.DNSAnswers) ([]byte, bool) {
	b = append(b, '[')
	// start is kept in a variable of this goroutine's and stored once:
	// writers on other cores have formats of their own, which may share a
	// cache line with this one.
	i, name, typ, start := 0, "", "", n.start
	for a, same := range answers.Runs() {
		if i > 0 {
			b = append(b, ',')
		}
		if i == 0 || a.Name != name || a.Type != typ {
			name, typ = a.Name, a.Type
			start = append(appendJSONText(append(appendJSONText(append(start[:0], '"'), name), ' '), typ), ' ')
		}
		b = append(b, start...)
		if a.Addr.IsValid() {
			b = appendAddr(b, a.Addr)
		} else {
			b = appendJSONText(b, a.Value)
		}
		b = append(b, '"')
		if same.Len() > 0 {
			var room [64]byte
			b = appendSameAddrs(b, same, append(append(room[:0], ','), start...), `"`)
		}
		i += 1 + same.Len()
	}
	n.start = start
	return append(b, ']'), i > 0
}

// appendJSONString appends s as a JSON string. Control characters, the
// characters HTML treats specially and invalid UTF-8 are escaped, so the
// output is safe to paste into a terminal or a web page.
func appendJSONString[T string | []byte](b []byte, s T) []byte {
	return append(appendJSONText(append(b, '"'), s), '"')
}

// appendJSONText appends s escaped as the inside of a JSON string.
func appendJSONText[T string | []byte](b []byte, s T) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		start := i
		for i < len(s) && jsonPlain[s[i]] {
			i++
		}
		b = append(b, s[start:i]...) // the plain run at once
		if i == len(s) {
			break
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
			switch {
			case r == utf8.RuneError && size == 1:
				b = append(b, `\ufffd`...)
			case unsafeRune(r): // C1 controls and bidi controls: escaped, as a terminal would act on them
				b = append(b, '\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
			default:
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		}
		i++
	}
	return b
}

// jsonPlain says which bytes appendJSONString copies as they are: ASCII
// but control characters, quote, backslash and the HTML-special <, >, &.
var jsonPlain = func() (plain [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		plain[c] = !strings.ContainsRune(`"\<>&`, rune(c))
	}
	return plain
}()

// zeekFormat is Zeek's tab-separated log format, header lines included,
// so that zeek-cut and Zeek log readers accept it.
type zeekFormat struct{}

const zeekTimeLayout = "2006-01-02-15-04-05"

func (*zeekFormat) header(w *bufio.Writer, ts int64) error {
	var sb strings.Builder
	sb.WriteString("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n")
	// Zeek writes the wall-clock time here; netfx writes the first
	// record's time so that the same input gives the same output.
	fmt.Fprintf(&sb, "#open\t%s\n#fields", time.Unix(0, ts).UTC().Format(zeekTimeLayout))
	for _, f := range connFields {
		sb.WriteString("\t" + f.name)
	}
	sb.WriteString("\n#types")
	for _, f := range connFields {
		sb.WriteString("\t" + f.zeekType)
	}
	sb.WriteString("\n")
	_, err := w.WriteString(sb.String())
	return err
}

func (*zeekFormat) appendRecord(b []byte, c *flows.Conn, hole *int) []byte {
	present := presentGroups(c)
	for i := range connFields {
		if i > 0 {
			b = append(b, '\t')
		}
		if present&connFields[i].group == 0 {
			b = append(b, '-')
			continue
		}
		if connFields[i].answers != nil && hole != nil {
			*hole = len(b)
			continue
		}
		start := len(b)
		var ok bool
		if b, ok = appendPlain(b, &connFields[i], c, zeekText, ","); !ok {
			b = append(b[:start], '-')
		} else if connFields[i].kind == kindSafe && len(b) == start {
			b = append(b, "(empty)"...)
		}
	}
	return append(b, '\n')
}

func (*zeekFormat) appendAnswers(b []byte, answers appid.DNSAnswers) []byte {
	b, _ = appendAnswerItems(b, answers, zeekText, ",")
	return b
}

func (*zeekFormat) trailer(w *bufio.Writer, lastTS int64) error {
	_, err := fmt.Fprintf(w, "#close\t%s\n", time.Unix(0, lastTS).UTC().Format(zeekTimeLayout))
	return err
}

// csvFormat is RFC 4180 CSV with a header row of the field names; unset
// fields are empty and lists are joined with ";". ts is RFC 3339 (UTC, to
// the microsecond), which spreadsheets read as a time; strings are text as
// a person reads them (see text), with ";" escaped. Records are the bytes
// encoding/csv would write (appendCSVField), without its []string a row.
type csvFormat struct {
	val []byte
}

// rfc3339Micro is RFC 3339 in UTC with microseconds, as the report's times.
const rfc3339Micro = "2006-01-02T15:04:05.000000Z07:00"

func newCSVFormat() *csvFormat { return &csvFormat{} }

// csvText escapes the CSV's texts, and the semicolon that joins lists.
var csvText = plainText{func(s string) string { return text(s, ';') }, ";"}

func (c *csvFormat) header(w *bufio.Writer, _ int64) error {
	cw := csv.NewWriter(w)
	cw.Write(FieldNames())
	cw.Flush()
	return cw.Error()
}

func (*csvFormat) trailer(*bufio.Writer, int64) error { return nil }

func (c *csvFormat) appendAnswers(b []byte, answers appid.DNSAnswers) []byte {
	c.val, _ = appendAnswerItems(c.val[:0], answers, csvText, ";")
	return appendCSVField(b, c.val)
}

func (c *csvFormat) appendRecord(b []byte, conn *flows.Conn, hole *int) []byte {
	present := presentGroups(conn)
	val := c.val // stored once, as appendAnswerArray's start
	for i := range connFields {
		if i > 0 {
			b = append(b, ',')
		}
		f := &connFields[i]
		if present&f.group == 0 {
			continue
		}
		if f.answers != nil && hole != nil {
			*hole = len(b)
			continue
		}
		var ok bool
		if f.kind == kindTime && f.name == "ts" {
			val, ok = timefmt.AppendRFC3339Micro(val[:0], conn.TS), true
		} else {
			val, ok = appendPlain(val[:0], f, conn, csvText, ";")
		}
		if ok {
			b = appendCSVField(b, val)
		}
	}
	c.val = val
	return append(b, '\n')
}

// appendCSVField appends a field as encoding/csv's Writer writes it (comma
// ",", LF line ends): in quotes, with quotes doubled, when it holds a
// quote, comma or line end, begins with a space, or is `\.`.
func appendCSVField(b, field []byte) []byte {
	if !csvNeedsQuotes(field) {
		return append(b, field...)
	}
	b = append(b, '"')
	for {
		i := bytes.IndexByte(field, '"')
		if i < 0 {
			break
		}
		b = append(append(b, field[:i+1]...), '"')
		field = field[i+1:]
	}
	return append(append(b, field...), '"')
}

// csvNeedsQuotes is encoding/csv's fieldNeedsQuotes with a comma.
func csvNeedsQuotes(field []byte) bool {
	if len(field) == 0 {
		return false
	}
	if string(field) == `\.` {
		return true
	}
	for _, c := range field {
		if c == '"' || c == ',' || c == '\r' || c == '\n' {
			return true
		}
	}
	r, _ := utf8.DecodeRune(field)
	return unicode.IsSpace(r)
}
