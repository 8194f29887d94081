package analyze

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
	"github.com/netfx/netfx/internal/record"
)

// Long connections: one connection lasting an hour or more (RITA's
// threshold), as the capture, the flow logs, or the pieces of it that
// capture gaps cut show it: a C2 channel, a tunnel, or an admin session
// to confirm.

// longDuration is where a long connection starts.
const longDuration = time.Hour

type longConnectionDetector struct {
	// pieces gathers, per TCP 5-tuple, the conversations that may be
	// parts of one connection that a capture gap cut: those still open
	// when they ended, and those that started without a handshake. There
	// is one such for many a conversation, so they spill as pairs do,
	// keyed by a hash of the 5-tuple (with a list for the rare 5-tuples
	// that share one).
	pieces     *pairMap[[]piecesAcc]
	piecesSeed maphash.Seed
	long       []*Finding
}

func newLongConnectionDetector() *longConnectionDetector {
	return &longConnectionDetector{pieces: newPairMap[[]piecesAcc](pairMapLimit, piecesCodec{}), piecesSeed: maphash.MakeSeed()}
}

func (v *longConnectionDetector) err() error { return v.pieces.Err() }

func (v *longConnectionDetector) observe(d *detection, c *flows.Conn) {
	if first, last := span(c); last-first >= int64(longDuration) && established(c) {
		f := newFinding("long_connection", "", c, d.endpoint(c.Orig, nil), d.endpoint(c.Resp, port(c.RespPort)))
		f.first, f.last = first, last
		f.add(c, fmt.Sprintf("one connection lasting %s", time.Duration(last-first).Round(time.Second)))
		v.long = append(v.long, f)
		return
	}
	if c.Proto != ipproto.TCP || !c.Captured() || (strings.ContainsAny(c.History, "FfRr") && strings.HasPrefix(c.History, "S")) {
		return // a whole connection, or one the logs alone saw
	}
	if failed(c) {
		return // an attempt nobody answered: no piece of a connection
	}
	ends := c.Endpoints()
	k := maphash.Comparable(v.piecesSeed, ends)
	ps := v.pieces.get(k)
	i := slices.IndexFunc(ps, func(p piecesAcc) bool { return p.ends == ends })
	if i < 0 {
		ps = append(ps, piecesAcc{ends: ends, first: c.TS, last: c.TS + c.Duration, orig: c.Orig})
		i = len(ps) - 1
	}
	p := &ps[i]
	if strings.ContainsAny(c.History, "AaDd") {
		p.carried++
	}
	p.n++
	p.first, p.last = min(p.first, c.TS), max(p.last, c.TS+c.Duration)
	if len(p.kept) < maxEvidence {
		p.kept = append(p.kept, d.keep(c))
	}
	v.pieces.set(k, ps)
}

func (v *longConnectionDetector) findings(d *detection) []*Finding {
	out := []*Finding{}
	for _, f := range v.long {
		out = append(out, longFinding(d, f, ""))
	}
	defer v.pieces.close()
	for _, ps := range v.pieces.all() {
		for _, p := range ps {
			if p.n > 1 && p.carried > 1 && p.last-p.first >= int64(longDuration) {
				first := d.evidence.get(p.kept[0])
				f := d.findingFrom("long_connection", "", p.kept, d.endpoint(p.orig, nil), d.endpoint(first.Resp, port(first.RespPort)))
				f.Count, f.first, f.last = p.n, p.first, p.last
				out = append(out, longFinding(d, f, fmt.Sprintf(", in %d pieces that capture gaps cut", f.Count)))
			}
		}
	}
	return out
}

// piecesAcc is the pieces of one 5-tuple: most stay one piece, so the
// finding is only made at the end, for those that join into a long one.
type piecesAcc struct {
	ends        flows.Endpoints
	first, last int64
	n           int
	// carried counts the pieces with data or acknowledgements: a lone
	// reset or FIN may end a connection, but resets alone are none.
	carried int
	orig    netip.Addr
	kept    []keptRef // the first pieces, for evidence
}

type piecesCodec struct{}

func (piecesCodec) append(b []byte, ps []piecesAcc) []byte {
	b = binary.AppendUvarint(b, uint64(len(ps)))
	for _, p := range ps {
		b = record.AppendAddr(b, p.ends.A)
		b = record.AppendAddr(b, p.ends.B)
		b = binary.AppendUvarint(b, uint64(p.ends.APort))
		b = binary.AppendUvarint(b, uint64(p.ends.BPort))
		b = append(b, p.ends.Proto)
		b = binary.AppendVarint(b, p.first)
		b = binary.AppendVarint(b, p.last)
		b = binary.AppendUvarint(b, uint64(p.n))
		b = binary.AppendUvarint(b, uint64(p.carried))
		b = record.AppendAddr(b, p.orig)
		b = binary.AppendUvarint(b, uint64(len(p.kept)))
		for _, k := range p.kept {
			b = binary.AppendVarint(b, int64(k))
		}
	}
	return b
}

func (piecesCodec) decode(b []byte) ([]piecesAcc, error) {
	d := record.NewDecoder(b)
	n := d.Uvarint()
	if n > uint64(d.Left()) { // each takes bytes
		d.Fail(io.ErrUnexpectedEOF)
		n = 0
	}
	ps := make([]piecesAcc, n)
	for i := range ps {
		p := &ps[i]
		p.ends.A, p.ends.B = d.Addr(), d.Addr()
		p.ends.APort, p.ends.BPort, p.ends.Proto = uint16(d.Uvarint()), uint16(d.Uvarint()), d.Byte()
		p.first, p.last, p.n, p.carried, p.orig = d.Varint(), d.Varint(), int(d.Uvarint()), int(d.Uvarint()), d.Addr()
		kept := d.Uvarint()
		if kept > maxEvidence {
			d.Fail(io.ErrUnexpectedEOF)
			kept = 0
		}
		p.kept = make([]keptRef, kept)
		for j := range p.kept {
			p.kept[j] = keptRef(d.Varint())
		}
	}
	return ps, d.End()
}

func (piecesCodec) merge(older, newer []piecesAcc) []piecesAcc {
	for _, n := range newer {
		i := slices.IndexFunc(older, func(o piecesAcc) bool { return o.ends == n.ends })
		if i < 0 {
			older = append(older, n)
			continue
		}
		o := &older[i]
		o.first, o.last, o.n, o.carried = min(o.first, n.first), max(o.last, n.last), o.n+n.n, o.carried+n.carried
		o.kept = append(o.kept, n.kept[:min(len(n.kept), maxEvidence-len(o.kept))]...)
	}
	return older
}

// span is how long a conversation lasted as far as the evidence shows: the
// capture's duration, or the flow logs' when they saw more of it.
func span(c *flows.Conn) (first, last int64) {
	first, last = c.TS, c.TS+c.Duration
	if v := c.FlowLog; v != nil && v.Decision != flows.Deny && v.End > v.Begin && v.Begin > 0 {
		first, last = min(first, v.Begin), max(last, v.End)
	}
	return first, last
}

// longFinding scores and explains a long connection.
func longFinding(d *detection, f *Finding, pieces string) *Finding {
	f.Score = 35
	if !d.internal(f.Src.IP) || !d.internal(f.Dst.IP) {
		f.Score = 50
	}
	f.Title = fmt.Sprintf("connection of %s", spanOf(f))
	f.Why = fmt.Sprintf("a connection from %s to %s lasted %s%s: a long-lived channel (C2, tunnel) or an admin session to confirm",
		f.Src.IP, f.Dst.IP, spanOf(f), pieces)
	return f
}
