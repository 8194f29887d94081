package analyze

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flowlog"
	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/ingest"
	"github.com/netfx/netfx/internal/benchdata"
	"github.com/netfx/netfx/pcapread"
)

func conn(src, dst string, sp, dp uint16, ts time.Duration, dur time.Duration) *flows.Conn {
	return &flows.Conn{
		TS: int64(ts), Duration: int64(dur), Orig: netip.MustParseAddr(src), Resp: netip.MustParseAddr(dst),
		OrigPort: sp, RespPort: dp, Proto: 6, OrigPkts: 5, OrigIPBytes: 500, RespPkts: 5, RespIPBytes: 5000,
		Source: flows.SourceCapture, UID: "C" + src,
	}
}

func logConn(src, dst string, sp, dp uint16, begin, end time.Duration, decision flows.Decision) *flows.Conn {
	c := conn(src, dst, sp, dp, begin, end-begin)
	c.Source = flows.SourceFlowLog
	c.FlowLog = &flows.FlowLogView{Begin: int64(begin), End: int64(end), Decision: decision, Rule: "R", Counted: true,
		OrigPkts: 5, OrigBytes: 500, RespPkts: 5, RespBytes: 5000, Sources: []string{"NSG"}}
	return c
}

// findingsWhere returns the report's findings that keep accepts.
func findingsWhere(s *Summary, keep func(Finding) bool) []Finding {
	var out []Finding
	for _, f := range s.Report().Findings {
		if keep(f) {
			out = append(out, f)
		}
	}
	return out
}

func ofKind(kind string) func(Finding) bool { return func(f Finding) bool { return f.Kind == kind } }

func TestSummaryFlowLogSections(t *testing.T) {
	s := NewSummary(Options{Top: 5})
	capture := conn("10.0.0.4", "203.0.113.1", 50000, 443, 0, time.Second)
	both := conn("10.0.0.4", "203.0.113.1", 50001, 443, time.Second, time.Second)
	both.Source = flows.SourceBoth
	both.FlowLog = &flows.FlowLogView{Begin: int64(time.Second), End: int64(2 * time.Second), Decision: flows.Allow, Counted: true,
		OrigBytes: 900000, RespBytes: 900000}
	s.AddCapture(ingest.CaptureResult{Path: "a.pcap", Stats: statsWindow(0, 10*time.Second)})
	s.AddFlowLog(ingest.FlowLogResult{Path: "PT1H.json", Stats: flowlogStats()})
	for _, c := range []*flows.Conn{
		capture, both,
		logConn("10.0.0.4", "203.0.113.1", 50002, 443, time.Hour, time.Hour+time.Minute, flows.Allow),
		logConn("192.0.2.9", "10.0.0.4", 40000, 3389, 0, 0, flows.Deny),
		logConn("192.0.2.9", "10.0.0.4", 40001, 3389, time.Minute, time.Minute, flows.Deny),
	} {
		s.AddConn(c)
	}
	r := s.Report().FlowLogs
	if r == nil {
		t.Fatal("no flow-log section")
	}
	want := LogCounts{Both: 1, FlowLogOnly: 3, CaptureOnly: 1, InGaps: 1, Denied: 2}
	if r.Connections != want {
		t.Errorf("counts %+v, want %+v", r.Connections, want)
	}
	if len(r.Denied) != 1 || r.Denied[0].Attempts != 2 || r.Denied[0].DstPort != 3389 {
		t.Errorf("denied %+v", r.Denied)
	}
	if len(r.Disagreements) != 1 || r.Disagreements[0].Conn.UID != both.UID {
		t.Errorf("disagreements %+v", r.Disagreements)
	}
	if len(r.InGaps) != 1 || r.InGaps[0].OrigPort != 50002 || len(r.CaptureOnly) != 1 {
		t.Errorf("in gaps %+v, capture only %+v", r.InGaps, r.CaptureOnly)
	}
}
func statsWindow(first, last time.Duration) pcapread.Stats {
	return pcapread.Stats{Records: 10, First: int64(first), Last: int64(last)}
}

