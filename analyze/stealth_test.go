package analyze

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/flows"
)

// probeConn is a TCP conversation of one packet from 203.0.113.7 to port
// of host with history (the responder's letters lower case).
func probeConn(i int, host string, port uint16, history string) *flows.Conn {
	c := conn("203.0.113.7", host, uint16(40000+i), port, time.Duration(i)*time.Second, time.Millisecond)
	c.History, c.OrigPkts, c.OrigIPBytes, c.RespPkts, c.RespIPBytes = history, 1, 40, 0, 0
	c.ConnState, c.UID = "OTH", fmt.Sprint("Cp", i)
	if strings.ContainsRune(history, 'r') {
		c.RespPkts, c.RespIPBytes = 1, 40
	}
	return c
}

// probes makes n probes with history h to ports 1000 on, of one host or
// of n hosts.
func probes(n int, h string, manyHosts bool) func() []*flows.Conn {
	return func() (cs []*flows.Conn) {
		for i := range n {
			host := "10.1.0.4"
			if manyHosts {
				host = fmt.Sprintf("10.1.0.%d", 10+i)
			}
			cs = append(cs, probeConn(i, host, uint16(1000+i), h))
		}
		return cs
	}
}

// TestStealthScan: a handful of probes with flags no connection opens
// with is a scan; bare ACKs need more targets; what an established or
// closing connection sends, seen from the middle, is none.
func TestStealthScan(t *testing.T) {
	runDetectorCases(t, []detectorCase{
		{"FIN probes to 3 ports, unanswered", probes(3, "F", false), "scan", true},
		{"NULL probes answered by resets", probes(3, "r", false), "scan", true},
		{"no letters: flags the capture cut", probes(5, "", false), "scan", false},
		{"SYN-FIN probes", probes(3, "Qr", true), "scan", true},
		{"2 FIN probes", probes(2, "F", false), "scan", false},
		{"bare ACKs to 5 hosts", probes(5, "Ar", true), "scan", false},
		{"bare ACKs to 10 hosts", probes(10, "Ar", true), "scan", true},
		{"FINs answered by FINs (closing connections)", probes(5, "Ff", false), "scan", false},
		{"ACKs answered by ACKs (keepalives)", probes(12, "Aa", true), "scan", false},
		{"data after the capture started", probes(5, "Dd", false), "scan", false},
		{"flipped: a server's FIN seen first", probes(5, "^f", false), "scan", false},
	})
	s := NewSummary(Options{})
	for _, c := range probes(4, "Fr", false)() {
		s.AddConn(c)
	}
	fs := findingsWhere(s, ofKind("scan"))
	if len(fs) != 1 || fs[0].Title != "stealth scan (FIN/Xmas/Maimon probes)" || fs[0].Count != 4 || len(fs[0].Evidence.Facts) != 1 {
		t.Errorf("findings %+v", fs)
	}
}

// TestStealthProbesJoinAScan: a source whose attempts make an ordinary
// scan finding gets its stealth probes as a fact of it, not a second
// finding.
func TestStealthProbesJoinAScan(t *testing.T) {
	s := NewSummary(Options{})
	for _, c := range probes(DefaultScanHosts+5, "Sr", true)() { // rejected SYNs to many hosts on many ports
		c.ConnState = "REJ"
		c.RespPort = 445
		s.AddConn(c)
	}
	for i, c := range probes(5, "F", false)() {
		c.TS += int64(time.Minute) + int64(i)
		s.AddConn(c)
	}
	fs := findingsWhere(s, ofKind("scan"))
	if len(fs) != 1 || !strings.Contains(strings.Join(fs[0].Evidence.Facts, "|"), "stealth probes") ||
		!strings.HasSuffix(fs[0].Title, " with stealth probes") || !strings.Contains(fs[0].Why, "FIN/Xmas/Maimon probes") {
		t.Errorf("%d scan findings; title %q, why %q, facts %v", len(fs), fs[0].Title, fs[0].Why, fs[0].Evidence.Facts)
	}
}
