package analyze

import (
	"testing"
	"time"

	"github.com/netfx/netfx/flows"
)

// TestExfiltration fires on a large upload, not on a download.
func TestExfiltration(t *testing.T) {
	runDetectorCases(t, []detectorCase{
		{"upload", func() []*flows.Conn {
			c := conn("10.0.0.4", "192.0.2.123", 50000, 443, 0, time.Minute)
			c.OrigIPBytes, c.RespIPBytes = 40_000_000, 400_000
			return []*flows.Conn{c}
		}, "exfiltration", true},
		{"download", func() []*flows.Conn {
			c := conn("10.0.0.4", "192.0.2.123", 50000, 443, 0, time.Minute)
			c.OrigIPBytes, c.RespIPBytes = 400_000, 40_000_000
			return []*flows.Conn{c}
		}, "exfiltration", false},
	})
}