func flowlogStats() flowlog.Stats {
	return flowlog.Stats{Kind: "nsg", Versions: []int{2}, Records: 1, Tuples: 3}
}

func TestNamesForAddresses(t *testing.T) {
	s := NewSummary(Options{})
	web := conn("10.0.0.4", "203.0.113.7", 50000, 443, time.Second, time.Second)
	web.App = &appid.Facts{TLS: &appid.TLSFacts{ServerName: "Login.Example.COM."}}
	dns := conn("10.0.0.4", "10.0.0.53", 50001, 53, 0, time.Millisecond)
	dns.App = &appid.Facts{DNS: &appid.DNSFacts{Answers: []appid.DNSAnswer{
		{Name: "www.example.com", Type: "CNAME", Value: "edge.example.net"},
		{Name: "edge.example.net", Type: "A", Value: "203.0.113.7"},
	}}}
	s.AddConn(dns)
	s.AddConn(web)
	r := s.Report()
	if len(r.Names) != 1 || r.Names[0].IP != netip.MustParseAddr("203.0.113.7") {
		t.Fatalf("names %+v", r.Names)
	}
	var got []string
	for _, n := range r.Names[0].Names {
		got = append(got, n.Name+"/"+n.Source)
	}
	want := []string{"edge.example.net/dns", "login.example.com/tls_sni", "www.example.com/dns"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("names %v, want %v", got, want)
	}
	for _, h := range r.TopHostsByBytes {
		if h.IP == netip.MustParseAddr("203.0.113.7") && h.Name == "" {
			t.Errorf("talker %v has no name", h.IP)
		}
	}
}

func TestAllowlistAndPlatform(t *testing.T) {
	a, err := ParseAllowlist(strings.NewReader("# known good\nhost 10.9.0.0/16\npair 10.0.0.4 10.0.0.5 # backup\nport tcp/3389\n"), "allow.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		orig, resp string
		port       uint16
		want       bool
	}{
		{"10.9.3.3", "10.0.0.1", 22, true},
		{"10.0.0.5", "10.0.0.4", 445, true},
		{"10.0.0.6", "10.0.0.7", 3389, true},
		{"10.0.0.6", "10.0.0.7", 22, false},
	} {
		if got := a.allows(netip.MustParseAddr(tt.orig), netip.MustParseAddr(tt.resp), 6, tt.port); got != tt.want {
			t.Errorf("%s > %s:%d allowed %v, want %v", tt.orig, tt.resp, tt.port, got, tt.want)
		}
	}
	if _, err := ParseAllowlist(strings.NewReader("hots 1.2.3.4\n"), "bad.txt"); err == nil || !strings.Contains(err.Error(), "bad.txt:1") {
		t.Errorf("bad line: %v", err)
	}
	// Azure's platform address is never flagged, even on an admin port.
	s := NewSummary(Options{Detect: DetectOptions{Allowlist: a}})
	for i := range 40 {
		c := conn("168.63.129.16", "10.0.0.4", uint16(50000+i), 22, time.Duration(i)*time.Minute, time.Minute)
		s.AddConn(c)
	}
	ssh := conn("10.0.0.6", "10.0.0.7", 50000, 22, 0, time.Minute)
	s.AddConn(ssh)
	fs := s.Report().Findings
	if len(fs) != 1 || fs[0].Technique != "T1021.004" || fs[0].Src.IP != netip.MustParseAddr("10.0.0.6") {
		t.Errorf("findings %+v", fs)
	}
}

func TestRegularity(t *testing.T) {
	steady := []float64{60e9, 60e9, 61e9, 59e9, 60e9, 60e9, 60.5e9}
	random := []float64{5e9, 300e9, 42e9, 900e9, 61e9, 7e9, 1200e9}
	if r := regularity(steady, 1, 10e9); r < 0.95 {
		t.Errorf("steady intervals scored %.2f", r)
	}
	if r := regularity(random, 1, 10e9); r > 0.6 {
		t.Errorf("random intervals scored %.2f", r)
	}
	if entropy("aaaa") != 0 || entropy("abcd") != 2 {
		t.Errorf("entropy wrong")
	}
	if registered("x1.y2.evil.example.co.uk") != "example.co.uk" || registered("a.b.example.com") != "example.com" {
		t.Errorf("registered domains wrong")
	}
}

