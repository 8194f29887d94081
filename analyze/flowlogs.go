package analyze

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/netfx/netfx/flowlog"
	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/ingest"
)

// FlowLogReport is what the flow logs add to a report: their inputs and
// coverage, and how they compare with the captures. Its JSON form is
// documented in docs/report-json.md.
type FlowLogReport struct {
	Inputs        []FlowLogInput `json:"inputs"`
	Coverage      []Coverage     `json:"coverage"`
	Connections   LogCounts      `json:"connections"`
	InGaps        []ConnBrief    `json:"in_capture_gaps"`
	LogOnly       []ConnBrief    `json:"log_only_during_captures"`
	Denied        []DeniedStat   `json:"denied"`
	CaptureOnly   []ConnBrief    `json:"capture_only"`
	Disagreements []Disagreement `json:"disagreements"`
	Rules         []RuleStat     `json:"rules"` // the NSG rules the logs named, with their meaning when known
}

// FlowLogInput describes one flow-log file as read.
type FlowLogInput struct {
	File       string `json:"file"`
	Size       int64  `json:"size"` // of the file, in bytes; -1 for a stream
	Kind       string `json:"kind"` // "nsg" or "vnet"
	Versions   []int  `json:"versions"`
	Records    int    `json:"records"`
	Duplicates int    `json:"duplicate_records"`
	Tuples     int    `json:"tuples"`
	First      string `json:"first,omitempty"`
	Last       string `json:"last,omitempty"`
	Damage     string `json:"damage,omitempty"`

	first, last int64
}

// Coverage is how many tuples one log wrote for one NIC in one hour.
type Coverage struct {
	Log    string `json:"log"` // resource ID
	MAC    string `json:"mac"`
	NIC    string `json:"nic,omitempty"` // the NIC with the MAC, and its VM, in the Azure inventory
	VM     string `json:"vm,omitempty"`
	Hour   string `json:"hour"` // RFC 3339, UTC, the start of the hour
	Tuples int    `json:"tuples"`
}

// LogCounts sorts the connections by who saw them.
type LogCounts struct {
	Both        int `json:"both"`
	FlowLogOnly int `json:"flowlog_only"`
	CaptureOnly int `json:"capture_only"`
	InGaps      int `json:"in_capture_gaps"`
	Denied      int `json:"denied"` // flow-log-only connections the logs show denied
	// AnalyticsOnly counts the records only a Log Analytics export gave
	// (Traffic Analytics, VMConnection rows no capture or flow log showed).
	AnalyticsOnly int `json:"analytics_only"`
}

// ConnBrief points at one connection record, with enough to find it in
// netfx conns output and in the evidence.
type ConnBrief struct {
	UID         string         `json:"uid"`
	CommunityID string         `json:"community_id,omitempty"`
	TS          string         `json:"ts"`
	Duration    float64        `json:"duration"`
	Orig        netip.Addr     `json:"orig_h"`
	OrigPort    uint16         `json:"orig_p"`
	OrigName    string         `json:"orig_name,omitempty"` // the address's name, as top_hosts_* give it
	Resp        netip.Addr     `json:"resp_h"`
	RespPort    uint16         `json:"resp_p"`
	RespName    string         `json:"resp_name,omitempty"`
	Proto       string         `json:"proto"`
	Bytes       uint64         `json:"bytes"` // IP bytes both ways, as counted by the capture or logged
	Rule        string         `json:"rule,omitempty"`
	RuleMeaning string         `json:"rule_meaning,omitempty"` // what the rule does (flow_logs.rules)
	Decision    flows.Decision `json:"decision,omitempty"`
}

// DeniedStat sums the denied attempts from one source to one service.
type DeniedStat struct {
	Src     netip.Addr `json:"src"`
	SrcName string     `json:"src_name,omitempty"` // the addresses' names, as top_hosts_* give them
	Dst     netip.Addr `json:"dst"`
	DstName string     `json:"dst_name,omitempty"`
	DstPort uint16     `json:"dst_port"`
	Proto   string     `json:"proto"`
	Rule    string     `json:"rule"`
	// RuleMeaning says what the rule does (flow_logs.rules).
	RuleMeaning string `json:"rule_meaning,omitempty"`
	Attempts    int    `json:"attempts"`
	First       string `json:"first"`
	Last        string `json:"last"`

	first, last int64
}

// Disagreement is a connection whose logged byte count is far above what
// the capture counted although the capture covered its whole logged span.
type Disagreement struct {
	Conn         ConnBrief `json:"conn"`
	LoggedBytes  uint64    `json:"logged_bytes"`
	CaptureBytes uint64    `json:"capture_bytes"`
	Why          string    `json:"why"`
}

