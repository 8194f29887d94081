package flowlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// tokenKind is the kind of a JSON token.
type tokenKind uint8

const (
	tokEOF tokenKind = iota
	tokBeginObject
	tokEndObject
	tokBeginArray
	tokEndArray
	tokString
	tokNumber
	tokLiteral // true, false or null
	tokComma
	tokColon
)

// maxToken bounds a single token, so a hostile file cannot make the scanner
// buffer without limit.
const maxToken = 4 << 20

// errTruncated reports input that ends inside a value.
var errTruncated = errors.New("the file ends in the middle of a record (a blob read while it was written, or cut short)")

// scanner is a streaming JSON tokenizer written for flow logs: it reads
// through a fixed buffer, hands out tokens as slices of that buffer (valid
// until the next call), and knows its byte offset for error messages. It
// checks token syntax but leaves structure to its caller, which lets the
// reader accept the layouts real evidence has: raw appended blocks that
// start with a comma, JSON lines, and trailing commas.
type scanner struct {
	r     io.Reader
	buf   []byte
	pos   int   // next unread byte in buf
	end   int   // end of valid bytes in buf
	base  int64 // file offset of buf[0]
	rerr  error // read error to report once buf is drained
	start int64 // offset of the last token
	str   []byte
}

func newScanner(r io.Reader) *scanner {
	return &scanner{r: r, buf: make([]byte, 256<<10)}
}

// offset is the file offset of the last token read.
func (s *scanner) offset() int64 { return s.start }

// fill makes at least n bytes available from pos, if the input has them.
func (s *scanner) fill(n int) bool {
	for s.end-s.pos < n {
		if s.rerr != nil {
			return false
		}
		if s.pos > 0 {
			copy(s.buf, s.buf[s.pos:s.end])
			s.base += int64(s.pos)
			s.end -= s.pos
			s.pos = 0
		}
		if s.end == len(s.buf) {
			if len(s.buf) >= maxToken {
				s.rerr = fmt.Errorf("a JSON token longer than %d bytes", maxToken)
				return false
			}
			nb := make([]byte, 2*len(s.buf))
			copy(nb, s.buf[:s.end])
			s.buf = nb
		}
		m, err := s.r.Read(s.buf[s.end:])
		s.end += m
		if err != nil {
			s.rerr = err
		}
	}
	return true
}

// skipSpace skips white space and a byte-order mark.
func (s *scanner) skipSpace() bool {
	for {
		for s.pos < s.end {
			switch s.buf[s.pos] {
			case ' ', '\t', '\n', '\r':
				s.pos++
				continue
			case 0xEF:
				if s.fill(3) && bytes.HasPrefix(s.buf[s.pos:s.end], []byte{0xEF, 0xBB, 0xBF}) {
					s.pos += 3
					continue
				}
			}
			return true
		}
		if !s.fill(1) {
			return false
		}
	}
}

// next returns the next token and, for strings, numbers and literals, its
// text (strings unescaped).
func (s *scanner) next() (tokenKind, []byte, error) {
	if !s.skipSpace() {
		s.start = s.base + int64(s.pos)
		if s.rerr == io.EOF {
			return tokEOF, nil, nil
		}
		return tokEOF, nil, s.rerr
	}
	s.start = s.base + int64(s.pos)
	c := s.buf[s.pos]
	switch c {
	case '{':
		s.pos++
		return tokBeginObject, nil, nil
	case '}':
		s.pos++
		return tokEndObject, nil, nil
	case '[':
		s.pos++
		return tokBeginArray, nil, nil
	case ']':
		s.pos++
		return tokEndArray, nil, nil
	case ',':
		s.pos++
		return tokComma, nil, nil
	case ':':
		s.pos++
		return tokColon, nil, nil
	case '"':
		v, err := s.readString()
		return tokString, v, err
	case 't', 'f', 'n':
		return s.readLiteral()
	}
	if c == '-' || (c >= '0' && c <= '9') {
		return s.readNumber()
	}
	return tokEOF, nil, s.syntaxError(fmt.Sprintf("unexpected byte %q", c))
}

func (s *scanner) syntaxError(msg string) error {
	return &jsonError{offset: s.base + int64(s.pos), msg: msg}
}

// jsonError is malformed JSON at an offset.
type jsonError struct {
	offset int64
	msg    string
}

func (e *jsonError) Error() string { return "invalid JSON: " + e.msg }

// readString reads a string token starting at the opening quote.
func (s *scanner) readString() ([]byte, error) {
	i := s.pos + 1
	for {
		j := bytes.IndexByte(s.buf[i:s.end], '"')
		if j < 0 {
			i0 := i - s.pos
			if !s.fill(s.end - s.pos + 1) {
				return nil, s.eofError()
			}
			i = s.pos + i0
			continue
		}
		q := i + j
		// A quote is escaped by an odd number of backslashes before it.
		k := q - 1
		for k > s.pos && s.buf[k] == '\\' {
			k--
		}
		if (q-1-k)%2 == 1 {
			i = q + 1
			continue
		}
		raw := s.buf[s.pos+1 : q]
		s.pos = q + 1
		if bytes.IndexByte(raw, '\\') < 0 {
			return raw, nil
		}
		return s.unescape(raw)
	}
}

func (s *scanner) eofError() error {
	if s.rerr == io.EOF || s.rerr == nil {
		return errTruncated
	}
	return s.rerr
}

// unescape decodes JSON string escapes.
func (s *scanner) unescape(raw []byte) ([]byte, error) {
	out := s.str[:0]
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(raw) {
			return nil, s.syntaxError("bad escape in string")
		}
		switch raw[i] {
		case '"', '\\', '/':
			out = append(out, raw[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if i+4 >= len(raw) {
				return nil, s.syntaxError("bad \\u escape in string")
			}
			v, err := strconv.ParseUint(string(raw[i+1:i+5]), 16, 16)
			if err != nil {
				return nil, s.syntaxError("bad \\u escape in string")
			}
			r := rune(v)
			i += 4
			if utf16.IsSurrogate(r) && i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				if v2, err := strconv.ParseUint(string(raw[i+3:i+7]), 16, 16); err == nil {
					if d := utf16.DecodeRune(r, rune(v2)); d != utf8.RuneError {
						r = d
						i += 6
					}
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, s.syntaxError("bad escape in string")
		}
	}
	s.str = out
	return out, nil
}

func (s *scanner) readNumber() (tokenKind, []byte, error) {
	i := s.pos
	for {
		for i < s.end {
			c := s.buf[i]
			if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
				i++
				continue
			}
			v := s.buf[s.pos:i]
			s.pos = i
			return tokNumber, v, nil
		}
		i0 := i - s.pos
		if !s.fill(s.end - s.pos + 1) {
			if s.rerr == io.EOF && s.end > s.pos {
				v := s.buf[s.pos:s.end]
				s.pos = s.end
				return tokNumber, v, nil
			}
			return tokEOF, nil, s.eofError()
		}
		i = s.pos + i0
	}
}

func (s *scanner) readLiteral() (tokenKind, []byte, error) {
	for _, lit := range [...]string{"true", "false", "null"} {
		if s.buf[s.pos] != lit[0] {
			continue
		}
		if !s.fill(len(lit)) {
			return tokEOF, nil, s.eofError()
		}
		if string(s.buf[s.pos:s.pos+len(lit)]) != lit {
			break
		}
		v := s.buf[s.pos : s.pos+len(lit)]
		s.pos += len(lit)
		return tokLiteral, v, nil
	}
	return tokEOF, nil, s.syntaxError("unknown literal")
}
