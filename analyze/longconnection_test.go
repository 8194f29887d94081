package analyze

import (
	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/flows"
)

// TestLongConnections checks the three ways the evidence shows a long
// connection: one conversation, pieces that capture gaps cut, and the flow
// logs' span of a connection the capture saw only part of.
func TestLongConnections(t *testing.T) {
	piece := func(at, dur time.Duration, history string) *flows.Conn {
		c := conn("10.0.0.6", "192.0.2.9", 50000, 8443, at, dur)
		c.History, c.UID = history, "C"+at.String()
		return c
	}
	logged := conn("10.0.0.6", "192.0.2.10", 50001, 443, 30*time.Minute, 10*time.Minute)
	// The logs saw it from the start of the evidence, for two hours.
	logged.FlowLog = &flows.FlowLogView{Begin: 1, End: int64(2 * time.Hour), Decision: flows.Allow}
	for _, tt := range []struct {
		name  string
		conns []*flows.Conn
		want  string // in why; "" for no finding
	}{
		{"one conversation", []*flows.Conn{piece(0, 2*time.Hour, "ShADadFf")}, "lasted 2h0m0s:"},
		{"cut by a capture gap", []*flows.Conn{piece(0, 40*time.Minute, "ShADad"), piece(70*time.Minute, 20*time.Minute, "DadA")}, "lasted 1h30m0s, in 2 pieces"},
		{"closed, then a new connection", []*flows.Conn{piece(0, 40*time.Minute, "ShADadFf"), piece(70*time.Minute, 20*time.Minute, "ShADadFf")}, ""},
		{"seen whole by the flow logs", []*flows.Conn{logged}, "lasted 2h0m0s:"},
		{"short", []*flows.Conn{piece(0, 50*time.Minute, "ShADadFf")}, ""},
		{"a reset once a minute for two hours", resets(piece), ""},
		{"cut by a gap, ending in its reset", []*flows.Conn{piece(0, 40*time.Minute, "ShADad"), piece(70*time.Minute, 20*time.Minute, "DadA"),
			piece(2*time.Hour, 0, "R")}, "lasted 2h0m0s, in 3 pieces"},
	} {
		s := NewSummary(Options{})
		for _, c := range tt.conns {
			s.AddConn(c)
		}
		var got []string
		for _, f := range findingsWhere(s, ofKind("long_connection")) {
			got = append(got, f.Why)
		}
		switch {
		case tt.want == "" && len(got) != 0:
			t.Errorf("%s: unexpected %q", tt.name, got)
		case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
			t.Errorf("%s: got %q, want one with %q", tt.name, got, tt.want)
		}
	}
}

// resets is a lone reset on one tuple once a minute for two hours, as
// Zeek's llc.pcap has: each is a conversation of its own, and together no
// connection.
func resets(piece func(at, dur time.Duration, history string) *flows.Conn) []*flows.Conn {
	var out []*flows.Conn
	for at := time.Duration(0); at <= 2*time.Hour; at += time.Minute {
		out = append(out, piece(at, 0, "R"))
	}
	return out
}
