package flowlog

import (
	"cmp"
	"net/netip"
	"time"

	"github.com/netfx/netfx/flows"
)

// Timing of flows built from tuples; docs/flowlogs.md explains each.
const (
	// DenyRetryWindow joins denied tuples of one 5-tuple that come this
	// close together: a client retrying its SYN is one attempt.
	DenyRetryWindow = 30 * time.Second
	// IdleTimeout ends a flow without an E tuple when no tuple of it comes
	// for this long: NSG and VNet flow logs write a C tuple for a live
	// flow every five minutes, so a longer silence means it ended.
	IdleTimeout = 6 * time.Minute
	// EndGrace is added to the last tuple of a flow that never got an E
	// tuple: flow logs are collected each minute, so the flow went on for
	// up to a minute after its last tuple.
	EndGrace = time.Minute
)

// Flow is one connection as one flow log saw it: its B, C and E tuples (or
// its denied attempts) joined, counters summed per direction.
type Flow struct {
	Log              *Log
	Src, Dst         netip.Addr // the flow's initiator and its peer
	SrcPort, DstPort uint16
	Proto            uint8
	Inbound          bool // relative to the NIC
	Denied           bool
	Rule             string
	Encryption       string
	Begin, End       int64 // Unix ns
	Ended            bool  // an E tuple was seen
	Counted          bool  // some tuple carried counters
	PktsSent         uint64
	BytesSent        uint64
	PktsRecv         uint64
	BytesRecv        uint64
	Tuples           int
	Attempts         int // denied flows: the attempts joined into it
	File             string
	Record           int
	last             int64           // time of the last tuple
	continued        bool            // a C tuple was seen
	key              flows.Endpoints // set when the flow ends
}

type flowKey struct {
	log              *Log
	src, dst         netip.Addr
	srcPort, dstPort uint16
	proto            uint8
	inbound          bool
}

// Builder joins tuples into flows and hands each flow on once it has
// ended, so its memory grows with the flows still open, not with the logs.
type Builder struct {
	emit    func(*Flow)
	open    map[flowKey]*Flow
	latest  map[*Log]*int64 // each log's latest tuple time
	lastLog *Log            // the log of the previous tuple, and its latest time
	lastAt  *int64
	added   int    // tuples since the last sweep
	slab    []Flow // flows are allocated from slabs, not one by one
}

// SweepSlack is how far out of time order one log's tuples may come (its
// blobs read in another order, a record straddling the hour) before a flow
// that looked idle is ended too early; an idle flow is ended once its log
// has moved IdleTimeout plus this past the flow's last tuple.
const SweepSlack = time.Hour

// sweepEvery is how many tuples come between sweeps for idle flows.
const sweepEvery = 1 << 16

// NewBuilder returns a Builder that passes each finished flow to emit.
func NewBuilder(emit func(*Flow)) *Builder {
	return &Builder{emit: emit, open: make(map[flowKey]*Flow), latest: make(map[*Log]*int64)}
}

// Add takes one tuple. Tuples of a flow should come in time order, as they
// do when a NIC's hourly blobs are read in order.
func (b *Builder) Add(t *Tuple) {
	k := flowKey{t.Log, t.Src, t.Dst, t.SrcPort, t.DstPort, t.Proto, t.Inbound}
	f := b.open[k]
	if f != nil && !f.continues(t) {
		b.close(k, f)
		f = nil
	}
	if f == nil {
		if len(b.slab) == cap(b.slab) {
			b.slab = make([]Flow, 0, 256)
		}
		b.slab = append(b.slab, Flow{})
		f = &b.slab[len(b.slab)-1]
		*f = Flow{
			Log: t.Log, Src: t.Src, Dst: t.Dst, SrcPort: t.SrcPort, DstPort: t.DstPort, Proto: t.Proto,
			Inbound: t.Inbound, Denied: t.Denied, Rule: t.Rule, Encryption: t.Encryption,
			Begin: t.Time, File: t.File, Record: t.Record, last: t.Time,
		}
		b.open[k] = f
	}
	if t.Denied {
		f.Attempts++
	}
	if t.State == 'C' {
		f.continued = true
	}
	f.extend(t)
	if t.State == 'E' {
		f.Ended = true
		b.close(k, f)
	}
	if t.Log != b.lastLog {
		b.lastLog, b.lastAt = t.Log, b.latest[t.Log]
		if b.lastAt == nil {
			b.lastAt = new(int64)
			b.latest[t.Log] = b.lastAt
		}
	}
	*b.lastAt = max(*b.lastAt, t.Time)
	if b.added++; b.added == sweepEvery {
		b.sweep()
	}
}

