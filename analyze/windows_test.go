package analyze

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

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
	sc, brute := detectorOf[*scanDetector](s), &detectorOf[*bruteForceDetector](s).windows
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
