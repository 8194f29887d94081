package flows

import (
	"context"
	"encoding/binary"
	"math"
	"math/bits"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync/atomic"

	"github.com/netfx/netfx/pcapread"
)

// Builder is what a Table and a Sharded one do alike: build the
// conversations of an input read in batches of packets.
type Builder interface {
	SetFile(name string)
	// AddBatch accounts packets in order; release is called once the
	// packets and their payloads are not used any more.
	AddBatch(packets []pcapread.Packet, release func())
	// EndFile calls done with the conversations ended early so far, once
	// every conversation finished before the file's end is handed on.
	EndFile(done func(endedEarly int64))
	// Flush finishes every live conversation, at the end of the input.
	Flush()
	// OnWatermark asks for watermarks (Table.OnWatermark), before the
	// first packet; they are told on the goroutine conversations are
	// handed on from, between them.
	OnWatermark(f func(ts int64))
}

var (
	_ Builder = (*Table)(nil)
	_ Builder = (*Sharded)(nil)
)

// Sharded builds conversations as a Table does, with the work split across
// workers, each a Table of its own: packets go to a worker by their pair
// of hosts, so that what links conversations stays in one worker (FTP's
// control and data connections, a connection and the one that resumes it
// after a timeout). A packet out of a tunnel takes its carrier's name
// from the worker that accounted the carrier, waiting for it if need be.
// The input's clock drives every worker's sweeps at the packets where a
// serial Table sweeps, and the finished conversations are merged back
// into the order a serial Table hands them on: the output is the same
// for any number of workers.
//
// Two things differ, only in what a serial Table does rarely. MaxLive and
// the bytes kept bound the workers together, as they bound a serial
// Table (see roomGroup), but the other bounds that protect memory under
// attack apply per worker: the out-of-order bytes held for inspection,
// the sessions kept for resumption and the FTP data connections
// expected; when a flood reaches them, which conversations lose what
// they would have had can depend on the number of workers. And an FTP data
// connection that a control connection announced between two other
// hosts (FXP) is ftp-data only when both pairs fall to one worker.
//
// AddBatch, SetFile, EndFile and Flush are called from one
// goroutine; emit and the callbacks of EndFile are called from another,
// in order.
type Sharded struct {
	ctx     context.Context
	workers []*worker
	emit    func(*Conn)
	// watermark, if set, is told the earliest of the workers' watermarks.
	watermark func(ts int64)
	merged    chan struct{} // closed when the merger has handed on everything
	out       chan handedOn // what the workers hand on, to the merger
	// The whole input's clock and place, as a serial Table keeps them.
	clock
	seq        int64
	depth      uint8
	filesEnded int64
	// The last packet's worker and, when it carried a tunnel, whether
	// it carries and the note its worker leaves of it for another one.
	prevWorker  int
	prevCarries bool
	prevNote    *carrierNote
	notes       []carrierNote // allocated in chunks
	pending     [][]event     // per worker, the events not yet sent
	// room is the workers' group (roomGroup).
	room *roomGroup
	checkpoints
}

// carrierNote is what the worker that accounted a packet carrying a
// tunnel leaves for the worker of the packet out of it.
type carrierNote struct {
	ready   atomic.Bool
	carrier carrierRef
}

// wait returns the carrier once it is noted, or nil if ctx is done first.
func (n *carrierNote) wait(ctx context.Context) *carrierRef {
	for !n.ready.Load() {
		if ctx.Err() != nil {
			return nil
		}
		runtime.Gosched()
	}
	return &n.carrier
}

// worker is one Table on its own goroutine.
type worker struct {
	index int
	t     *Table
	in    chan []event
	used  chan []event // done with, for the input to fill again
	got   []item       // what the Table handed on since the last send
	// ctx and out are run's, for handOn.
	ctx context.Context
	out chan<- handedOn
	// packets is the packets of the events being added, for lookAhead.
	packets []*pcapread.Packet
}

// handedOn is what a worker handed on after a batch of events; no items
// when the worker has stopped.
type handedOn struct {
	worker  int
	items   []item
	stopped bool
}

// event is what a worker is told to do, in input order: mostly a packet
// to add at (now, seq), with what it needs of the input around it.
type event struct {
	p        *pcapread.Packet
	now, seq int64
	kind     uint8
	depth    uint8
	// A packet out of a tunnel: whether the same worker accounted its
	// carrier, just before, or the note another worker leaves of it.
	carrierHere bool
	carrier     *carrierNote
	// A packet carrying a tunnel: the note to leave of it, if the packet
	// out of it may go to another worker.
	note *carrierNote
	ctl  *control // the rest of the events, which are rare
}

