package analyze

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flows"
)

// TestOneFindingPerEpisode feeds behaviours that several detectors see,
// and checks each is one finding, with every reason, and no address listed
// twice.
func TestOneFindingPerEpisode(t *testing.T) {
	scanner, host := "203.0.113.5", "10.0.0.4"
	// probes are failed attempts on ports 1000 on, then on admin ports
	// (which the exposure to scanning is about), denied by the NSG if so.
	probes := func(s *Summary, n int, denied bool) {
		ports := []uint16{3389, 445, 5985}
		for i := range n {
			c := conn(scanner, host, 40000, uint16(1000+i), time.Duration(i)*time.Second, 0)
			if i >= n-len(ports) {
				c.RespPort = ports[n-1-i]
			}
			c.ConnState, c.RespPkts, c.RespIPBytes, c.UID = "S0", 0, 0, fmt.Sprint("S", i)
			if denied {
				c.FlowLog = &flows.FlowLogView{Decision: flows.Deny, Rule: "DenyAll"}
			}
			s.AddConn(c)
		}
	}
	tests := []struct {
		name  string
		feed  func(s *Summary)
		kinds map[string]int // findings of each kind
		why   []string       // in the one finding's why or facts
	}{
		{"a vertical scan and the port that answered", func(s *Summary) {
			probes(s, 20, false)
			open := conn(scanner, host, 40001, 31000, 30*time.Second, time.Second) // answered: a high port, unidentified
			open.ConnState, open.UID = "SF", "Copen"
			s.AddConn(open)
		}, map[string]int{"scan": 1}, []string{"two high ports"}},
		{"a scan the NSG denied", func(s *Summary) { probes(s, 20, true) },
			map[string]int{"scan": 1}, []string{"exposure to scanning"}},
		{"TLS on Metasploit's port", func(s *Summary) {
			for i := range 3 {
				c := conn("10.0.0.4", "198.51.100.9", uint16(50000+i), 4444, time.Duration(i)*time.Minute, time.Second)
				c.Service, c.ConnState, c.UID = "ssl", "SF", fmt.Sprint("C", i)
				s.AddConn(c)
			}
		}, map[string]int{"unusual_port": 1}, []string{"SSL on port 4444", "Metasploit"}},
		{"repeated RDP sessions", func(s *Summary) {
			for i := range 2 {
				c := conn("203.0.113.66", host, uint16(50000+i), 3389, time.Duration(i)*time.Hour, 10*time.Minute)
				c.ConnState, c.UID, c.RespIPBytes = "SF", fmt.Sprint("C", i), 400_000
				s.AddConn(c)
			}
		}, map[string]int{"inbound_access": 1}, []string{"2 interactive RDP sessions"}},
		{"denied probes on several admin ports from two sources", func(s *Summary) {
			for i, src := range []string{"192.0.2.200", "192.0.2.201"} {
				for j := range 6 {
					c := conn(src, host, uint16(40000+j), []uint16{3389, 445, 5985}[j%3], time.Duration(i*10+j)*time.Second, 0)
					c.ConnState, c.RespPkts, c.UID = "S0", 0, fmt.Sprint("D", i, j)
					c.FlowLog = &flows.FlowLogView{Decision: flows.Deny, Rule: "DenyAll"}
					s.AddConn(c)
				}
			}
		}, map[string]int{"unusual_port": 1}, []string{"12 connection(s) from 2 source(s) to port(s) 445, 3389, 5985"}},
	}
	for _, tt := range tests {
		s := NewSummary(Options{})
		tt.feed(s)
		fs := s.Report().Findings
		got := map[string]int{}
		for _, f := range fs {
			got[f.Kind]++
			seen := map[netip.Addr]bool{}
			for _, e := range f.Targets {
				if seen[e.IP] {
					t.Errorf("%s: %s lists %s twice", tt.name, f.Kind, e.IP)
				}
				seen[e.IP] = true
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.kinds) {
			t.Errorf("%s: findings %v, want %v", tt.name, got, tt.kinds)
			continue
		}
		text := fs[0].Why + " " + strings.Join(fs[0].Evidence.Facts, " ")
		for _, w := range tt.why {
			if !strings.Contains(text, w) {
				t.Errorf("%s: %q lacks %q", tt.name, text, w)
			}
		}
	}
}

// TestEpisodesMergeTheSameEveryRun: a pivot chain whose hops are several
// findings (made from maps, in any order) takes them in the same order
// every run.
func TestEpisodesMergeTheSameEveryRun(t *testing.T) {
	report := func() string {
		s := NewSummary(Options{})
		add := func(src, dst string, port uint16, at time.Duration) {
			c := conn(src, dst, 50000, port, at, time.Minute)
			c.UID, c.CommunityID = "C"+src+dst, "1:"+src+dst
			s.AddConn(c)
		}
		add("10.0.0.1", "10.0.0.2", 3389, 5*time.Minute)
		for i, port := range []uint16{22, 5985, 3389, 5900} {
			add("10.0.0.2", fmt.Sprint("10.0.0.", 10+i), port, 8*time.Minute)
		}
		b, err := json.Marshal(s.Report())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	first := report()
	if !strings.Contains(first, "pivot through") {
		t.Fatal("no pivot chain")
	}
	for range 20 {
		if report() != first {
			t.Fatal("the report differs between runs")
		}
	}
}

// TestPortOnlyJoinsThePayload: WMI confirmed by payload, and the endpoint
// mapper connection on 135 before it (RPC by port), are one finding.
func TestPortOnlyJoinsThePayload(t *testing.T) {
	s := NewSummary(Options{Detect: DetectOptions{Since: time.Unix(0, 0)}}) // after --since: port-only use is flagged too
	epm := conn("10.0.0.7", "10.0.0.9", 50000, 135, time.Minute, time.Second)
	epm.UID = "Cepm"
	wmi := conn("10.0.0.7", "10.0.0.9", 50001, 49670, time.Minute+2*time.Second, time.Second)
	wmi.UID = "Cwmi"
	wmi.App = &appid.Facts{DCERPC: &appid.DCERPCFacts{Operations: []string{"IWbemServices:ExecMethod"}}}
	s.AddConn(epm)
	s.AddConn(wmi)
	fs := findingsWhere(s, ofKind("lateral_movement"))
	if len(fs) != 1 || fs[0].Technique != "T1047" || fs[0].Count != 2 {
		t.Errorf("WMI and its endpoint-mapper connection: %+v", fs)
	}
}
