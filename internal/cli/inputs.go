package cli

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/netfx/netfx/analyze"
	"github.com/netfx/netfx/connlog"
	"github.com/netfx/netfx/flowlog"
	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/decompress"
	"github.com/netfx/netfx/internal/extsort"
	"github.com/netfx/netfx/pcapread"
)

// sink receives what reading the inputs produces.
type sink struct {
	conn        func(*flows.Conn)      // every record: capture, flow-log and merged
	captureFile func(flows.FileResult) // each capture file read
	flowLogFile func(flowLogResult)    // each flow-log file read
	connLogFile func(connLogResult)    // each conversation log read
	tuple       func(*flowlog.Tuple)   // each flow-log tuple, optional
	// anyOrder says conn puts the records in order itself. Otherwise they
	// come in time order when flow logs are joined with captures, and in
	// the order the flow table finishes them when not.
	anyOrder bool
}

// flowLogResult is how one flow-log file was read.
type flowLogResult struct {
	Path  string
	Stats flowlog.Stats
	Err   error
}

// connLogResult is how one conversation log was read.
type connLogResult struct {
	Path  string
	Stats connlog.Stats
	Err   error
}

// readOptions are the options of a run over the inputs.
type readOptions struct {
	flows     flows.Config
	read      flows.ReadOptions
	tolerance time.Duration // between flow logs, and between logs and captures
	quiet     bool          // no progress bar
	// sortMemory is how many records each sorter of the join with flow
	// logs holds in memory; 0 means joinSortMemory.
	sortMemory int
}

// readInputs expands the command line's inputs, sorts files into captures,
// flow logs and conversation logs by content, reads the flow logs into
// connections, then the captures through one flow table and the
// conversation logs' records as they are, merging each conversation a
// capture saw with the logs' view of it, and finally hands on what only the
// flow logs saw.
// Problems are reported on stderr as they happen; the returned bool says
// whether any input was damaged or unreadable. Files found in folders that
// are neither are noted and skipped.
func readInputs(s *streams, args []string, opt readOptions, out sink) (damaged bool, err error) {
	in := newSources(s.in)
	defer in.close()
	opt.read.Open = in.reader
	paths, err := pcapread.Expand(args)
	if err != nil { // inputs that cannot be read: the others still are
		damaged = true
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(s.err, "netfx: %s\n", escapeTerminal(line))
		}
	}
	explicit := make(map[string]bool, len(args))
	for _, a := range args {
		explicit[a] = true
	}
	var captures, logs, connLogs []string
	var total int64 // bytes to read, for the progress bar; -1 when unknown
	for _, p := range paths {
		kind, err := in.sniff(p)
		switch {
		case err != nil:
			damaged = true
			fmt.Fprintf(s.err, "netfx: %s\n", escapeTerminal(err.Error()))
			continue
		case kind == kindFlowLog:
			logs = append(logs, p)
		case kind == kindConnLog:
			connLogs = append(connLogs, p)
		case kind == kindCapture || explicit[p]:
			captures = append(captures, p)
		default:
			fmt.Fprintf(s.err, "netfx: skipped %s: not a capture, flow log or conversation log\n", escapeTerminal(p))
			continue
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && total >= 0 {
			total += fi.Size()
		} else {
			total = -1
		}
	}
	bar := newProgress(s.err, total, opt.quiet)
	defer bar.finish()
	msg := io.Writer(bar) // messages clear the bar first
	opt.read.WrapInput = bar.wrap

	captureFile := func(res flows.FileResult) {
		if res.Err != nil {
			if !explicit[res.Path] && errors.Is(res.Err, pcapread.ErrUnsupported) {
				fmt.Fprintf(msg, "netfx: skipped %s\n", escapeTerminal(res.Err.Error()))
				return
			}
			damaged = true
			fmt.Fprintf(msg, "netfx: %s\n", escapeTerminal(describeError(res)))
		}
		if out.captureFile != nil {
			out.captureFile(res)
		}
	}
	readConnLogs := func(emit func(*flows.Conn)) {
		for _, p := range connLogs {
			res := in.readConnLog(p, bar.wrap, emit)
			if res.Err != nil {
				damaged = true
				fmt.Fprintf(msg, "netfx: %s\n", escapeTerminal(res.Err.Error()))
			}
			if out.connLogFile != nil {
				out.connLogFile(res)
			}
		}
	}
	if len(logs) == 0 {
		flows.ReadCaptures(captures, opt.flows, opt.read, out.conn, captureFile)
		readConnLogs(out.conn)
		return damaged, nil
	}

	// With flow logs, the flows they record and the conversations the
	// captures saw are each sorted by 5-tuple, on disk beyond a fixed
	// number, joined, and sorted back into time order: memory stays
	// bounded by the open flows and the sorters, however long the logs.
	mem := cmp.Or(opt.sortMemory, joinSortMemory)
	flowSorter := extsort.NewWithCodec(mem, flowlog.CompareFlows, flowlog.NewFlowCodec())
	flowSorter.SpillInBackground()
	builder := flowlog.NewBuilder(flowSorter.Add)
	parseFlowLogs(in, logs, bar.wrap, func(tuples []flowlog.Tuple, res *flowLogResult) {
		for i := range tuples {
			builder.Add(&tuples[i])
			if out.tuple != nil {
				out.tuple(&tuples[i])
			}
		}
		switch {
		case res == nil:
			return
		case res.Err == nil:
		case !explicit[res.Path] && errors.Is(res.Err, flowlog.ErrNotFlowLog) && res.Stats.Records == 0:
			fmt.Fprintf(msg, "netfx: skipped %s\n", escapeTerminal(res.Err.Error()))
			return
		default:
			damaged = true
			fmt.Fprintf(msg, "netfx: %s\n", escapeTerminal(res.Err.Error()))
		}
		if out.flowLogFile != nil {
			out.flowLogFile(*res)
		}
	})
	builder.Flush()
	convSorter := extsort.NewWithCodec(mem, analyze.CompareForJoin, flows.ConnCodec())
	convSorter.SpillInBackground()
	flows.ReadCaptures(captures, opt.flows, opt.read, convSorter.Add, captureFile)
	readConnLogs(convSorter.Add)
	// Each sorter's runs are merged on a goroutine of their own while the
	// next step uses the values.
	logConns := flowlog.Connections(extsort.Prefetch(flowSorter.All(), prefetchBlock), opt.tolerance, opt.flows.CommunityIDSeed)
	convs := extsort.Prefetch(convSorter.All(), prefetchBlock)
	sorters := []interface{ Err() error }{flowSorter, convSorter}
	if out.anyOrder {
		analyze.Join(convs, logConns, opt.tolerance, out.conn)
	} else {
		joined := flows.NewSorter(mem)
		joined.SpillInBackground()
		analyze.Join(convs, logConns, opt.tolerance, joined.Add)
		for c := range extsort.Prefetch(joined.All(), prefetchBlock) {
			out.conn(c)
		}
		sorters = append(sorters, joined)
	}
	for _, s := range sorters {
		if err := s.Err(); err != nil {
			return damaged, fmt.Errorf("sorting records in a temporary file: %w", err)
		}
	}
	return damaged, nil
}

