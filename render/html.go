package render

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/netfx/netfx/analyze"
)

// The page and its stylesheet. The page carries no script: its charts are
// SVG drawn here, so it works with JavaScript off, and its
// Content-Security-Policy allows nothing but its own stylesheet.
var (
	//go:embed html/report.html
	pageTemplate string
	//go:embed html/report.css
	pageCSS string

	// pageHTML is parsed when a page is first written, not at every start
	// of netfx (4,000 allocations).
	pageHTML = sync.OnceValue(func() *template.Template { return template.Must(template.New("report").Parse(pageTemplate)) })
)

// HTMLOptions say what ReportHTML writes besides the report.
type HTMLOptions struct {
	Version   string    // netfx's version and commit
	Generated time.Time // when the page was written (SOURCE_DATE_EPOCH pins it)
}

// CSP is the page's Content-Security-Policy: nothing may load or run but
// the stylesheet with this hash, so the page makes no request and runs
// nothing, even with hostile strings in it.
func CSP() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; img-src 'none'; base-uri 'none'; form-action 'none'"
}

// ReportHTML writes the report as one self-contained HTML page: the
// evidence as a whole, a coverage timeline, the findings with their
// evidence, the timeline, a host graph, talkers, ports, denied traffic,
// names and the inputs. The same report and options give the same bytes.
func ReportHTML(w io.Writer, r analyze.Report, opt HTMLOptions) error {
	var header bytes.Buffer
	p := &page{w: &header, opt: TableOptions{Width: 1 << 20}, clock: newClock(r.Totals.First, r.Totals.Last)}
	p.header(r)
	v := htmlPage{
		CSS: template.CSS(pageCSS), CSP: CSP(), R: r,
		Version: opt.Version, Generated: opt.Generated.UTC().Format(time.RFC3339),
		Header:   strings.Split(strings.TrimSpace(header.String()), "\n"),
		Coverage: coverageChart(r),
		Graph:    hostGraph(r),
	}
	for i, f := range r.Findings {
		if i == maxHTMLFindings {
			v.FindingsLeftOut = len(r.Findings) - i
			break
		}
		hf := htmlFinding{N: i + 1, F: f, From: findingEndpoint(f.Src), To: findingEndpoint(f.Dst), Rules: ruleLines(f.Evidence)}
		if f.Targets != nil {
			hf.Targets = findingTargetList(f.Targets)
		}
		v.Findings = append(v.Findings, hf)
	}
	for _, e := range r.Timeline {
		if e.Finding >= maxHTMLFindings {
			continue // as the findings: the most severe
		}
		v.Timeline = append(v.Timeline, htmlEvent{E: e, N: e.Finding + 1, Severity: r.Findings[e.Finding].Severity,
			From: findingEndpoint(e.Src), To: findingEndpoint(e.Dst)})
	}
	v.HostsByBytes, v.HostsByConns = hostRows(r.TopHostsByBytes), hostRows(r.TopHostsByConns)
	most := uint64(1)
	for _, pt := range r.TopPorts {
		most = max(most, pt.Conversations)
	}
	for _, pt := range r.TopPorts {
		v.Ports = append(v.Ports, portRow{P: pt, Bytes: humanBytes(pt.Bytes), Bar: barWidth(pt.Conversations, most)})
	}
	v.Names = r.Names[:min(len(r.Names), maxHTMLNames)]
	var doc bytes.Buffer
	if err := pageHTML().Execute(&doc, v); err != nil {
		return err
	}
	// html/template escapes what HTML reads as markup; the control and
	// bidi characters a string from the evidence may carry are shown as
	// escapes too (the page's own text has none but line ends).
	_, err := io.WriteString(w, escapeRunes(doc.String(), func(r rune) bool { return r != '\n' && unsafeRune(r) }, "", false))
	return err
}

// The page stays a few megabytes on the largest evidence: the most severe
// findings, the names of the busiest addresses; --json lists all.
const (
	maxHTMLFindings = 500
	maxHTMLNames    = 200
)

type htmlPage struct {
	CSS                        template.CSS
	CSP, Version, Generated    string
	R                          analyze.Report
	Header                     []string
	Coverage                   *coverage
	Graph                      *graph
	Findings                   []htmlFinding
	FindingsLeftOut            int
	Timeline                   []htmlEvent
	HostsByBytes, HostsByConns []hostRow
	Ports                      []portRow
	Names                      []analyze.NameSet
}

type htmlFinding struct {
	N                 int
	F                 analyze.Finding
	From, To, Targets string
	Rules             []string // each NSG rule, with its meaning when known
}

type htmlEvent struct {
	E                  analyze.Event
	N                  int
	Severity, From, To string
}

