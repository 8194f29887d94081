package analyze

import (
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
)

// floodSource is the n-th of many public sources.
func floodSource(n int) string {
	return netip.AddrFrom4([4]byte{45, byte(n >> 16), byte(n >> 8), byte(n)}).String()
}

// oneWayConns are n conversations of one packet each, spread evenly over
// span from the start of the evidence, from sources different ones,
// shaped by each.
func oneWayConns(n, sources int, span time.Duration, shape func(c *flows.Conn)) func() []*flows.Conn {
	return func() []*flows.Conn {
		out := make([]*flows.Conn, n)
		for i := range out {
			c := conn(floodSource(i%sources), "10.1.0.4", uint16(1024+i%60000), 443, span*time.Duration(i)/time.Duration(n), 0)
			c.ConnState, c.OrigPkts, c.OrigIPBytes, c.RespPkts, c.RespIPBytes, c.UID = "S0", 1, 40, 0, 0, fmt.Sprint("C", i)
			if shape != nil {
				shape(c)
			}
			out[i] = c
		}
		return out
	}
}

func udpTo(port uint16) func(c *flows.Conn) {
	return func(c *flows.Conn) { c.Proto, c.ConnState, c.RespPort = ipproto.UDP, "S0", port }
}

// icmp makes c ICMP messages of a type, with Zeek's "ports": the type,
// and the counterpart type or the code.
func icmp(typ, counterpart uint16) func(c *flows.Conn) {
	return func(c *flows.Conn) {
		c.Proto, c.ConnState, c.History, c.OrigPort, c.RespPort = ipproto.ICMP, "OTH", "", typ, counterpart
	}
}

// dnsAnswer makes c a DNS response to no query, as the flow table records
// it: the querier (the target) is the originator and sent nothing.
func dnsAnswer(c *flows.Conn) {
	c.Proto, c.ConnState, c.Service, c.History = ipproto.UDP, "SHR", "dns", "^d"
	c.Orig, c.Resp, c.RespPort = c.Resp, c.Orig, 53
	c.OrigPkts, c.OrigIPBytes, c.RespPkts, c.RespIPBytes = 0, 0, 1, 185
}

func TestFloodDetector(t *testing.T) {
	runDetectorCases(t, []detectorCase{
		{name: "SYN flood from spoofed sources", kind: "flood", want: true, conns: oneWayConns(70_000, 70_000, time.Minute, nil)},
		{name: "SYN flood from one source", kind: "flood", want: true, conns: oneWayConns(70_000, 1, time.Minute, nil)},
		{name: "UDP flood", kind: "flood", want: true, conns: oneWayConns(70_000, 5000, time.Minute, udpTo(80))},
		{name: "DNS answer flood", kind: "flood", want: true, conns: oneWayConns(70_000, 5000, time.Minute, dnsAnswer)},
		{name: "ping flood", kind: "flood", want: true, conns: oneWayConns(70_000, 5000, time.Minute, icmp(8, 0))},
		{name: "answered ping flood", kind: "flood", want: true, conns: oneWayConns(70_000, 5000, time.Minute, func(c *flows.Conn) {
			icmp(8, 0)(c)
			c.RespPkts, c.RespIPBytes = 1, 84
		})},
		{name: "ICMPv6 ping flood", kind: "flood", want: true, conns: oneWayConns(70_000, 5000, time.Minute, func(c *flows.Conn) {
			icmp(128, 129)(c)
			c.Proto, c.Orig, c.Resp = ipproto.ICMPv6, netip.AddrFrom16(c.Orig.As16()), netip.MustParseAddr("fd00::4")
		})},
		{name: "echo replies to no request (Smurf)", kind: "flood", want: true, conns: oneWayConns(70_000, 5000, time.Minute, icmp(0, 8))},
		{name: "answered echo replies", kind: "flood", want: false, conns: oneWayConns(70_000, 5000, time.Minute, func(c *flows.Conn) {
			icmp(0, 8)(c)
			c.RespPkts, c.RespIPBytes = 1, 84
		})},
		{name: "unreachables (a scanner's answers)", kind: "flood", want: false, conns: oneWayConns(70_000, 5000, time.Minute, icmp(3, 3))},
		{name: "attempts below the rate", kind: "flood", want: false, conns: oneWayConns(50_000, 5000, time.Minute, nil)},
		{name: "the same attempts over two minutes", kind: "flood", want: false, conns: oneWayConns(70_000, 5000, 2*time.Minute, nil)},
		{name: "answered UDP", kind: "flood", want: false, conns: oneWayConns(70_000, 5000, time.Minute, func(c *flows.Conn) {
			udpTo(53)(c)
			c.ConnState, c.RespPkts, c.RespIPBytes = "SF", 1, 100
		})},
		{name: "a long one-way stream (syslog)", kind: "flood", want: false, conns: func() []*flows.Conn {
			c := conn(floodSource(1), "10.1.0.4", 514, 514, 0, 5*time.Hour)
			udpTo(514)(c)
			c.OrigPkts, c.RespPkts, c.RespIPBytes = 1_000_000, 0, 0
			return []*flows.Conn{c}
		}},
		{name: "attempts the NSG denied", kind: "flood", want: false, conns: oneWayConns(70_000, 5000, time.Minute, func(c *flows.Conn) {
			c.FlowLog = &flows.FlowLogView{Decision: flows.Deny}
		})},
	})
}