// flowLogAcc accumulates the flow-log side of a Summary.
type flowLogAcc struct {
	inputs      []FlowLogInput
	coverage    map[coverageKey]int
	counts      LogCounts
	inGaps      []*flows.Conn // the largest allowed log-only connections outside the capture windows
	during      []*flows.Conn // the largest allowed log-only connections during a capture
	captureOnly []*flows.Conn // the largest capture-only connections
	denied      map[deniedKey]*DeniedStat
	disagree    []Disagreement
	windows     [][2]int64 // the capture windows, for len(s.inputs) == windowsOf
	windowsOf   int
	rules       map[ruleKey]*ruleAcc
}

type coverageKey struct {
	log, mac string
	hour     int64
}

type deniedKey struct {
	src, dst netip.Addr
	port     uint16
	proto    uint8
	rule     string
}

// AddFlowLog records how one flow-log file was read; its tuples come
// through AddTuple.
func (s *Summary) AddFlowLog(res ingest.FlowLogResult) {
	st := res.Stats
	in := FlowLogInput{File: res.Path, Size: res.Size, Kind: st.Kind, Versions: st.Versions, Records: st.Records, Duplicates: st.Duplicates, Tuples: st.Tuples}
	if in.Versions == nil {
		in.Versions = []int{}
	}
	if st.Tuples > 0 {
		in.First, in.Last, in.first, in.last = FormatTime(st.First), FormatTime(st.Last), st.First, st.Last
	}
	if in.Damage = damage(res.Err, skipped(st.Skipped, st.Damage), st.Outliers, st.OutlierAt, "tuple"); in.Damage != "" {
		s.damage++
	}
	s.fl.inputs = append(s.fl.inputs, in)
}

// AddTuple counts one flow-log tuple toward the coverage table.
func (s *Summary) AddTuple(t *flowlog.Tuple) {
	if s.fl.coverage == nil {
		s.fl.coverage = make(map[coverageKey]int)
	}
	s.fl.coverage[coverageKey{t.Log.ResourceID, t.Log.MAC, t.Time - t.Time%int64(time.Hour)}]++
}

// addLogSide sorts one connection by who saw it. It keeps counts and the
// largest few of each kind, so memory does not grow with the logs; the
// capture files must be added before the connections only the logs saw.
func (s *Summary) addLogSide(c *flows.Conn) {
	a := &s.fl
	a.addRule(c)
	switch c.Source {
	case flows.SourceFlowLog:
		a.counts.FlowLogOnly++
		if c.FlowLog.Decision == flows.Deny {
			a.counts.Denied++
			s.addDenied(c)
			return
		}
		if overlapsAny(c.TS, c.TS+c.Duration, s.captureWindows()) {
			a.during = keepLargest(a.during, c, s.opt.Top)
		} else {
			a.counts.InGaps++
			a.inGaps = keepLargest(a.inGaps, c, s.opt.Top)
		}
	case flows.SourceBoth:
		a.counts.Both++
		v := c.FlowLog
		if v.Decision == flows.Allow && v.Counted && v.OrigBytes+v.RespBytes > disagreementFactor*(c.OrigIPBytes+c.RespIPBytes)+disagreementSlack &&
			coveredBy(v.Begin, v.End-int64(flowlog.EndGrace), s.captureWindows()) {
			a.disagree = append(a.disagree, Disagreement{
				Conn: brief(c), LoggedBytes: v.OrigBytes + v.RespBytes, CaptureBytes: bytesOf(c),
				Why: "the flow logs count far more bytes than the capture, which ran for the whole logged span: packets the capture missed (capture filter, drops) or traffic on another path",
			})
		}
	case flows.SourceCapture:
		a.counts.CaptureOnly++
		a.captureOnly = keepLargest(a.captureOnly, c, s.opt.Top)
	case flows.SourceTrafficAnalytics, flows.SourceVMConnection:
		a.counts.AnalyticsOnly++
	}
}

// addDenied sums a denied flow-log connection into its source and service.
func (s *Summary) addDenied(c *flows.Conn) {
	a := &s.fl
	if a.denied == nil {
		a.denied = make(map[deniedKey]*DeniedStat)
	}
	k := deniedKey{c.Orig, c.Resp, c.RespPort, c.Proto, c.FlowLog.Rule}
	d := a.denied[k]
	if d == nil {
		d = &DeniedStat{Src: c.Orig, Dst: c.Resp, DstPort: c.RespPort, Proto: c.ProtoName(), Rule: c.FlowLog.Rule, first: c.TS}
		a.denied[k] = d
	}
	d.Attempts++ // connections, however many tuples each log wrote of them
	d.first, d.last = min(d.first, c.TS), max(d.last, c.TS+c.Duration)
}

