package analyze

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
)

// Flood (ATT&CK T1499 endpoint denial of service, T1498 network denial of
// service): unanswered packets to one port of one host at a rate no
// service sees from its clients, in at least one whole minute:
//
//   - SYN flood (T1499): TCP attempts nobody completes;
//   - UDP flood (T1498): UDP datagrams nobody answers;
//   - DNS answer flood (T1498, reflection): DNS responses to no query;
//   - ICMP flood (T1498): echo requests, answered or not (a host answers
//     a ping flood until it cannot), or echo replies to no request (a
//     reflection, as Smurf).
//
// One finding per target and kind covers every minute at flood rate, with
// its packets, peak rate and sources (counted exactly up to
// floodExactSources, estimated beyond); its source is the one that sent
// the most packets among the first floodExactSources. Conversations from flow logs do
// not count (their tuples do not say whether a packet was answered), nor
// ones the NSG denied (an exposure finding's).

const (
	floodRate = 1000 // unanswered packets a second, over a minute, to one target
	// floodWatch is the packets in a minute from which a target's sources
	// are counted: below it, nothing is kept but the count.
	floodWatch = 100
	// floodExactSources is how many sources of a flood are counted one by
	// one; beyond, their number is estimated.
	floodExactSources = 4096
)

type floodKind uint8

const (
	synFlood floodKind = iota
	udpFlood
	dnsAnswerFlood
	icmpFlood
)

var floodNames = [...]struct{ title, technique string }{
	synFlood:       {"SYN flood", "T1499"},
	udpFlood:       {"UDP flood", "T1498"},
	dnsAnswerFlood: {"DNS answer flood", "T1498"},
	icmpFlood:      {"ICMP flood", "T1498"},
}

// floodKey is a flood's target: a SYN flood's service port, or all the
// ports of another flood's target (a reflection hits random ports).
type floodKey struct {
	target netip.Addr
	port   uint16 // a SYN flood's; 0 for the others
	kind   floodKind
}

// floodMinute is a target's unanswered traffic in its current minute.
type floodMinute struct {
	minute int64
	// rate is the minute's packets, each conversation's spread over its
	// length: a long one-way stream (syslog, a trap sender) is no flood.
	rate         uint64
	bytes, conns uint64
	packets      uint64
	// The minute's first few conversations: the first held apart (its
	// place in firsts, while heldFirst), the others in the evidence.
	first     []keptRef
	heldFirst bool
	gen       int
	flood     *floodAcc // once a minute has been at flood rate
	sources   *sourceCount
	counted   bool // the minute's totals are in flood's
}

// floodAcc is the finding of a flood and its totals over its flood minutes.
type floodAcc struct {
	f                     *Finding
	packets, bytes, conns uint64
	peak                  uint64 // packets in the busiest minute
	minutes               int
	port                  uint16 // the target's port, unless manyPorts
	manyPorts             bool
}

// to notes the target port of a flood's conversation.
func (a *floodAcc) to(p uint16) {
	a.manyPorts = a.manyPorts || p != a.port
}

type floodDetector struct {
	targets map[floodKey]*floodMinute
	sweeps  sweeper
	// firsts holds the first conversation of each target's minute until
	// the minute is at flood rate: most targets see one (a scanner of
	// random hosts makes every attempt a target), and keeping each in the
	// evidence store would fill it, in memory without a writable TMPDIR.
	firsts firstAttempts[floodMinuteKey]
	// full is the number of targets at which the light are forgotten:
	// maxFloodTargets, or twice what was left the last time.
	full int
}

// floodMinuteKey is a target's minute.
type floodMinuteKey struct {
	floodKey
	minute int64
}

// maxFloodTargets bounds the targets followed at once. A scanner trying
// random ports of random hosts makes each attempt a target of its own
// (3 M in a minute held 450 MB); past the bound, the targets of the
// current minute that are still light (below floodWatch, never a flood)
// are forgotten, as a sweep forgets quiet ones: one that turns into a
// flood later in the minute then counts from there. Only more than 65,536
// targets in a minute make a difference.
const maxFloodTargets = 1 << 16

func newFloodDetector() *floodDetector {
	return &floodDetector{targets: map[floodKey]*floodMinute{}}
}

// oneWay is a conversation's packets, all toward one side: the target
// of a flood's sender.
type oneWay struct {
	kind           floodKind
	sender, target netip.Addr
	port           uint16 // the target's
	packets, bytes uint64
}