type hostRow struct {
	H     analyze.HostStat
	Bytes string
	Bar   int
}

type portRow struct {
	P     analyze.PortStat
	Bytes string
	Bar   int
}

func hostRows(hs []analyze.HostStat) []hostRow {
	most := uint64(1)
	for _, h := range hs {
		most = max(most, h.Bytes)
	}
	out := make([]hostRow, 0, len(hs))
	for _, h := range hs {
		out = append(out, hostRow{H: h, Bytes: humanBytes(h.Bytes), Bar: barWidth(h.Bytes, most)})
	}
	return out
}

// barWidth is a bar's length, of 120, for n of most.
func barWidth(n, most uint64) int { return int(math.Round(120 * float64(n) / float64(most))) }

func findingTargetList(ts []analyze.Endpoint) string {
	parts := make([]string, len(ts))
	for i, e := range ts {
		ports := make([]string, len(e.Ports))
		for j, p := range e.Ports {
			ports[j] = fmt.Sprint(p)
		}
		parts[i] = e.IP.String()
		if len(ports) > 0 {
			parts[i] += ":" + strings.Join(ports, ",")
		}
	}
	return strings.Join(parts, " ")
}

// The coverage chart: lanes for inputs, gaps, bars of connections per
// interval, and marks for findings, on one time axis.
type coverage struct {
	Width, Height, Left, Right, Span int
	AxisY, BarsLabelY, MarksLabelY   int
	BytesLabelY                      int
	Lanes                            []lane
	Gaps, Bars, Marks                []box
	Ticks                            []tick
}

type lane struct {
	Label       string
	Y, H, TextY int
	Spans       []box
}

type box struct {
	X, Y, W, H int
	Class      string
	Title      string
	N          int // the finding a mark links to
}

type tick struct {
	X, Y2, TextY  int
	Label, Anchor string
}

// Chart geometry, in SVG units.
const (
	chartWidth = 1320
	chartLeft  = 260
	laneHeight = 14
	laneGap    = 4
	barsHeight = 80
	maxLanes   = 40
)

func coverageChart(r analyze.Report) *coverage {
	first, err1 := time.Parse(time.RFC3339Nano, r.Totals.First)
	last, err2 := time.Parse(time.RFC3339Nano, r.Totals.Last)
	if err1 != nil || err2 != nil || !last.After(first) {
		return nil
	}
	c := &coverage{Width: chartWidth, Left: chartLeft, Right: chartWidth - 10}
	c.Span = c.Right - c.Left
	x := func(s string) int {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return c.Left
		}
		f := float64(t.Sub(first)) / float64(last.Sub(first))
		return c.Left + int(math.Round(math.Max(0, math.Min(1, f))*float64(c.Span)))
	}
	y := 4
	addLane := func(label string) *lane {
		c.Lanes = append(c.Lanes, lane{Label: truncate(label, 40), Y: y, H: laneHeight, TextY: y + laneHeight - 3})
		y += laneHeight + laneGap
		return &c.Lanes[len(c.Lanes)-1]
	}
	for _, in := range r.Inputs {
		if in.First == "" || len(c.Lanes) >= maxLanes {
			continue
		}
		l := addLane(lastPathPart(in.File))
		x1, x2 := x(in.First), x(in.Last)
		l.Spans = append(l.Spans, box{X: x1, Y: l.Y, W: max(x2-x1, 2), H: l.H, Class: "capture",
			Title: fmt.Sprintf("%s: %s to %s, %d packets", in.File, in.First, in.Last, in.Packets)})
	}
	if r.FlowLogs != nil {
		nics := map[string]*lane{}
		for _, cv := range r.FlowLogs.Coverage {
			k := lastSegment(cv.Log) + " " + cv.MAC
			l := nics[k]
			if l == nil {
				if len(c.Lanes) >= maxLanes {
					continue
				}
				l = addLane(k)
				nics[k] = l
			}
			hour, err := time.Parse(time.RFC3339Nano, cv.Hour)
			if err != nil {
				continue
			}
			x1 := x(hour.Format(time.RFC3339Nano))
			x2 := x(hour.Add(time.Hour).Format(time.RFC3339Nano))
			l.Spans = append(l.Spans, box{X: x1, Y: l.Y, W: max(x2-x1, 1), H: l.H, Class: "flowlog",
				Title: fmt.Sprintf("%s, %s: %d tuples", k, cv.Hour, cv.Tuples)})
		}
	}
	lanesBottom := y
	for _, g := range r.Gaps {
		x1, x2 := x(g.Start), x(g.End)
		c.Gaps = append(c.Gaps, box{X: x1, Y: 0, W: max(x2-x1, 1), H: lanesBottom, Title: fmt.Sprintf("no capture ran from %s to %s", g.Start, g.End)})
	}
	// Connections, then bytes, per interval, stacked: captured, flow logs
	// only, denied (denied connections carry no bytes).
	barsTop := lanesBottom + 8
	c.BarsLabelY, c.BytesLabelY = barsTop+12, barsTop+barsHeight+8+12
	c.stack(r.Series, barsTop, func(b analyze.SeriesBin) [3]uint64 { return [3]uint64{b.Captured, b.FlowLogOnly, b.Denied} }, "connections")
	barsTop += barsHeight + 8
	c.stack(r.Series, barsTop, func(b analyze.SeriesBin) [3]uint64 { return [3]uint64{b.CapturedBytes, b.FlowLogOnlyBytes, 0} }, "bytes")
	marksTop := barsTop + barsHeight + 8
	c.MarksLabelY = marksTop + 11
	for i, f := range r.Findings {
		if i >= maxLanes*5 {
			break
		}
		c.Marks = append(c.Marks, box{X: x(f.FirstSeen) - 3, Y: marksTop, W: 6, H: 14, Class: f.Severity, N: i + 1,
			Title: fmt.Sprintf("#%d %s %s: %s", i+1, f.Severity, f.FirstSeen, f.Title)})
	}
	c.AxisY = marksTop + 20
	c.Height = c.AxisY + 22
	for i := range 7 {
		t := first.Add(time.Duration(float64(last.Sub(first)) * float64(i) / 6))
		layout := "15:04" // ticks a minute or more apart: minutes tell them apart
		switch span := last.Sub(first); {
		case span > 24*time.Hour:
			layout = "01-02 15:04"
		case span < 6*time.Minute:
			layout = "15:04:05"
		}
		label := t.UTC().Format(layout)
		tx := c.Left + c.Span*i/6
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 6:
			anchor = "end"
		}
		c.Ticks = append(c.Ticks, tick{X: tx, Y2: c.AxisY + 4, TextY: c.AxisY + 16, Label: label, Anchor: anchor})
	}
	return c
}

