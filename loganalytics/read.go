package loganalytics

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Stats says what one export gave.
type Stats struct {
	Table       string // TableTrafficAnalytics, TableVMConnection or TableVMBoundPort
	Rows        int
	Flows       int
	BoundPorts  int
	Ignored     int // rows that hold no flow: other subtypes (Topology), no address
	Skipped     int // rows that could not be read
	Damage      []*Error
	First, Last int64 // Unix ns, over the flows and bound ports
}

// maxDamage bounds Stats.Damage.
const maxDamage = 10

// Error is a row that could not be read, or where reading stopped.
type Error struct {
	Path   string
	Line   int   // CSV: the line; 0 for JSON
	Offset int64 // JSON: the byte offset
	Err    error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: line %d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: offset %d: %v", e.Path, e.Offset, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNotExport says a file is no export of the tables netfx reads.
var ErrNotExport = errors.New("not a Traffic Analytics or VM Insights export")

// Bounds on what one export may make netfx hold.
const (
	maxExport = 4 << 30 // bytes
	maxLine   = 1 << 20 // bytes of one CSV line, or one JSON row
	maxCols   = 1 << 10 // columns
)

// Read reads one export, CSV or JSON, and hands each row's flows to flow
// and each bound port to bound (either may be nil). A row that cannot be
// read is skipped and counted; the error says why reading stopped early,
// and everything before it was handed on.
func Read(r io.Reader, path string, flow func(Flow), bound func(BoundPort)) (Stats, error) {
	lines := &limitedLines{r: io.LimitReader(r, maxExport)}
	br := bufio.NewReaderSize(lines, 64<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) { // the portal's CSV has one
		br.Discard(3)
	}
	rd := &reader{path: path, flow: flow, bound: bound}
	if rd.flow == nil {
		rd.flow = func(Flow) {}
	}
	if rd.bound == nil {
		rd.bound = func(BoundPort) {}
	}
	var err error
	if first := firstByte(br); first == '[' || first == '{' {
		lines.off = true // the query API writes its document on one line
		err = rd.readJSON(br)
	} else {
		err = rd.readCSV(br)
	}
	if err == nil && rd.st.Table == "" {
		err = fmt.Errorf("%s: %w", path, ErrNotExport)
	}
	return rd.st, err
}

// firstByte peeks at the first byte that is not white space.
func firstByte(br *bufio.Reader) byte {
	for n := 1; n <= 4096; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			return 0
		}
		if c := b[n-1]; c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c
		}
		if err != nil {
			return 0
		}
	}
	return 0
}

// limitedLines fails a read once maxLine bytes have gone by without a line
// end: no CSV line or JSON row of an export is that long, and csv.Reader
// would hold it whole.
type limitedLines struct {
	r   io.Reader
	run int
	off bool
}

var errLongLine = fmt.Errorf("a line longer than %d KiB", maxLine>>10)

func (l *limitedLines) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if l.off {
		return n, err
	}
	for _, c := range p[:n] {
		if c == '\n' {
			l.run = 0
		} else if l.run++; l.run > maxLine {
			return 0, errLongLine
		}
	}
	return n, err
}

type reader struct {
	path  string
	flow  func(Flow)
	bound func(BoundPort)
	st    Stats
	table *table
	dedup map[dedupKey]struct{}
}

// skip counts a row that could not be read.
func (rd *reader) skip(e *Error) {
	rd.st.Skipped++
	if len(rd.st.Damage) < maxDamage {
		rd.st.Damage = append(rd.st.Damage, e)
	}
}

// header finds the table from its columns.
func (rd *reader) header(names []string) error {
	if len(names) > maxCols {
		return fmt.Errorf("%d columns, more than any table has", len(names))
	}
	t, ok := newTable(names)
	if !ok {
		return ErrNotExport
	}
	rd.table, rd.st.Table = t, t.kind
	return nil
}

func (rd *reader) readCSV(br *bufio.Reader) error {
	cr := csv.NewReader(br)
	cr.FieldsPerRecord, cr.LazyQuotes, cr.ReuseRecord = -1, true, true
	header, err := cr.Read()
	if err != nil {
		if err == io.EOF {
			return fmt.Errorf("%s: %w: empty", rd.path, ErrNotExport)
		}
		return &Error{Path: rd.path, Line: 1, Err: err}
	}
	if err := rd.header(header); err != nil {
		return fmt.Errorf("%s: %w", rd.path, err)
	}
	for {
		rec, err := cr.Read()
		line, _ := cr.FieldPos(0)
		switch {
		case err == io.EOF:
			return nil
		case errors.Is(err, errLongLine):
			return &Error{Path: rd.path, Line: line, Err: errLongLine}
		case err != nil:
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				rd.skip(&Error{Path: rd.path, Line: pe.Line, Err: pe.Err})
				continue
			}
			return &Error{Path: rd.path, Line: line, Err: err}
		}
		if len(rec) != len(rd.table.cols) {
			rd.skip(&Error{Path: rd.path, Line: line, Err: fmt.Errorf("%d fields, the header has %d", len(rec), len(rd.table.cols))})
			continue
		}
		rd.row(rec, &Error{Path: rd.path, Line: line})
	}
}

