// Package conntest makes conversation records for the tests of the stages
// that take them (ingest's join, the analyses).
package conntest

import (
	"net/netip"
	"time"

	"github.com/netfx/netfx/flows"
)

// Capture is a TCP conversation a capture saw: 5 packets and 500 IP bytes
// from src, 5 and 5,000 back, its uid "C" + src.
func Capture(src, dst string, sp, dp uint16, ts time.Duration, dur time.Duration) *flows.Conn {
	return &flows.Conn{
		TS: int64(ts), Duration: int64(dur), Orig: netip.MustParseAddr(src), Resp: netip.MustParseAddr(dst),
		OrigPort: sp, RespPort: dp, Proto: 6, OrigPkts: 5, OrigIPBytes: 500, RespPkts: 5, RespIPBytes: 5000,
		Source: flows.SourceCapture, UID: "C" + src,
	}
}

// FlowLog is a connection only flow logs saw, from begin to end, with the
// same counters logged under rule "R" of log "NSG".
func FlowLog(src, dst string, sp, dp uint16, begin, end time.Duration, decision flows.Decision) *flows.Conn {
	c := Capture(src, dst, sp, dp, begin, end-begin)
	c.Source = flows.SourceFlowLog
	c.FlowLog = &flows.FlowLogView{Begin: int64(begin), End: int64(end), Decision: decision, Rule: "R", Counted: true,
		OrigPkts: 5, OrigBytes: 500, RespPkts: 5, RespBytes: 5000, Sources: []string{"NSG"}}
	return c
}
