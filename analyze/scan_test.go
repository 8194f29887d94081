package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
)

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
		for i := range tt.ports { // 15 s apart: slower than a quick sweep
			c := conn("203.0.113.5", "10.0.0.4", 40000, uint16(1000+i), time.Duration(i)*15*time.Second, 0)
			c.ConnState, c.RespPkts, c.RespIPBytes, c.UID = "S0", 0, 0, fmt.Sprint("C", i)
			s.AddConn(c)
		}
		got := len(findingsWhere(s, ofKind("scan"))) > 0
		if got != tt.want {
			t.Errorf("%d ports, threshold %d: scan %v, want %v", tt.ports, tt.threshold, got, tt.want)
		}
	}
}

// TestQuickSweep: a few ports of one host tried within seconds are a low
// scan; the same spread over minutes is none, and a sweep that goes on to
// the threshold is an ordinary port scan.
func TestQuickSweep(t *testing.T) {
	for _, tt := range []struct {
		ports   int
		spacing time.Duration
		title   string // "" for no scan
	}{
		{5, time.Second, "quick port sweep"},
		{4, time.Second, ""},
		{5, 15 * time.Second, ""},
		{20, time.Second, "port scan"},
	} {
		s := NewSummary(Options{})
		for i := range tt.ports {
			c := conn("203.0.113.5", "10.0.0.4", 40000, uint16(1000+i), time.Duration(i)*tt.spacing, 0)
			c.ConnState, c.History, c.RespPkts, c.RespIPBytes, c.UID = "REJ", "Sr", 1, 40, fmt.Sprint("C", i)
			s.AddConn(c)
		}
		fs := findingsWhere(s, ofKind("scan"))
		switch {
		case tt.title == "" && len(fs) > 0, tt.title != "" && (len(fs) != 1 || fs[0].Title != tt.title):
			t.Errorf("%d ports %v apart: %+v, want %q", tt.ports, tt.spacing, fs, tt.title)
		case tt.title == "quick port sweep" && fs[0].Severity != "low":
			t.Errorf("quick sweep of severity %s", fs[0].Severity)
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

// failedConn is an unanswered attempt from src to dst's port dp.
func failedConn(src, dst string, dp uint16, ts time.Duration, uid string) *flows.Conn {
	c := conn(src, dst, 40000, dp, ts, 0)
	c.ConnState, c.RespPkts, c.RespIPBytes, c.UID = "S0", 0, 0, uid
	return c
}

// TestCrossedScanWindowDropsItsSet: a scan's window, long past, keeps only
// its size (which stops growing past the threshold), and an attempt that
// arrives late still counts toward the scan.
func TestCrossedScanWindowDropsItsSet(t *testing.T) {
	s := NewSummary(Options{})
	for i := range 30 {
		s.AddConn(failedConn("203.0.113.5", fmt.Sprintf("10.0.1.%d", i), 445, time.Duration(i)*time.Second, fmt.Sprint("S", i)))
	}
	for n := range 6 * 60 * 40 { // six hours of attempts from ever new sources, two each: sweeps
		src := netip.AddrFrom4([4]byte{45, byte(n >> 17), byte(n >> 9), byte(n >> 1)}).String()
		s.AddConn(failedConn(src, "10.0.0.4", uint16(1+n%1000), time.Duration(n)*time.Minute/40, fmt.Sprint("C", n)))
	}
	k := scanKey{src: netip.MustParseAddr("203.0.113.5"), port: 445}
	w := detectorOf[*scanDetector](s).wins[k]
	if w == nil {
		t.Fatal("the scan's window is gone after six hours")
	}
	if !w.dropped || w.few != nil || w.many != nil || w.n < DefaultScanHosts {
		t.Fatalf("the scan's window after six hours: %d values kept, size %d; want the set dropped and a size past the threshold kept", len(w.few)+len(w.many), w.n)
	}
	s.AddConn(failedConn("203.0.113.5", "10.0.1.200", 445, 40*time.Second, "late"))
	found := findingsWhere(s, func(f Finding) bool { return f.Kind == "scan" && f.Src.IP == k.src })
	if len(found) != 1 || found[0].Count != 31 {
		t.Errorf("scan findings of %s: %+v, want one of 31 connections", k.src, found)
	}
}

// TestOneAttemptSourcesStayBounded: a flood of spoofed sources that try
// once each keeps a bounded set of first attempts, opens no windows, and
// leaves the evidence store as it was: its bytes grow with the sources
// kept, not with all there were.
func TestOneAttemptSourcesStayBounded(t *testing.T) {
	for _, sources := range []int{maxFirsts, 4 * maxFirsts} {
		s := NewSummary(Options{})
		for n := range sources {
			c := conn(netip.AddrFrom4([4]byte{45, byte(n >> 16), byte(n >> 8), byte(n)}).String(), "10.0.0.4", 40000, 80, time.Duration(n)*time.Millisecond, 0)
			c.ConnState, c.RespPkts, c.RespIPBytes = "S0", 0, 0
			s.AddConn(c)
		}
		sd := detectorOf[*scanDetector](s)
		if kept := len(sd.firsts.refs) + len(sd.firsts.older); kept > maxFirsts || len(sd.wins)+len(sd.vwins) != 0 {
			t.Errorf("after %d one-attempt sources: %d first attempts kept (at most %d), %d windows (want none)",
				sources, kept, maxFirsts, len(sd.wins)+len(sd.vwins))
		}
		// Records held in memory and in all: the generations' and the
		// evidence store's.
		inMemory, held := 0, int64(0)
		for _, st := range []*evidenceStore{sd.firsts.recs, sd.firsts.olderRecs, s.det.evidence} {
			if st != nil {
				inMemory += len(st.buf)
				held += st.base + int64(len(st.buf))
			}
		}
		if inMemory > 2*firstsBuffer+evidenceBuffer+64<<10 {
			t.Errorf("after %d one-attempt sources: %d bytes of records in memory", sources, inMemory)
		}
		if perSource := held / int64(sources); sources > maxFirsts && perSource > 32 {
			t.Errorf("after %d one-attempt sources: %d bytes of records held, %d a source", sources, held, perSource)
		}
	}
}

// TestFirstAttemptIsReplayed: a source's first failed attempt, held apart
// until it tries again, is the scan's evidence with every field it had,
// whether it was held in the newer or the older half of the notes.
func TestFirstAttemptIsReplayed(t *testing.T) {
	for _, others := range []int{0, maxFirsts / 2} {
		s := NewSummary(Options{})
		first := failedConn("203.0.113.9", "10.0.2.0", 445, 0, "Cfirst")
		first.CommunityID, first.Files = "1:first", []string{"capture-1.pcap"}
		s.AddConn(first)
		for n := range others { // other sources in between, one attempt each
			s.AddConn(failedConn(netip.AddrFrom4([4]byte{45, 1, byte(n >> 8), byte(n)}).String(), "10.0.0.4", 80, time.Millisecond, fmt.Sprint("O", n)))
		}
		for i := 1; i < DefaultScanHosts; i++ {
			s.AddConn(failedConn("203.0.113.9", fmt.Sprintf("10.0.2.%d", i), 445, time.Duration(i)*time.Second, fmt.Sprint("C", i)))
		}
		found := findingsWhere(s, func(f Finding) bool { return f.Kind == "scan" && f.Src.IP == first.Orig })
		if len(found) != 1 {
			t.Fatalf("with %d other sources: %d scan findings of %s, want 1", others, len(found), first.Orig)
		}
		ev := found[0].Evidence
		if len(ev.Connections) == 0 || ev.Connections[0].UID != "Cfirst" || ev.Connections[0].CommunityID != first.CommunityID ||
			ev.Connections[0].Resp != first.Resp || !slices.Contains(ev.Files, first.Files[0]) {
			t.Errorf("with %d other sources: the evidence does not start with the first attempt: %+v", others, ev)
		}
	}
}

// TestRandomScanIsBounded: a source trying random ports of ever new hosts
// (masscan) makes one finding, of many ports, counting every attempt on a
// port that crossed the threshold, while its vertical windows and kept
// attempts stay within their bounds.
func TestRandomScanIsBounded(t *testing.T) {
	s := NewSummary(Options{})
	const ports, attempts = 200, 2 * maxScanTargets
	for i := range attempts {
		dst := netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)}).String()
		s.AddConn(failedConn("203.0.113.9", dst, uint16(1000+i%ports), time.Minute*time.Duration(i)/attempts, fmt.Sprint("S", i)))
	}
	d := detectorOf[*scanDetector](s)
	if len(d.vwins) > maxScanTargets || d.kept[netip.MustParseAddr("203.0.113.9")] > maxSourceExamples {
		t.Errorf("%d vertical windows, %d attempts kept", len(d.vwins), d.kept[netip.MustParseAddr("203.0.113.9")])
	}
	scans := findingsWhere(s, ofKind("scan"))
	many, total := 0, 0
	for _, f := range scans {
		total += f.Count
		if f.Title == "address scan of many ports" {
			many++
		}
	}
	if len(scans) != 1 || many != 1 || total != attempts {
		t.Errorf("%d scan findings (%d of many ports) counting %d attempts, want one of many ports counting %d", len(scans), many, total, attempts)
	}
}

