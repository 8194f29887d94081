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
	// Skipped counts the records that could not be read and were skipped;
	// Damage says why, for the first maxDamage of them.
	Skipped int
	Damage  []*FormatError

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
	lr := &lineReader{r: br, name: name, stats: &st}
	var err error
	switch format {
	case JSON:
		err = readJSON(lr, &st, emit)
	case ZeekTSV:
		err = readTSV(lr, &st, emit)
	}
	st.First, st.Last, st.Outliers, st.OutlierAt, _ = st.times.Span()
	if err == nil && st.Records == 0 && len(st.Damage) > 0 {
		// Nothing could be read: the first damage is why.
		err, st.Damage = st.Damage[0], st.Damage[1:]
		st.Skipped--
	}
	return st, err
}

// maxDamage bounds Stats.Damage.
const maxDamage = 100

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
	stats  *Stats // where lines skipped are counted
}

// read returns the next line without its end; io.EOF at the end.
func (l *lineReader) read() ([]byte, error) {
	l.offset = l.next
	var line []byte
	for {
		chunk, err := l.r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLine {
			// Skip to the line's end, so that the next read starts a line.
			for err == bufio.ErrBufferFull {
				chunk, err = l.r.ReadSlice('\n')
				l.next += int64(len(chunk))
			}
			l.line++
			l.next += int64(len(line))
			return nil, errLongLine
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

// each calls fn with every line until the end or a read error. A line
// that is too long, or that fn cannot read (a *FormatError), is counted
// as skipped, and the next line read.
func (l *lineReader) each(fn func(line []byte) error) error {
	for {
		line, err := l.read()
		if err == io.EOF {
			return nil
		}
		if err == errLongLine {
			err = l.errorf("%v", err)
		} else if err != nil {
			return l.errorf("%v", err)
		} else {
			err = fn(line)
		}
		var fe *FormatError
		switch {
		case err == nil:
			continue
		case !errors.As(err, &fe):
			return err
		}
		l.stats.Skipped++
		if len(l.stats.Damage) < maxDamage {
			l.stats.Damage = append(l.stats.Damage, fe)
		}
	}
}

// errLongLine is a line longer than maxLine.
var errLongLine = fmt.Errorf("record longer than %d bytes", maxLine)

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