// oneWayOf says which flood an unanswered conversation can be part of. A
// response to no query is seen by its reply alone: Zeek's rules (and
// netfx's) make the querier the originator, so the target is then the
// originator.
func oneWayOf(c *flows.Conn) (oneWay, bool) {
	if !c.Captured() || c.Denied() {
		return oneWay{}, false
	}
	if echo, ok := icmpEcho(c); ok && c.OrigPkts > 0 && (echo == echoRequest || c.RespPkts == 0) {
		return oneWay{kind: icmpFlood, sender: c.Orig, target: c.Resp, packets: c.OrigPkts, bytes: c.OrigIPBytes}, true
	}
	w := oneWay{sender: c.Orig, target: c.Resp, port: c.RespPort, packets: c.OrigPkts, bytes: c.OrigIPBytes}
	senderPort := c.OrigPort
	switch {
	case c.OrigPkts > 0 && c.RespPkts == 0:
	case c.OrigPkts == 0 && c.RespPkts > 0 && c.Proto == ipproto.UDP:
		w = oneWay{sender: c.Resp, target: c.Orig, port: c.OrigPort, packets: c.RespPkts, bytes: c.RespIPBytes}
		senderPort = c.RespPort
	default:
		return oneWay{}, false
	}
	switch {
	case c.Proto == ipproto.TCP && failed(c):
		w.kind = synFlood
	case c.Proto == ipproto.UDP && senderPort == 53:
		w.kind = dnsAnswerFlood
	case c.Proto == ipproto.UDP:
		w.kind = udpFlood
	default:
		return oneWay{}, false
	}
	return w, true
}

type echoMessage uint8

const (
	echoRequest echoMessage = iota
	echoReply
)

// icmpEcho says whether c's originator sent ICMP or ICMPv6 echo requests
// or echo replies: its "ports" are the type and its counterpart, 8 and 0
// (128 and 129 for ICMPv6), the other way round for replies that came
// first.
func icmpEcho(c *flows.Conn) (echoMessage, bool) {
	request, reply := uint16(8), uint16(0)
	switch c.Proto {
	case ipproto.ICMP:
	case ipproto.ICMPv6:
		request, reply = 128, 129
	default:
		return 0, false
	}
	switch {
	case c.OrigPort == request && c.RespPort == reply:
		return echoRequest, true
	case c.OrigPort == reply && c.RespPort == request:
		return echoReply, true
	}
	return 0, false
}

func (fd *floodDetector) observe(d *detection, c *flows.Conn) {
	w, ok := oneWayOf(c)
	if !ok {
		return
	}
	if fd.sweeps.due(len(fd.targets)) {
		fd.sweep(c.TS)
	}
	k := floodKey{w.target, w.port, w.kind}
	if w.kind != synFlood {
		k.port = 0
	}
	m := fd.targets[k]
	minute := c.TS / int64(time.Minute)
	if m == nil {
		if len(fd.targets) >= max(fd.full, maxFloodTargets) {
			fd.forgetLight()
			fd.full = 2 * len(fd.targets)
		}
		m = &floodMinute{minute: minute}
		fd.targets[k] = m
	}
	if minute > m.minute { // late conversations count toward the current minute
		m.minute, m.rate, m.packets, m.bytes, m.conns, m.first, m.heldFirst, m.counted = minute, 0, 0, 0, 0, m.first[:0], false, false
	}
	m.gen = fd.sweeps.gen
	m.rate += perMinute(w.packets, c.Duration)
	m.packets += w.packets
	m.bytes += w.bytes
	m.conns++
	if m.rate >= floodWatch {
		if m.sources == nil {
			m.sources = &sourceCount{exact: map[netip.Addr]uint64{}}
		}
		m.sources.add(w.sender, w.packets)
	}
	switch {
	case m.counted:
		a := m.flood
		a.packets += w.packets
		a.bytes += w.bytes
		a.conns++
		a.peak = max(a.peak, m.rate)
		a.to(w.port)
		a.f.add(c)
	case m.rate >= floodRate*60:
		fd.startMinute(d, k, m, c, w)
	case m.conns == 1:
		fd.firsts.keep(d, floodMinuteKey{k, m.minute}, c)
		m.heldFirst = true
	case len(m.first)+1 < maxConnections:
		m.first = append(m.first, d.keep(c))
	}
}

// startMinute makes the minute of m, which has just reached flood rate
// with conversation c, a flood minute of its target.
func (fd *floodDetector) startMinute(d *detection, k floodKey, m *floodMinute, c *flows.Conn, w oneWay) {
	a := m.flood
	if a == nil {
		name := floodNames[k.kind]
		a = &floodAcc{f: newFinding("flood", name.technique, c, d.endpoint(w.sender, nil), d.endpoint(k.target, nil)), port: w.port}
		m.flood = a
	}
	addFirst := func(first *flows.Conn) { // its addresses and ports, not its packet counts
		a.f.add(first)
		if first.Orig == k.target {
			a.to(first.OrigPort)
		} else {
			a.to(first.RespPort)
		}
	}
	if m.heldFirst {
		if first, _, ok := fd.firsts.take(d, floodMinuteKey{k, m.minute}); ok {
			addFirst(first)
		}
	}
	for _, ref := range m.first {
		addFirst(d.evidence.get(ref))
	}
	a.to(w.port)
	a.f.add(c)
	a.packets += m.packets
	a.bytes += m.bytes
	a.conns += m.conns
	a.peak = max(a.peak, m.rate)
	a.minutes++
	m.counted, m.first, m.heldFirst = true, nil, false
}

// perMinute is the packets a minute of a conversation of that many packets
// and that length.
func perMinute(packets uint64, length int64) uint64 {
	if length <= int64(time.Minute) {
		return packets
	}
	return uint64(float64(packets) * float64(time.Minute) / float64(length))
}

