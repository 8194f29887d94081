package render

import (
	"cmp"
	"fmt"
	"strconv"

	"github.com/netfx/netfx/analyze"
)

// header tells the evidence as a whole: its span, what it is made of, and
// how much of it the captures covered.
func (p *page) header(r analyze.Report) {
	t := r.Totals
	if t.First == "" {
		p.line("netfx report: no packets, flow-log tuples or conversation records")
	} else {
		day := ""
		if p.clock.oneDay {
			day = t.First[:10] + " "
		}
		p.line("netfx report: evidence from %s%s to %s UTC (%s)", day, p.clock.show(t.First), p.clock.show(t.Last), span(t.SpanSeconds))
	}
	damaged := ""
	if t.DamagedFiles > 0 {
		damaged = fmt.Sprintf("; %d damaged (see the tables below)", t.DamagedFiles)
	}
	captures := "no captures"
	if t.Files > 0 {
		fragments := ""
		if t.FragmentsIncomplete > 0 {
			fragments = fmt.Sprintf("; %s IP fragment(s) completed no datagram", count(t.FragmentsIncomplete))
		}
		captures = fmt.Sprintf("%s capture(s) (%s packets, %s%s)", count(t.Files), count(t.Packets), humanBytes(uint64(t.Bytes)), fragments)
	}
	inventory := ""
	if t.InventoryFiles > 0 {
		inventory = fmt.Sprintf(", %s Azure inventory file(s)", count(t.InventoryFiles))
	}
	if t.AnalyticsFiles > 0 {
		inventory += fmt.Sprintf(", %s Log Analytics export(s)", count(t.AnalyticsFiles))
	}
	p.line("inputs: %s, %s flow-log file(s), %s conversation log(s)%s%s", captures, count(t.FlowLogFiles), count(t.ConnLogFiles), inventory, damaged)
	if t.CaptureFirst != "" {
		p.line("captures ran from %s to %s: %s of the %s of evidence, with %d gap(s)",
			p.clock.show(t.CaptureFirst), p.clock.show(t.CaptureLast), span(t.CaptureSeconds), span(t.SpanSeconds), len(r.Gaps))
	}
	if t.HostsLeftOut == 0 {
		p.line("%s conversations between %s hosts", count(t.Conversations), count(t.Hosts))
		return
	}
	about := ""
	if t.HostsLeftOutEstimated {
		about = "about "
	}
	p.line("%s conversations between %s hosts, and %s%s more hosts seen only in %s unanswered or failed conversations once the host table was full (a flood's sources): counted, but left out of the host and pair tables",
		count(t.Conversations), count(t.Hosts), about, count(t.HostsLeftOut), count(t.ConversationsLeftOut))
}

func (p *page) inputs(r analyze.Report) {
	hashed := len(r.Inputs) > 0 && r.Inputs[0].SHA256 != ""
	g := grid{header: []string{"file", "format", "link types", "packets", "bytes", "first", "last", "damage"}, flex: []int{7, 0, 2}, paths: []int{0},
		least: map[int]int{0: 24}, drop: []int{2, 1, 4}}
	if hashed {
		g.header = append(g.header, "sha-256")
		g.flex = append([]int{8}, g.flex...)
	}
	for _, in := range r.Inputs {
		row := []string{text(in.File, 0), in.Format, joinStrings(in.LinkTypes), itoa(in.Packets), humanBytes(uint64(in.Bytes)),
			p.clock.show(in.First), p.clock.show(in.Last), dash(text(in.Damage, 0))}
		if hashed {
			row = append(row, in.SHA256)
		}
		g.rows = append(g.rows, row)
	}
	p.boundedTable("Captures", g)

	if len(r.ConnLogs) > 0 {
		g = grid{header: []string{"file", "format", "records", "first", "last", "damage"}, flex: []int{5, 0}, paths: []int{0}, drop: []int{1}}
		for _, in := range r.ConnLogs {
			g.rows = append(g.rows, []string{text(in.File, 0), in.Format, itoa(in.Records), p.clock.show(in.First), p.clock.show(in.Last), dash(text(in.Damage, 0))})
		}
		p.boundedTable("Conversation logs", g)
	}

	g = grid{header: []string{"from", "to", "length", "after", "before"}, flex: []int{3, 4}, paths: []int{3, 4}}
	for _, gap := range r.Gaps {
		g.rows = append(g.rows, []string{p.clock.show(gap.Start), p.clock.show(gap.End), span(gap.Seconds), text(gap.After, 0), text(gap.Before, 0)})
	}
	p.boundedTable("Gaps between captures", g)
}

