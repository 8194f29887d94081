package analyze

import (
	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/flows"
)

// TestInboundAccess: a session from the internet is a finding; after the
// same source's brute force of the same service it is part of that
// brute force, which succeeded, and a key event on the timeline.
func TestInboundAccess(t *testing.T) {
	runDetectorCases(t, []detectorCase{
		{"a session", func() []*flows.Conn { return []*flows.Conn{rdp(99, 5*time.Minute, 10*time.Minute, 400_000)} }, "inbound_access", true},
		{"a short session", func() []*flows.Conn { return []*flows.Conn{rdp(1, 0, 3*time.Second, 3000)} }, "inbound_access", false},
	})
	s := NewSummary(Options{})
	for _, c := range append(rdpAttempts(12), rdp(99, 5*time.Minute, 10*time.Minute, 400_000)) {
		s.AddConn(c)
	}
	r := s.Report()
	if len(r.Findings) != 1 {
		t.Fatalf("brute force and the login after it: %d findings, want one", len(r.Findings))
	}
	f := r.Findings[0]
	if f.Kind != "brute_force" || f.Score != 90 || f.Count != 13 || f.Title != "RDP brute force, then a login" || !strings.Contains(f.Why, "likely the intrusion") {
		t.Errorf("the brute force that succeeded: %+v", f)
	}
	if len(r.Timeline) != 2 || r.Timeline[1].Title != "RDP login after brute force" || r.Timeline[1].Finding != 0 {
		t.Errorf("timeline %+v, want the brute force and the login", r.Timeline)
	}
}

// TestInboundAccessAfterOtherBruteForce: a login to another service than
// the one brute-forced stays a finding of its own, scored as likely the
// intrusion.
func TestInboundAccessAfterOtherBruteForce(t *testing.T) {
	s := NewSummary(Options{})
	ssh := rdp(99, 5*time.Minute, 10*time.Minute, 400_000)
	ssh.RespPort = 22
	for _, c := range append(rdpAttempts(12), ssh) {
		s.AddConn(c)
	}
	got := findingsWhere(s, ofKind("inbound_access"))
	if len(got) != 1 || got[0].Score != 90 || got[0].Title != "SSH login from the internet after brute force" {
		t.Errorf("SSH after RDP brute force: %+v", got)
	}
}

// TestInboundVNCOnAnyPort: VNC that the payload names is an interactive
// session from the internet whatever its port, and a protocol off its
// own port.
func TestInboundVNCOnAnyPort(t *testing.T) {
	s := NewSummary(Options{})
	c := conn("198.51.100.7", "10.1.0.4", 50000, 6000, 0, 10*time.Minute)
	c.Service, c.OrigIPBytes, c.RespIPBytes = "rfb", 50_000, 2_000_000
	s.AddConn(c)
	access := findingsWhere(s, ofKind("inbound_access"))
	ports := findingsWhere(s, ofKind("unusual_port"))
	if len(access) != 1 || access[0].Title != "VNC login from the internet" || len(ports) != 1 || ports[0].Title != "RFB on port 6000" {
		t.Errorf("inbound access %+v, unusual ports %+v", access, ports)
	}
}