func (rd *reader) readJSON(br *bufio.Reader) error {
	dec := json.NewDecoder(br)
	dec.UseNumber()
	stopped := func(err error) error {
		if errors.Is(err, errLongLine) {
			return &Error{Path: rd.path, Offset: dec.InputOffset(), Err: errLongLine}
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return &Error{Path: rd.path, Offset: se.Offset, Err: err}
		}
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			err = errors.New("the document ends mid-value (cut short?)")
		}
		return &Error{Path: rd.path, Offset: dec.InputOffset(), Err: err}
	}
	tok, err := dec.Token()
	if err != nil {
		return stopped(err)
	}
	if tok == json.Delim('{') {
		return rd.queryAPI(dec, stopped)
	}
	// az monitor log-analytics query -o json: an array of objects.
	var names []string
	for dec.More() {
		off := dec.InputOffset()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				rd.skip(&Error{Path: rd.path, Offset: off, Err: fmt.Errorf("a row that is not an object")})
				continue
			}
			return stopped(err)
		}
		names = names[:0]
		for k := range obj {
			names = append(names, k)
		}
		slices.Sort(names) // a map's order: the same columns every run
		if rd.table == nil {
			if err := rd.header(names); err != nil {
				return fmt.Errorf("%s: %w", rd.path, err)
			}
		}
		for _, k := range names { // az leaves out a row's empty columns: a later row may have more
			rd.table.addColumn(k)
		}
		rec := make([]string, len(rd.table.cols))
		for k, v := range obj {
			if i, ok := rd.table.byName[k]; ok {
				rec[i] = text(v)
			}
		}
		rd.row(rec, &Error{Path: rd.path, Offset: off})
	}
	return nil
}

// queryAPI reads the Log Analytics query API's document, {"tables":
// [{"name", "columns": [{"name", "type"}], "rows": [[...]]}]}, whose
// first '{' was read.
func (rd *reader) queryAPI(dec *json.Decoder, stopped func(error) error) error {
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return stopped(err)
		}
		if k, _ := key.(string); !strings.EqualFold(k, "tables") {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return stopped(err)
			}
			continue
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			return stopped(cmpErr(err, errors.New(`"tables" is not an array`)))
		}
		for dec.More() {
			if err := rd.queryTable(dec, stopped); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return stopped(err)
		}
	}
	return nil
}

func (rd *reader) queryTable(dec *json.Decoder, stopped func(error) error) error {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return stopped(cmpErr(err, errors.New("a table that is not an object")))
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return stopped(err)
		}
		switch k, _ := key.(string); strings.ToLower(k) {
		case "columns":
			var cols []struct{ Name string }
			if err := dec.Decode(&cols); err != nil {
				return stopped(err)
			}
			names := make([]string, len(cols))
			for i, c := range cols {
				names[i] = c.Name
			}
			if err := rd.header(names); err != nil {
				return fmt.Errorf("%s: %w", rd.path, err)
			}
		case "rows":
			if rd.table == nil {
				return stopped(errors.New(`"rows" before "columns"`))
			}
			if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
				return stopped(cmpErr(err, errors.New(`"rows" is not an array`)))
			}
			for dec.More() {
				off := dec.InputOffset()
				var row []any
				if err := dec.Decode(&row); err != nil {
					return stopped(err)
				}
				if len(row) != len(rd.table.cols) {
					rd.skip(&Error{Path: rd.path, Offset: off, Err: fmt.Errorf("%d values, the table has %d columns", len(row), len(rd.table.cols))})
					continue
				}
				rec := make([]string, len(row))
				for i, v := range row {
					rec[i] = text(v)
				}
				rd.row(rec, &Error{Path: rd.path, Offset: off})
			}
			if _, err := dec.Token(); err != nil {
				return stopped(err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return stopped(err)
			}
		}
	}
	_, err := dec.Token()
	if err != nil {
		return stopped(err)
	}
	return nil
}

// text writes a JSON value as an export's cell.
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}
