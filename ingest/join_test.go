package ingest

import (
	"slices"
	"testing"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/conntest"
)

// conn and logConn make conversation records.
var conn, logConn = conntest.Capture, conntest.FlowLog

func TestJoin(t *testing.T) {
	logs := []*flows.Conn{
		logConn("10.0.0.4", "203.0.113.1", 50000, 443, 0, time.Minute, flows.Allow),                    // matches a, same direction
		logConn("198.51.100.1", "10.0.0.4", 443, 50001, time.Hour, time.Hour+time.Minute, flows.Allow), // matches b, logged reversed
		logConn("10.0.0.4", "203.0.113.1", 50002, 443, 10*time.Minute, 11*time.Minute, flows.Allow),    // too late for c
		logConn("192.0.2.9", "10.0.0.4", 40000, 3389, 0, 0, flows.Deny),                                // no capture
		logConn("10.0.0.4", "203.0.113.1", 50000, 443, 0, 2*time.Minute, flows.Allow),                  // a second log of a
	}
	a := conn("10.0.0.4", "203.0.113.1", 50000, 443, 30*time.Second, time.Second)
	b := conn("10.0.0.4", "198.51.100.1", 50001, 443, time.Hour+90*time.Second, time.Second)
	c := conn("10.0.0.4", "203.0.113.1", 50002, 443, 0, time.Second)
	d := conn("10.0.0.9", "203.0.113.1", 50000, 443, 0, time.Second) // no log
	logged := conn("10.0.0.4", "203.0.113.1", 50000, 443, 0, time.Second)
	logged.Source = flows.SourceFlowLog // read back from a conversation log: passes through
	captures := []*flows.Conn{a, b, c, d, logged}
	slices.SortFunc(captures, CompareForJoin)
	slices.SortFunc(logs, CompareForJoin)
	var out []*flows.Conn
	Join(slices.Values(captures), slices.Values(logs), 2*time.Minute, func(c *flows.Conn) { out = append(out, c) })
	if a.Source != flows.SourceBoth || a.FlowLog == nil || a.FlowLog.OrigBytes != 1000 || len(a.FlowLog.Sources) != 1 {
		t.Errorf("a: %+v", a.FlowLog)
	}
	if b.Source != flows.SourceBoth || b.FlowLog.OrigBytes != 5000 || b.FlowLog.RespBytes != 500 {
		t.Errorf("b: counters not turned to the capture's originator: %+v", b.FlowLog)
	}
	if c.Source != flows.SourceCapture || c.FlowLog != nil {
		t.Errorf("c matched a log 10 minutes away: %+v", c.FlowLog)
	}
	if d.FlowLog != nil || logged.FlowLog != nil {
		t.Errorf("d or the logged record was joined")
	}
	var rest []*flows.Conn
	for _, c := range out {
		if c.Source == flows.SourceFlowLog && c != logged {
			rest = append(rest, c)
		}
	}
	slices.SortFunc(rest, CompareForJoin)
	if len(out) != 7 || len(rest) != 2 || rest[0].RespPort != 3389 || rest[1].OrigPort != 50002 {
		t.Errorf("%d records out, unmatched %v", len(out), rest)
	}
}
