package ingest

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"slices"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/loganalytics"
)

// AnalyticsResult is what one Log Analytics export gave: Traffic
// Analytics or VMConnection flows (joined to the conversations, or
// records of their own), or VMBoundPort's listening ports.
type AnalyticsResult struct {
	Path       string
	Size       int64 // the file's size in bytes; -1 for a stream
	Stats      loganalytics.Stats
	BoundPorts []loganalytics.BoundPort
	// Names are the VM names Traffic Analytics gives the addresses of its
	// flows, each address once, in the order first seen.
	Names []VMName
	Err   error // why reading stopped early; rows skipped are in Stats.Damage
}

// VMName is an address and the VM Traffic Analytics says has it.
type VMName struct {
	IP   netip.Addr
	Name string
	At   int64 // Unix ns: the first flow that said so
}

// maxNames bounds the names one export hands on.
const maxNames = 1 << 16

// maxAnalyticsRows bounds the export rows held for the join: Log
// Analytics returns at most 500,000 rows a query (30,000 to the portal's
// CSV export), so several exports fit.
const maxAnalyticsRows = 1 << 22

// maxBoundPorts bounds the listening ports handed on.
const maxBoundPorts = 1 << 16

// analyticsKey is what a row and a conversation share: no source port.
type analyticsKey struct {
	src, dst netip.Addr
	port     uint16
	proto    uint8
}

// analyticsJoin holds the export rows and joins them to the conversations
// as they go by: a conversation takes what the rows with its addresses,
// responder port and protocol, around its time, say of it; rows no
// conversation took become records of their own at the end.
type analyticsJoin struct {
	rows      []loganalytics.Flow
	byKey     map[analyticsKey][]int32
	matched   []bool
	seen      map[rowKey]struct{} // rows held, so a row in two exports is held once
	tolerance int64
	left      int // rows past maxAnalyticsRows, not held
	seed      uint16
}

// readAnalytics reads the Log Analytics exports, each whole, before the
// evidence.
func (r *run) readAnalytics(paths []string) {
	for _, p := range paths {
		if r.ctx.Err() != nil {
			return
		}
		res := AnalyticsResult{Path: p, Size: fileSize(p)}
		named := map[netip.Addr]bool{}
		name := func(a netip.Addr, vm string, at int64) {
			if vm != "" && !named[a] && len(res.Names) < maxNames {
				named[a] = true
				res.Names = append(res.Names, VMName{a, vm, at})
			}
		}
		res.Stats, res.Err = openAndRead(r.in, p, func(rd io.Reader) io.Reader { return rd }, func(rd io.Reader) (loganalytics.Stats, error) {
			return loganalytics.Read(rd, p, func(f loganalytics.Flow) {
				name(f.Src, f.SrcVM, f.Start)
				name(f.Dst, f.DstVM, f.Start)
				r.analytics.add(f)
			}, func(b loganalytics.BoundPort) {
				if len(res.BoundPorts) < maxBoundPorts {
					res.BoundPorts = append(res.BoundPorts, b)
				}
			})
		})
		reportSkipped(r, p, res.Stats.Damage, res.Stats.Skipped, "rows")
		if res.Err != nil {
			r.sink.Problem(Problem{Path: p, Err: res.Err})
		}
		r.sink.Analytics(res)
	}
	if n := r.analytics.left; n > 0 {
		r.sink.Problem(Problem{Warning: true, Err: fmt.Errorf("%d Log Analytics rows past the first %d left out of the join", n, maxAnalyticsRows)})
	}
}

// rowKey is what makes a row the same as another: the same flow in the
// same window, from the same table, by the same process.
type rowKey struct {
	table      string
	key        analyticsKey
	start, end int64
	denied     bool
	process    string
}

func (j *analyticsJoin) add(f loganalytics.Flow) {
	if j.byKey == nil {
		j.byKey, j.seen = map[analyticsKey][]int32{}, map[rowKey]struct{}{}
	}
	rk := rowKey{f.Table, analyticsKey{f.Src, f.Dst, f.DstPort, f.Proto}, f.Start, f.End, f.Denied, f.Process}
	if _, dup := j.seen[rk]; dup {
		return // the same row in another export (overlapping queries)
	}
	if len(j.rows) >= maxAnalyticsRows {
		j.left++
		return
	}
	j.seen[rk] = struct{}{}
	k := analyticsKey{f.Src, f.Dst, f.DstPort, f.Proto}
	j.byKey[k] = append(j.byKey[k], int32(len(j.rows)))
	j.rows = append(j.rows, f)
	j.matched = append(j.matched, false)
}

