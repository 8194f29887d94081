package render

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/netfx/netfx/analyze"
)

// ReportJSON writes the report as one indented JSON document. Besides
// what encoding/json escapes, the C1 and bidi controls are escaped (as
// \uNNNN, which JSON reads back the same), so that the document is safe
// to show on a terminal.
func ReportJSON(w io.Writer, r analyze.Report) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return err
	}
	_, err := w.Write(escapeJSONRunes(buf.Bytes()))
	return err
}

// escapeJSONRunes escapes the runes unsafeRune picks in a JSON document:
// outside its strings there are none.
func escapeJSONRunes(doc []byte) []byte {
	if !bytes.ContainsFunc(doc, func(r rune) bool { return r >= 0x80 && unsafeRune(r) }) {
		return doc
	}
	const hex = "0123456789abcdef"
	out := make([]byte, 0, len(doc)+64)
	for i := 0; i < len(doc); {
		r, size := utf8.DecodeRune(doc[i:])
		if r >= 0x80 && unsafeRune(r) {
			out = append(out, '\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
		} else {
			out = append(out, doc[i:i+size]...)
		}
		i += size
	}
	return out
}

// TableOptions say how ReportTable lays the report out.
type TableOptions struct {
	Width       int  // the terminal's columns: no line is wider
	Colour      bool // severities in colour (SGR sequences)
	MaxFindings int  // findings in the table, most severe first; 0 for all
	Details     bool // a block under the table for each finding: why, evidence, rules, facts
	Top         int  // rows of the tables that list everything (inputs, names, coverage); 0 for all
}

// ReportTable writes the report for a person at a terminal: the evidence
// as a whole, the findings, the timeline, then the inputs, gaps, talkers,
// ports, names and the flow logs' view.
func ReportTable(w io.Writer, r analyze.Report, opt TableOptions) error {
	// Buffered: the table writer writes a line at a time.
	bw := bufio.NewWriterSize(w, 256<<10)
	p := &page{w: bw, opt: opt, clock: newClock(r.Totals.First, r.Totals.Last)}
	p.opt.Width = max(p.opt.Width, minWidth)
	if err := p.report(r); err != nil {
		return err
	}
	return bw.Flush()
}

// minWidth is the narrowest page the report is laid out for.
const minWidth = 60

// page is a report being written.
type page struct {
	w      io.Writer
	tables tableWriter
	opt    TableOptions
	clock  clock
	err    error
}

// line writes a line of text, wrapped to the page's width.
func (p *page) line(format string, args ...any) {
	for _, l := range wrap(fmt.Sprintf(format, args...), p.opt.Width) {
		p.write(l + "\n")
	}
}

func (p *page) write(s string) {
	if p.err == nil {
		_, p.err = io.WriteString(p.w, s)
	}
}

// table writes a section's table under its title.
func (p *page) table(title string, g grid) {
	p.write("\n" + wrap(title, p.opt.Width)[0] + "\n")
	if p.err == nil {
		p.err = g.write(p.w, &p.tables, p.opt.Width)
	}
}

// boundedTable writes a table of rows bounded by the Top option, and says
// how many it left out.
func (p *page) boundedTable(title string, g grid) {
	more := 0
	if p.opt.Top > 0 && len(g.rows) > p.opt.Top {
		g.rows, more = g.rows[:p.opt.Top], len(g.rows)-p.opt.Top
	}
	p.table(title, g)
	if more > 0 {
		p.line("%d more row(s): raise --top, or use --json, which lists all", more)
	}
}

func (p *page) report(r analyze.Report) error {
	p.header(r)
	p.findings(r.Findings)
	p.timeline(r)
	p.inputs(r)
	p.azure(r)
	p.talkers(r)
	if r.FlowLogs != nil {
		p.flowLogs(r.FlowLogs)
	}
	return p.err
}

// shortPath shortens a flow-log blob path for a table: a blob of a
// storage-account download, ".../resourceId=/SUBSCRIPTIONS/.../VM1-NSG/
// y=2026/m=03/d=14/h=10/m=00/macAddress=000D3A100004/PT1H.json", reads
// "VM1-NSG 2026-03-14 10:00 000D3A100004": the resource, the hour and the
// NIC, which tell one blob from the next. Other paths are left as they are;
// the JSON report keeps full paths.
func shortPath(p string) string {
	for _, marker := range []string{"resourceId=", "flowLogResourceID="} {
		i := strings.Index(p, marker)
		j := strings.Index(p, "/y=")
		if i < 0 || j < i {
			continue
		}
		parts := map[string]string{}
		for _, seg := range strings.Split(p[j+1:], "/") {
			if k, v, ok := strings.Cut(seg, "="); ok {
				if k == "m" && parts["d"] != "" {
					k = "min" // m= is the month, then the minute
				}
				parts[k] = v
			}
		}
		label := lastSegment(p[i:j])
		if parts["y"] != "" && parts["h"] != "" {
			label += fmt.Sprintf(" %s-%s-%s %s:00", parts["y"], parts["m"], parts["d"], parts["h"])
		}
		if mac := parts["macAddress"]; mac != "" {
			label += " " + mac
		}
		return label
	}
	return p
}

// lastSegment is the last part of a resource ID, the resource's name.
func lastSegment(id string) string {
	return id[strings.LastIndex(id, "/")+1:]
}

func endpointPort(a netip.Addr, port uint16) string {
	return netip.AddrPortFrom(a, port).String()
}

// where shows an address's class and why.
func where(class, reason string) string {
	if reason == "" {
		return class
	}
	return class + ": " + reason
}

// endpoint shows a host of a pair: "vm-web-01 (10.1.0.4, internal)".
func endpoint(a netip.Addr, name string, class string) string {
	if name != "" {
		return text(name, 0) + " (" + a.String() + ", " + class + ")"
	}
	return a.String() + " (" + class + ")"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinStrings(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}

func itoa(n int64) string  { return strconv.FormatInt(n, 10) }
func utoa(n uint64) string { return strconv.FormatUint(n, 10) }

// humanBytes writes a byte count with a binary unit.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
