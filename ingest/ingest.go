package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/netfx/netfx/connlog"
	"github.com/netfx/netfx/flowlog"
	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/extsort"
	"github.com/netfx/netfx/inventory"
	"github.com/netfx/netfx/pcapread"

	"github.com/gopacket/gopacket/layers"
)

// Options say how Read reads the inputs.
type Options struct {
	Flows flows.Config
	// Hash computes each file's SHA-256 in the same read.
	Hash bool
	// Tolerance is how far apart in time the flow logs' and the captures'
	// views of one connection may be (flowlog.DefaultTolerance when 0 is
	// not wanted: 0 means exact).
	Tolerance time.Duration
	// Stdin is what "-" reads.
	Stdin io.Reader
	// Progress, if set, follows the reading.
	Progress Progress
	// SortMemory is how many records each sorter of the join with flow
	// logs holds in memory; 0 means joinSortMemory.
	SortMemory int
	// Scope, if set, keeps only the conversations and flow-log tuples it
	// takes; the inputs are read and reported whole.
	Scope *Scope
	// Inventory names files to read as Azure inventory (--inventory),
	// besides those found among the inputs by content.
	Inventory []string
	// Workers is how many flow tables share the captures' conversations
	// (flows.Sharded); 0 chooses from the cores Go may use (see
	// tableWorkers). The output is the same for any number.
	Workers int
}

// Scope is the part of the evidence an analyst drills into: conversations
// with one of Hosts at either end (all when empty), in the time from From
// to To (either may be zero: open).
type Scope struct {
	Hosts    []netip.Prefix
	From, To time.Time
}

// takes reports whether a conversation or tuple between a and b that ran
// from first to last (Unix ns) is in the scope.
func (s *Scope) takes(a, b netip.Addr, first, last int64) bool {
	if !s.From.IsZero() && last < s.From.UnixNano() || !s.To.IsZero() && first > s.To.UnixNano() {
		return false
	}
	if len(s.Hosts) == 0 {
		return true
	}
	for _, p := range s.Hosts {
		if p.Contains(a) || p.Contains(b) {
			return true
		}
	}
	return false
}

// narrow makes the sink take only what the scope takes.
func (s *Scope) narrow(sink *Sink) {
	conn := sink.Conn
	sink.Conn = func(c *flows.Conn) {
		if s.takes(c.Orig, c.Resp, c.TS, c.TS+c.Duration) {
			conn(c)
		}
	}
	if tuple := sink.Tuple; tuple != nil {
		sink.Tuple = func(t *flowlog.Tuple) {
			if s.takes(t.Src, t.Dst, t.Time, t.Time) {
				tuple(t)
			}
		}
	}
}

// Progress follows how much of the inputs has been read: the command
// line's progress bar.
type Progress interface {
	// Start is called once, with the bytes of the inputs; -1 when unknown.
	Start(total int64)
	// Wrap counts the bytes read through r.
	Wrap(r io.Reader) io.Reader
}

// Sink receives what reading the inputs produces, on the caller's
// goroutine. Every field is optional.
type Sink struct {
	Conn    func(*flows.Conn)    // every record: capture, flow-log and joined
	Capture func(CaptureResult)  // each capture file read
	FlowLog func(FlowLogResult)  // each flow-log file read
	ConnLog func(ConnLogResult)  // each conversation log read
	Tuple   func(*flowlog.Tuple) // each flow-log tuple
	// Inventory receives each Azure inventory file, before any record:
	// what it names is known when the conversations come.
	Inventory func(InventoryResult)
	// Analytics receives each Log Analytics export, before any record.
	Analytics func(AnalyticsResult)
	Problem   func(Problem) // each input skipped, damaged or unreadable, as it happens
	// AnyOrder says Conn puts the records in order itself. Otherwise they
	// come in time order when flow logs are joined with captures, and in
	// the order the flow table finishes them when not.
	AnyOrder bool
	// Watermark, when the records come from captures alone (no flow log,
	// conversation log or Log Analytics export), is told from time to
	// time, between records, a time below which no later record's ts
	// is, as long as the captures' packet times do not go back
	// (flows.Table.OnWatermark).
	Watermark func(ts int64)
}

// CaptureResult is how one capture file was read.
type CaptureResult struct {
	Path   string
	Size   int64 // the file's size in bytes; -1 for a stream
	Format pcapread.Format
	Stats  pcapread.Stats
	SHA256 string // hex, when hashing was asked for
	Err    error  // why reading stopped early, or why the file could not be read
	// EndedEarly counts the conversations ended early while the file was
	// read, because the flow table held flows.Config.MaxLive.
	EndedEarly int64
}