// control carries what the events other than packets need.
type control struct {
	file     string
	release  *release
	fileDone func(int64)
	fileEnd  int64 // files that ended before this one: files without packets end at one seq
	// A checkpoint's number, its tally and the one roomLag before.
	checkpoint     int64
	tally, earlier *roomTally
}

const (
	evPacket  = iota // add p at (now, seq)
	evSweep          // sweep at (now, seq), before the packet seq
	evRoom           // the checkpoint at (now, seq), after the sweep
	evFile           // the next packets come from file
	evFileEnd        // the file's packets end before seq
	evRelease        // the batch the packets before came from is done with
	evFlush          // the end of the input
	evMark           // the events before packet seq are all given
)

// release calls done once every worker has let go of a batch.
type release struct {
	left atomic.Int32
	done func()
}

// item is a finished conversation with its tag, a file's end, a
// watermark (ts), or a mark: nothing with a tag below (seq, ...) follows
// from that worker.
type item struct {
	conn      *Conn
	tag       tag
	mark      bool
	watermark bool
	ts        int64
	fileDone  func(int64)
	early     int64
}

// eventsAhead is how many event batches may wait for each worker.
const eventsAhead = 8

// NewSharded returns a Sharded table of n workers (at least 2) that passes
// each finished conversation to emit. Its goroutines end when Flush has
// handed everything on, or when ctx is done.
func NewSharded(ctx context.Context, cfg Config, n int, emit func(*Conn)) *Sharded {
	s := &Sharded{ctx: ctx, emit: emit, merged: make(chan struct{}), out: make(chan handedOn, n*eventsAhead), pending: make([][]event, n)}
	s.room = newRoomGroup(ctx, n, cfg.MaxLive)
	for i := range n {
		w := &worker{index: i, in: make(chan []event, eventsAhead), used: make(chan []event, eventsAhead)}
		w.t = NewTable(cfg, func(c *Conn) {
			w.got = append(w.got, item{conn: c, tag: w.t.finished})
			if len(w.got) >= handOnEvery {
				w.handOn()
			}
		})
		w.t.room, w.t.member = s.room, i
		s.workers = append(s.workers, w)
		go pprof.Do(ctx, pprof.Labels("stage", "table"), func(ctx context.Context) { w.run(ctx, s.out) })
	}
	go pprof.Do(ctx, pprof.Labels("stage", "merge"), func(ctx context.Context) { s.merge(ctx) })
	return s
}

// SetFile names the capture file the next packets come from.
func (s *Sharded) SetFile(name string) {
	s.toAll(event{kind: evFile, ctl: &control{file: name}})
}

// AddBatch accounts packets in order; release is called once no worker
// uses them or their payloads any more.
func (s *Sharded) AddBatch(packets []pcapread.Packet, done func()) {
	for i := range packets {
		var next *pcapread.Packet
		if i+1 < len(packets) {
			next = &packets[i+1]
		}
		s.add(&packets[i], next)
	}
	r := &release{done: done}
	r.left.Store(int32(len(s.workers)))
	s.toAll(event{kind: evRelease, ctl: &control{release: r}})
	s.send()
}

// toAll gives every worker event e (its control, if any, shared).
func (s *Sharded) toAll(e event) {
	for i := range s.pending {
		s.pending[i] = append(s.pending[i], e)
	}
}

// add routes packet p, given the packet after it if the batch has it.
func (s *Sharded) add(p, next *pcapread.Packet) {
	if s.tick(p.Timestamp) {
		s.toAll(event{kind: evSweep, now: s.now, seq: s.seq})
	}
	if x, tally, earlier, ok := s.checkpoints.at(s.seq, p, s.room.every, len(s.workers)); ok {
		s.toAll(event{kind: evRoom, now: s.now, seq: s.seq, ctl: &control{checkpoint: x, tally: tally, earlier: earlier}})
	}
	n := len(s.workers)
	w := pairWorker(p, n)
	s.depth = tunnelDepth(s.depth, p)
	e := event{kind: evPacket, p: p, now: s.now, seq: s.seq, depth: s.depth}
	if p.Tunnel != pcapread.TunnelNone && s.prevCarries {
		e.carrierHere = s.prevWorker == w
		if !e.carrierHere {
			e.carrier = s.prevNote
		}
	}
	s.prevWorker, s.prevCarries, s.prevNote = w, p.Carries != pcapread.TunnelNone, nil
	if s.prevCarries && (next == nil || next.Tunnel != pcapread.TunnelNone && pairWorker(next, n) != w) {
		e.note = s.newNote()
		s.prevNote = e.note
	}
	s.pending[w] = append(s.pending[w], e)
	s.seq++
}

