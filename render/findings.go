package render

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netfx/netfx/analyze"
)

// groupAbove is how many findings of one source and kind the table shows
// one by one; more are one row with their count.
const groupAbove = 5

// findings writes the ranked findings table: severity, time, kind,
// source and target, and a title, one row a finding (or a group of many
// of one source and kind), numbered as in --json's list; then, with
// Details, a block for each finding with why and the evidence.
func (p *page) findings(fs []analyze.Finding) {
	shown := fs
	if p.opt.MaxFindings > 0 && len(fs) > p.opt.MaxFindings {
		shown = fs[:p.opt.MaxFindings]
	}
	type groupKey struct {
		src  netip.Addr
		kind string
	}
	members := map[groupKey][]int{}
	for i, f := range shown {
		k := groupKey{f.Src.IP, f.Kind}
		members[k] = append(members[k], i)
	}
	// Source, target and title need room to be read: narrow pages leave
	// the kind out rather than cut them short (the title says what).
	g := grid{header: []string{"#", "severity", "time", "kind", "source -> target", "title"}, flex: []int{5, 4},
		least: map[int]int{4: 44, 5: 30}, drop: []int{3}}
	for i, f := range shown {
		group := members[groupKey{f.Src.IP, f.Kind}]
		if len(group) <= groupAbove {
			g.rows = append(g.rows, []string{fmt.Sprint(i + 1), paint(f.Severity, p.opt.Colour), p.clock.minute(f.FirstSeen), f.Kind,
				findingEndpoint(f.Src) + " -> " + findingTargets(f), text(f.Title, 0)})
			continue
		}
		if group[0] != i {
			continue // shown in its group's row
		}
		var hosts []netip.Addr
		var titles []string
		first := f.FirstSeen
		for _, j := range group {
			m := shown[j]
			if !slices.Contains(hosts, m.Dst.IP) {
				hosts = append(hosts, m.Dst.IP)
			}
			if !slices.Contains(titles, m.Title) {
				titles = append(titles, m.Title)
			}
			first = min(first, m.FirstSeen)
		}
		g.rows = append(g.rows, []string{fmt.Sprintf("%d…", i+1), paint(f.Severity, p.opt.Colour), p.clock.minute(first), f.Kind,
			fmt.Sprintf("%s -> %d host(s)", findingEndpoint(f.Src), len(hosts)),
			text(fmt.Sprintf("%d findings: %s", len(group), strings.Join(titles, ", ")), 0)})
	}
	p.table(fmt.Sprintf("Findings (%d, most severe first)", len(fs)), g)
	if len(shown) < len(fs) {
		p.line("%d more finding(s) not shown: raise --findings, or use --json, which lists all", len(fs)-len(shown))
	}
	if len(shown) == 0 {
		return
	}
	if !p.opt.Details {
		p.line("--details shows why each was found and the evidence to check it by; --json lists the same")
		return
	}
	p.write("\nFinding details\n")
	for i, f := range shown {
		p.details(i+1, f)
	}
}

// details writes one finding's block: what, when, why and the evidence.
func (p *page) details(n int, f analyze.Finding) {
	technique := ""
	if f.Technique != "" {
		technique = " " + f.Technique
	}
	p.write("\n")
	p.line("#%d %s (%d) %s%s: %s", n, paint(f.Severity, p.opt.Colour), f.Score, f.Kind, technique, text(f.Title, 0))
	field := func(name, value string) {
		if value == "" {
			return
		}
		for i, l := range wrap(value, p.opt.Width-4-len(name)) {
			if i > 0 {
				name = strings.Repeat(" ", len(name))
			}
			p.write("    " + name + l + "\n")
		}
	}
	field("", findingEndpoint(f.Src)+" -> "+findingTargets(f))
	field("when:     ", fmt.Sprintf("%s to %s, %d connection(s)", p.clock.show(f.FirstSeen), p.clock.show(f.LastSeen), f.Count))
	field("why:      ", text(f.Why, 0))
	e := f.Evidence
	field("uids:     ", strings.Join(e.UIDs, " ")+leftOut(e.LeftOut.UIDs))
	field("facts:    ", text(strings.Join(e.Facts, "; "), 0)+leftOut(e.LeftOut.Facts))
	field("rules:    ", text(strings.Join(ruleLines(e), ", "), 0)+leftOut(e.LeftOut.Rules))
	files := make([]string, len(e.Files))
	for i, f := range e.Files {
		files[i] = shortPath(f)
	}
	field("files:    ", text(strings.Join(files, ", "), 0)+leftOut(e.LeftOut.Files))
	field("process:  ", text(strings.Join(e.Processes, ", "), 0))
	field("seen by:  ", strings.Join(e.Sources, ", "))
}