// enrich gives c what the rows that match it say, and marks them taken.
func (j *analyticsJoin) enrich(c *flows.Conn) {
	idx := j.byKey[analyticsKey{c.Orig, c.Resp, c.RespPort, c.Proto}]
	for _, i := range idx {
		f := &j.rows[i]
		if c.TS > f.End+j.tolerance || c.TS+c.Duration < f.Start-j.tolerance {
			continue
		}
		j.matched[i] = true
		v := c.Analytics
		if v == nil {
			v = &flows.AnalyticsView{}
			c.Analytics = v
		}
		if v.Process == "" && f.Process != "" {
			v.Process, v.Computer, v.Direction = f.Process, f.Computer, direction(f.Inbound)
		}
		v.FlowType, v.Country = cmp.Or(v.FlowType, f.FlowType), cmp.Or(v.Country, f.Country)
		if !slices.Contains(v.Files, f.File) {
			v.Files = append(v.Files, f.File)
		}
	}
}

// wrap makes emit enrich each conversation first.
func (j *analyticsJoin) wrap(emit func(*flows.Conn)) func(*flows.Conn) {
	if len(j.rows) == 0 {
		return emit
	}
	return func(c *flows.Conn) {
		j.enrich(c)
		emit(c)
	}
}

// unmatched hands on, as records of their own, the rows no conversation
// took, in time order.
func (j *analyticsJoin) unmatched(emit func(*flows.Conn)) {
	var left []int
	for i, m := range j.matched {
		if !m {
			left = append(left, i)
		}
	}
	slices.SortStableFunc(left, func(a, b int) int { return cmp.Compare(j.rows[a].Start, j.rows[b].Start) })
	for _, i := range left {
		emit(rowConn(&j.rows[i]))
	}
}

// direction is a VMConnection row's direction as netfx writes it.
func direction(inbound bool) flows.Direction {
	if inbound {
		return flows.Inbound
	}
	return flows.Outbound
}

// rowConn makes a record of an export row. It has no source port (0) and
// no Community ID, which needs one; a Traffic Analytics row, made from
// flow logs, carries a flow-log view with its rule, decision and counters.
func rowConn(f *loganalytics.Flow) *flows.Conn {
	c := &flows.Conn{TS: f.Start, Duration: f.End - f.Start, Orig: f.Src, Resp: f.Dst, RespPort: f.DstPort, Proto: f.Proto,
		ConnState: "OTH", Analytics: &flows.AnalyticsView{Process: f.Process, Computer: f.Computer, FlowType: f.FlowType,
			Country: f.Country, Files: []string{f.File}}}
	if f.Process != "" {
		c.Analytics.Direction = direction(f.Inbound)
	}
	switch f.Table {
	case loganalytics.TableTrafficAnalytics:
		c.Source = flows.SourceTrafficAnalytics
		v := &flows.FlowLogView{Begin: f.Start, End: f.End, Rule: f.Rule, Decision: flows.Allow, Direction: flows.Outbound,
			Counted: f.Counted, OrigPkts: f.PktsSent, OrigBytes: f.BytesSent, RespPkts: f.PktsRecv, RespBytes: f.BytesRecv,
			Sources: []string{"Traffic Analytics"}, Files: []string{f.File}}
		if f.Inbound {
			v.Direction = flows.Inbound
		}
		if f.Denied {
			v.Decision, v.Attempts, c.ConnState = flows.Deny, f.Connections, "S0"
		}
		c.FlowLog = v
	default:
		c.Source = flows.SourceVMConnection
	}
	if f.Counted {
		c.OrigPkts, c.OrigIPBytes, c.RespPkts, c.RespIPBytes = f.PktsSent, f.BytesSent, f.PktsRecv, f.BytesRecv
	}
	var buf [96]byte
	b := f.Src.AppendTo(buf[:0])
	b = f.Dst.AppendTo(b)
	b = binary.BigEndian.AppendUint16(b, f.DstPort)
	b = append(b, f.Proto)
	b = binary.BigEndian.AppendUint64(b, uint64(f.Start))
	b = append(b, f.Table...)
	b = binary.BigEndian.AppendUint64(b, uint64(f.Line))
	c.UID = flows.UID(append(b, f.File...))
	return c
}