// FlowLogResult is how one flow-log file was read.
type FlowLogResult struct {
	Path  string
	Size  int64 // the file's size in bytes; -1 for a stream
	Stats flowlog.Stats
	Err   error // why reading stopped early; records skipped are in Stats.Damage
}

// InventoryResult is what one Azure inventory file gave.
type InventoryResult struct {
	Path      string
	Size      int64 // the file's size in bytes; -1 for a stream
	Stats     inventory.Stats
	Inventory inventory.Inventory
	Err       error // why reading stopped early; objects skipped are in Stats.Damage
}

// ConnLogResult is how one conversation log was read.
type ConnLogResult struct {
	Path  string
	Size  int64 // the file's size in bytes; -1 for a stream
	Stats connlog.Stats
	Err   error
}

// Problem is an input that was skipped, or that was damaged or could not
// be read. Skipped inputs are files found in folders that are no
// evidence netfx reads; a warning is something read whole but odd (clock
// outliers: *OutlierError); everything else is damage.
type Problem struct {
	Path    string // "" when the problem is with the paths themselves
	Err     error
	Skipped bool
	Warning bool
}

// Damaged reports whether p is damage: reading stopped early, or records
// were skipped, or the input could not be read.
func (p Problem) Damaged() bool { return !p.Skipped && !p.Warning }

// Read expands the inputs (files, folders, "-"), sorts files into
// captures, flow logs and conversation logs by content, reads the flow
// logs into connections, then the captures through one flow table and the
// conversation logs' records as they are, joins each conversation a
// capture saw with the logs' view of it, and finally hands on what only
// the flow logs saw. What each input gave goes to sink as it is read.
//
// Read stops within a fraction of a second once ctx is done and then
// returns ctx's error, with no temporary file left; any other error is a
// failure of netfx's own temporary files. Damaged inputs are Problems, not
// errors: everything else is still read.
//
// For profiles, the goroutines carry a pprof label "stage": read (decoding
// captures, and framing them on one core), frame and load (framing them
// ahead, and reading a classic pcap file ahead of the framing:
// pcapread.Reader.ReadAhead and LoadAhead), table (the flow table and
// payload identification; route when tables share it), flowlogs (parsing
// flow logs) and sink (everything on the caller's goroutine: joining, and
// what sink does with each record).
func Read(ctx context.Context, args []string, opt Options, sink Sink) (err error) {
	pprof.Do(ctx, pprof.Labels("stage", "sink"), func(ctx context.Context) { err = read(ctx, args, opt, sink) })
	return err
}