// TestLateralGrouping checks that one source's use of one technique on
// several hosts is one finding naming them all, while payload-confirmed and
// port-only evidence stay apart.
func TestLateralGrouping(t *testing.T) {
	s := NewSummary(Options{})
	for i, dst := range []string{"10.0.0.21", "10.0.0.22", "10.0.0.23"} {
		c := conn("10.0.0.6", dst, uint16(50000+i), 22, time.Duration(i)*time.Minute, time.Minute)
		c.UID = "C" + dst
		s.AddConn(c)
	}
	confirmed := conn("10.0.0.6", "10.0.0.24", 50010, 22, 10*time.Minute, time.Minute)
	confirmed.App = &appid.Facts{SSH: &appid.SSHFacts{Client: "SSH-2.0-OpenSSH_9.6"}}
	s.AddConn(confirmed)
	fs := s.Report().Findings
	if len(fs) != 2 {
		t.Fatalf("got %d findings, want 2: %+v", len(fs), fs)
	}
	byHow := map[bool]Finding{}
	for _, f := range fs {
		byHow[strings.Contains(f.Why, "payload)")] = f
	}
	grouped := byHow[false]
	if dsts, ok := grouped.Dst.([]Endpoint); !ok || len(dsts) != 3 || grouped.Count != 3 || len(grouped.Evidence.UIDs) != 3 {
		t.Errorf("port-only finding not grouped: %+v", grouped)
	}
	if !strings.Contains(grouped.Why, "3 internal hosts") {
		t.Errorf("why = %q", grouped.Why)
	}
	if single, ok := byHow[true].Dst.(Endpoint); !ok || single.IP != netip.MustParseAddr("10.0.0.24") {
		t.Errorf("payload finding: %+v", byHow[true])
	}
}

// TestPivotChain checks that A→B then B→C is a pivot when B had not used
// remote administration before, and not when B is a jump host that had.
func TestPivotChain(t *testing.T) {
	for _, tt := range []struct {
		name     string
		bBefore  bool // B administered another host before A reached it
		wantChan bool
	}{
		{"fresh host", false, true},
		{"jump host", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSummary(Options{})
			add := func(src, dst string, at time.Duration) {
				c := conn(src, dst, 50000, 3389, at, time.Minute)
				c.UID = "C" + src + dst
				s.AddConn(c)
			}
			if tt.bBefore {
				add("10.0.0.2", "10.0.0.9", 0)
			}
			add("10.0.0.1", "10.0.0.2", 5*time.Minute)
			add("10.0.0.2", "10.0.0.3", 8*time.Minute)
			add("10.0.0.2", "10.0.0.4", 9*time.Minute)
			chains := findingsWhere(s, func(f Finding) bool { return strings.HasPrefix(f.Why, "pivot chain") })
			if !tt.wantChan {
				if len(chains) != 0 {
					t.Errorf("jump host reported as pivot: %+v", chains)
				}
				return
			}
			if len(chains) != 1 {
				t.Fatalf("got %d pivot findings, want 1", len(chains))
			}
			f := chains[0]
			// Both hops are RDP by port only (40): the pivot scores 40 + 20.
			if dsts := f.Dst.([]Endpoint); len(dsts) != 3 || f.Count != 3 || f.Src.IP != netip.MustParseAddr("10.0.0.1") || f.Score != 60 {
				t.Errorf("pivot %+v", f)
			}
		})
	}
}

