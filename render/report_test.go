package render

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/netfx/netfx/analyze"
)

// sampleReport is a report with every section filled, long and hostile
// strings among them, and n findings, the first groupAbove+2 of one
// source and kind.
func sampleReport(n int) analyze.Report {
	ip := netip.MustParseAddr
	r := analyze.Report{
		Totals: analyze.Totals{Files: 1, First: "2026-03-14T09:30:04.000000Z", Last: "2026-03-14T11:09:29.669000Z", SpanSeconds: 5965.7,
			CaptureFirst: "2026-03-14T10:00:02.235496Z", CaptureLast: "2026-03-14T10:49:28.877500Z", CaptureSeconds: 1647.6},
		Inputs: []analyze.Input{{File: "evidence/" + strings.Repeat("very-long-folder-name/", 8) + "capture.pcap", Format: "pcap",
			LinkTypes: []string{"EN10MB"}, Packets: 10, First: "2026-03-14T10:00:02.235496Z", Last: "2026-03-14T10:49:28.877500Z",
			Damage: "record 7 at offset 5035: record claims 4325376 captured bytes, more than the maximum of 262144"}},
		Names:           []analyze.NameSet{{IP: ip("198.51.100.99"), Names: []analyze.Name{{Name: "evil\x1b]0;pwned\x07.example\u202e", Source: "dns", Count: 3, First: "2026-03-14T10:00:02.235496Z"}}}},
		TopHostsByBytes: []analyze.HostStat{{IP: ip("10.1.0.4"), Name: strings.Repeat("a-very-long-name.", 12) + "example"}},
		Inventory:       []analyze.InventoryInput{{File: "evidence/" + strings.Repeat("very-long-folder-name/", 8) + "az-network-nic-list.json", NICs: 2}},
		AzureHosts: []analyze.AzureHost{{IP: ip("10.1.0.4"), Name: "vm-web-01\x1b", VM: "vm-web-01", NIC: "vm-web-01-nic", Conversations: 3,
			Describe: "Azure VM vm-web-01, NIC vm-web-01-nic, subnet " + strings.Repeat("a-very-long-subnet-name-", 6) + " of VNet vnet1"}},
	}
	for i := range n {
		src := "10.1.0.4"
		if i >= groupAbove+2 {
			src = fmt.Sprintf("10.1.9.%d", i)
		}
		port := uint16(445)
		r.Findings = append(r.Findings, analyze.Finding{Kind: "lateral_movement", Severity: "high", Score: 80,
			Src: analyze.Endpoint{IP: ip(src)}, Dst: analyze.Endpoint{IP: ip(fmt.Sprintf("10.1.1.%d", i)), Port: &port},
			FirstSeen: "2026-03-14T10:31:00.000000Z", LastSeen: "2026-03-14T10:31:01.000000Z", Count: 1,
			Title: fmt.Sprintf("finding number %d", i), Why: strings.Repeat("a long reason that goes on ", 10),
			Evidence: analyze.Evidence{UIDs: []string{"C1"}, Facts: []string{`admin share \\10.1.1.10\ADMIN$`}, LeftOut: analyze.LeftOut{UIDs: 7},
				Rules: []string{"UserRule_allow-smb"}, RuleMeanings: []string{"UserRule_allow-smb: priority 300, allow TCP 445 from " + strings.Repeat("10.0.0.0/8, ", 12)}}})
		r.Timeline = append(r.Timeline, analyze.Event{Time: "2026-03-14T10:31:00.000000Z", Finding: i, Title: r.Findings[i].Title,
			Src: r.Findings[i].Src, Dst: r.Findings[i].Dst, Source: "flowlog", InGap: true})
	}
	return r
}

// sgr matches the colour sequences a terminal shows as nothing.
var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

