package analyze

import (
	"fmt"
	"testing"
	"time"

	"github.com/netfx/netfx/flows"
)

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

// TestBeacon fires on regular connections and not on irregular traffic.
func TestBeacon(t *testing.T) {
	runDetectorCases(t, []detectorCase{
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
	})
}

// TestBeaconCallsOut: regular connections from the internet to a VM (a
// monitor, or brute force at a steady pace) are no beacon.
func TestBeaconCallsOut(t *testing.T) {
	runDetectorCases(t, []detectorCase{{"inbound polling", func() (cs []*flows.Conn) {
		for i := range 30 {
			c := conn("198.51.100.99", "10.0.0.4", uint16(50000+i), 3389, time.Duration(i)*20*time.Second, time.Second)
			c.UID = fmt.Sprint("Cp", i)
			cs = append(cs, c)
		}
		return cs
	}, "beacon", false}})
}

// TestLoginSeriesIsNoBeacon: a regular series of short login sessions
// (password guessing at a steady pace, here from a compromised internal
// host) is brute force, not a beacon; the same series of long sessions,
// or of another service, may still be one.
func TestLoginSeriesIsNoBeacon(t *testing.T) {
	series := func(port uint16, service string, length time.Duration) func() []*flows.Conn {
		return func() (cs []*flows.Conn) {
			for i := range 30 {
				c := conn("10.0.0.4", "10.0.0.9", uint16(50000+i), port, time.Duration(i)*time.Minute, length)
				c.UID, c.Service = fmt.Sprint("Cl", i), service
				cs = append(cs, c)
			}
			return cs
		}
	}
	runDetectorCases(t, []detectorCase{
		{"short RDP sessions", series(3389, "rdp", time.Second), "beacon", false},
		{"short SSH sessions on 2222", series(2222, "ssh", time.Second), "beacon", false},
		{"short HTTPS requests", series(443, "ssl", time.Second), "beacon", true},
	})
}
