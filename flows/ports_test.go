package flows

import (
	"testing"

	"github.com/netfx/netfx/internal/ipproto"
)

func TestLikelyServerPort(t *testing.T) {
	tests := []struct {
		proto uint8
		port  uint16
		want  bool
	}{
		{ipproto.TCP, 21, true},
		{ipproto.TCP, 443, true},
		{ipproto.TCP, 20000, true},
		{ipproto.TCP, 0, false},
		{ipproto.TCP, 23, false}, // telnet: Zeek registers no analyzer for it
		{ipproto.TCP, 123, false},
		{ipproto.TCP, 65535, false},
		{ipproto.UDP, 53, true},
		{ipproto.UDP, 123, true},
		{ipproto.UDP, 6081, true},
		{ipproto.UDP, 443, true}, // quic
		{ipproto.UDP, 66, false}, // beside dhcp
		{ipproto.ICMP, 53, false},
	}
	for _, tt := range tests {
		if got := likelyServerPort(tt.proto, tt.port); got != tt.want {
			t.Errorf("likelyServerPort(%d, %d) = %v, want %v", tt.proto, tt.port, got, tt.want)
		}
	}
}
