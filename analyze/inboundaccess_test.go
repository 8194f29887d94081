package analyze

import (
	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/flows"
)

// TestInboundAccess scores a session after the same source's brute force
// as the likely intrusion, and finds none for a short session.
func TestInboundAccess(t *testing.T) {
	runDetectorCases(t, []detectorCase{
		{"brute force then a session", func() []*flows.Conn {
			return append(rdpAttempts(12), rdp(99, 5*time.Minute, 10*time.Minute, 400_000))
		}, "inbound_access", true},
		{"a short session", func() []*flows.Conn { return []*flows.Conn{rdp(1, 0, 3*time.Second, 3000)} }, "inbound_access", false},
	})
	s := NewSummary(Options{})
	for _, c := range append(rdpAttempts(12), rdp(99, 5*time.Minute, 10*time.Minute, 400_000)) {
		s.AddConn(c)
	}
	got := findingsWhere(s, ofKind("inbound_access"))
	if len(got) != 1 || got[0].Score != 90 || !strings.Contains(got[0].Why, "likely the intrusion") {
		t.Errorf("session after brute force: %+v", got)
	}
}
