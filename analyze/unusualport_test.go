package analyze

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flows"
)

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

// TestRarePortsSameEveryRun: more rare ports than are reported, all first
// seen at the same moment, give the same findings every run.
func TestRarePortsSameEveryRun(t *testing.T) {
	report := func() string {
		s := NewSummary(Options{})
		for i := range 3 * maxRareFindings {
			c := conn(fmt.Sprint("10.0.0.", 1+i), "10.0.1.1", 50000, uint16(20000+i), 0, time.Second)
			c.UID = fmt.Sprint("C", i)
			s.AddConn(c)
		}
		var b strings.Builder
		for _, f := range findingsWhere(s, ofKind("unusual_port")) {
			fmt.Fprintln(&b, f.Src.IP, *f.Dst.Port)
		}
		return b.String()
	}
	first := report()
	if strings.Count(first, "\n") != maxRareFindings {
		t.Fatalf("%d rare-port findings, want %d", strings.Count(first, "\n"), maxRareFindings)
	}
	for range 10 {
		if report() != first {
			t.Fatal("rare-port findings differ between runs")
		}
	}
}

// TestLANDevicePorts: HTTP on a router's UPnP port or a media device's
// between internal hosts is low at most; the same from the internet, or
// on another port, stays medium, unless it is one or two connections of
// HTTP or TLS on a port of no service with no other sign. SSH on a port
// not its own is medium even once; HTTP on another service's port too.
func TestLANDevicePorts(t *testing.T) {
	for _, tt := range []struct {
		orig    string
		port    uint16
		service string
		n       int    // connections
		want    string // severity of the unusual-port finding
	}{
		{"192.168.1.20", 5000, "http", 3, "low"},  // a home router's UPnP description
		{"192.168.1.20", 49153, "http", 3, "low"}, // an IGD's dynamic port
		{"192.168.1.20", 8009, "ssl", 3, "low"},   // casting
		{"192.168.1.20", 631, "http", 3, "low"},   // IPP printing
		{"192.168.1.20", 4500, "http", 3, "medium"},
		{"198.51.100.7", 5000, "http", 3, "medium"},
		{"198.51.100.7", 64132, "ssl", 1, "low"}, // once, nothing else
		{"198.51.100.7", 64132, "ssl", 2, "low"},
		{"192.168.1.20", 4500, "http", 1, "low"},
		{"198.51.100.7", 41644, "ssh", 1, "medium"},
		{"198.51.100.7", 5432, "http", 1, "medium"}, // PostgreSQL's port
	} {
		s := NewSummary(Options{})
		for i := range tt.n {
			c := conn(tt.orig, "192.168.1.1", uint16(50000+i), tt.port, time.Duration(i)*time.Minute, time.Second)
			c.UID = fmt.Sprint("C", i)
			c.Service = tt.service
			s.AddConn(c)
		}
		fs := findingsWhere(s, ofKind("unusual_port"))
		if len(fs) != 1 || fs[0].Severity != tt.want {
			var got []string
			for _, f := range fs {
				got = append(got, f.Severity+": "+f.Title)
			}
			t.Errorf("%s on %s port %d, %d connection(s): %v, want one %s finding", tt.service, tt.orig, tt.port, tt.n, got, tt.want)
		}
	}
}

// TestExecutableOverRawTCP: a PE file at the start of a connection no
// protocol was found in is an unusual-port finding, higher from outside.
func TestExecutableOverRawTCP(t *testing.T) {
	for _, tt := range []struct {
		orig, severity string
	}{
		{"10.0.0.7", "medium"},
		{"198.51.100.7", "high"},
	} {
		s := NewSummary(Options{})
		c := conn(tt.orig, "10.0.0.9", 50000, 4444, 0, time.Second)
		c.App = &appid.Facts{PE: &appid.PEFacts{Sender: "resp", Machine: "x64"}}
		s.AddConn(c)
		fs := findingsWhere(s, func(f Finding) bool { return strings.Contains(f.Title, "executable over raw TCP") })
		if len(fs) != 1 || fs[0].Severity != tt.severity {
			t.Errorf("from %s: %+v, want one %s finding", tt.orig, fs, tt.severity)
		}
	}
}

// TestNotDNSOnPort53: payload on port 53 that is not DNS, captured whole,
// is an unusual port; DNS, and payload the capture did not have, are not.
func TestNotDNSOnPort53(t *testing.T) {
	on53 := func(proto uint8, service string, facts *appid.Facts, unidentified uint64) func() []*flows.Conn {
		return func() []*flows.Conn {
			c := conn("10.0.0.4", "198.51.100.9", 40000, 53, 0, time.Minute)
			c.Proto, c.Service, c.App, c.ConnState, c.Unidentified = proto, service, facts, "SF", unidentified
			c.OrigBytes, c.RespBytes = 5000, 90000
			return []*flows.Conn{c}
		}
	}
	runDetectorCases(t, []detectorCase{
		{"a tunnel on TCP 53", on53(6, "", nil, 4096), "unusual_port", true},
		{"a tunnel on UDP 53", on53(17, "", nil, 1200), "unusual_port", true},
		{"DNS on 53", on53(17, "dns", &appid.Facts{DNS: &appid.DNSFacts{Queries: []string{"example.com A"}}}, 0), "unusual_port", false},
		{"headers only: nothing seen", on53(17, "", nil, 0), "unusual_port", false},
	})
}

// TestSMBWithGSSAPIOnItsPort: SMB named after its GSS-API authentication,
// as Zeek names it ("gssapi,smb,ntlm"), is still SMB: on 445 it is on its
// own port, on 8445 not.
func TestSMBWithGSSAPIOnItsPort(t *testing.T) {
	smb := func(port uint16) func() []*flows.Conn {
		return func() []*flows.Conn {
			c := conn("10.0.0.4", "10.0.0.9", 40000, port, 0, time.Minute)
			c.Service, c.ConnState = "gssapi,smb,ntlm", "SF"
			return []*flows.Conn{c}
		}
	}
	runDetectorCases(t, []detectorCase{
		{"SMB on 445", smb(445), "unusual_port", false},
		{"SMB on 8445", smb(8445), "unusual_port", true},
	})
}
