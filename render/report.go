package render

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"

	"github.com/olekukonko/tablewriter"

	"github.com/netfx/netfx/analyze"
)

// ReportJSON writes the report as one indented JSON document.
func ReportJSON(w io.Writer, r analyze.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReportTable writes the report as terminal tables.
func ReportTable(w io.Writer, r analyze.Report) error {
	t := r.Totals
	fmt.Fprintf(w, "netfx report: %d file(s), %d damaged; %d packets, %s; %d conversations between %d hosts\n",
		t.Files, t.DamagedFiles, t.Packets, humanBytes(uint64(t.Bytes)), t.Conversations, t.Hosts)
	if t.First != "" {
		fmt.Fprintf(w, "time span: %s to %s\n", t.First, t.Last)
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
			out = append(out, []string{h.IP.String(), place(h.Internal), humanBytes(h.Bytes), utoa(h.Packets), utoa(h.Conversations), strconv.Itoa(h.Peers)})
		}
		return out
	}
	hostHeader := []any{"host", "where", "bytes", "packets", "conversations", "peers"}
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
			out = append(out, []string{endpoint(p.A, p.AInternal), endpoint(p.B, p.BInternal), humanBytes(p.Bytes), utoa(p.Packets), utoa(p.Conversations)})
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
	return table(w, []any{"proto", "port", "conversations", "bytes", "responders", "originators"}, rows)
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

func endpoint(a netip.Addr, internal bool) string { return a.String() + " (" + place(internal) + ")" }

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