func TestC2Ports(t *testing.T) {
	for _, tt := range []struct {
		proto uint8
		port  uint16
		want  bool
	}{
		{6, 4444, true},
		{17, 4444, false}, // Metasploit handlers listen on TCP
		{17, 31337, true}, // Back Orifice used UDP
		{6, 4443, false},
	} {
		s := NewSummary(Options{})
		c := conn("10.0.0.6", "192.0.2.9", 50000, tt.port, 0, time.Second)
		c.Proto = tt.proto
		s.AddConn(c)
		got := len(findingsWhere(s, func(f Finding) bool { return strings.HasPrefix(f.Why, "connections to port") })) > 0
		if got != tt.want {
			t.Errorf("proto %d port %d flagged %v, want %v", tt.proto, tt.port, got, tt.want)
		}
	}
}

// TestLateralNew checks that a pair first seen after the evidence's first
// quarter is marked new, and one seen in the baseline is not.
func TestLateralNew(t *testing.T) {
	s := NewSummary(Options{})
	add := func(src, dst string, at time.Duration) {
		c := conn(src, dst, 50000, 3389, at, time.Minute)
		c.UID = "C" + src + dst + at.String()
		s.AddConn(c)
	}
	add("10.0.0.1", "10.0.0.2", 0)
	add("10.0.0.1", "10.0.0.2", 3*time.Hour)
	add("10.0.0.5", "10.0.0.6", 3*time.Hour)
	add("10.0.0.8", "10.0.0.9", 4*time.Hour) // the evidence ends here
	newBy := map[string]bool{}
	for _, f := range s.Report().Findings {
		newBy[f.Src.IP.String()] = strings.Contains(f.Why, "; new:")
	}
	if newBy["10.0.0.1"] || !newBy["10.0.0.5"] || !newBy["10.0.0.8"] {
		t.Errorf("new: %v", newBy)
	}
}

// TestLongConnections checks the three ways the evidence shows a long
// connection: one conversation, pieces that capture gaps cut, and the flow
// logs' span of a connection the capture saw only part of.
func TestLongConnections(t *testing.T) {
	piece := func(at, dur time.Duration, history string) *flows.Conn {
		c := conn("10.0.0.6", "192.0.2.9", 50000, 8443, at, dur)
		c.History, c.UID = history, "C"+at.String()
		return c
	}
	logged := conn("10.0.0.6", "192.0.2.10", 50001, 443, 30*time.Minute, 10*time.Minute)
	// The logs saw it from the start of the evidence, for two hours.
	logged.FlowLog = &flows.FlowLogView{Begin: 1, End: int64(2 * time.Hour), Decision: flows.Allow}
	for _, tt := range []struct {
		name  string
		conns []*flows.Conn
		want  string // in why; "" for no finding
	}{
		{"one conversation", []*flows.Conn{piece(0, 2*time.Hour, "ShADadFf")}, "lasted 2h0m0s:"},
		{"cut by a capture gap", []*flows.Conn{piece(0, 40*time.Minute, "ShADad"), piece(70*time.Minute, 20*time.Minute, "DadA")}, "lasted 1h30m0s, in 2 pieces"},
		{"closed, then a new connection", []*flows.Conn{piece(0, 40*time.Minute, "ShADadFf"), piece(70*time.Minute, 20*time.Minute, "ShADadFf")}, ""},
		{"seen whole by the flow logs", []*flows.Conn{logged}, "lasted 2h0m0s:"},
		{"short", []*flows.Conn{piece(0, 50*time.Minute, "ShADadFf")}, ""},
	} {
		s := NewSummary(Options{})
		for _, c := range tt.conns {
			s.AddConn(c)
		}
		var got []string
		for _, f := range findingsWhere(s, ofKind("long_connection")) {
			got = append(got, f.Why)
		}
		switch {
		case tt.want == "" && len(got) != 0:
			t.Errorf("%s: unexpected %q", tt.name, got)
		case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
			t.Errorf("%s: got %q, want one with %q", tt.name, got, tt.want)
		}
	}
}

