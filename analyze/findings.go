package analyze

import (
	"cmp"
	"encoding/json"
	"net/netip"
	"slices"
	"time"

	"github.com/netfx/netfx/flows"
)

// Finding is one behaviour episode worth an analyst's look, with the
// evidence behind it. Its JSON form is a contract (docs/findings.md).
type Finding struct {
	Kind      string   `json:"kind"`                // lateral_movement, unusual_port, scan, brute_force, inbound_access, beacon, exfiltration, long_connection, dns_tunnel
	Technique string   `json:"technique,omitempty"` // MITRE ATT&CK ID
	Severity  string   `json:"severity"`            // low, medium, high, critical
	Score     int      `json:"score"`               // 0-100
	Src       Endpoint `json:"src"`
	Dst       Target   `json:"dst"`
	Proto     string   `json:"proto,omitempty"`
	Service   string   `json:"service,omitempty"`
	FirstSeen string   `json:"first_seen"`
	LastSeen  string   `json:"last_seen"`
	Count     int      `json:"count"` // connections or flows it covers
	Evidence  Evidence `json:"evidence"`
	Why       string   `json:"why"`
	first     int64
	last      int64
	dsts      []Endpoint
	gen       int // sweep generation of the last update, for windowFindings
}

// Target is the other side of a finding: one endpoint, or, for a finding
// that covers several targets, all of them.
type Target struct {
	Endpoint            // the target, or the first of All
	All      []Endpoint // every target, sorted, when there are several; nil for one
}

// MarshalJSON writes one target as an endpoint object, several as an
// array of them.
func (t Target) MarshalJSON() ([]byte, error) {
	if t.All != nil {
		return json.Marshal(t.All)
	}
	return json.Marshal(t.Endpoint)
}

// Endpoint is one side of a finding.
type Endpoint struct {
	IP   netip.Addr `json:"ip"`
	Port *uint16    `json:"port,omitempty"`
	Name string     `json:"name,omitempty"`
}

// Evidence is what an analyst checks a finding against.
type Evidence struct {
	UIDs         []string `json:"uids"`                    // conversation records in netfx conns
	CommunityIDs []string `json:"community_ids,omitempty"` // to pivot into Zeek, Suricata, Elastic
	Files        []string `json:"files,omitempty"`         // captures and flow-log blobs
	Facts        []string `json:"facts,omitempty"`         // what the payload or the logs showed
	Rules        []string `json:"flowlog_rules,omitempty"`
	Sources      []string `json:"sources,omitempty"` // capture, flowlog
}

// maxEvidence bounds each evidence list.
const maxEvidence = 20

// finding starts a finding from its first conversation.
func newFinding(kind, technique string, c *flows.Conn, src, dst Endpoint) *Finding {
	f := &Finding{Kind: kind, Technique: technique, Src: src, Dst: Target{Endpoint: dst}, Proto: c.ProtoName(), first: c.TS, last: c.TS + c.Duration}
	f.Service = c.Service
	return f
}

// findingFrom starts a finding from kept conversations, the first setting
// its protocol, and puts them all into its evidence.
func (d *detection) findingFrom(kind, technique string, kept []keptRef, src, dst Endpoint) *Finding {
	var f *Finding
	for i, k := range kept {
		c := d.evidence.get(k)
		if i == 0 {
			f = newFinding(kind, technique, c, src, dst)
		}
		f.add(c)
	}
	return f
}

// add puts a conversation into the finding's evidence.
func (f *Finding) add(c *flows.Conn, facts ...string) {
	f.Count++
	f.first = min(f.first, c.TS)
	f.last = max(f.last, c.TS+c.Duration)
	f.Evidence.add(c, facts...)
	if f.Service == "" {
		f.Service = c.Service
	}
}

// add puts a conversation, and what it showed, into the evidence.
func (e *Evidence) add(c *flows.Conn, facts ...string) {
	e.UIDs = appendBounded(e.UIDs, c.UID)
	e.CommunityIDs = appendBounded(e.CommunityIDs, c.CommunityID)
	for _, file := range c.Files {
		e.Files = appendBounded(e.Files, file)
	}
	if c.FlowLog != nil {
		for _, file := range c.FlowLog.Files {
			e.Files = appendBounded(e.Files, file)
		}
		e.Rules = appendBounded(e.Rules, c.FlowLog.Rule)
	}
	e.Sources = appendBounded(e.Sources, c.Source)
	for _, fact := range facts {
		e.Facts = appendBounded(e.Facts, fact)
	}
}

// merge adds another finding's evidence, each list still bounded.
func (e *Evidence) merge(o *Evidence) {
	for _, lists := range [][2]*[]string{{&e.UIDs, &o.UIDs}, {&e.CommunityIDs, &o.CommunityIDs}, {&e.Files, &o.Files},
		{&e.Facts, &o.Facts}, {&e.Rules, &o.Rules}, {&e.Sources, &o.Sources}} {
		for _, s := range *lists[1] {
			*lists[0] = appendBounded(*lists[0], s)
		}
	}
}

func appendBounded(list []string, s string) []string {
	if s == "" || len(list) >= maxEvidence || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// severityOf maps a score to a severity.
func severityOf(score int) string {
	switch {
	case score >= 90:
		return "critical"
	case score >= 70:
		return "high"
	case score >= 40:
		return "medium"
	}
	return "low"
}

// finish fills the derived fields and orders the findings: most severe
// and highest score first, then by time, kind and source.
func finish(fs []*Finding) []Finding {
	out := make([]Finding, 0, len(fs))
	for _, f := range fs {
		f.Score = max(0, min(100, f.Score))
		f.Severity = severityOf(f.Score)
		f.FirstSeen, f.LastSeen = FormatTime(f.first), FormatTime(f.last)
		if f.dsts != nil {
			slices.SortFunc(f.dsts, func(a, b Endpoint) int { return cmp.Or(a.IP.Compare(b.IP), cmpPort(a.Port, b.Port)) })
			f.Dst = Target{Endpoint: f.dsts[0], All: f.dsts}
		}
		if f.Evidence.UIDs == nil {
			f.Evidence.UIDs = []string{}
		}
		out = append(out, *f)
	}
	slices.SortStableFunc(out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.first, b.first), cmp.Compare(a.Kind, b.Kind),
			a.Src.IP.Compare(b.Src.IP), cmp.Compare(a.Why, b.Why))
	})
	return out
}

func cmpPort(a, b *uint16) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return cmp.Compare(*a, *b)
}

func port(p uint16) *uint16 { return &p }

// durationOf is a conversation's span as a time.Duration.
func durationOf(c *flows.Conn) time.Duration { return time.Duration(c.Duration) }

// keptPerPair is how many conversations a detector keeps per pair or
// domain for the evidence of a finding it may report at the end.
const keptPerPair = 3
