// Package connlog reads conversation logs back into conversations: the
// records `netfx conns` writes (NDJSON or Zeek TSV) and Zeek's own conn.log,
// as TSV or as JSON lines. It lets the per-file work run anywhere — a batch
// engine running `netfx conns` or Zeek on each capture — and one
// `netfx report` analyse the results together.
//
// Fields are matched by name (Zeek conn.log's, then netfx's own, described in
// docs/formats.md); unknown fields are ignored, so logs with Zeek's extra
// columns read as well as netfx's. A malformed record stops the read with an
// error naming the file, line and byte offset; every record before it is
// kept.
package connlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/timespan"
)

// Format is the layout of a conversation log.
type Format string

// The layouts Read accepts.
const (
	JSON    Format = "json"     // one JSON object per line: netfx conns NDJSON, Zeek's JSON logs
	ZeekTSV Format = "zeek-tsv" // Zeek's tab-separated log with #fields and #types headers
)

// Stats describes what Read read.
type Stats struct {
	Format  Format
	Records int64
	// First and Last are the earliest and latest ts, Unix ns; records
	// whose clock was far off the others' (see package timespan) are left
	// out of them and counted in Outliers, the first at OutlierAt.
	First, Last         int64
	Outliers, OutlierAt int64

	times timespan.Tracker
}

// maxLine bounds one record, so hostile input cannot make Read allocate
// without limit.
const maxLine = 1 << 20

// ErrNotConnLog says the input is not a conversation log.
var ErrNotConnLog = errors.New("not a conversation log")

// Detect reports the layout of a conversation log from its first bytes;
// ok is false for anything else (flow logs, captures, other JSON).
func Detect(head []byte) (f Format, ok bool) {
	head = bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	switch {
	case bytes.HasPrefix(head, []byte("#separator ")):
		return ZeekTSV, true
	case bytes.HasPrefix(head, []byte("{")):
		line, _, _ := bytes.Cut(head, []byte("\n"))
		if bytes.Contains(line, []byte(`"id.orig_h"`)) && bytes.Contains(line, []byte(`"id.resp_h"`)) {
			return JSON, true
		}
	}
	return "", false
}

// Read reads a conversation log, calling emit with each record in input
// order. The record passed to emit is the caller's to keep. name is used in
// errors.
func Read(r io.Reader, name string, emit func(*flows.Conn)) (Stats, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4096)
	format, ok := Detect(head)
	if !ok {
		return Stats{}, fmt.Errorf("%s: %w", name, ErrNotConnLog)
	}
	st := Stats{Format: format}
	lr := &lineReader{r: br, name: name}
	var err error
	switch format {
	case JSON:
		err = readJSON(lr, &st, emit)
	case ZeekTSV:
		err = readTSV(lr, &st, emit)
	}
	st.First, st.Last, st.Outliers, st.OutlierAt, _ = st.times.Span()
	return st, err
}

// account counts a record and hands it on.
func (st *Stats) account(c *flows.Conn, emit func(*flows.Conn)) {
	st.times.Add(c.TS)
	st.Records++
	emit(c)
}

// lineReader reads bounded lines and knows where each started.
type lineReader struct {
	r      *bufio.Reader
	name   string
	line   int   // number of the line last read, from 1
	offset int64 // byte offset of the line last read
	next   int64
}

// read returns the next line without its end; io.EOF at the end.
func (l *lineReader) read() ([]byte, error) {
	l.offset = l.next
	var line []byte
	for {
		chunk, err := l.r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLine {
			l.line++
			return nil, fmt.Errorf("record longer than %d bytes", maxLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && (err != io.EOF || len(line) == 0) {
			return nil, err
		}
		break
	}
	l.line++
	l.next += int64(len(line))
	return bytes.TrimRight(line, "\r\n"), nil
}

// each calls fn with every line until the end, a read error or fn's error.
func (l *lineReader) each(fn func(line []byte) error) error {
	for {
		line, err := l.read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return l.errorf("%v", err)
		}
		if err := fn(line); err != nil {
			return err
		}
	}
}

// errorf describes a problem with the line last read.
func (l *lineReader) errorf(format string, args ...any) error {
	return &FormatError{Path: l.name, Line: l.line, Offset: l.offset, Err: fmt.Errorf(format, args...)}
}

// FormatError reports a conversation log that could not be read to its
// end, with the line and byte offset where reading stopped, as
// pcapread.FormatError and flowlog.FormatError do for captures and flow
// logs. Offsets count bytes of the decompressed stream.
type FormatError struct {
	Path   string
	Line   int   // 1-based
	Offset int64 // byte offset of the line
	Err    error
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s: line %d (byte offset %d): %v", e.Path, e.Line, e.Offset, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }
