package analyze

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netfx/netfx/flows"
)

// Finding is one behaviour episode worth an analyst's look, with the
// evidence behind it. Its JSON form is a contract (docs/report-json.md,
// docs/findings.md).
type Finding struct {
	Kind      string   `json:"kind"`                // lateral_movement, unusual_port, scan, brute_force, inbound_access, beacon, exfiltration, long_connection, dns_tunnel, flood, exposure
	Technique string   `json:"technique,omitempty"` // MITRE ATT&CK ID
	Severity  string   `json:"severity"`            // low, medium, high, critical
	Score     int      `json:"score"`               // 0-100
	Src       Endpoint `json:"src"`
	Dst       Endpoint `json:"dst"` // the main target: the only one, or the first reached
	// Targets lists every target, each address once with the ports the
	// finding covers on it, when there are several.
	Targets   []Endpoint  `json:"targets,omitempty"`
	Proto     string      `json:"proto,omitempty"`
	Service   string      `json:"service,omitempty"`
	FirstSeen string      `json:"first_seen"`
	LastSeen  string      `json:"last_seen"`
	Count     int         `json:"count"` // the connections it covers
	Title     string      `json:"title"` // a few words for a table row; Why says it in full
	Evidence  Evidence    `json:"evidence"`
	Why       string      `json:"why"`
	Flood     *FloodStats `json:"flood,omitempty"` // a flood's measures
	first     int64
	last      int64
	dsts      []Endpoint      // every target reached, in order, while the finding is made; Targets at the end
	srcs      []netip.Addr    // for a finding about many sources: all of them
	hops      [][2]netip.Addr // for a pivot chain: the source and target of each hop
	moments   []keyEvent      // key events of the episode after its start, for the timeline
	portOnly  bool            // a lateral-movement finding from ports alone, no payload to confirm it
	gen       int             // sweep generation of the last update, for windowFindings
}

// keyEvent is a moment of an episode worth its own line on the timeline.
type keyEvent struct {
	at    int64
	title string
}

// Endpoint is one side of a finding.
type Endpoint struct {
	IP    netip.Addr `json:"ip"`
	Port  *uint16    `json:"port,omitempty"`
	Ports []uint16   `json:"ports,omitempty"` // in Targets: the ports of this target the finding covers
	Name  string     `json:"name,omitempty"`
	Class string     `json:"class,omitempty"` // internal, external, azure, ... (see HostStat)
}

// Evidence is what an analyst checks a finding against. Each list holds
// at most maxEvidence values; LeftOut says how many more there were.
type Evidence struct {
	UIDs         []string `json:"uids"`                    // conversation records in netfx conns
	CommunityIDs []string `json:"community_ids,omitempty"` // to pivot into Zeek, Suricata, Elastic
	Files        []string `json:"files,omitempty"`         // captures and flow-log blobs
	Facts        []string `json:"facts,omitempty"`         // what the payload or the logs showed
	Rules        []string `json:"flowlog_rules,omitempty"`
	RuleMeanings []string `json:"flowlog_rule_meanings,omitempty"` // "rule: what it does", for the rules the inventory or Azure's defaults explain
	Sources      []string `json:"sources,omitempty"`               // capture, flowlog
	// Processes are the processes VM Insights (VMConnection) names behind
	// the connections: "powershell.exe on vm-jump-01".
	Processes []string `json:"processes,omitempty"`
	madeBy    string   // the first process VM Insights shows making the connections, for the title
	// Connections are the first few connections behind the finding, as
	// netfx conns and the flow-log sections show them.
	Connections []ConnBrief `json:"connections,omitempty"`
	LeftOut     LeftOut     `json:"left_out,omitzero"`
}

// kernelProcess are the processes VM Insights names for connections the
// kernel makes (SMB's client, for one): no tool to put in a title.
var kernelProcess = map[string]bool{"system": true, "system idle process": true}

// maxConnections bounds Evidence.Connections.
const maxConnections = 3

// LeftOut counts the distinct values each evidence list left out.
type LeftOut struct {
	UIDs         int `json:"uids,omitempty"`
	CommunityIDs int `json:"community_ids,omitempty"`
	Files        int `json:"files,omitempty"`
	Facts        int `json:"facts,omitempty"`
	Rules        int `json:"flowlog_rules,omitempty"`
	// seen holds the values left out of the lists whose values repeat
	// across connections, so each counts once (nil until one is).
	seen map[string]struct{}
}

