package render

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
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
		cw := csv.NewWriter(bw)
		return &csvWriter{w: cw, bw: bw}, nil
	}
	return nil, fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(ConnFormats, ", "))
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
	first := true
	for i := range connFields {
		f := &connFields[i]
		if f.kind == kindStringList {
			if !first {
				b = append(b, ',')
			}
			b = append(b, connJSONKeys[i]...)
			b = append(b, '[')
			for j, file := range c.Files {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, file)
			}
			b = append(b, ']')
			first = false
			continue
		}
		if !first {
			b = append(b, ',')
		}
		mark := len(b)
		b = append(b, connJSONKeys[i]...)
		if f.kind == kindString {
			b = append(b, '"')
		}
		var ok bool
		if b, ok = f.value(b, c); !ok {
			b = b[:mark]
			if !first {
				b = b[:mark-1]
			}
			continue
		}
		if f.kind == kindString {
			b = append(b, '"')
		}
		first = false
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
		f := &connFields[i]
		if i > 0 {
			b = append(b, '\t')
		}
		if f.kind == kindStringList {
			if len(c.Files) == 0 {
				b = append(b, "(empty)"...)
			}
			for j, file := range c.Files {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, escapeControl(file, ',')...)
			}
			continue
		}
		start := len(b)
		val, ok := f.value(b, c)
		if !ok {
			b = append(b[:start], '-')
			continue
		}
		b = val
		if f.kind == kindString {
			s := escapeControl(string(b[start:]), 0)
			b = append(b[:start], s...)
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
// fields are empty.
type csvWriter struct {
	w       *csv.Writer
	bw      *bufio.Writer
	started bool
	row     []string
	val     []byte
}

func (c *csvWriter) Write(conn *flows.Conn) error {
	if !c.started {
		c.started = true
		if err := c.w.Write(FieldNames()); err != nil {
			return err
		}
	}
	c.row = c.row[:0]
	for i := range connFields {
		f := &connFields[i]
		if f.kind == kindStringList {
			files := make([]string, len(conn.Files))
			for j, file := range conn.Files {
				files[j] = escapeControl(file, ';')
			}
			c.row = append(c.row, strings.Join(files, ";"))
			continue
		}
		val, ok := f.value(c.val[:0], conn)
		c.val = val
		switch {
		case !ok:
			c.row = append(c.row, "")
		case f.kind == kindString:
			c.row = append(c.row, escapeControl(string(val), 0))
		default:
			c.row = append(c.row, string(val))
		}
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