// captureWindows returns the time spans of the capture files read so far.
func (s *Summary) captureWindows() [][2]int64 {
	a := &s.fl
	if a.windowsOf != len(s.inputs) || a.windows == nil {
		a.windows, a.windowsOf = [][2]int64{}, len(s.inputs)
		for _, in := range s.inputs {
			if in.Packets > 0 {
				a.windows = append(a.windows, [2]int64{in.first, in.last})
			}
		}
	}
	return a.windows
}

// A logged byte count above disagreementFactor times the captured count
// plus disagreementSlack is a disagreement; the slack absorbs link-layer
// headers, should a log count them, and rounding.
const (
	disagreementFactor = 2
	disagreementSlack  = 4096
)

// keepLargest keeps the n largest connections by bytes (then the
// earliest, then by uid, so the choice does not depend on the order they
// come in), largest first; a short sorted slice, so each conversation
// costs at most n steps.
func keepLargest(s []*flows.Conn, c *flows.Conn, n int) []*flows.Conn {
	if len(s) == n && compareLargest(c, s[n-1]) >= 0 {
		return s
	}
	i, _ := slices.BinarySearchFunc(s, c, compareLargest)
	k := *c
	k.App = nil // the payload facts are not reported here
	s = slices.Insert(s, i, &k)
	return s[:min(len(s), n)]
}

// compareLargest orders connections by bytes, largest first, then by ts
// and uid.
func compareLargest(x, y *flows.Conn) int {
	return cmp.Or(cmp.Compare(bytesOf(y), bytesOf(x)), cmp.Compare(x.TS, y.TS), cmp.Compare(x.UID, y.UID))
}

func bytesOf(c *flows.Conn) uint64 { return c.OrigIPBytes + c.RespIPBytes }

func brief(c *flows.Conn) ConnBrief {
	b := ConnBrief{
		UID: c.UID, CommunityID: c.CommunityID, TS: FormatTime(c.TS), Duration: float64(c.Duration) / 1e9,
		Orig: c.Orig, OrigPort: c.OrigPort, Resp: c.Resp, RespPort: c.RespPort, Proto: c.ProtoName(),
		Bytes: bytesOf(c),
	}
	if c.FlowLog != nil {
		b.Rule, b.Decision = c.FlowLog.Rule, c.FlowLog.Decision
	}
	return b
}

// flowLogReport builds the flow-log part of the report; nil without logs.
func (s *Summary) flowLogReport() *FlowLogReport {
	a := &s.fl
	if len(a.inputs) == 0 {
		return nil
	}
	r := &FlowLogReport{Inputs: a.inputs, Coverage: []Coverage{}, Connections: a.counts, InGaps: briefs(a.inGaps),
		LogOnly: briefs(a.during), Denied: []DeniedStat{}, CaptureOnly: briefs(a.captureOnly), Disagreements: slices.Clone(a.disagree)}
	for k, n := range a.coverage {
		cov := Coverage{Log: k.log, MAC: k.mac, Hour: FormatTime(k.hour), Tuples: n}
		if h, ok := s.azure.NIC(k.mac); ok {
			cov.NIC, cov.VM = h.NIC, h.VM
		}
		r.Coverage = append(r.Coverage, cov)
	}
	slices.SortFunc(r.Coverage, func(x, y Coverage) int {
		return cmp.Or(cmp.Compare(x.Log, y.Log), cmp.Compare(x.MAC, y.MAC), cmp.Compare(x.Hour, y.Hour))
	})
	for _, d := range a.denied {
		d.First, d.Last = FormatTime(d.first), FormatTime(d.last)
		r.Denied = append(r.Denied, *d)
	}
	slices.SortFunc(r.Denied, func(x, y DeniedStat) int {
		return cmp.Or(cmp.Compare(y.Attempts, x.Attempts), x.Src.Compare(y.Src), x.Dst.Compare(y.Dst), cmp.Compare(x.DstPort, y.DstPort), cmp.Compare(x.Rule, y.Rule))
	})
	r.Denied = r.Denied[:min(len(r.Denied), s.opt.Top)]
	if r.Disagreements == nil {
		r.Disagreements = []Disagreement{}
	}
	slices.SortFunc(r.Disagreements, func(x, y Disagreement) int { return cmp.Compare(x.Conn.UID, y.Conn.UID) })
	return r
}

// briefs describes connections kept by keepLargest, in their order.
func briefs(cs []*flows.Conn) []ConnBrief {
	out := make([]ConnBrief, 0, len(cs))
	for _, c := range cs {
		out = append(out, brief(c))
	}
	return out
}

func overlapsAny(start, end int64, windows [][2]int64) bool {
	for _, w := range windows {
		if end >= w[0] && start <= w[1] {
			return true
		}
	}
	return false
}

func coveredBy(start, end int64, windows [][2]int64) bool {
	for _, w := range windows {
		if start >= w[0] && end <= w[1] {
			return true
		}
	}
	return false
}