func TestScanThresholds(t *testing.T) {
	for _, tt := range []struct {
		ports, threshold int
		want             bool
	}{
		{14, 0, false}, // Zeek's default: 15 ports
		{15, 0, true},
		{10, 10, true},
		{9, 10, false},
	} {
		s := NewSummary(Options{Detect: DetectOptions{ScanPorts: tt.threshold}})
		for i := range tt.ports {
			c := conn("203.0.113.5", "10.0.0.4", 40000, uint16(1000+i), time.Duration(i)*time.Second, 0)
			c.ConnState, c.RespPkts, c.RespIPBytes, c.UID = "S0", 0, 0, fmt.Sprint("C", i)
			s.AddConn(c)
		}
		got := len(findingsWhere(s, ofKind("scan"))) > 0
		if got != tt.want {
			t.Errorf("%d ports, threshold %d: scan %v, want %v", tt.ports, tt.threshold, got, tt.want)
		}
	}
}

// TestDistinctCountsLikeASet: a window's set, list or map, counts
// distinct values up to one past its limit, as a set would.
func TestDistinctCountsLikeASet(t *testing.T) {
	for _, limit := range []int{0, 3, fewValues - 1, fewValues, fewValues + 1, 50} {
		for _, spread := range []int{2, fewValues, 40, 1000} {
			var w distinct[uint16]
			set := map[uint16]bool{}
			for i := range 300 {
				v := uint16((i * 7919) % spread)
				if len(set) <= limit {
					set[v] = true
				}
				w.add(v, limit)
				if w.n != len(set) {
					t.Fatalf("limit %d, %d distinct values: after %d adds size %d, want %d", limit, spread, i+1, w.n, len(set))
				}
			}
		}
	}
}

// TestCrossedScanWindowDropsItsSet: a scan's window, long past, keeps only
// its size, and an attempt that arrives late still counts toward the scan.
func TestCrossedScanWindowDropsItsSet(t *testing.T) {
	s := NewSummary(Options{})
	failedConn := func(src, dst string, dp uint16, ts time.Duration, uid string) *flows.Conn {
		c := conn(src, dst, 40000, dp, ts, 0)
		c.ConnState, c.RespPkts, c.RespIPBytes, c.UID = "S0", 0, 0, uid
		return c
	}
	for i := range 30 {
		s.AddConn(failedConn("203.0.113.5", fmt.Sprintf("10.0.1.%d", i), 445, time.Duration(i)*time.Second, fmt.Sprint("S", i)))
	}
	for n := range 6 * 60 * 40 { // six hours of attempts from ever new sources: sweeps
		src := netip.AddrFrom4([4]byte{45, byte(n >> 16), byte(n >> 8), byte(n)}).String()
		s.AddConn(failedConn(src, "10.0.0.4", uint16(1+n%1000), time.Duration(n)*time.Minute/40, fmt.Sprint("C", n)))
	}
	k := scanKey{src: netip.MustParseAddr("203.0.113.5"), port: 445}
	w := s.det.scans.wins[k]
	if w == nil {
		t.Fatal("the scan's window is gone after six hours")
	}
	if !w.dropped || w.few != nil || w.many != nil || w.n != 30 {
		t.Fatalf("the scan's window after six hours: %d values kept, size %d; want the set dropped and its size 30 kept", len(w.few)+len(w.many), w.n)
	}
	s.AddConn(failedConn("203.0.113.5", "10.0.1.200", 445, 40*time.Second, "late"))
	found := findingsWhere(s, func(f Finding) bool { return f.Kind == "scan" && f.Src.IP == k.src })
	if len(found) != 1 || found[0].Count != 31 {
		t.Errorf("scan findings of %s: %+v, want one of 31 connections", k.src, found)
	}
}

