package analyze

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

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