// ruleLines shows each NSG rule of a finding's evidence with its meaning,
// when the report has one: "UserRule_allow-rdp (priority 300, allow TCP
// 3389 from Internet)".
func ruleLines(e analyze.Evidence) []string {
	rules := slices.Clone(e.Rules)
	for i, r := range rules {
		for _, m := range e.RuleMeanings {
			if meaning, ok := strings.CutPrefix(m, r+": "); ok {
				rules[i] += " (" + meaning + ")"
				break
			}
		}
	}
	return rules
}

// leftOut says how many values an evidence list left out.
func leftOut(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (+%d more)", n)
}

// timeline writes the findings above low severity in time order, with
// what saw each.
func (p *page) timeline(r analyze.Report) {
	g := grid{header: []string{"time", "severity", "#", "what", "source -> target", "seen by"}, flex: []int{4, 3},
		least: map[int]int{3: 22, 4: 40}, drop: []int{1, 2}}
	for _, e := range r.Timeline {
		if p.opt.MaxFindings > 0 && e.Finding >= p.opt.MaxFindings {
			continue // as the findings table: the most severe
		}
		f := r.Findings[e.Finding]
		seen := map[string]string{"capture": "capture", "flowlog": "flow logs", "both": "capture + logs", "inventory": "inventory"}[e.Source]
		if e.InGap {
			seen += " (gap)" // no capture ran
		}
		g.rows = append(g.rows, []string{p.clock.minute(e.Time), paint(f.Severity, p.opt.Colour), fmt.Sprint(e.Finding + 1), text(e.Title, 0),
			findingEndpoint(e.Src) + " -> " + findingEndpoint(e.Dst), seen})
	}
	p.table("Timeline (findings above low severity, in time order; gap: no capture ran)", g)
}

// findingEndpoint shows an endpoint as "name (address:port)", or the
// address alone when it has no name; the unspecified address stands for
// a whole network (the internet of an exposure finding), shown by name.
func findingEndpoint(e analyze.Endpoint) string {
	s := e.IP.String()
	if e.Port != nil {
		s = netip.AddrPortFrom(e.IP, *e.Port).String()
	}
	return named(s, e.Name, e.IP.IsUnspecified())
}

// nameAfter puts a name after the address it names, "10.1.0.4:50047
// (vm-web-01)": for the narrow columns of connection tables, where a cut
// must keep the address.
func nameAfter(s, name string) string {
	if name == "" {
		return s
	}
	return s + " (" + text(name, 0) + ")"
}

// named puts a name before what it names: "vm-web-01 (10.1.0.4)".
func named(s, name string, nameOnly bool) string {
	switch {
	case name == "":
		return s
	case nameOnly:
		return text(name, 0)
	}
	return text(name, 0) + " (" + s + ")"
}

// findingTargets shows a finding's target: its main one, with the ports
// the finding covers there, and how many more hosts it covers.
func findingTargets(f analyze.Finding) string {
	if f.Targets == nil {
		return findingEndpoint(f.Dst)
	}
	main := f.Dst
	for _, t := range f.Targets {
		if t.IP == f.Dst.IP {
			main = t
		}
	}
	s := main.IP.String()
	if n := len(main.Ports); n == 1 {
		s = netip.AddrPortFrom(main.IP, main.Ports[0]).String()
	}
	s = named(s, main.Name, false)
	if n := len(main.Ports); n > 1 {
		s += fmt.Sprintf(" (%d ports)", n)
	}
	if more := len(f.Targets) - 1; more > 0 {
		s += fmt.Sprintf(" +%d host(s)", more)
	}
	return s
}