func (p *page) talkers(r analyze.Report) {
	hosts := func(hs []analyze.HostStat) grid {
		g := grid{header: []string{"host", "name", "where", "bytes", "packets", "conversations", "peers"}, flex: []int{1, 2}, drop: []int{6, 4}}
		for _, h := range hs {
			g.rows = append(g.rows, []string{h.IP.String(), dash(text(h.Name, 0)), where(h.Class, h.ClassReason), humanBytes(h.Bytes),
				utoa(h.Packets), utoa(h.Conversations), strconv.Itoa(h.Peers)})
		}
		return g
	}
	p.table("Top hosts by bytes", hosts(r.TopHostsByBytes))
	p.table("Top hosts by conversations", hosts(r.TopHostsByConns))

	pairs := func(ps []analyze.PairStat) grid {
		g := grid{header: []string{"host a", "host b", "bytes", "packets", "conversations"}, flex: []int{1, 0}, drop: []int{3}}
		for _, pr := range ps {
			g.rows = append(g.rows, []string{endpoint(pr.A, pr.AName, pr.AClass), endpoint(pr.B, pr.BName, pr.BClass),
				humanBytes(pr.Bytes), utoa(pr.Packets), utoa(pr.Conversations)})
		}
		return g
	}
	p.table("Top host pairs by bytes", pairs(r.TopPairsByBytes))
	p.table("Top host pairs by conversations", pairs(r.TopPairsByConns))

	g := grid{header: []string{"proto", "port", "conversations", "bytes", "responders", "originators"}, drop: []int{5, 4}}
	for _, pt := range r.TopPorts {
		g.rows = append(g.rows, []string{pt.Proto, strconv.Itoa(int(pt.Port)), utoa(pt.Conversations), humanBytes(pt.Bytes),
			strconv.Itoa(pt.Responders), strconv.Itoa(pt.Originators)})
	}
	p.table("Top responder ports", g)

	names := r.Names
	more := 0
	if p.opt.Top > 0 && len(names) > p.opt.Top {
		names, more = names[:p.opt.Top], len(names)-p.opt.Top
	}
	g = grid{header: []string{"address", "name", "source", "conversations", "first seen"}, flex: []int{1}, drop: []int{2, 4}}
	for _, n := range names {
		for i, name := range n.Names {
			addr := ""
			if i == 0 {
				addr = n.IP.String()
			}
			g.rows = append(g.rows, []string{addr, text(name.Name, 0), name.Source, strconv.Itoa(name.Count), p.clock.show(name.First)})
		}
	}
	p.table("Names of the busiest addresses (DNS answers, TLS server names, HTTP Host headers)", g)
	if more > 0 {
		p.line("names of %d more address(es): raise --top, or use --json, which lists all", more)
	}
}

// azure writes the Azure inventory files and the hosts they name, and
// the Log Analytics exports.
func (p *page) azure(r analyze.Report) {
	if len(r.Analytics) > 0 {
		g := grid{header: []string{"file", "table", "rows", "flows", "bound ports", "first", "last", "damage"}, flex: []int{7, 0},
			paths: []int{0}, least: map[int]int{0: 24}, drop: []int{4, 5}}
		for _, in := range r.Analytics {
			g.rows = append(g.rows, []string{text(in.File, 0), in.Table, strconv.Itoa(in.Rows), strconv.Itoa(in.Flows), strconv.Itoa(in.BoundPorts),
				p.clock.show(in.First), p.clock.show(in.Last), dash(text(in.Damage, 0))})
		}
		p.boundedTable("Log Analytics exports (Traffic Analytics, VM Insights)", g)
	}
	if len(r.Inventory) == 0 {
		return
	}
	g := grid{header: []string{"file", "vms", "nics", "nsgs", "vnets", "public ips", "service tags", "other", "damage"}, flex: []int{6, 0, 2},
		paths: []int{0}, least: map[int]int{0: 24}, drop: []int{7, 4, 6}}
	for _, in := range r.Inventory {
		g.rows = append(g.rows, []string{text(in.File, 0), strconv.Itoa(in.VMs), strconv.Itoa(in.NICs), strconv.Itoa(in.NSGs),
			strconv.Itoa(in.VNets + in.Subnets), strconv.Itoa(in.PublicIPs), strconv.Itoa(in.ServiceTags), strconv.Itoa(in.Other), dash(text(in.Damage, 0))})
	}
	p.boundedTable("Azure inventory", g)
	g = grid{header: []string{"address", "name", "what", "conversations"}, flex: []int{2, 1}, least: map[int]int{2: 24}}
	for _, h := range r.AzureHosts {
		g.rows = append(g.rows, []string{h.IP.String(), text(h.Name, 0), text(h.Describe, 0), utoa(h.Conversations)})
	}
	p.boundedTable("Azure hosts in the evidence (busiest first)", g)
}

