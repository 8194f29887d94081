package flows

import (
	"github.com/netfx/netfx/internal/ipproto"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/pcapread"
)

// inspection feeds a conversation's payload, in order, to its protocol
// Inspector. TCP segments are put in order with a small, bounded buffer
// for out-of-order data; what cannot be put in order is a gap, after
// which that direction is given up.
type inspection struct {
	in   appid.Inspector // in the same allocation: one fewer a conversation
	next [2]uint64       // sequence number of the next byte to deliver
	// pending holds each direction's segments that came before bytes
	// still missing, nil until the first such segment.
	pending *[2]heldSegments
	// heldByTable is the bytes held by every inspection of the table,
	// bounded by maxHeldBytes.
	heldByTable *int
	kept        int32 // in.Kept() when last told to the table
	started     [2]bool
}

// heldSegments is the segments held for one direction, and their bytes.
type heldSegments struct {
	segments []segment
	bytes    int
}

type segment struct {
	seq  uint64
	data []byte
}

// Bounds of the out-of-order buffer per direction, and of the bytes held
// by all the conversations of a table: without it, 100,000 live
// conversations with holes that never fill (capture loss, or crafted)
// could hold 12 GB.
const (
	maxPendingSegments = 16
	maxPendingBytes    = 64 << 10
	maxHeldBytes       = 16 << 20
)

// inspect passes the packet's payload to the conversation's Inspector,
// creating it at the first payload.
func (t *Table) inspect(i int32, c *conv, p *pcapread.Packet, isOrig bool) {
	if c.inspected || (p.PayloadLen == 0 && t.insp[i] == nil) {
		return
	}
	ins := t.insp[i]
	if ins == nil {
		ins = t.newInspection(c.proto == ipproto.UDP)
		t.insp[i] = ins
	}
	dir := appid.FromResp
	if isOrig {
		dir = appid.FromOrig
	}
	if c.proto == ipproto.UDP {
		if p.Truncated && len(p.Payload) < int(p.PayloadLen) {
			ins.in.Cut()
		}
		ins.in.Datagram(dir, p.Payload)
		if c.origPkts == 1 && c.respPkts == 0 && !c.flipped && ins.in.ReplyFirst() {
			if _, resp := c.addrs(); !resp.IsMulticast() {
				c.flipRoles() // as Zeek's DNS and NTP analyzers flip
				c.flipHistoryFromStart()
			}
		}
		c.dnsSession = c.dnsSession || ins.in.First() == "dns"
	} else {
		ins.tcp(dir, c, p, isOrig)
	}
	if e := ins.in.TakeExpected(); e != nil {
		t.expect(c, e)
	}
	if ins.in.Done() {
		ins.in.Release()
		ins.drop(0)
		ins.drop(1)
		c.inspected = true
	}
	if kept := int32(ins.in.Kept()); kept != ins.kept {
		t.kept += int(kept - ins.kept)
		ins.kept = kept
	}
}

// newInspection takes an inspection from the pool, or makes one.
func (t *Table) newInspection(udp bool) *inspection {
	n := len(t.inspPool)
	if n == 0 {
		ins := &inspection{heldByTable: &t.held}
		ins.in.Reset(udp)
		return ins
	}
	ins := t.inspPool[n-1]
	t.inspPool = t.inspPool[:n-1]
	*ins = inspection{in: ins.in, heldByTable: &t.held}
	ins.in.Reset(udp)
	return ins
}

// maxInspectionPool bounds the inspections kept for reuse.
const maxInspectionPool = 1024

// tcp delivers a TCP segment's payload in sequence order.
func (ins *inspection) tcp(dir int, c *conv, p *pcapread.Packet, isOrig bool) {
	if p.PayloadLen == 0 || p.TCPFlags&pcapread.FlagRST != 0 {
		return
	}
	ep := &c.tcp.resp
	if isOrig {
		ep = &c.tcp.orig
	}
	seq := unwrap(p.Seq, ep.last)
	if p.TCPFlags&pcapread.FlagSYN != 0 {
		seq++
	}
	if !ins.started[dir] {
		// The stream starts after the SYN's sequence number, or, without
		// a SYN, where the endpoint's first packet (or the peer's first
		// acknowledgement) says; an out-of-order first segment waits.
		ins.started[dir], ins.next[dir] = true, ep.start+1
		if seq < ins.next[dir] {
			ins.next[dir] = seq
		}
	}
	ins.add(dir, seq, p.Payload, int(p.PayloadLen))
}

// add delivers data that starts at seq, holding it back if bytes before it
// are missing; payloadLen is the length the headers announce, which a
// snap length may have cut.
func (ins *inspection) add(dir int, seq uint64, data []byte, payloadLen int) {
	end := seq + uint64(payloadLen)
	next := ins.next[dir]
	switch {
	case end <= next:
		return // a retransmission of delivered bytes
	case seq > next:
		var held heldSegments // what the direction holds, if anything
		if ins.pending != nil {
			held = ins.pending[dir]
		}
		if len(held.segments) < maxPendingSegments && held.bytes+len(data) <= maxPendingBytes &&
			*ins.heldByTable+len(data) <= maxHeldBytes && len(data) == payloadLen {
			if ins.pending == nil {
				ins.pending = new([2]heldSegments) // made only for a segment it holds
			}
			into := &ins.pending[dir]
			into.segments = append(into.segments, segment{seq, append([]byte(nil), data...)})
			into.bytes += len(data)
			*ins.heldByTable += len(data)
			return
		}
		ins.gap(dir) // too much is missing: give the direction up
		ins.next[dir] = end
		return
	}
	skip := int(next - seq)
	if skip < len(data) {
		ins.in.Stream(dir, data[skip:])
	}
	ins.next[dir] = end
	if len(data) < payloadLen {
		ins.gap(dir) // the snap length cut the payload
		return
	}
	ins.drain(dir)
}

// drain delivers held segments that have become in order.
func (ins *inspection) drain(dir int) {
	if ins.pending == nil {
		return
	}
	held := &ins.pending[dir]
	for progress := true; progress && len(held.segments) > 0; {
		progress = false
		for k, s := range held.segments {
			if s.seq <= ins.next[dir] {
				held.segments = append(held.segments[:k], held.segments[k+1:]...)
				held.bytes -= len(s.data)
				*ins.heldByTable -= len(s.data)
				ins.add(dir, s.seq, s.data, len(s.data))
				progress = true
				break
			}
		}
	}
}

// gap gives up a direction of the stream: what it holds can no longer be
// delivered.
func (ins *inspection) gap(dir int) {
	ins.in.Gap(dir)
	ins.drop(dir)
}

// drop forgets the segments held for a direction.
func (ins *inspection) drop(dir int) {
	if ins.pending == nil {
		return
	}
	*ins.heldByTable -= ins.pending[dir].bytes
	ins.pending[dir] = heldSegments{}
}
