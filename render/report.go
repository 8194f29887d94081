package render

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"

	"github.com/netfx/netfx/analyze"
)

// ReportJSON writes the report as one indented JSON document.
func ReportJSON(w io.Writer, r analyze.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReportTable writes the report as terminal tables, the first maxFindings
// findings (all when maxFindings is 0 or less) leading.
func ReportTable(w io.Writer, r analyze.Report, maxFindings int) error {
	// Buffered: the table writer writes a line at a time, and a report
	// of many names has tens of thousands.
	bw := bufio.NewWriterSize(w, 256<<10)
	if err := reportTable(bw, r, maxFindings); err != nil {
		return err
	}
	return bw.Flush()
}

func reportTable(w io.Writer, r analyze.Report, maxFindings int) error {
	t := r.Totals
	fmt.Fprintf(w, "netfx report: %d file(s), %d damaged; %d packets, %s; %d conversations between %d hosts\n",
		t.Files, t.DamagedFiles, t.Packets, humanBytes(uint64(t.Bytes)), t.Conversations, t.Hosts)
	if t.First != "" {
		fmt.Fprintf(w, "time span: %s to %s\n", t.First, t.Last)
	}

	if err := findingsTable(w, r.Findings, maxFindings); err != nil {
		return err
	}

	section(w, "Inputs")
	header := []any{"file", "format", "link types", "packets", "bytes", "first", "last", "damage"}
	hashed := len(r.Inputs) > 0 && r.Inputs[0].SHA256 != ""
	if hashed {
		header = append(header, "sha-256")
	}
	rows := make([][]string, 0, len(r.Inputs))
	for _, in := range r.Inputs {
		row := []string{clean(in.File), in.Format, joinStrings(in.LinkTypes), itoa(in.Packets), itoa(in.Bytes),
			dash(in.First), dash(in.Last), dash(clean(in.Damage))}
		if hashed {
			row = append(row, in.SHA256)
		}
		rows = append(rows, row)
	}
	if err := table(w, header, rows); err != nil {
		return err
	}

	if len(r.ConnLogs) > 0 {
		section(w, "Conversation-log inputs")
		rows = rows[:0]
		for _, in := range r.ConnLogs {
			rows = append(rows, []string{clean(in.File), in.Format, itoa(in.Records), dash(in.First), dash(in.Last), dash(clean(in.Damage))})
		}
		if err := table(w, []any{"file", "format", "records", "first", "last", "damage"}, rows); err != nil {
			return err
		}
	}

	section(w, "Gaps between captures")
	if len(r.Gaps) == 0 {
		fmt.Fprintln(w, "none")
	} else {
		rows = rows[:0]
		for _, g := range r.Gaps {
			rows = append(rows, []string{g.Start, g.End, strconv.FormatFloat(g.Seconds, 'f', 1, 64), clean(g.After), clean(g.Before)})
		}
		if err := table(w, []any{"from", "to", "seconds", "after", "before"}, rows); err != nil {
			return err
		}
	}

	hostRows := func(hs []analyze.HostStat) [][]string {
		out := make([][]string, 0, len(hs))
		for _, h := range hs {
			out = append(out, []string{h.IP.String(), dash(clean(h.Name)), place(h.Internal), humanBytes(h.Bytes), utoa(h.Packets), utoa(h.Conversations), strconv.Itoa(h.Peers)})
		}
		return out
	}
	hostHeader := []any{"host", "name", "where", "bytes", "packets", "conversations", "peers"}
	section(w, "Top hosts by bytes")
	if err := table(w, hostHeader, hostRows(r.TopHostsByBytes)); err != nil {
		return err
	}
	section(w, "Top hosts by conversations")
	if err := table(w, hostHeader, hostRows(r.TopHostsByConns)); err != nil {
		return err
	}

	pairRows := func(ps []analyze.PairStat) [][]string {
		out := make([][]string, 0, len(ps))
		for _, p := range ps {
			out = append(out, []string{endpoint(p.A, p.AName, p.AInternal), endpoint(p.B, p.BName, p.BInternal), humanBytes(p.Bytes), utoa(p.Packets), utoa(p.Conversations)})
		}
		return out
	}
	pairHeader := []any{"host a", "host b", "bytes", "packets", "conversations"}
	section(w, "Top host pairs by bytes")
	if err := table(w, pairHeader, pairRows(r.TopPairsByBytes)); err != nil {
		return err
	}
	section(w, "Top host pairs by conversations")
	if err := table(w, pairHeader, pairRows(r.TopPairsByConns)); err != nil {
		return err
	}

	section(w, "Top responder ports")
	rows = rows[:0]
	for _, p := range r.TopPorts {
		rows = append(rows, []string{p.Proto, strconv.Itoa(int(p.Port)), utoa(p.Conversations), humanBytes(p.Bytes), strconv.Itoa(p.Responders), strconv.Itoa(p.Originators)})
	}
	if err := table(w, []any{"proto", "port", "conversations", "bytes", "responders", "originators"}, rows); err != nil {
		return err
	}

	section(w, "Names for addresses (from DNS answers, TLS server names, HTTP Host headers)")
	rows = rows[:0]
	for _, n := range r.Names {
		for i, name := range n.Names {
			addr := ""
			if i == 0 {
				addr = n.IP.String()
			}
			rows = append(rows, []string{addr, clean(name.Name), name.Source, strconv.Itoa(name.Count), name.First})
		}
	}
	if err := table(w, []any{"address", "name", "source", "conversations", "first seen"}, rows); err != nil {
		return err
	}
	if r.FlowLogs != nil {
		return flowLogTables(w, r.FlowLogs)
	}
	return nil
}

// flowLogTables writes the flow-log sections of the report.
func flowLogTables(w io.Writer, f *analyze.FlowLogReport) error {
	section(w, "Flow-log inputs")
	rows := [][]string{}
	for _, in := range f.Inputs {
		versions := make([]string, len(in.Versions))
		for i, v := range in.Versions {
			versions[i] = strconv.Itoa(v)
		}
		rows = append(rows, []string{clean(shortPath(in.File)), dash(in.Kind), dash(joinStrings(versions)), strconv.Itoa(in.Records),
			strconv.Itoa(in.Duplicates), strconv.Itoa(in.Tuples), dash(in.First), dash(in.Last), dash(clean(in.Damage))})
	}
	if err := table(w, []any{"file", "kind", "version", "records", "duplicates", "tuples", "first", "last", "damage"}, rows); err != nil {
		return err
	}

	section(w, "Flow-log coverage by NIC and hour")
	rows = rows[:0]
	for _, c := range f.Coverage {
		rows = append(rows, []string{clean(lastSegment(c.Log)), clean(c.MAC), c.Hour, strconv.Itoa(c.Tuples)})
	}
	if err := table(w, []any{"log", "mac", "hour", "tuples"}, rows); err != nil {
		return err
	}

	n := f.Connections
	fmt.Fprintf(w, "\nConnections: %d seen by capture and flow logs, %d by the flow logs only (%d while no capture ran, %d denied), %d by the capture only\n",
		n.Both, n.FlowLogOnly, n.InGaps, n.Denied, n.CaptureOnly)

	briefHeader := []any{"uid", "ts", "originator", "responder", "proto", "bytes", "rule"}
	briefRows := func(bs []analyze.ConnBrief) [][]string {
		out := [][]string{}
		for _, b := range bs {
			out = append(out, []string{b.UID, b.TS, endpointPort(b.Orig, b.OrigPort), endpointPort(b.Resp, b.RespPort), b.Proto, humanBytes(b.Bytes), dash(clean(b.Rule))})
		}
		return out
	}
	section(w, "What happened while no capture ran (flow logs only, largest first)")
	if err := table(w, briefHeader, briefRows(f.InGaps)); err != nil {
		return err
	}
	section(w, "Seen by the flow logs only while a capture ran")
	if err := table(w, briefHeader, briefRows(f.LogOnly)); err != nil {
		return err
	}
	section(w, "Denied traffic (flow logs only)")
	rows = rows[:0]
	for _, d := range f.Denied {
		rows = append(rows, []string{d.Src.String(), endpointPort(d.Dst, d.DstPort), d.Proto, strconv.Itoa(d.Attempts), clean(d.Rule), d.First, d.Last})
	}
	if err := table(w, []any{"source", "target", "proto", "attempts", "rule", "first", "last"}, rows); err != nil {
		return err
	}
	section(w, "Seen by the capture only (NIC not logged, or logs missing)")
	if err := table(w, briefHeader, briefRows(f.CaptureOnly)); err != nil {
		return err
	}
	section(w, "Disagreements between capture and flow logs")
	rows = rows[:0]
	for _, d := range f.Disagreements {
		rows = append(rows, []string{d.Conn.UID, endpointPort(d.Conn.Orig, d.Conn.OrigPort), endpointPort(d.Conn.Resp, d.Conn.RespPort),
			humanBytes(d.CaptureBytes), humanBytes(d.LoggedBytes), d.Why})
	}
	return table(w, []any{"uid", "originator", "responder", "captured", "logged", "why"}, rows)
}

// shortPath shortens a flow-log blob path for a table: the resource-ID
// part of a storage-account download becomes its last segment, so
// ".../resourceId=/SUBSCRIPTIONS/.../NETWORKSECURITYGROUPS/VM1-NSG/y=2026/..."
// reads ".../VM1-NSG/y=2026/...". The JSON report keeps full paths.
func shortPath(p string) string {
	for _, marker := range []string{"resourceId=", "flowLogResourceID="} {
		i := strings.Index(p, marker)
		j := strings.Index(p, "/y=")
		if i >= 0 && j > i {
			return p[:i] + "…/" + lastSegment(p[i:j]) + p[j:]
		}
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

func section(w io.Writer, title string) { fmt.Fprintf(w, "\n%s\n", title) }

func table(w io.Writer, header []any, rows [][]string) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "none")
		return err
	}
	t := tablewriter.NewWriter(w)
	t.Header(header...)
	for _, r := range rows {
		if err := t.Append(r); err != nil {
			return err
		}
	}
	return t.Render()
}

