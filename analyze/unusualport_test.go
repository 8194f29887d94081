package analyze

import (
	"strings"
	"testing"
	"time"
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
