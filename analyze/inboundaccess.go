package analyze

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/netfx/netfx/flows"
)

// Inbound access (ATT&CK T1133): an interactive session from the internet
// to a remote-login service of an internal host, scored higher after the
// same source's brute force (likely the intrusion) or while brute force
// was under way.

const (
	accessMinBytes = 20 << 10    // an interactive session carries at least this...
	accessMinTime  = time.Minute // ...or lasts this long
)

// inboundAccessDetector keeps one finding per source, target and
// service: repeated sessions of one intrusion are one episode.
type inboundAccessDetector struct {
	sessions map[episodeKey]*Finding
}

func newInboundAccessDetector() *inboundAccessDetector {
	return &inboundAccessDetector{sessions: map[episodeKey]*Finding{}}
}

func (a *inboundAccessDetector) observe(d *detection, c *flows.Conn) {
	name, ok := inboundInteractive(d, c)
	if !ok || attempt(c) || !established(c) {
		return
	}
	bytes := c.OrigIPBytes + c.RespIPBytes
	if c.FlowLog != nil && !c.Captured() && !c.FlowLog.Counted {
		bytes = 0
	}
	if bytes < accessMinBytes && durationOf(c) < accessMinTime {
		return
	}
	k := episodeKey{c.Orig, c.Resp, c.RespPort}
	f := a.sessions[k]
	if f == nil {
		f = newFinding("inbound_access", "T1133", c, d.endpoint(c.Orig, nil), d.endpoint(c.Resp, port(c.RespPort)))
		f.Score = 55
		a.sessions[k] = f
	}
	f.add(c, fmt.Sprintf("%s session of %s, %d bytes", name, durationOf(c).Round(time.Second), bytes))
	f.Title = name + " login from the internet"
	if f.Count == 1 {
		f.Why = fmt.Sprintf("an interactive %s session from the internet (%s) to %s", name, c.Orig, c.Resp)
	} else {
		f.Why = fmt.Sprintf("%d interactive %s sessions from the internet (%s) to %s", f.Count, name, c.Orig, c.Resp)
	}
}

// findings scores each session by the brute-force findings made before;
// a login to the service the same source brute-forced becomes part of
// that finding: the brute force that succeeded.
func (a *inboundAccessDetector) findings(d *detection) []*Finding {
	forced := map[netip.Addr][]int64{} // brute force's sources, and when each began
	brute := map[episodeKey]*Finding{}
	for _, f := range d.madeOf("brute_force") {
		forced[f.Src.IP] = append(forced[f.Src.IP], f.first)
		brute[episodeKey{f.Src.IP, f.Dst.IP, *f.Dst.Port}] = f
	}
	var out []*Finding
	for k, f := range a.sessions { // each session's score depends on it alone: map order does not matter
		if b := brute[k]; b != nil && b.first <= f.first {
			name := interactiveName(b.Service, k.port)
			b.Score = 90
			b.Title = name + " brute force, then a login"
			b.Why += fmt.Sprintf("; then %d %s session(s) from the same source from %s: likely the intrusion", f.Count, name, FormatTime(f.first))
			b.absorb(f, name+" login after brute force")
			continue
		}
		for _, t := range forced[f.Src.IP] {
			if t <= f.first {
				f.Score = 90
				f.Title += " after brute force"
				f.Why += ", after the same source's brute force: likely the intrusion"
				break
			}
		}
		if f.Score < 90 && len(forced) > 0 {
			f.Score = 70
			f.Why += ", while brute force against the VM was under way"
		}
		if d.afterSince(f.first) {
			f.Score += 5
		}
		out = append(out, f)
	}
	return out
}