// TestWindowStateBounded feeds two days of failed attempts and short SSH
// sessions from ever new internet sources, as a VM exposed to the internet
// sees: scan windows, kept attempts and brute-force windows stay bounded,
// and a scan and a brute force at the end are still found.
func TestWindowStateBounded(t *testing.T) {
	s := NewSummary(Options{})
	const perMinute = 40
	minutes := 2 * 24 * 60
	for m := range minutes {
		for i := range perMinute {
			n := m*perMinute + i
			src := netip.AddrFrom4([4]byte{45, byte(n >> 16), byte(n >> 8), byte(n)}).String()
			c := conn(src, "10.0.0.4", 40000, uint16(1+n%1000), time.Duration(m)*time.Minute+time.Duration(i)*time.Second, 0)
			c.ConnState, c.RespPkts, c.RespIPBytes, c.UID = "S0", 0, 0, fmt.Sprint("C", n)
			if n%2 == 0 { // a single short SSH login attempt
				c.RespPort, c.ConnState, c.Duration = 22, "SF", int64(2*time.Second)
			}
			s.AddConn(c)
		}
	}
	sc, brute := &s.det.scans, &s.det.access.brute
	scans := len(sc.wins) + len(sc.vwins) + len(sc.examples)
	t.Logf("after %d attempts: %d scan windows and attempt lists, %d brute-force windows", minutes*perMinute, scans, len(brute.m))
	if scans > 4*sweepMin || len(brute.m) > 2*sweepMin {
		t.Errorf("after %d attempts from new sources: %d scan windows and attempt lists, %d brute-force windows; want at most %d and %d",
			minutes*perMinute, scans, len(brute.m), 4*sweepMin, 2*sweepMin)
	}
	end := time.Duration(minutes) * time.Minute
	for i := range 20 {
		c := conn("203.0.113.5", "10.0.0.9", 40000, uint16(2000+i), end+time.Duration(i)*time.Second, 0)
		c.ConnState, c.RespPkts, c.RespIPBytes, c.UID = "S0", 0, 0, fmt.Sprint("S", i)
		s.AddConn(c)
		c = conn("203.0.113.6", "10.0.0.9", uint16(40000+i), 22, end+time.Duration(i)*time.Second, 2*time.Second)
		c.ConnState, c.UID = "SF", fmt.Sprint("B", i)
		s.AddConn(c)
	}
	for _, want := range []struct{ kind, src string }{{"scan", "203.0.113.5"}, {"brute_force", "203.0.113.6"}} {
		found := findingsWhere(s, func(f Finding) bool { return f.Kind == want.kind && f.Src.IP.String() == want.src })
		if len(found) != 1 || found[0].Count != 20 {
			t.Errorf("%s after two days: %+v, want one finding of 20 connections", want.kind, found)
		}
	}
}

// TestQuietTechniques checks that SMB and RPC seen by port only are
// findings only between hosts that had not used them before.
func TestQuietTechniques(t *testing.T) {
	for _, p := range []uint16{445, 135} {
		s := NewSummary(Options{})
		for i := range 12 { // a file server's everyday clients, in the baseline
			c := conn(fmt.Sprint("10.0.0.", 20+i), "10.0.0.2", 50000, p, time.Duration(i)*time.Minute, time.Minute)
			c.UID = fmt.Sprint("Cs", i)
			s.AddConn(c)
		}
		s.AddConn(conn("10.0.0.20", "10.0.0.2", 50001, p, 4*time.Hour, time.Minute)) // the evidence ends here
		late := conn("10.0.0.7", "10.0.0.9", 50002, p, 3*time.Hour, time.Minute)
		late.UID = "Clate"
		s.AddConn(late)
		got := findingsWhere(s, ofKind("lateral_movement"))
		want := map[uint16]string{445: "T1021.002", 135: "T1021.003"}[p]
		if len(got) != 1 || got[0].Src.IP != netip.MustParseAddr("10.0.0.7") || got[0].Technique != want || !strings.Contains(got[0].Why, "new:") {
			t.Errorf("port %d: %+v", p, got)
		}
	}
}

