package analyze

import (
	"fmt"
	"testing"
	"time"

	"github.com/netfx/netfx/flows"
)

func rdp(i int, at, dur time.Duration, bytes uint64) *flows.Conn {
	c := conn("203.0.113.66", "10.0.0.4", uint16(50000+i), 3389, at, dur)
	c.RespIPBytes, c.UID, c.ConnState = bytes, fmt.Sprint("Cr", i), "SF"
	return c
}

// rdpAttempts are n short RDP sessions 20 seconds apart.
func rdpAttempts(n int) (cs []*flows.Conn) {
	for i := range n {
		cs = append(cs, rdp(i, time.Duration(i)*20*time.Second, 3*time.Second, 3000))
	}
	return cs
}

// TestBruteForce fires on many short sessions, not on a few, nor on
// attempts the NSG denied.
func TestBruteForce(t *testing.T) {
	runDetectorCases(t, []detectorCase{
		{"brute force", func() []*flows.Conn { return rdpAttempts(12) }, "brute_force", true},
		{"a few failed logins", func() []*flows.Conn { return rdpAttempts(4) }, "brute_force", false},
		{"denied", func() []*flows.Conn {
			cs := rdpAttempts(12)
			for _, c := range cs {
				c.FlowLog = &flows.FlowLogView{Decision: flows.Deny}
			}
			return cs
		}, "brute_force", false},
	})
}