// maxEvidence bounds each evidence list.
const maxEvidence = 20

// finding starts a finding from its first conversation.
func newFinding(kind, technique string, c *flows.Conn, src, dst Endpoint) *Finding {
	f := &Finding{Kind: kind, Technique: technique, Src: src, Dst: dst, Proto: c.ProtoName(), first: c.TS, last: c.TS + c.Duration}
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

// addUnkept counts n conversations whose records were not kept, the
// first starting at first and the last ending at last: each a
// conversation of its own (a scan's attempts), left out of the uids and
// Community IDs listed.
func (f *Finding) addUnkept(n int, first, last int64) {
	if n == 0 {
		return
	}
	f.Count += n
	f.first, f.last = min(f.first, first), max(f.last, last)
	f.Evidence.LeftOut.UIDs += n
	f.Evidence.LeftOut.CommunityIDs += n
}

// add puts a conversation, and what it showed, into the evidence.
func (e *Evidence) add(c *flows.Conn, facts ...string) {
	e.UIDs = e.LeftOut.unique(e.UIDs, c.UID, &e.LeftOut.UIDs)
	e.CommunityIDs = e.LeftOut.unique(e.CommunityIDs, c.CommunityID, &e.LeftOut.CommunityIDs)
	for _, file := range c.Files {
		e.Files = e.LeftOut.repeated(e.Files, 'f', file, &e.LeftOut.Files)
	}
	if c.FlowLog != nil {
		for _, file := range c.FlowLog.Files {
			e.Files = e.LeftOut.repeated(e.Files, 'f', file, &e.LeftOut.Files)
		}
		e.Rules = e.LeftOut.repeated(e.Rules, 'r', c.FlowLog.Rule, &e.LeftOut.Rules)
	}
	e.Sources = appendBounded(e.Sources, string(c.Source))
	if a := c.Analytics; a != nil && a.Process != "" {
		e.Processes = appendBounded(e.Processes, a.Process+" on "+cmp.Or(a.Computer, "?"))
		if e.madeBy == "" && a.Direction == flows.Outbound && !kernelProcess[strings.ToLower(a.Process)] {
			e.madeBy = a.Process
		}
	}
	if len(e.Connections) < maxConnections && !slices.ContainsFunc(e.Connections, func(b ConnBrief) bool { return b.UID == c.UID }) {
		e.Connections = append(e.Connections, brief(c))
	}
	for _, fact := range facts {
		e.addFact(fact)
	}
}

// addFact puts one fact into the evidence.
func (e *Evidence) addFact(fact string) {
	e.Facts = e.LeftOut.repeated(e.Facts, 'x', fact, &e.LeftOut.Facts)
}

// merge adds another finding's evidence, each list still bounded.
func (e *Evidence) merge(o *Evidence) {
	for _, s := range o.UIDs {
		e.UIDs = e.LeftOut.unique(e.UIDs, s, &e.LeftOut.UIDs)
	}
	for _, s := range o.CommunityIDs {
		e.CommunityIDs = e.LeftOut.unique(e.CommunityIDs, s, &e.LeftOut.CommunityIDs)
	}
	e.LeftOut.UIDs += o.LeftOut.UIDs
	e.LeftOut.CommunityIDs += o.LeftOut.CommunityIDs
	for _, s := range o.Files {
		e.Files = e.LeftOut.repeated(e.Files, 'f', s, &e.LeftOut.Files)
	}
	for _, s := range o.Facts {
		e.addFact(s)
	}
	for _, s := range o.Rules {
		e.Rules = e.LeftOut.repeated(e.Rules, 'r', s, &e.LeftOut.Rules)
	}
	for _, s := range o.Sources {
		e.Sources = appendBounded(e.Sources, s)
	}
	for _, s := range o.Processes {
		e.Processes = appendBounded(e.Processes, s)
	}
	e.madeBy = cmp.Or(e.madeBy, o.madeBy)
	for _, b := range o.Connections {
		if len(e.Connections) < maxConnections && !slices.ContainsFunc(e.Connections, func(x ConnBrief) bool { return x.UID == b.UID }) {
			e.Connections = append(e.Connections, b)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.LeftOut.seen)) {
		switch k[0] {
		case 'f':
			e.Files = e.LeftOut.repeated(e.Files, k[0], k[1:], &e.LeftOut.Files)
		case 'x':
			e.Facts = e.LeftOut.repeated(e.Facts, k[0], k[1:], &e.LeftOut.Facts)
		case 'r':
			e.Rules = e.LeftOut.repeated(e.Rules, k[0], k[1:], &e.LeftOut.Rules)
		}
	}
}

// unique appends s to list, bounded; past the bound it counts s as left
// out. It is for values that each connection has its own of (uids,
// Community IDs), which need no set to be counted once.
func (l *LeftOut) unique(list []string, s string, n *int) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	if len(list) >= maxEvidence {
		*n++
		return list
	}
	return append(list, s)
}