// TestDataAccess checks that database and directory connections are
// findings only when new or after --since.
func TestDataAccess(t *testing.T) {
	since := time.Unix(0, int64(3*time.Hour))
	for _, tt := range []struct {
		name  string
		opt   DetectOptions
		at    time.Duration // of the second pair's first connection
		found bool
	}{
		{"in the baseline", DetectOptions{}, 2 * time.Minute, false},
		{"new", DetectOptions{}, 3 * time.Hour, true},
		{"after --since", DetectOptions{Since: since}, 3*time.Hour + time.Minute, true},
	} {
		s := NewSummary(Options{Detect: tt.opt})
		for i := range 12 { // routine; the first quarter of the conversations ends at minute 3
			s.AddConn(conn("10.0.0.1", "10.0.0.2", uint16(50100+i), 1433, time.Duration(i)*time.Minute, time.Minute))
		}
		s.AddConn(conn("10.0.0.1", "10.0.0.2", 50001, 1433, 4*time.Hour, time.Minute)) // the evidence ends here
		c := conn("10.0.0.7", "10.0.0.2", 50002, 1433, tt.at, time.Minute)
		c.UID = "Cnew"
		s.AddConn(c)
		got := findingsWhere(s, ofKind("lateral_movement"))
		if tt.found != (len(got) == 1) || len(got) > 1 || (tt.found && (got[0].Src.IP != netip.MustParseAddr("10.0.0.7") || got[0].Technique != "")) {
			t.Errorf("%s: %+v", tt.name, got)
		}
	}
}

// TestBehaviourDetectors runs each behaviour detector on crafted
// conversations that should fire it and on near misses that should not.
func TestBehaviourDetectors(t *testing.T) {
	dnsConn := func(i int, name string) *flows.Conn {
		c := conn("10.0.0.4", "10.0.0.53", uint16(40000+i), 53, time.Duration(i)*time.Second, time.Millisecond)
		c.Proto, c.UID = 17, fmt.Sprint("Cd", i)
		c.App = &appid.Facts{DNS: &appid.DNSFacts{Queries: []string{name + " A"}}}
		return c
	}
	rdp := func(i int, at, dur time.Duration, bytes uint64) *flows.Conn {
		c := conn("203.0.113.66", "10.0.0.4", uint16(50000+i), 3389, at, dur)
		c.RespIPBytes, c.UID, c.ConnState = bytes, fmt.Sprint("Cr", i), "SF"
		return c
	}
	tests := []struct {
		name  string
		conns func() []*flows.Conn
		kind  string
		want  bool
	}{
		{"dns tunnel", func() (cs []*flows.Conn) {
			for i := range 40 {
				cs = append(cs, dnsConn(i, fmt.Sprintf("q%x7f3a9c2e1b5d%x.t.evil.example", i*7919, i*104729)))
			}
			return cs
		}, "dns_tunnel", true},
		{"dns, ordinary names", func() (cs []*flows.Conn) {
			for i := range 40 {
				cs = append(cs, dnsConn(i, fmt.Sprintf("host%d.corp.example", i%5)))
			}
			return cs
		}, "dns_tunnel", false},
		{"brute force then a session", func() (cs []*flows.Conn) {
			for i := range 12 {
				cs = append(cs, rdp(i, time.Duration(i)*20*time.Second, 3*time.Second, 3000))
			}
			return append(cs, rdp(99, 5*time.Minute, 10*time.Minute, 400_000))
		}, "inbound_access", true},
		{"a few failed logins", func() (cs []*flows.Conn) {
			for i := range 4 {
				cs = append(cs, rdp(i, time.Duration(i)*20*time.Second, 3*time.Second, 3000))
			}
			return cs
		}, "brute_force", false},
		{"upload", func() []*flows.Conn {
			c := conn("10.0.0.4", "192.0.2.123", 50000, 443, 0, time.Minute)
			c.OrigIPBytes, c.RespIPBytes = 40_000_000, 400_000
			return []*flows.Conn{c}
		}, "exfiltration", true},
		{"download", func() []*flows.Conn {
			c := conn("10.0.0.4", "192.0.2.123", 50000, 443, 0, time.Minute)
			c.OrigIPBytes, c.RespIPBytes = 400_000, 40_000_000
			return []*flows.Conn{c}
		}, "exfiltration", false},
		{"beacon", func() (cs []*flows.Conn) {
			for i := range 30 {
				c := conn("10.0.0.4", "198.51.100.99", uint16(50000+i), 443, time.Duration(i)*time.Minute, time.Second)
				c.UID = fmt.Sprint("Cb", i)
				cs = append(cs, c)
			}
			return cs
		}, "beacon", true},
		{"irregular traffic", func() (cs []*flows.Conn) {
			at := time.Duration(0)
			for i := range 30 {
				at += time.Duration(1+(i*i*7919)%600) * time.Second
				c := conn("10.0.0.4", "198.51.100.99", uint16(50000+i), 443, at, time.Second)
				c.UID, c.OrigIPBytes = fmt.Sprint("Cb", i), uint64(100+(i*104729)%50000)
				cs = append(cs, c)
			}
			return cs
		}, "beacon", false},
	}
	for _, tt := range tests {
		s := NewSummary(Options{})
		for _, c := range tt.conns() {
			s.AddConn(c)
		}
		got := len(findingsWhere(s, ofKind(tt.kind))) > 0
		if got != tt.want {
			t.Errorf("%s: %s found %v, want %v", tt.name, tt.kind, got, tt.want)
		}
	}
}