// forgetLight forgets the targets that never reached floodWatch
// unanswered packets in a minute (a few less than that were, when other
// targets were many).
func (fd *floodDetector) forgetLight() {
	for k, m := range fd.targets {
		if m.flood == nil && m.sources == nil {
			delete(fd.targets, k)
		}
	}
}

// sweep forgets the targets below flood rate that have been quiet for a
// minute and a sweep period.
func (fd *floodDetector) sweep(now int64) {
	minute := now / int64(time.Minute)
	for k, m := range fd.targets {
		if m.flood == nil && m.minute < minute-1 && fd.sweeps.stale(m.gen) {
			delete(fd.targets, k)
		}
	}
	fd.sweeps.swept(len(fd.targets))
}

func (fd *floodDetector) findings(d *detection) []*Finding {
	fd.firsts.close()
	var out []*Finding
	for k, m := range fd.targets {
		a := m.flood
		if a == nil {
			continue
		}
		f := a.f
		f.Count = int(a.conns)
		if top := m.sources.top; top.IsValid() {
			f.Src = d.endpoint(top, nil)
		}
		sources, estimated := m.sources.count()
		about := ""
		if estimated {
			about = "about "
		}
		span := time.Duration(f.last - f.first).Round(time.Second)
		name := floodNames[k.kind]
		f.Flood = &FloodStats{Packets: a.packets, Bytes: a.bytes, PeakRate: a.peak / 60, Minutes: a.minutes,
			Sources: sources, SourcesEstimated: estimated}
		f.Score = 60
		if d.net.Internal(k.target) {
			f.Score = 75 // the VM itself under attack
		}
		f.Title = fmt.Sprintf("%s, %d packets/s from %s%d source(s)", name.title, a.peak/60, about, sources)
		to, packets := fmt.Sprintf("%s port %d", k.target, a.port), "unanswered "+f.Proto+" packet(s)"
		switch {
		case k.kind == icmpFlood: // ICMP has no ports
			to, packets = k.target.String(), "ICMP echo request(s) or unrequested echo replies"
		case a.manyPorts:
			to = "many ports of " + k.target.String()
		default:
			f.Dst.Port = port(a.port)
		}
		f.Why = fmt.Sprintf("%d %s to %s from %s%d source(s) in %d minute(s) at %d packets a second or more (peak %d a second, over %s)",
			a.packets, packets, to, about, sources, a.minutes, floodRate, a.peak/60, span)
		out = append(out, f)
	}
	return out
}

// FloodStats are a flood finding's measures, over its minutes at flood
// rate.
type FloodStats struct {
	Packets  uint64 `json:"packets"`  // unanswered packets to the target
	Bytes    uint64 `json:"bytes"`    // their IP bytes
	PeakRate uint64 `json:"peak_pps"` // packets a second in the busiest minute
	Minutes  int    `json:"minutes"`  // minutes at flood rate
	Sources  int    `json:"sources"`  // distinct sources, see SourcesEstimated
	// SourcesEstimated: past 4,096 sources, their number is estimated
	// (HyperLogLog, about 1% off); spoofed floods have millions.
	SourcesEstimated bool `json:"sources_estimated,omitempty"`
}

// sourceCount counts distinct addresses: exactly up to floodExactSources,
// then with a HyperLogLog sketch of 2^14 registers (standard error about
// 0.8%; Flajolet et al., 2007).
type sourceCount struct {
	exact map[netip.Addr]uint64 // packets of each, while counted exactly
	regs  []uint8
	top   netip.Addr // the source of the most packets while counted exactly
}

const hllBits = 14

func (s *sourceCount) add(a netip.Addr, packets uint64) {
	if s.regs == nil {
		n := s.exact[a] + packets
		s.exact[a] = n
		if m := s.exact[s.top]; !s.top.IsValid() || n > m || n == m && a.Less(s.top) {
			s.top = a
		}
		if len(s.exact) <= floodExactSources {
			return
		}
		s.regs = make([]uint8, 1<<hllBits)
		for a := range s.exact {
			s.sketch(a)
		}
		s.exact = nil
		return
	}
	s.sketch(a)
}

func (s *sourceCount) sketch(a netip.Addr) {
	h := hostHash(keyOf(a))
	i := h >> (64 - hllBits)
	rank := uint8(1)
	for rest := h << hllBits; rest&(1<<63) == 0 && rank <= 64-hllBits; rest <<= 1 {
		rank++
	}
	s.regs[i] = max(s.regs[i], rank)
}

// count returns the number of distinct addresses and whether it is an
// estimate.
func (s *sourceCount) count() (int, bool) {
	if s == nil {
		return 0, false
	}
	if s.regs == nil {
		return len(s.exact), false
	}
	m := float64(len(s.regs))
	sum, zeros := 0.0, 0
	for _, r := range s.regs {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros)) // linear counting for small counts
	}
	return int(math.Round(e)), true
}

// mix64 is the finalizer of SplitMix64: every input bit moves every output
// bit, as the sketch needs.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
