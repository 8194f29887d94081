package render

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/netfx/netfx/flows"
)

// ConnWriter writes conversation records in one format.
type ConnWriter interface {
	Write(c *flows.Conn) error
	// Close writes any trailer and flushes; it does not close the
	// underlying writer.
	Close() error
}

// ConnFormats lists the formats NewConnWriter accepts.
var ConnFormats = []string{"ndjson", "zeek", "csv"}

// NewConnWriter returns a writer of the named format on w.
func NewConnWriter(w io.Writer, format string) (ConnWriter, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	switch format {
	case "ndjson":
		return &ndjsonWriter{w: bw}, nil
	case "zeek":
		return &zeekWriter{w: bw}, nil
	case "csv":
		return &csvWriter{w: csv.NewWriter(bw), bw: bw}, nil
	}
	return nil, fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(ConnFormats, ", "))
}

// appendPlain appends a field's value as plain text (escaping texts with
// esc) and reports false when it is unset; lists are joined with sep.
func appendPlain(b []byte, f *connField, c *flows.Conn, esc func(string) string, sep string) ([]byte, bool) {
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
		return append(b, esc(v)...), ok
	case kindBool:
		v, ok := f.flag(c)
		if v {
			return append(b, 'T'), ok
		}
		return append(b, 'F'), ok
	}
	items := f.list(c)
	for i, it := range items {
		if i > 0 {
			b = append(b, sep...)
		}
		b = append(b, esc(it)...)
	}
	return b, len(items) > 0
}

// ndjsonWriter writes one JSON object a line, with Zeek's field names;
// unset fields are left out, as Zeek's JSON logs do.
type ndjsonWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (n *ndjsonWriter) Write(c *flows.Conn) error {
	n.buf = n.appendRecord(n.buf[:0], c)
	_, err := n.w.Write(n.buf)
	return err
}

func (n *ndjsonWriter) appendRecord(b []byte, c *flows.Conn) []byte {
	b = append(b, '{')
	open := len(b)
	for i := range connFields {
		f := &connFields[i]
		if f.skip(c) {
			continue
		}
		mark := len(b)
		if mark > open {
			b = append(b, ',')
		}
		b = append(b, connJSONKeys[i]...)
		ok := true
		switch f.kind {
		case kindTime, kindNumber:
			b, ok = appendPlain(b, f, c, nil, "")
		case kindBool:
			var v bool
			v, ok = f.flag(c)
			b = strconv.AppendBool(b, v)
		case kindAddr, kindSafe:
			b = append(b, '"')
			b, ok = appendPlain(b, f, c, nil, "")
			b = append(b, '"')
		case kindText:
			var v string
			v, ok = f.str(c)
			b = appendJSONString(b, v)
		case kindList:
			items := f.list(c)
			ok = len(items) > 0
			b = append(b, '[')
			for j, it := range items {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, it)
			}
			b = append(b, ']')
		}
		if !ok {
			b = b[:mark]
		}
	}
	return append(b, '}', '\n')
}

func (n *ndjsonWriter) Close() error { return n.w.Flush() }

// appendJSONString appends s as a JSON string. Control characters, the
// characters HTML treats specially and invalid UTF-8 are escaped, so the
// output is safe to paste into a terminal or a web page.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
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
	return append(b, '"')
}

// zeekWriter writes Zeek's tab-separated log format, header lines included,
// so that zeek-cut and Zeek log readers accept it.
type zeekWriter struct {
	w       *bufio.Writer
	buf     []byte
	started bool
	lastTS  int64
}

const zeekTimeLayout = "2006-01-02-15-04-05"

func zeekEscape(s string) string { return escapeControl(s, ',') }

func (z *zeekWriter) header(ts int64) error {
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
	_, err := z.w.WriteString(sb.String())
	return err
}

func (z *zeekWriter) Write(c *flows.Conn) error {
	if !z.started {
		z.started = true
		if err := z.header(c.TS); err != nil {
			return err
		}
	}
	z.lastTS = max(z.lastTS, c.TS)
	z.buf = z.appendRecord(z.buf[:0], c)
	_, err := z.w.Write(z.buf)
	return err
}

func (z *zeekWriter) appendRecord(b []byte, c *flows.Conn) []byte {
	for i := range connFields {
		if i > 0 {
			b = append(b, '\t')
		}
		start := len(b)
		var ok bool
		if b, ok = appendPlain(b, &connFields[i], c, zeekEscape, ","); !ok {
			b = append(b[:start], '-')
		} else if connFields[i].kind == kindSafe && len(b) == start {
			b = append(b, "(empty)"...)
		}
	}
	return append(b, '\n')
}

func (z *zeekWriter) Close() error {
	if !z.started {
		if err := z.header(0); err != nil {
			return err
		}
	}
	fmt.Fprintf(z.w, "#close\t%s\n", time.Unix(0, z.lastTS).UTC().Format(zeekTimeLayout))
	return z.w.Flush()
}

// csvWriter writes RFC 4180 CSV with a header row of the field names; unset
// fields are empty and lists are joined with ";".
type csvWriter struct {
	w       *csv.Writer
	bw      *bufio.Writer
	started bool
	row     []string
	val     []byte
}

func csvEscape(s string) string { return escapeControl(s, ';') }

func (c *csvWriter) Write(conn *flows.Conn) error {
	if !c.started {
		c.started = true
		if err := c.w.Write(FieldNames()); err != nil {
			return err
		}
	}
	c.row = c.row[:0]
	for i := range connFields {
		val, ok := appendPlain(c.val[:0], &connFields[i], conn, csvEscape, ";")
		c.val = val
		if !ok {
			val = nil
		}
		c.row = append(c.row, string(val))
	}
	return c.w.Write(c.row)
}

func (c *csvWriter) Close() error {
	if !c.started {
		if err := c.w.Write(FieldNames()); err != nil {
			return err
		}
	}
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return err
	}
	return c.bw.Flush()
}
