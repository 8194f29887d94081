package analyze

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/netfx/netfx/flows"
)

// Merger joins capture conversations with the flow-log connections that
// recorded the same connection: same 5-tuple in either direction (ICMP:
// same addresses, as flow logs carry no type or code) and overlapping
// times, allowing for the minute granularity of flow logs and for clock
// skew. A joined record keeps the capture's Zeek fields and gains the
// logs' view, with Source "both".
type Merger struct {
	tol   int64
	byKey map[mergeKey][]*flows.Conn
	used  map[*flows.Conn]bool
	logs  []*flows.Conn
}

type mergeKey struct {
	a, b         netip.Addr
	aPort, bPort uint16
	proto        uint8
}

func keyFor(c *flows.Conn) mergeKey {
	a, b, ap, bp := c.Orig.Unmap(), c.Resp.Unmap(), c.OrigPort, c.RespPort
	if c.Proto == 1 || c.Proto == 58 {
		ap, bp = 0, 0
	}
	if x := a.Compare(b); x > 0 || (x == 0 && ap > bp) {
		a, b, ap, bp = b, a, bp, ap
	}
	return mergeKey{a, b, ap, bp, c.Proto}
}

// NewMerger indexes the flow-log connections.
func NewMerger(logConns []*flows.Conn, tolerance time.Duration) *Merger {
	m := &Merger{tol: int64(tolerance), byKey: make(map[mergeKey][]*flows.Conn), used: make(map[*flows.Conn]bool), logs: logConns}
	for _, c := range logConns {
		k := keyFor(c)
		m.byKey[k] = append(m.byKey[k], c)
	}
	return m
}

// Merge attaches to capture conversation c the flow-log connections that
// overlap it in time, and returns c.
func (m *Merger) Merge(c *flows.Conn) *flows.Conn {
	cands := m.byKey[keyFor(c)]
	if len(cands) == 0 {
		return c
	}
	start, end := c.TS, c.TS+c.Duration
	for _, l := range cands {
		v := l.FlowLog
		if end < v.Begin-m.tol || start > v.End+m.tol {
			continue
		}
		m.used[l] = true
		if c.FlowLog == nil {
			view := *v
			c.FlowLog = &view
			c.Source = flows.SourceBoth
			if l.Orig.Unmap() != c.Orig.Unmap() || (l.OrigPort != c.OrigPort && c.Proto != 1 && c.Proto != 58) {
				// The log names the other side as initiator: turn its
				// counters to the capture's originator.
				c.FlowLog.OrigPkts, c.FlowLog.RespPkts = v.RespPkts, v.OrigPkts
				c.FlowLog.OrigBytes, c.FlowLog.RespBytes = v.RespBytes, v.OrigBytes
			}
			continue
		}
		joinViews(c.FlowLog, v)
	}
	return c
}

// joinViews adds a second flow-log connection to a record's view.
func joinViews(dst, src *flows.FlowLogView) {
	dst.Begin, dst.End = min(dst.Begin, src.Begin), max(dst.End, src.End)
	dst.Ended = dst.Ended || src.Ended
	if src.Decision == "deny" && dst.Decision != "deny" {
		dst.Decision, dst.Rule = "deny", src.Rule
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

// Unmatched returns the flow-log connections no capture conversation
// matched, in time order: what only the logs saw.
func (m *Merger) Unmatched() []*flows.Conn {
	var out []*flows.Conn
	for _, c := range m.logs {
		if !m.used[c] {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b *flows.Conn) int { return cmp.Compare(a.TS, b.TS) })
	return out
}