func (s *Sharded) newNote() *carrierNote {
	if len(s.notes) == cap(s.notes) {
		s.notes = make([]carrierNote, 0, 256)
	}
	s.notes = s.notes[:len(s.notes)+1]
	return &s.notes[len(s.notes)-1]
}

// pairWorker picks the worker of a packet's pair of hosts, whichever way
// it goes.
func pairWorker(p *pcapread.Packet, n int) int {
	a, b := p.Src.As16(), p.Dst.As16()
	if slices.Compare(a[:], b[:]) > 0 {
		a, b = b, a
	}
	const m = 0x9e3779b97f4a7c15
	h := uint64(0)
	for _, w := range [4]uint64{binary.LittleEndian.Uint64(a[:8]), binary.LittleEndian.Uint64(a[8:]), binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])} {
		hi, lo := bits.Mul64(h^w, m)
		h = hi ^ lo
	}
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

// EndFile calls done, from the merging goroutine, with the conversations
// ended early so far, once every conversation finished before the file's
// end has been handed on.
func (s *Sharded) EndFile(done func(endedEarly int64)) {
	s.filesEnded++
	s.toAll(event{kind: evFileEnd, seq: s.seq, ctl: &control{fileDone: done, fileEnd: s.filesEnded}})
}

// OnWatermark makes s tell f the earliest of its workers' latest
// watermarks: each bounds the starts of what its worker hands on later,
// so the earliest bounds them all.
func (s *Sharded) OnWatermark(f func(ts int64)) {
	s.watermark = f
	for _, w := range s.workers {
		w.t.OnWatermark(func(ts int64) {
			// With the tag of the conversation handed on last, the
			// watermark keeps its place in the worker's order.
			w.got = append(w.got, item{watermark: true, ts: ts, tag: w.t.finished})
		})
	}
}

// Flush finishes every live conversation and returns once all are handed
// on. Once ctx is done it only waits, briefly, for the merger to stop:
// nothing is handed on after Flush returns.
func (s *Sharded) Flush() {
	s.toAll(event{kind: evFlush})
	s.send()
	for _, w := range s.workers {
		close(w.in)
	}
	<-s.merged
	s.room.release()
}

// send hands each worker its pending events, and a mark of how far the
// input has come.
func (s *Sharded) send() {
	for i, w := range s.workers {
		s.pending[i] = append(s.pending[i], event{kind: evMark, seq: s.seq})
		select {
		case w.in <- s.pending[i]:
		case <-s.ctx.Done():
			return
		}
		select {
		case s.pending[i] = <-w.used:
		default:
			s.pending[i] = make([]event, 0, cap(s.pending[i]))
		}
	}
}