// TestSpray: a source inside the network that fails to reach sprayHosts
// hosts on random ports within the window, too few on any one port for an
// address scan, makes one finding of many ports that counts every attempt
// and datagram; a source outside, fewer hosts, answered datagrams or
// datagrams to a group make none.
func TestSpray(t *testing.T) {
	// n attempts from src to as many hosts, each on a port of its own
	// (at most 10 hosts a port), over four minutes.
	spray := func(src string, n int, shape func(c *flows.Conn)) []*flows.Conn {
		out := make([]*flows.Conn, n)
		for i := range out {
			dst := netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)}).String()
			out[i] = failedConn(src, dst, uint16(1+i%(n/10+1)*7919%65535), 4*time.Minute*time.Duration(i)/time.Duration(n), fmt.Sprint("C", i))
			if shape != nil {
				shape(out[i])
			}
		}
		return out
	}
	udp := func(c *flows.Conn) { c.Proto, c.ConnState = ipproto.UDP, "S0" }
	for _, tt := range []struct {
		name  string
		conns []*flows.Conn
		want  int // attempts counted by the finding of many ports; 0: none
	}{
		{"TCP from the VM", spray("10.1.0.4", 3000, nil), 3000},
		{"UDP from the VM", spray("10.1.0.4", 3000, udp), 3000},
		{"TCP and UDP from the VM", append(spray("10.1.0.4", 600, nil), spray("10.1.0.4", 3000, func(c *flows.Conn) {
			udp(c)
			c.Resp = netip.AddrFrom4([4]byte{100, 65, c.Resp.As4()[2], c.Resp.As4()[3]})
			c.TS += int64(time.Second)
		})...), 3600},
		{"fewer hosts", spray("10.1.0.4", sprayHosts-1, udp), 0},
		{"fewer hosts in the window before", append(spray("10.1.0.4", sprayHosts/2, udp), spray("10.1.0.4", 3000, func(c *flows.Conn) {
			udp(c)
			c.TS += int64(DefaultScanWindow)
		})...), 3000},
		{"from the internet", spray("203.0.113.7", 3000, udp), 0},
		{"answered datagrams", spray("10.1.0.4", 3000, func(c *flows.Conn) {
			udp(c)
			c.ConnState, c.RespPkts, c.RespIPBytes = "SF", 1, 60
		}), 0},
		{"datagrams to a group", spray("10.1.0.4", 3000, func(c *flows.Conn) {
			udp(c)
			c.Resp = netip.AddrFrom4([4]byte{239, 1, c.Resp.As4()[2], c.Resp.As4()[3]})
		}), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			slices.SortStableFunc(tt.conns, func(a, b *flows.Conn) int { return int(a.TS - b.TS) })
			s := NewSummary(Options{})
			for _, c := range tt.conns {
				s.AddConn(c)
			}
			scans := findingsWhere(s, ofKind("scan"))
			var got []string
			count := 0
			for _, f := range scans {
				got = append(got, fmt.Sprintf("%s (%d)", f.Title, f.Count))
				if f.Title == "address scan of many ports" {
					count = f.Count
				}
			}
			if count != tt.want || tt.want > 0 && len(scans) != 1 {
				t.Errorf("scan findings %q, want one of many ports counting %d", got, tt.want)
			}
		})
	}
}