// maxLeftOut bounds the set of values left out that a finding remembers:
// past it, LeftOut counts at least that many.
const maxLeftOut = 4096

// repeated is unique for values that repeat across connections (files,
// rules, facts), which a set counts once, keyed by the value after a byte
// naming its list (kind).
func (l *LeftOut) repeated(list []string, kind byte, s string, n *int) []string {
	switch {
	case s == "" || slices.Contains(list, s):
	case len(list) < maxEvidence:
		list = append(list, s)
	default:
		key := string(kind) + s
		if _, ok := l.seen[key]; !ok && len(l.seen) < maxLeftOut {
			if l.seen == nil {
				l.seen = map[string]struct{}{}
			}
			l.seen[key] = struct{}{}
			*n++
		}
	}
	return list
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

// finish fills the derived fields and orders the findings, most severe
// and highest score first, then by time, kind, source and target: a
// total order, so the same evidence always gives the same list.
func finish(fs []*Finding) []Finding {
	out := make([]Finding, 0, len(fs))
	for _, f := range fs {
		f.Score = max(0, min(100, f.Score))
		f.Severity = severityOf(f.Score)
		f.FirstSeen, f.LastSeen = FormatTime(f.first), FormatTime(f.last)
		if f.dsts != nil {
			if !f.Dst.IP.IsValid() {
				f.Dst = f.dsts[0] // the first reached
			}
			f.Targets = targets(f.dsts)
		}
		if f.Evidence.UIDs == nil {
			f.Evidence.UIDs = []string{}
		}
		// Each connection has a uid and a Community ID: those not listed
		// are left out, whether the detector kept the first few or the
		// list filled up.
		e := &f.Evidence
		e.LeftOut.UIDs = max(e.LeftOut.UIDs, f.Count-len(e.UIDs))
		e.LeftOut.CommunityIDs = max(e.LeftOut.CommunityIDs, f.Count-len(e.CommunityIDs))
		if len(e.Processes) > 0 {
			f.Why += "; VM Insights names the process: " + strings.Join(e.Processes, ", ")
		}
		if e.madeBy != "" {
			f.Title += " by " + e.madeBy
		}
		out = append(out, *f)
	}
	slices.SortFunc(out, compareFindings)
	return out
}

// compareFindings is the report's order of findings.
func compareFindings(a, b Finding) int {
	return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.first, b.first), cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Technique, b.Technique), a.Src.IP.Compare(b.Src.IP), a.Dst.IP.Compare(b.Dst.IP),
		cmpPort(a.Dst.Port, b.Dst.Port), cmp.Compare(a.Why, b.Why), cmp.Compare(a.Count, b.Count),
		slices.Compare(a.Evidence.UIDs, b.Evidence.UIDs))
}

// targets lists the endpoints reached, each address once with its ports
// in order, by address.
func targets(reached []Endpoint) []Endpoint {
	var out []Endpoint
	for _, e := range reached {
		i := slices.IndexFunc(out, func(t Endpoint) bool { return t.IP == e.IP })
		if i < 0 {
			out = append(out, Endpoint{IP: e.IP, Name: e.Name, Class: e.Class})
			i = len(out) - 1
		}
		if e.Port != nil {
			if j, found := slices.BinarySearch(out[i].Ports, *e.Port); !found {
				out[i].Ports = slices.Insert(out[i].Ports, j, *e.Port)
			}
		}
	}
	slices.SortFunc(out, func(a, b Endpoint) int { return a.IP.Compare(b.IP) })
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