// tupleBatch is how many flow-log tuples the parsing goroutine hands over
// at once.
const tupleBatch = 1024

// parsedTuples is flow-log tuples parsed, in order; result, after a
// file's last tuples, says how reading it went.
type parsedTuples struct {
	tuples []flowlog.Tuple
	result *flowLogResult
}

// parseFlowLogs reads the flow logs at paths, in order, on a goroutine of
// its own, a few batches ahead of use, which gets the tuples and, after a
// file's last ones, its result (nil otherwise).
func parseFlowLogs(in *sources, paths []string, wrap func(io.Reader) io.Reader, use func([]flowlog.Tuple, *flowLogResult)) {
	full, free := make(chan parsedTuples, 4), make(chan []flowlog.Tuple, 6)
	go func() {
		defer close(full)
		reader := flowlog.NewReader()
		next := func() []flowlog.Tuple {
			select {
			case b := <-free:
				return b[:0]
			default:
				return make([]flowlog.Tuple, 0, tupleBatch)
			}
		}
		batch := next()
		for _, p := range paths {
			res := in.readFlowLog(reader, p, wrap, func(t *flowlog.Tuple) {
				if batch = append(batch, *t); len(batch) == tupleBatch {
					full <- parsedTuples{tuples: batch}
					batch = next()
				}
			})
			full <- parsedTuples{tuples: batch, result: &res}
			batch = next()
		}
	}()
	for b := range full {
		use(b.tuples, b.result)
		select {
		case free <- b.tuples:
		default:
		}
	}
}

// joinSortMemory is how many records each sorter of the join with flow
// logs holds in memory before it spills to a temporary file.
const joinSortMemory = flows.DefaultSortMemory / 2

// prefetchBlock is how many values a sorter's merge hands over at once.
const prefetchBlock = 256