func read(ctx context.Context, args []string, opt Options, sink Sink) error {
	sink.fill()
	if opt.Scope != nil {
		opt.Scope.narrow(&sink)
	}
	in := newSources(opt.Stdin)
	defer in.close()
	paths, err := Expand(args)
	if err != nil { // inputs that cannot be read: the others still are
		for _, e := range unjoin(err) {
			sink.Problem(Problem{Err: e})
		}
	}
	explicit := make(map[string]bool, len(args))
	for _, a := range args {
		explicit[a] = true
	}
	var captures, logs, connLogs, exports []string
	inventories := slices.Clone(opt.Inventory)
	var total int64 // bytes to read, for the progress bar; -1 when unknown
	for _, p := range paths {
		kind, err := in.sniff(p)
		switch {
		case err != nil:
			sink.Problem(Problem{Path: p, Err: err})
			continue
		case kind == kindInventory:
			if !slices.Contains(inventories, p) {
				inventories = append(inventories, p)
			}
			continue // small, and read before the progress bar starts
		case kind == kindAnalytics:
			exports = append(exports, p)
			continue
		case kind == kindFlowLog:
			logs = append(logs, p)
		case kind == kindConnLog:
			connLogs = append(connLogs, p)
		case kind == kindCapture || explicit[p]:
			captures = append(captures, p)
		default:
			sink.Problem(Problem{Path: p, Err: errNotEvidence, Skipped: true})
			continue
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && total >= 0 {
			total += fi.Size()
		} else {
			total = -1
		}
	}
	wrap := func(r io.Reader) io.Reader { return r }
	if opt.Progress != nil {
		opt.Progress.Start(total)
		wrap = opt.Progress.Wrap
	}
	r := &run{ctx: ctx, opt: opt, sink: sink, in: in, wrap: wrap, explicit: explicit,
		analytics: &analyticsJoin{tolerance: int64(opt.Tolerance)}}
	r.readInventory(inventories)
	r.readAnalytics(exports)
	if len(logs) == 0 {
		emit := r.analytics.wrap(sink.Conn)
		var watermark func(int64)
		if len(connLogs) == 0 && len(exports) == 0 {
			watermark = sink.Watermark
		}
		r.readCaptures(captures, emit, watermark)
		r.readConnLogs(connLogs, emit)
		if ctx.Err() == nil {
			r.analytics.unmatched(sink.Conn)
		}
		return ctx.Err()
	}
	return r.join(captures, logs, connLogs)
}

// fileSize is the size of a regular file, or -1 (standard input, pipes).
func fileSize(path string) int64 {
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && path != "-" {
		return fi.Size()
	}
	return -1
}

// errNotEvidence is why a file found in a folder was skipped.
var errNotEvidence = errors.New("not a capture, flow log or conversation log")

// unjoin returns the errors that errors.Join joined, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (s *Sink) fill() {
	if s.Conn == nil {
		s.Conn = func(*flows.Conn) {}
	}
	if s.Capture == nil {
		s.Capture = func(CaptureResult) {}
	}
	if s.FlowLog == nil {
		s.FlowLog = func(FlowLogResult) {}
	}
	if s.ConnLog == nil {
		s.ConnLog = func(ConnLogResult) {}
	}
	if s.Inventory == nil {
		s.Inventory = func(InventoryResult) {}
	}
	if s.Analytics == nil {
		s.Analytics = func(AnalyticsResult) {}
	}
	if s.Problem == nil {
		s.Problem = func(Problem) {}
	}
}

// run is one Read.
type run struct {
	ctx       context.Context
	opt       Options
	sink      Sink
	in        *sources
	wrap      func(io.Reader) io.Reader
	explicit  map[string]bool // paths named on the command line
	analytics *analyticsJoin  // the Log Analytics rows, joined to the records on their way out
}

// Workers returns how many flow tables share the work of reading captures
// with Options.Workers asked (0: chosen from the cores available), so that
// the work after them can be split as many ways.
func Workers(asked int) int { return tableWorkers(asked, runtime.GOMAXPROCS(0)) }

// tableWorkers is how many flow tables share the work: as asked, or, when
// not, one for each core beyond the two that reading and the caller's work
// take, at most maxTableWorkers. On two cores a second table only adds the
// cost of handing packets over (about 10 % more CPU, no less time).
func tableWorkers(asked, cores int) int {
	if asked > 0 {
		return asked
	}
	return min(max(cores-2, 1), maxTableWorkers)
}

// maxTableWorkers bounds the flow tables chosen by default: past it the
// reading goroutine is the slower stage.
const maxTableWorkers = 8

// readCaptures reads the captures through one flow table into emit, and
// tells watermark, if not nil, the table's watermarks.
func (r *run) readCaptures(paths []string, emit func(*flows.Conn), watermark func(int64)) {
	cores := runtime.GOMAXPROCS(0)
	opt := captureOptions{hash: r.opt.Hash, wrap: r.wrap, open: r.in.reader, workers: tableWorkers(r.opt.Workers, cores), readAhead: cores > 1, watermark: watermark}
	readCaptures(r.ctx, paths, r.opt.Flows, opt, emit, func(res CaptureResult) {
		switch {
		case res.Err == nil:
		case errors.Is(res.Err, context.Canceled) || errors.Is(res.Err, context.DeadlineExceeded):
			return
		case !r.explicit[res.Path] && errors.Is(res.Err, pcapread.ErrUnsupported):
			r.sink.Problem(Problem{Path: res.Path, Err: res.Err, Skipped: true})
			return
		default:
			r.sink.Problem(Problem{Path: res.Path, Err: describeError(res)})
		}
		r.outliers(res.Path, res.Stats.Outliers, res.Stats.OutlierAt, "packet")
		if n := res.EndedEarly; n > 0 {
			r.sink.Problem(Problem{Path: res.Path, Warning: true, Err: fmt.Errorf("%s: %s", res.Path, EndedEarly(n))})
		}
		if n := res.Stats.BadFractions; n > 0 {
			r.sink.Problem(Problem{Path: res.Path, Warning: true, Err: fmt.Errorf("%s: %s", res.Path, BadFractions(n))})
		}
		if n := res.Stats.UnknownLinks; n > 0 {
			r.sink.Problem(Problem{Path: res.Path, Warning: true, Err: fmt.Errorf("%s: %s", res.Path, Undecoded(n, res.Stats.UnknownLinkTypes))})
		}
		res.Size = fileSize(res.Path)
		r.sink.Capture(res)
	})
}

