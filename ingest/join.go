package ingest

import (
	"iter"
	"slices"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
)

// Join pairs capture conversations with the flow-log connections that
// recorded the same connection: same Endpoints (the 5-tuple in either
// direction; for ICMP the addresses, as flow logs carry no type or code)
// and overlapping times, allowing for the minute granularity of flow logs
// and for clock skew. A joined record keeps the capture's Zeek fields and
// gains the logs' view, with Source "both"; a flow-log connection may join
// several conversations.
//
// Both sequences must be ordered by Endpoints (flows.Endpoints.Compare),
// so that Join holds only the log connections of one 5-tuple at a time.
// Every capture conversation and every log connection goes to emit once:
// joined, or as it came. Records in captures whose Source is not
// "capture" (read from conversation logs) pass through unchanged.
func Join(captures, logs iter.Seq[*flows.Conn], tolerance time.Duration, emit func(*flows.Conn)) {
	next, stop := iter.Pull(logs)
	defer stop()
	pending, more := next()
	var (
		group    []*flows.Conn // the log connections of key
		used     []bool
		key      flows.Endpoints
		haveKey  bool
		tol      = int64(tolerance)
		endGroup = func() {
			for i, l := range group {
				if !used[i] {
					emit(l)
				}
			}
			group, used = group[:0], used[:0]
		}
	)
	for c := range captures {
		if c.Source != flows.SourceCapture {
			emit(c)
			continue
		}
		if k := c.Endpoints(); !haveKey || k != key {
			endGroup()
			key, haveKey = k, true
			for ; more && pending.Endpoints().Compare(k) < 0; pending, more = next() {
				emit(pending)
			}
			for ; more && pending.Endpoints() == k; pending, more = next() {
				group, used = append(group, pending), append(used, false)
			}
		}
		attach(c, group, used, tol)
		emit(c)
	}
	endGroup()
	for ; more; pending, more = next() {
		emit(pending)
	}
}

// attach gives capture conversation c the view of each log connection in
// cands that overlaps it in time, and marks those used.
func attach(c *flows.Conn, cands []*flows.Conn, used []bool, tol int64) {
	start, end := c.TS, c.TS+c.Duration
	for i, l := range cands {
		v := l.FlowLog
		if end < v.Begin-tol || start > v.End+tol {
			continue
		}
		used[i] = true
		if c.FlowLog == nil {
			view := *v
			c.FlowLog = &view
			c.Source = flows.SourceBoth
			if l.Orig != c.Orig || (l.OrigPort != c.OrigPort && !ipproto.IsICMP(c.Proto)) {
				// The log names the other side as initiator: turn its
				// counters to the capture's originator.
				c.FlowLog.OrigPkts, c.FlowLog.RespPkts = v.RespPkts, v.OrigPkts
				c.FlowLog.OrigBytes, c.FlowLog.RespBytes = v.RespBytes, v.OrigBytes
			}
			continue
		}
		joinViews(c.FlowLog, v)
	}
}

// joinViews adds a second flow-log connection to a record's view.
func joinViews(dst, src *flows.FlowLogView) {
	dst.Begin, dst.End = min(dst.Begin, src.Begin), max(dst.End, src.End)
	dst.Ended = dst.Ended || src.Ended
	if src.Decision == flows.Deny && dst.Decision != flows.Deny {
		dst.Decision, dst.Rule = flows.Deny, src.Rule
	}
	if src.Counted {
		dst.Counted = true
		dst.OrigPkts += src.OrigPkts
		dst.OrigBytes += src.OrigBytes
		dst.RespPkts += src.RespPkts
		dst.RespBytes += src.RespBytes
	}
	for _, s := range src.Sources {
		if !slices.Contains(dst.Sources, s) {
			dst.Sources = append(dst.Sources, s)
		}
	}
	for _, f := range src.Files {
		if !slices.Contains(dst.Files, f) {
			dst.Files = append(dst.Files, f)
		}
	}
}

// CompareForJoin orders conversations as Join needs them: by Endpoints,
// then by ts and uid, so the order is total.
func CompareForJoin(a, b *flows.Conn) int {
	if x := a.Endpoints().Compare(b.Endpoints()); x != 0 {
		return x
	}
	return flows.CompareConns(a, b)
}