// run does a worker's events and sends what its Table handed on, with a
// mark of how far the input has come, after each batch of them.
func (w *worker) run(ctx context.Context, out chan<- handedOn) {
	w.ctx, w.out = ctx, out
	defer func() {
		select {
		case out <- handedOn{worker: w.index, stopped: true}:
		case <-ctx.Done():
		}
	}()
	for {
		var evs []event
		select {
		case got, ok := <-w.in:
			if !ok {
				return
			}
			evs = got
		case <-ctx.Done():
			return
		}
		packets := w.packets[:0]
		for _, e := range evs {
			if e.kind == evPacket {
				packets = append(packets, e.p)
			}
		}
		w.packets = packets
		for j := range min(len(packets), keyAhead) {
			w.t.keyAhead(j, packets[j])
		}
		n := 0
		for _, e := range evs {
			switch e.kind {
			case evPacket:
				var ahead *pcapread.Packet
				if j := n + keyAhead; j < len(packets) {
					ahead = packets[j]
				}
				kp := w.t.lookAhead(n, len(packets), ahead)
				n++
				w.t.now, w.t.seq, w.t.depth = e.now, e.seq, e.depth
				if !e.carrierHere {
					w.t.carrier = -1
				}
				if e.carrier != nil {
					if w.t.remoteCarrier = e.carrier.wait(ctx); w.t.remoteCarrier == nil {
						return
					}
				}
				w.t.add(e.p, kp)
				if e.note != nil {
					e.note.carrier = w.t.carrierRef(w.t.carrier)
					e.note.ready.Store(true)
				}
			case evSweep:
				w.t.now, w.t.seq, w.t.phase = e.now, e.seq, phaseSweep
				w.t.sweep(e.now)
				w.t.tellWatermark()
			case evRoom:
				w.t.now, w.t.seq = e.now, e.seq
				w.t.checkpoint(e.ctl.checkpoint, e.ctl.tally, e.ctl.earlier)
			case evFile:
				w.t.SetFile(e.ctl.file)
			case evFileEnd:
				w.got = append(w.got, item{tag: tag{seq: e.seq, phase: phaseFileEnd, first: place{record: e.ctl.fileEnd}}, fileDone: e.ctl.fileDone, early: w.t.early})
			case evRelease:
				if r := e.ctl.release; r.left.Add(-1) == 0 {
					r.done()
				}
			case evFlush:
				w.t.Flush()
				w.got = append(w.got, item{mark: true, tag: tag{seq: math.MaxInt64}})
			case evMark:
				w.got = append(w.got, item{mark: true, tag: tag{seq: e.seq}})
			}
		}
		clear(evs) // let go of the packets
		select {
		case w.used <- evs[:0]:
		default:
		}
		if !w.handOn() {
			return
		}
	}
}

// handOnEvery is how many conversations a worker hands on at most at
// once: the end of the input, or room made, finishes tens of thousands
// in one event, which would otherwise be held until it is done.
const handOnEvery = 1024

// handOn sends what the Table handed on since the last send to the
// merger; false if the run's context is done first.
func (w *worker) handOn() bool {
	select {
	case w.out <- handedOn{worker: w.index, items: w.got}:
		w.got = nil
		return true
	case <-w.ctx.Done():
		return false
	}
}

// merge hands on the workers' conversations in the order of a serial
// Table: always the least tag among the workers' next ones, once every
// worker with nothing waiting has marked that it has nothing below it.
// It takes whatever any worker hands on while it waits, so that no worker
// blocks on it: the input, which waits for the slowest worker, bounds
// how much is queued here.
func (s *Sharded) merge(ctx context.Context) {
	defer close(s.merged)
	n := len(s.workers)
	queues := make([][]item, n)
	marks := make([]int64, n) // nothing below (mark, ...) follows from the worker
	done := make([]bool, n)
	var fileEnds int
	var early int64
	// The workers' latest watermarks, and the earliest of them told.
	watermarks := make([]int64, n)
	for i := range watermarks {
		watermarks[i] = math.MinInt64
	}
	told := int64(math.MinInt64)
	for ctx.Err() == nil {
		// Drop marks at the queues' heads.
		for i := range queues {
			for len(queues[i]) > 0 && queues[i][0].mark {
				marks[i] = max(marks[i], queues[i][0].tag.seq)
				queues[i] = queues[i][1:]
			}
		}
		least := -1
		for i, q := range queues {
			if len(q) > 0 && (least < 0 || compareTags(q[0].tag, queues[least][0].tag) < 0) {
				least = i
			}
		}
		wait := false
		for i, q := range queues {
			if len(q) == 0 && !done[i] && (least < 0 || marks[i] <= queues[least][0].tag.seq) {
				wait = true
				break
			}
		}
		if wait {
			select {
			case got := <-s.out:
				if got.stopped {
					done[got.worker] = true
				}
				queues[got.worker] = append(queues[got.worker], got.items...)
			case <-ctx.Done():
				return
			}
			continue
		}
		if least < 0 {
			return // every worker is done
		}
		it := queues[least][0]
		queues[least] = queues[least][1:]
		if it.fileDone != nil {
			fileEnds, early = fileEnds+1, early+it.early
			if fileEnds == n {
				it.fileDone(early)
				fileEnds, early = 0, 0
			}
			continue
		}
		if it.watermark {
			watermarks[least] = it.ts
			if earliest := slices.Min(watermarks); earliest > told {
				told = earliest
				s.watermark(earliest)
			}
			continue
		}
		s.emit(it.conn)
	}
}