// sweep ends the flows whose log has moved far past their last tuple: no
// later tuple could continue them.
func (b *Builder) sweep() {
	b.added = 0
	for k, f := range b.open {
		if *b.latest[f.Log]-f.last > int64(IdleTimeout+SweepSlack) {
			b.close(k, f)
		}
	}
}

// continues reports whether tuple t belongs to the open flow f: the same
// decision, not after a long silence, and not a new B tuple after the flow
// already carried traffic (a reused 5-tuple). Repeated B or denied tuples
// a few seconds apart are a client retrying, so one flow.
func (f *Flow) continues(t *Tuple) bool {
	gap := t.Time - f.last
	switch {
	case f.Denied != t.Denied || gap > int64(IdleTimeout):
		return false
	case t.Denied || t.State == 'B':
		return !f.continued && gap <= int64(DenyRetryWindow)
	}
	return true
}

// extend adds a tuple's time and counters.
func (f *Flow) extend(t *Tuple) {
	f.Tuples++
	f.Begin = min(f.Begin, t.Time)
	f.last = max(f.last, t.Time)
	if t.Encryption != "" && t.Encryption != "NX" {
		f.Encryption = t.Encryption
	}
	if t.Counted {
		f.Counted = true
		f.PktsSent += t.PktsSent
		f.BytesSent += t.BytesSent
		f.PktsRecv += t.PktsRecv
		f.BytesRecv += t.BytesRecv
	}
}

func (b *Builder) close(k flowKey, f *Flow) {
	f.key = f.endpoints()
	f.End = f.last
	if !f.Ended && !f.Denied {
		f.End += int64(EndGrace)
	}
	delete(b.open, k)
	b.emit(f)
}

// Flush ends the flows still open.
func (b *Builder) Flush() {
	for k, f := range b.open {
		b.close(k, f)
	}
}

// CompareFlows orders ended flows as Connections needs them: by the
// connection's Endpoints, then by begin time, then by every other field
// that tells flows apart, for a deterministic result.
func CompareFlows(x, y *Flow) int {
	// Most flows differ in key or begin: the rest, strings among them, is
	// compared only when they do not (cmp.Or evaluates all it is given).
	if c := x.key.Compare(y.key); c != 0 {
		return c
	}
	if c := cmp.Compare(x.Begin, y.Begin); c != 0 {
		return c
	}
	return cmp.Or(x.Src.Compare(y.Src), x.Dst.Compare(y.Dst), cmp.Compare(x.SrcPort, y.SrcPort), cmp.Compare(x.DstPort, y.DstPort),
		cmp.Compare(x.Log.ResourceID, y.Log.ResourceID), cmp.Compare(x.Log.MAC, y.Log.MAC), cmp.Compare(x.Log.Kind, y.Log.Kind),
		cmp.Compare(x.End, y.End), boolOrder(x.Inbound, y.Inbound), cmp.Compare(x.File, y.File), cmp.Compare(x.Record, y.Record))
}

func (f *Flow) endpoints() flows.Endpoints {
	return flows.EndpointsOf(f.Src, f.Dst, f.SrcPort, f.DstPort, f.Proto)
}
func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}