// stack draws bars of the series' three counts, stacked, from top.
func (c *coverage) stack(series []analyze.SeriesBin, top int, counts func(analyze.SeriesBin) [3]uint64, what string) {
	var most uint64 = 1
	for _, b := range series {
		n := counts(b)
		most = max(most, n[0]+n[1]+n[2])
	}
	if len(series) == 0 {
		return
	}
	w := max(float64(c.Span)/float64(len(series)), 1)
	classes := [3]string{"captured", "logonly", "denied"}
	names := [3]string{"captured", "seen by the flow logs only", "denied"}
	for i, b := range series {
		bx := c.Left + int(math.Round(float64(i)*w))
		base := top + barsHeight
		for k, n := range counts(b) {
			if n == 0 {
				continue
			}
			h := max(int(math.Round(float64(barsHeight)*float64(n)/float64(most))), 1)
			base -= h
			count := fmt.Sprint(n)
			if what == "bytes" {
				count = humanBytes(n)
			}
			c.Bars = append(c.Bars, box{X: bx, Y: base, W: max(int(w)-1, 1), H: h, Class: classes[k],
				Title: fmt.Sprintf("%s: %s %s, %s", b.Start, count, what, names[k])})
		}
	}
}

// lastPathPart is a path's file name.
func lastPathPart(p string) string { return p[strings.LastIndexAny(p, `/\`)+1:] }

// The host graph: the busiest hosts, internal on the left and the others on
// the right, joined by the top pairs and by the findings.
type graph struct {
	Width, Height int
	Cut           string
	Nodes         []node
	Edges         []edge
}

type node struct {
	X, Y, TextX, TextY int
	Anchor, Class      string
	Label, Title       string
}

type edge struct {
	X1, Y1, X2, Y2, CX int
	StrokeWidth        string
	Class, Title       string
	A, B, Bytes        string
	Conns              uint64
}

// maxGraphHosts bounds the host graph.
const maxGraphHosts = 40

func hostGraph(r analyze.Report) *graph {
	type host struct {
		ip       netip.Addr
		label    string
		class    string
		internal bool
		bytes    uint64
	}
	hosts := map[netip.Addr]*host{}
	add := func(ip netip.Addr, name, class string, internal bool, bytes uint64) {
		if h := hosts[ip]; h != nil {
			h.bytes = max(h.bytes, bytes)
			return
		}
		label := ip.String()
		if name != "" {
			label += " " + truncate(name, 28)
		}
		hosts[ip] = &host{ip: ip, label: label, class: class, internal: internal, bytes: bytes}
	}
	for _, list := range [][]analyze.HostStat{r.TopHostsByBytes, r.TopHostsByConns} {
		for _, h := range list {
			add(h.IP, h.Name, h.Class, h.Internal, h.Bytes)
		}
	}
	type pairKey [2]netip.Addr
	edges := map[pairKey]*edge{}
	pairOf := func(a, b netip.Addr) pairKey {
		if b.Less(a) {
			a, b = b, a
		}
		return pairKey{a, b}
	}
	for _, list := range [][]analyze.PairStat{r.TopPairsByBytes, r.TopPairsByConns} {
		for _, p := range list {
			add(p.A, p.AName, p.AClass, p.AInternal, 0)
			add(p.B, p.BName, p.BClass, p.BInternal, 0)
			edges[pairOf(p.A, p.B)] = &edge{A: p.A.String(), B: p.B.String(), Bytes: humanBytes(p.Bytes), Conns: p.Conversations,
				StrokeWidth: fmt.Sprintf("%.1f", 1+math.Log10(1+float64(p.Bytes))/2)}
		}
	}
	for _, f := range r.Findings {
		if f.Severity == "low" || !f.Src.IP.IsValid() || !f.Dst.IP.IsValid() || f.Src.IP == f.Dst.IP {
			continue
		}
		for _, e := range []analyze.Endpoint{f.Src, f.Dst} {
			if hosts[e.IP] == nil {
				add(e.IP, e.Name, e.Class, e.Class == analyze.ClassInternal, 0)
			}
		}
		k := pairOf(f.Src.IP, f.Dst.IP)
		e := edges[k]
		if e == nil {
			e = &edge{A: k[0].String(), B: k[1].String(), StrokeWidth: "2.0"}
			edges[k] = e
		}
		if e.Class == "" || severityRank(f.Severity) > severityRank(e.Class) {
			e.Class = f.Severity
			e.Title = f.Title
		}
	}
	if len(hosts) == 0 {
		return nil
	}
	all := make([]*host, 0, len(hosts))
	for _, h := range hosts {
		all = append(all, h)
	}
	slices.SortFunc(all, func(a, b *host) int { return cmp.Or(cmp.Compare(b.bytes, a.bytes), a.ip.Compare(b.ip)) })
	g := &graph{Width: chartWidth, Cut: fmt.Sprintf("%d in the tables and findings", len(all))}
	if len(all) > maxGraphHosts {
		g.Cut = fmt.Sprintf("%d of %d: the rest are in the tables", maxGraphHosts, len(all))
		all = all[:maxGraphHosts]
	}
	var left, right []*host
	for _, h := range all {
		if h.internal {
			left = append(left, h)
		} else {
			right = append(right, h)
		}
	}
	for _, side := range [][]*host{left, right} {
		slices.SortFunc(side, func(a, b *host) int { return a.ip.Compare(b.ip) })
	}
	rows := max(len(left), len(right), 1)
	g.Height = 30 + rows*22
	pos := map[netip.Addr][2]int{}
	place := func(side []*host, x, textX int, anchor string) {
		for i, h := range side {
			y := 20 + i*22 + (rows-len(side))*11
			pos[h.ip] = [2]int{x, y}
			class := "external"
			switch {
			case h.internal:
				class = "internal"
			case h.class != analyze.ClassExternal && h.class != "":
				class = "other"
			}
			g.Nodes = append(g.Nodes, node{X: x, Y: y, TextX: textX, TextY: y + 4, Anchor: anchor, Class: class,
				Label: h.label, Title: fmt.Sprintf("%s (%s)", h.label, cmp.Or(h.class, class))})
		}
	}
	place(left, 420, 410, "end")
	place(right, 900, 910, "start")
	keys := make([]pairKey, 0, len(edges))
	for k := range edges {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b pairKey) int { return cmp.Or(a[0].Compare(b[0]), a[1].Compare(b[1])) })
	for _, k := range keys {
		pa, okA := pos[k[0]]
		pb, okB := pos[k[1]]
		if !okA || !okB {
			continue // a host cut from the graph
		}
		e := *edges[k]
		e.X1, e.Y1, e.X2, e.Y2 = pa[0], pa[1], pb[0], pb[1]
		e.CX = (pa[0] + pb[0]) / 2
		if pa[0] == pb[0] { // both on one side: bow out
			e.CX = pa[0] + 120
			if pa[0] > chartWidth/2 {
				e.CX = pa[0] - 120
			}
		}
		if e.Title == "" {
			e.Title = fmt.Sprintf("%s – %s: %s in %d conversations", e.A, e.B, e.Bytes, e.Conns)
		}
		g.Edges = append(g.Edges, e)
	}
	return g
}

func severityRank(s string) int {
	return map[string]int{"low": 1, "medium": 2, "high": 3, "critical": 4}[s]
}