// readConnLogs reads conversation logs; their records were built
// elsewhere, so they go to emit as they are, not through the flow table.
func (r *run) readConnLogs(paths []string, emit func(*flows.Conn)) {
	for _, p := range paths {
		if r.ctx.Err() != nil {
			return
		}
		st, err := openAndRead(r.in, p, r.wrap, func(rd io.Reader) (connlog.Stats, error) {
			return connlog.Read(rd, p, emit)
		})
		reportSkipped(r, p, st.Damage, st.Skipped, "records")
		if err != nil {
			r.sink.Problem(Problem{Path: p, Err: err})
		}
		r.outliers(p, st.Outliers, st.OutlierAt, "record")
		r.sink.ConnLog(ConnLogResult{Path: p, Size: fileSize(p), Stats: st, Err: err})
	}
}

// readInventory reads the Azure inventory files, each whole, before the
// evidence.
func (r *run) readInventory(paths []string) {
	for _, p := range paths {
		if r.ctx.Err() != nil {
			return
		}
		res := InventoryResult{Path: p, Size: fileSize(p)}
		res.Stats, res.Err = openAndRead(r.in, p, func(rd io.Reader) io.Reader { return rd }, func(rd io.Reader) (inventory.Stats, error) {
			return inventory.Read(rd, p, &res.Inventory)
		})
		reportSkipped(r, p, res.Stats.Damage, res.Stats.Skipped, "objects")
		if res.Err != nil {
			r.sink.Problem(Problem{Path: p, Err: res.Err})
		}
		r.sink.Inventory(res)
	}
}

// flowLogResult reports how a flow-log file was read: each record
// skipped, and the file's end.
func (r *run) flowLogResult(res FlowLogResult) {
	if !r.explicit[res.Path] && errors.Is(res.Err, flowlog.ErrNotFlowLog) && res.Stats.Records == 0 {
		r.sink.Problem(Problem{Path: res.Path, Err: res.Err, Skipped: true})
		return
	}
	reportSkipped(r, res.Path, res.Stats.Damage, res.Stats.Skipped, "records or tuples")
	if res.Err != nil {
		r.sink.Problem(Problem{Path: res.Path, Err: res.Err})
	}
	r.outliers(res.Path, res.Stats.Outliers, res.Stats.OutlierAt, "tuple")
	res.Size = fileSize(res.Path)
	r.sink.FlowLog(res)
}

// reportSkipped reports the records of a file that could not be read and
// were skipped: each of the first few that a reader describes, and how
// many more.
func reportSkipped[E error](r *run, path string, described []E, skipped int, what string) {
	for _, d := range described {
		r.sink.Problem(Problem{Path: path, Err: d})
	}
	if more := skipped - len(described); more > 0 {
		r.sink.Problem(Problem{Path: path, Err: fmt.Errorf("%s: %d more damaged %s skipped", path, more, what)})
	}
}

// outliers reports the records of a file whose time was far off the
// others' (package timespan): a warning, as they were read; the report
// leaves them out of the file's time span and names them as its damage.
func (r *run) outliers(path string, n, at int64, what string) {
	if n > 0 {
		r.sink.Problem(Problem{Path: path, Err: &OutlierError{Path: path, What: what, Count: n, First: at}, Warning: true})
	}
}

// EndedEarly says that n conversations were ended early under memory
// pressure.
func EndedEarly(n int64) string {
	return fmt.Sprintf("%d conversation(s) ended early under memory pressure: more in progress at once, or keeping more names and answers, than --max-live allows", n)
}

// Undecoded says that n frames of link types netfx does not decode were
// left out.
func Undecoded(n int64, lts []layers.LinkType) string {
	return fmt.Sprintf("%d frame(s) of link type %s, which netfx does not decode, left out", n, pcapread.LinkTypeNames(lts))
}

// BadFractions says that n pcap records had a sub-second field of a
// second or more.
func BadFractions(n int64) string {
	return fmt.Sprintf("%d record(s) whose fraction of a second is a second or more (their times run on into the next second)", n)
}