// TestFloodFinding checks the measures of one flood, and that its
// conversations make one finding, not one per source or port.
func TestFloodFinding(t *testing.T) {
	s := NewSummary(Options{})
	for _, c := range oneWayConns(150_000, 6000, 2*time.Minute, dnsAnswer)() {
		s.AddConn(c)
	}
	found := findingsWhere(s, ofKind("flood"))
	if len(found) != 1 {
		t.Fatalf("%d flood findings, want 1: %+v", len(found), found)
	}
	f := found[0]
	fs := f.Flood
	switch {
	case f.Technique != "T1498" || f.Dst.IP != netip.MustParseAddr("10.1.0.4") || f.Dst.Port != nil:
		t.Errorf("flood %s to %v port %v, want T1498 to 10.1.0.4, many ports", f.Technique, f.Dst.IP, f.Dst.Port)
	case fs == nil || fs.Packets != 150_000 || f.Count != 150_000 || fs.Minutes != 2 || fs.PeakRate != 1250:
		t.Errorf("flood measures %+v, count %d; want 150000 packets and connections in 2 minutes at 1250/s", fs, f.Count)
	case fs.Sources < 5900 || fs.Sources > 6100 || !fs.SourcesEstimated:
		t.Errorf("flood from %d sources (estimated %v), want about 6000, estimated", fs.Sources, fs.SourcesEstimated)
	case len(f.Evidence.Connections) == 0 || f.Evidence.Connections[0].UID != "C0":
		t.Errorf("flood evidence %+v, want the first connection first", f.Evidence.Connections)
	}
}

// TestSourceCount: exact to floodExactSources, then within 2% (about
// three standard errors of the sketch).
func TestSourceCount(t *testing.T) {
	for _, n := range []int{1, 100, floodExactSources, floodExactSources + 1, 20_000, 300_000, 2_000_000} {
		s := &sourceCount{exact: map[netip.Addr]uint64{}}
		for i := range n {
			s.add(netip.AddrFrom4([4]byte{byte(1 + i>>24), byte(i >> 16), byte(i >> 8), byte(i)}), 1)
			if i%3 == 0 { // repeats do not count
				s.add(netip.AddrFrom4([4]byte{byte(1 + i>>24), byte(i >> 16), byte(i >> 8), byte(i)}), 1)
			}
		}
		got, estimated := s.count()
		if n <= floodExactSources {
			if got != n || estimated {
				t.Errorf("%d sources counted %d (estimated %v), want exactly", n, got, estimated)
			}
			continue
		}
		if off := math.Abs(float64(got-n)) / float64(n); off > 0.02 || !estimated {
			t.Errorf("%d sources estimated %d (%.1f%% off, estimated %v), want within 2%%", n, got, 100*off, estimated)
		}
	}
}

// TestFloodPorts: a UDP flood names its target's port when it hits one,
// and none when it hits several, the first connections' ports included.
func TestFloodPorts(t *testing.T) {
	for _, tt := range []struct {
		name  string
		shape func(i int, c *flows.Conn)
		want  *uint16
	}{
		{"one port", func(_ int, c *flows.Conn) { udpTo(80)(c) }, port(80)},
		{"a second port among the first connections", func(i int, c *flows.Conn) {
			udpTo(80)(c)
			if i == 1 {
				c.RespPort = 81
			}
		}, nil},
	} {
		s := NewSummary(Options{})
		conns := oneWayConns(70_000, 5000, time.Minute, nil)()
		for i, c := range conns {
			tt.shape(i, c)
			s.AddConn(c)
		}
		found := findingsWhere(s, ofKind("flood"))
		if len(found) != 1 {
			t.Fatalf("%s: %d flood findings, want 1", tt.name, len(found))
		}
		got := found[0].Dst.Port
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("%s: the flood's port %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestFloodTargetsAreBounded: a scanner's attempts to ever new hosts and
// ports (each a target of its own) keep at most about maxFloodTargets
// targets followed, and few of them in the evidence store, and a SYN
// flood among them is still found whole.
func TestFloodTargetsAreBounded(t *testing.T) {
	s := NewSummary(Options{})
	const scans = 3 * maxFloodTargets
	flood := oneWayConns(70_000, 70_000, time.Minute, nil)()
	most, j := 0, 0
	for i := range scans {
		c := conn("203.0.113.9", netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)}).String(), 40000, uint16(1+i%65000), time.Minute*time.Duration(i)/scans, 0)
		c.ConnState, c.OrigPkts, c.OrigIPBytes, c.RespPkts, c.RespIPBytes, c.UID = "S0", 1, 40, 0, 0, fmt.Sprint("S", i)
		s.AddConn(c)
		if i%2 == 0 && j < len(flood) { // the flood, interleaved
			s.AddConn(flood[j])
			j++
		}
		if i%4096 == 0 {
			most = max(most, len(detectorOf[*floodDetector](s).targets))
		}
	}
	if most > 2*maxFloodTargets {
		t.Errorf("%d flood targets followed at once, want at most %d", most, 2*maxFloodTargets)
	}
	// The flood's attempts, its first from each source held apart; the
	// scanner's, a few thousand.
	if d := s.det; d.evidence.base+int64(len(d.evidence.buf)) > 64*int64(len(flood)+maxSourceExamples) {
		t.Errorf("%d bytes in the evidence store for %d attempts", d.evidence.base+int64(len(d.evidence.buf)), scans+len(flood))
	}
	floods := findingsWhere(s, ofKind("flood"))
	if len(floods) != 1 || floods[0].Count != len(flood) || floods[0].Dst.IP != netip.MustParseAddr("10.1.0.4") {
		t.Errorf("floods %+v, want one of the %d attempts on 10.1.0.4", floods, len(flood))
	}
}
