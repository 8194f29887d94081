package analyze

import (
	"math"
	"time"

	"github.com/netfx/netfx/flows"
)

// SeriesBin is the traffic of one interval of the evidence: connections
// that started in it and their bytes, by what saw them. Its JSON form is
// Report.Series.
type SeriesBin struct {
	Start            string `json:"start"` // RFC 3339, UTC
	Seconds          int64  `json:"seconds"`
	Captured         uint64 `json:"captured"`       // connections a capture saw
	FlowLogOnly      uint64 `json:"flowlog_only"`   // allowed connections only the flow logs saw
	Denied           uint64 `json:"denied"`         // connections the NSG denied
	CapturedBytes    uint64 `json:"captured_bytes"` // IP bytes, as the capture counted them
	FlowLogOnlyBytes uint64 `json:"flowlog_only_bytes"`
}

// timeSeries counts connections by the minute they started in. It holds a
// minute for at most maxSeriesMinutes minutes (half a year of evidence);
// later ones are not counted.
type timeSeries struct {
	minutes map[int64]*minuteAcc
}

type minuteAcc struct {
	conns, bytes [3]uint64 // captured, flow-log only, denied
}

const maxSeriesMinutes = 1 << 18

// maxBins is how many intervals Report.Series has at most.
const maxBins = 120

func (a *timeSeries) add(c *flows.Conn) {
	if a.minutes == nil {
		a.minutes = map[int64]*minuteAcc{}
	}
	m := c.TS / int64(time.Minute)
	acc := a.minutes[m]
	if acc == nil {
		if len(a.minutes) >= maxSeriesMinutes {
			return
		}
		acc = &minuteAcc{}
		a.minutes[m] = acc
	}
	kind := 0
	switch {
	case c.Denied():
		kind = 2
	case !c.Captured():
		kind = 1
	}
	acc.conns[kind]++
	bytes := c.OrigIPBytes + c.RespIPBytes
	if kind == 1 && c.FlowLog != nil {
		bytes = c.FlowLog.OrigBytes + c.FlowLog.RespBytes
	}
	acc.bytes[kind] += bytes
}

// bins puts the minutes from first to last (Unix ns) into at most maxBins
// intervals of whole minutes; minutes outside are left out (their clock
// was far off).
func (a *timeSeries) bins(first, last int64) []SeriesBin {
	if last < first {
		return []SeriesBin{}
	}
	m0, m1 := first/int64(time.Minute), last/int64(time.Minute)
	per := int64(math.Ceil(float64(m1-m0+1) / maxBins))
	out := make([]SeriesBin, 0, (m1-m0)/per+1)
	for start := m0; start <= m1; start += per {
		b := SeriesBin{Start: FormatTime(start * int64(time.Minute)), Seconds: per * 60}
		for m := start; m < start+per; m++ {
			acc := a.minutes[m]
			if acc == nil {
				continue
			}
			b.Captured += acc.conns[0]
			b.FlowLogOnly += acc.conns[1]
			b.Denied += acc.conns[2]
			b.CapturedBytes += acc.bytes[0]
			b.FlowLogOnlyBytes += acc.bytes[1]
		}
		out = append(out, b)
	}
	return out
}