// flowLogs writes the flow-log sections of the report.
func (p *page) flowLogs(f *analyze.FlowLogReport) {
	g := grid{header: []string{"file", "kind", "version", "records", "duplicates", "tuples", "first", "last", "damage"}, flex: []int{8, 0},
		least: map[int]int{0: 36}, drop: []int{4, 2, 1}}
	for _, in := range f.Inputs {
		versions := make([]string, len(in.Versions))
		for i, v := range in.Versions {
			versions[i] = strconv.Itoa(v)
		}
		g.rows = append(g.rows, []string{text(shortPath(in.File), 0), dash(in.Kind), dash(joinStrings(versions)), strconv.Itoa(in.Records),
			strconv.Itoa(in.Duplicates), strconv.Itoa(in.Tuples), p.clock.show(in.First), p.clock.show(in.Last), dash(text(in.Damage, 0))})
	}
	p.boundedTable("Flow-log files", g)

	g = grid{header: []string{"log", "mac", "vm or nic", "hour", "tuples"}, flex: []int{0, 2}}
	for _, c := range f.Coverage {
		g.rows = append(g.rows, []string{text(lastSegment(c.Log), 0), text(c.MAC, 0), dash(text(cmp.Or(c.VM, c.NIC), 0)), p.clock.show(c.Hour), strconv.Itoa(c.Tuples)})
	}
	p.boundedTable("Flow-log coverage by NIC and hour", g)

	g = grid{header: []string{"rule", "nsg", "meaning", "connections", "denied"}, flex: []int{2, 0, 1}, least: map[int]int{0: 24, 2: 44}, drop: []int{1}}
	for _, r := range f.Rules {
		meaning := r.Meaning
		if meaning == "" {
			meaning = "not in the inventory"
		}
		g.rows = append(g.rows, []string{text(r.Rule, 0), dash(text(r.NSG, 0)), text(meaning, 0), strconv.Itoa(r.Connections), strconv.Itoa(r.Denied)})
	}
	p.boundedTable("NSG rules the flow logs name", g)

	n := f.Connections
	p.write("\n")
	analytics := ""
	if n.AnalyticsOnly > 0 {
		analytics = fmt.Sprintf(", %d by Log Analytics exports only", n.AnalyticsOnly)
	}
	p.line("Connections: %d seen by capture and flow logs, %d by the flow logs only (%d while no capture ran, %d denied), %d by the capture only%s",
		n.Both, n.FlowLogOnly, n.InGaps, n.Denied, n.CaptureOnly, analytics)

	briefs := func(bs []analyze.ConnBrief) grid {
		g := grid{header: []string{"uid", "time", "originator", "responder", "proto", "bytes", "rule"}, flex: []int{6, 3, 2},
			least: map[int]int{2: 16, 3: 17}, drop: []int{4}}
		for _, b := range bs {
			g.rows = append(g.rows, []string{b.UID, p.clock.show(b.TS), nameAfter(endpointPort(b.Orig, b.OrigPort), b.OrigName),
				nameAfter(endpointPort(b.Resp, b.RespPort), b.RespName),
				b.Proto, humanBytes(b.Bytes), dash(text(b.Rule, 0))})
		}
		return g
	}
	p.table("What happened while no capture ran (flow logs only, largest first)", briefs(f.InGaps))
	p.table("Seen by the flow logs only while a capture ran", briefs(f.LogOnly))
	g = grid{header: []string{"source", "target", "proto", "connections", "rule", "first", "last"}, flex: []int{4}, drop: []int{2, 5}}
	for _, d := range f.Denied {
		g.rows = append(g.rows, []string{nameAfter(d.Src.String(), d.SrcName), nameAfter(endpointPort(d.Dst, d.DstPort), d.DstName),
			d.Proto, strconv.Itoa(d.Attempts), text(d.Rule, 0),
			p.clock.show(d.First), p.clock.show(d.Last)})
	}
	p.table(fmt.Sprintf("Denied connections (flow logs only; %s in all)", count(n.Denied)), g)
	p.table("Seen by the capture only (NIC not logged, or logs missing)", briefs(f.CaptureOnly))
	g = grid{header: []string{"uid", "originator", "responder", "captured", "logged", "why"}, flex: []int{5}}
	for _, d := range f.Disagreements {
		g.rows = append(g.rows, []string{d.Conn.UID, nameAfter(endpointPort(d.Conn.Orig, d.Conn.OrigPort), d.Conn.OrigName),
			nameAfter(endpointPort(d.Conn.Resp, d.Conn.RespPort), d.Conn.RespName),
			humanBytes(d.CaptureBytes), humanBytes(d.LoggedBytes), d.Why})
	}
	p.table("Disagreements between capture and flow logs", g)
}