// sources holds the inputs that can be read only once — standard input
// ("-"), and pipes such as a shell's <(zcat capture.gz) — buffered, so that
// sniffing them leaves every byte for the reader they are handed to.
type sources struct {
	stdin *bufio.Reader
	open  map[string]*bufio.Reader // pipes sniffed, by path
	files []*os.File               // to close at the end
}

func newSources(stdin io.Reader) *sources {
	return &sources{stdin: bufio.NewReaderSize(stdin, sniffLen), open: map[string]*bufio.Reader{}}
}

// reader opens path for reading: a stream already opened, or the file.
func (in *sources) reader(path string) (io.Reader, error) {
	if path == "-" {
		return in.stdin, nil
	}
	if br, ok := in.open[path]; ok {
		return br, nil
	}
	return os.Open(path)
}

func (in *sources) close() {
	for _, f := range in.files {
		f.Close()
	}
}

// readConnLog reads a conversation log; its records were built elsewhere,
// so they go to emit as they are, not through the flow table.
func (in *sources) readConnLog(path string, wrap func(io.Reader) io.Reader, emit func(*flows.Conn)) connLogResult {
	st, err := openAndRead(in, path, wrap, func(r io.Reader) (connlog.Stats, error) { return connlog.Read(r, path, emit) })
	return connLogResult{path, st, err}
}

func (in *sources) readFlowLog(reader *flowlog.Reader, path string, wrap func(io.Reader) io.Reader, emit func(*flowlog.Tuple)) flowLogResult {
	st, err := openAndRead(in, path, wrap, func(r io.Reader) (flowlog.Stats, error) { return reader.Read(r, path, emit) })
	return flowLogResult{path, st, err}
}

// openAndRead opens a file or stream and reads it, through wrap and
// decompressed if it is gzip or zstd, with read.
func openAndRead[S any](in *sources, path string, wrap func(io.Reader) io.Reader, read func(io.Reader) (S, error)) (S, error) {
	var none S
	src, err := in.reader(path)
	if err != nil {
		return none, err
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	content, _, err := decompress.Reader(bufio.NewReaderSize(wrap(src), 64<<10))
	if err != nil {
		return none, fmt.Errorf("%s: %w", path, err)
	}
	return read(content)
}

// Kinds of input file, by content.
const (
	kindUnknown = iota
	kindCapture
	kindFlowLog
	kindConnLog
)

// sniffLen is how much of a file sniff reads: enough compressed bytes to
// decompress the first 512.
const sniffLen = 64 << 10

// sniff tells captures, flow logs and conversation logs apart by their
// first bytes, decompressed when the file is gzip or zstd: capture magic
// numbers, a Zeek log header or JSON conversation records, or other JSON
// text. Standard input and pipes are only peeked at, and kept open.
func (in *sources) sniff(path string) (int, error) {
	br := in.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return kindUnknown, err
		}
		br = bufio.NewReaderSize(f, sniffLen)
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			defer f.Close()
		} else {
			in.open[path], in.files = br, append(in.files, f)
		}
	}
	raw, err := br.Peek(sniffLen)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return kindUnknown, fmt.Errorf("%s: %w", path, err)
	}
	content, _, err := decompress.Reader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return kindCapture, nil // a damaged compressed file: the capture reader reports it
	}
	head, _ := bufio.NewReaderSize(content, 512).Peek(512) // what the prefix gives
	return sniffBytes(head), nil
}

func sniffBytes(head []byte) int {
	magics := [][]byte{
		{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4}, {0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d},
		{0x0a, 0x0d, 0x0d, 0x0a}, []byte("GMBU"),
	}
	for _, m := range magics {
		if bytes.HasPrefix(head, m) {
			return kindCapture
		}
	}
	if _, ok := connlog.Detect(head); ok {
		return kindConnLog
	}
	text := bytes.TrimLeft(bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF}), " \t\r\n")
	if len(text) > 0 && strings.ContainsRune("{[,", rune(text[0])) {
		return kindFlowLog
	}
	return kindUnknown
}

// describeError says what went wrong with a file and what was kept.
func describeError(res flows.FileResult) string {
	msg := res.Err.Error()
	if !strings.Contains(msg, res.Path) {
		msg = res.Path + ": " + msg
	}
	if res.Stats.Records > 0 {
		msg += fmt.Sprintf(" (the %d records before it were read)", res.Stats.Records)
	}
	return msg
}

// escapeTerminal makes a message safe to print on a terminal.
func escapeTerminal(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\uFFFD' {
			fmt.Fprintf(&sb, `\x%02x`, r)
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