// TestHostPeers counts each host's distinct peers, whichever side it was
// on, a host talking to itself counting itself once.
func TestHostPeers(t *testing.T) {
	s := NewSummary(Options{})
	for _, c := range []*flows.Conn{
		conn("10.0.0.1", "10.0.0.2", 1000, 80, 0, 0),
		conn("10.0.0.2", "10.0.0.1", 1001, 22, time.Second, 0), // the same pair, the other way
		conn("10.0.0.1", "10.0.0.3", 1002, 80, 2*time.Second, 0),
		conn("10.0.0.3", "10.0.0.3", 1003, 80, 3*time.Second, 0),
		conn("10.0.0.4", "10.0.0.1", 1004, 80, 4*time.Second, 0),
	} {
		s.AddConn(c)
	}
	want := map[string]int{"10.0.0.1": 3, "10.0.0.2": 1, "10.0.0.3": 2, "10.0.0.4": 1}
	hosts := s.Report().TopHostsByConns
	if len(hosts) != len(want) {
		t.Fatalf("%d hosts, want %d", len(hosts), len(want))
	}
	for _, h := range hosts {
		if h.Peers != want[h.IP.String()] {
			t.Errorf("%s: %d peers, want %d", h.IP, h.Peers, want[h.IP.String()])
		}
	}
}

// BenchmarkSummary measures accounting, detection and the report over the
// demo evidence's conversations, in ns per conversation.
func BenchmarkSummary(b *testing.B) {
	conns := benchdata.DemoConns(b)
	b.ReportAllocs()
	for b.Loop() {
		s := NewSummary(Options{})
		for _, c := range conns {
			s.AddConn(c)
		}
		if r := s.Report(); r.Totals.Conversations != uint64(len(conns)) {
			b.Fatalf("%d conversations in the report, want %d", r.Totals.Conversations, len(conns))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(conns)), "ns/conversation")
}

// TestTop checks the streaming selection against sorting everything.
func TestTop(t *testing.T) {
	type kv struct{ k, v int }
	order := func(a, b kv) int { return cmp.Or(cmp.Compare(b.v, a.v), cmp.Compare(a.k, b.k)) } // v descending, ties by k
	var all []kv
	for i := range 1000 {
		all = append(all, kv{i, (i * 7919) % 97}) // many ties
	}
	for _, n := range []int{1, 3, 10, 999, 1000, 5000} {
		got := top(slices.Values(all), n, order)
		want := slices.SortedFunc(slices.Values(all), order)[:min(n, len(all))]
		if !slices.Equal(got, want) {
			t.Errorf("top %d: got %v..., want %v...", n, got[:min(3, len(got))], want[:min(3, len(want))])
		}
	}
	if got := top(slices.Values([]kv{}), 5, order); got == nil || len(got) != 0 {
		t.Errorf("top of nothing is %#v, want an empty, non-nil list (JSON [])", got)
	}
}