func place(internal bool) string {
	if internal {
		return "internal"
	}
	return "external"
}

func endpoint(a netip.Addr, name string, internal bool) string {
	if name != "" {
		return a.String() + " " + clean(name) + " (" + place(internal) + ")"
	}
	return a.String() + " (" + place(internal) + ")"
}

func clean(s string) string { return escapeControl(s, 0) }

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

// findingsTable lists the first limit findings, most severe first, with the
// evidence to check each by, and says how many it left out.
func findingsTable(w io.Writer, fs []analyze.Finding, limit int) error {
	section(w, "Findings")
	shown := fs
	if limit > 0 && len(fs) > limit {
		shown = fs[:limit]
	}
	rows := make([][]string, 0, len(shown))
	for _, f := range shown {
		evidence := strings.Join(f.Evidence.UIDs[:min(3, len(f.Evidence.UIDs))], " ")
		if len(f.Evidence.UIDs) > 3 {
			evidence += fmt.Sprintf(" (+%d)", len(f.Evidence.UIDs)-3)
		}
		if len(f.Evidence.Facts) > 0 {
			evidence += "; " + clean(strings.Join(f.Evidence.Facts[:min(3, len(f.Evidence.Facts))], "; "))
		}
		rows = append(rows, []string{f.Severity, strconv.Itoa(f.Score), f.Kind, dash(f.Technique), findingEndpoint(f.Src),
			findingTargets(f), strconv.Itoa(f.Count), f.FirstSeen, clean(f.Why), evidence})
	}
	err := table(w, []any{"severity", "score", "kind", "technique", "source", "target", "count", "first seen", "why", "evidence"}, rows)
	if err == nil && len(shown) < len(fs) {
		_, err = fmt.Fprintf(w, "%d more finding(s) not shown: raise --findings, or use --json, which lists all\n", len(fs)-len(shown))
	}
	return err
}

func findingEndpoint(e analyze.Endpoint) string {
	s := e.IP.String()
	if e.Port != nil {
		s = netip.AddrPortFrom(e.IP, *e.Port).String()
	}
	if e.Name != "" {
		s += " " + clean(e.Name)
	}
	return s
}

func findingTargets(f analyze.Finding) string {
	if f.Targets == nil {
		return findingEndpoint(f.Dst)
	}
	var parts []string
	for i, e := range f.Targets {
		if i == 4 {
			parts = append(parts, fmt.Sprintf("+%d more", len(f.Targets)-4))
			break
		}
		parts = append(parts, findingEndpoint(e))
	}
	return strings.Join(parts, ", ")
}