// OutlierError reports records whose time is far off the rest of their
// file's: a clock set wrong, or damage. They are read, but left out of
// the file's time span.
type OutlierError struct {
	Path  string
	What  string // packet, tuple or record
	Count int64
	First int64 // the time of one of them, Unix ns
}

func (e *OutlierError) Error() string {
	return fmt.Sprintf("%s: %d %s(s) with times far from the rest of the file (one at %s), left out of its time span",
		e.Path, e.Count, e.What, time.Unix(0, e.First).UTC().Format(time.RFC3339))
}

// join reads flow logs and captures and joins them. The flows the logs
// record and the conversations the captures saw are each sorted by
// 5-tuple, on disk beyond a fixed number, joined, and sorted back into
// time order: memory stays bounded by the open flows and the sorters,
// however long the logs.
func (r *run) join(captures, logs, connLogs []string) error {
	mem := cmp.Or(r.opt.SortMemory, joinSortMemory)
	flowSorter := extsort.NewWithCodec(mem, flowlog.CompareFlows, flowlog.NewFlowCodec())
	flowSorter.SpillInBackground()
	convSorter := extsort.NewWithCodec(mem, CompareForJoin, flows.ConnCodec())
	convSorter.SpillInBackground()
	joined := flows.NewSorter(mem)
	joined.SpillInBackground()
	sorters := []interface{ Close() }{flowSorter, convSorter, joined}
	defer func() {
		for _, s := range sorters {
			s.Close() // their temporary files, if the run stopped early
		}
	}()

	builder := flowlog.NewBuilder(flowSorter.Add)
	parseFlowLogs(r.ctx, r.in, logs, r.wrap, func(tuples []flowlog.Tuple, res *FlowLogResult) {
		for i := range tuples {
			builder.Add(&tuples[i])
			if r.sink.Tuple != nil {
				r.sink.Tuple(&tuples[i])
			}
		}
		if res != nil {
			r.flowLogResult(*res)
		}
	})
	if err := r.ctx.Err(); err != nil {
		return err
	}
	builder.Flush()
	r.readCaptures(captures, convSorter.Add, nil)
	r.readConnLogs(connLogs, convSorter.Add)
	if err := r.ctx.Err(); err != nil {
		return err
	}
	// Each sorter's runs are merged on a goroutine of their own while the
	// next step uses the values.
	logConns := flowlog.Connections(extsort.Prefetch(flowSorter.All(), prefetchBlock), r.opt.Tolerance, r.opt.Flows.CommunityIDSeed)
	convs := extsort.Prefetch(convSorter.All(), prefetchBlock)
	emit := r.sink.Conn
	if !r.sink.AnyOrder {
		emit = joined.Add
	}
	Join(r.cancellable(convs), logConns, r.opt.Tolerance, r.analytics.wrap(emit))
	if r.ctx.Err() == nil {
		r.analytics.unmatched(emit)
	}
	if !r.sink.AnyOrder {
		for c := range r.cancellable(extsort.Prefetch(joined.All(), prefetchBlock)) {
			r.sink.Conn(c)
		}
	}
	if err := r.ctx.Err(); err != nil {
		return err
	}
	for _, s := range []interface{ Err() error }{flowSorter, convSorter, joined} {
		if err := s.Err(); err != nil {
			return fmt.Errorf("sorting records in a temporary file: %w", err)
		}
	}
	return nil
}

// cancellable yields what seq yields until the run's context is done.
func (r *run) cancellable(seq iter.Seq[*flows.Conn]) iter.Seq[*flows.Conn] {
	return func(yield func(*flows.Conn) bool) {
		n := 0
		for c := range seq {
			if n++; n%cancelCheck == 0 && r.ctx.Err() != nil {
				return
			}
			if !yield(c) {
				return
			}
		}
	}
}

// cancelCheck is how many records go by between looks at the context.
const cancelCheck = 1024

// joinSortMemory is how many records each sorter of the join with flow
// logs holds in memory before it spills to a temporary file.
const joinSortMemory = flows.DefaultSortMemory / 2

// prefetchBlock is how many values a sorter's merge hands over at once.
const prefetchBlock = 256

// describeError says what went wrong with a capture, naming the file, and
// what was kept.
func describeError(res CaptureResult) error {
	err := res.Err
	if !strings.Contains(err.Error(), res.Path) {
		err = fmt.Errorf("%s: %w", res.Path, err)
	}
	if res.Stats.Records > 0 {
		err = fmt.Errorf("%w (the %d records before it were read)", err, res.Stats.Records)
	}
	return err
}
