package flowlog

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
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
	last             int64 // time of the last tuple
	continued        bool  // a C tuple was seen
}

type flowKey struct {
	log              *Log
	src, dst         netip.Addr
	srcPort, dstPort uint16
	proto            uint8
	inbound          bool
}

// Builder joins tuples into flows. Its memory grows with the flows, which
// the merge with captures needs whole.
type Builder struct {
	open  map[flowKey]*Flow
	flows []*Flow
	slab  []Flow // flows are allocated from slabs, not one by one
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder { return &Builder{open: make(map[flowKey]*Flow)} }

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
	f.End = f.last
	if !f.Ended && !f.Denied {
		f.End += int64(EndGrace)
	}
	delete(b.open, k)
	b.flows = append(b.flows, f)
}

// Flows closes the open flows and returns every flow, ordered by begin
// time (then by tuple for equal times), for a deterministic result.
func (b *Builder) Flows() []*Flow {
	for k, f := range b.open {
		b.close(k, f)
	}
	slices.SortFunc(b.flows, func(x, y *Flow) int {
		return cmp.Or(cmp.Compare(x.Begin, y.Begin), x.Src.Compare(y.Src), x.Dst.Compare(y.Dst),
			cmp.Compare(x.SrcPort, y.SrcPort), cmp.Compare(x.DstPort, y.DstPort), cmp.Compare(x.Proto, y.Proto),
			cmp.Compare(x.Log.ResourceID, y.Log.ResourceID), cmp.Compare(x.Log.MAC, y.Log.MAC), cmp.Compare(x.Log.Kind, y.Log.Kind),
			cmp.Compare(x.End, y.End), boolOrder(x.Inbound, y.Inbound))
	})
	return b.flows
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
