package flows

import (
	"github.com/netfx/netfx/internal/ipproto"

	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/pcapread"
)

// tseg is a TCP segment with payload for the inspection tests.
type tseg struct {
	fromOrig bool
	flags    uint8
	seq, ack uint32
	data     string
}

func runPayload(t *testing.T, segs []tseg) *Conn {
	t.Helper()
	pkts, dirs := make([]pcapread.Packet, len(segs)), make([]bool, len(segs))
	for i, s := range segs {
		pkts[i] = pcapread.Packet{Timestamp: int64(i) * int64(time.Millisecond), Proto: ipproto.TCP,
			TCPFlags: s.flags, Seq: s.seq, Ack: s.ack, PayloadLen: uint32(len(s.data)), Payload: []byte(s.data), IPBytes: uint32(40 + len(s.data)), Window: 1000}
		dirs[i] = s.fromOrig
	}
	out := runCrafted(8080, pkts, dirs)
	if len(out) != 1 {
		t.Fatalf("%d conversations", len(out))
	}
	return out[0]
}

func TestInspectionReassembly(t *testing.T) {
	const req = "GET /index.html HTTP/1.1\r\nHost: good.example\r\nUser-Agent: t\r\n\r\n"
	a, b := req[:20], req[20:]
	isn := uint32(1000)
	wrap := uint32(0xffffffff - 10) // the request crosses sequence number 2^32
	tests := []struct {
		name    string
		segs    []tseg
		service string
		host    string
		missed  uint64
	}{
		{"in order", []tseg{{true, S, isn, 0, ""}, {false, S | A, 5000, isn + 1, ""}, {true, PA, isn + 1, 5001, a}, {true, PA, isn + 21, 5001, b}}, "http", "good.example", 0},
		{"out of order", []tseg{{true, S, isn, 0, ""}, {false, S | A, 5000, isn + 1, ""}, {true, PA, isn + 21, 5001, b}, {true, PA, isn + 1, 5001, a}}, "http", "good.example", 0},
		{"overlapping retransmission with other bytes", []tseg{
			{true, S, isn, 0, ""}, {false, S | A, 5000, isn + 1, ""}, {true, PA, isn + 1, 5001, a},
			{true, PA, isn + 1, 5001, "POST /evil.htm HTTP"}, {true, PA, isn + 21, 5001, b},
		}, "http", "good.example", 0},
		{"data on the SYN", []tseg{{true, S, isn, 0, a}, {false, S | A, 5000, isn + 21, ""}, {true, PA, isn + 21, 5001, b}}, "http", "good.example", 0},
		{"sequence wrap-around", []tseg{{true, S, wrap, 0, ""}, {false, S | A, 5000, wrap + 1, ""}, {true, PA, wrap + 1, 5001, a}, {true, PA, wrap + 21, 5001, b}}, "http", "good.example", 0},
		{"one-sided, no handshake", []tseg{{true, PA, isn, 5001, a}, {true, PA, isn + 20, 5001, b}}, "http", "good.example", 0},
		{"gap acknowledged by the peer", []tseg{
			{true, S, isn, 0, ""}, {false, S | A, 5000, isn + 1, ""}, {true, A, isn + 1, 5001, ""},
			{true, PA, isn + 1, 5001, "SSH-2.0-x\r\n"}, {false, PA, 5001, isn + 12, "SSH-2.0-y\r\n"}, {false, A, 5012, isn + 12 + 500, ""},
		}, "ssh", "", 500},
		{"SSH from one side only: not confirmed (Zeek's signatures need both)", []tseg{
			{true, S, isn, 0, ""}, {false, S | A, 5000, isn + 1, ""}, {true, A, isn + 1, 5001, ""},
			{true, PA, isn + 1, 5001, "SSH-2.0-x\r\n"},
		}, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := runPayload(t, tt.segs)
			if c.Service != tt.service {
				t.Fatalf("service %q, want %q", c.Service, tt.service)
			}
			if tt.host != "" && (c.App == nil || c.App.HTTP == nil || c.App.HTTP.Host != tt.host || c.App.HTTP.URI != "/index.html") {
				t.Errorf("facts %+v", c.App)
			}
			if c.MissedBytes != tt.missed {
				t.Errorf("missed_bytes %d, want %d", c.MissedBytes, tt.missed)
			}
			if tt.missed > 0 && !strings.Contains(c.History, "G") {
				t.Errorf("history %q has no gap letter", c.History)
			}
		})
	}
}

func TestScaledHistoryLetters(t *testing.T) {
	segs := []tseg{{true, S, 100, 0, ""}, {false, S | A, 500, 101, ""}, {true, A, 101, 501, ""}}
	for range 12 { // the same data segment twelve times: retransmissions 1 to 11
		segs = append(segs, tseg{true, PA, 101, 501, "x"})
	}
	c := runPayload(t, segs)
	if got := strings.Count(c.History, "T"); got != 2 {
		t.Errorf("history %q: %d T letters, want 2 (the 1st and 10th retransmission)", c.History, got)
	}
}