func renderTable(t *testing.T, r analyze.Report, opt TableOptions) string {
	t.Helper()
	var b strings.Builder
	if err := ReportTable(&b, r, opt); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestReportFitsTheWidth: no line of the report is wider than the page,
// details included, whatever the width, whether counted in columns or in
// bytes (as awk counts).
func TestReportFitsTheWidth(t *testing.T) {
	r := sampleReport(12)
	r.TopHostsByBytes = append(r.TopHostsByBytes, analyze.HostStat{IP: netip.MustParseAddr("2001:db8:1234:5678:9abc:def0:1234:5678"),
		Class: "external", Bytes: 1 << 40, Packets: 1 << 40, Conversations: 1 << 40, Peers: 1 << 20})
	r.Totals.Conversations, r.Totals.Hosts = 30_000_000, 1_048_576 // a flood's sources left out
	r.Totals.HostsLeftOut, r.Totals.HostsLeftOutEstimated, r.Totals.ConversationsLeftOut = 28_951_424, true, 28_951_424
	for _, w := range []int{minWidth, 80, 100, 120, 200} {
		out := renderTable(t, r, TableOptions{Width: w, Details: true, Colour: true})
		if !strings.Contains(strings.Join(strings.Fields(sgr.ReplaceAllString(out, "")), " "), "and about 28,951,424 more hosts seen only in 28,951,424 unanswered") {
			t.Errorf("width %d: no line on the hosts left out", w)
		}
		for _, line := range strings.Split(sgr.ReplaceAllString(out, ""), "\n") {
			if width(line) > w || len(line) > w {
				t.Errorf("width %d: a line of %d columns, %d bytes: %q", w, width(line), len(line), line)
				break
			}
		}
	}
}

// TestReportShowsTextSafely: packet strings read as text, backslashes
// included, while terminal escapes and bidi controls stay escaped.
func TestReportShowsTextSafely(t *testing.T) {
	out := renderTable(t, sampleReport(1), TableOptions{Width: 200, Details: true})
	if !strings.Contains(out, `\\10.1.1.10\ADMIN$`) {
		t.Error("a share name is not shown as text")
	}
	for _, bad := range []string{"\x1b", "\x07", "\u202e"} {
		if strings.Contains(out, bad) {
			t.Errorf("%q reached the terminal", bad)
		}
	}
	if !strings.Contains(out, `evil\x1b]0;pwned\x07.example\u{202e}`) {
		t.Error("the hostile name is not escaped as expected")
	}
}

// TestFindingsTable: the limit, the note on what it left out, the groups
// of many findings of one source and kind, and colour only when asked.
func TestFindingsTable(t *testing.T) {
	r := sampleReport(12)
	for _, tt := range []struct{ limit, rows int }{{0, 12 - (groupAbove + 2) + 1}, {3, 3}, {20, 12 - (groupAbove + 2) + 1}} {
		out := renderTable(t, r, TableOptions{Width: 200, MaxFindings: tt.limit})
		table := out[strings.Index(out, "Findings ("):strings.Index(out, "Timeline")]
		if got := strings.Count(table, "\n| ") - 1; got != tt.rows { // the header is one

			t.Errorf("limit %d: %d rows, want %d:\n%s", tt.limit, got, tt.rows, table)
		}
		if more := strings.Contains(table, "more finding(s) not shown"); more != (tt.limit > 0 && tt.limit < 12) {
			t.Errorf("limit %d: 'not shown' note %v", tt.limit, more)
		}
	}
	out := renderTable(t, r, TableOptions{Width: 200})
	if !strings.Contains(out, fmt.Sprintf("%d findings: finding number 0", groupAbove+2)) {
		t.Errorf("findings of one source and kind not grouped:\n%s", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour without asking")
	}
	if coloured := renderTable(t, r, TableOptions{Width: 200, Colour: true}); !strings.Contains(coloured, "\x1b[31mhigh\x1b[0m") {
		t.Error("no colour when asked")
	}
	if details := renderTable(t, r, TableOptions{Width: 200, Details: true}); !strings.Contains(details, "C1 (+7 more)") {
		t.Error("details do not say what the evidence left out")
	}
}
