package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
)

// Scans (T1046), brute force (T1110) and the inbound access that follows it.
// Scan thresholds default to Zeek's scan.zeek: 25 hosts on one port, or 15
// ports on one host, within 5 minutes, counting failed attempts (unanswered,
// rejected, or denied by the NSG); DetectOptions changes them.
const (
	DefaultScanHosts  = 25
	DefaultScanPorts  = 15
	DefaultScanWindow = 5 * time.Minute
)

const (
	bruteSessions  = 10               // short sessions to one service from one source...
	bruteWindow    = 10 * time.Minute // ...within this window
	bruteMaxLength = 30 * time.Second // a session this short is an attempt
	accessMinBytes = 20 << 10         // an interactive session carries at least this...
	accessMinTime  = time.Minute      // ...or lasts this long
)

// interactive ports: remote sessions an intruder logs in with.
var interactive = map[uint16]string{3389: "RDP", 22: "SSH", 5985: "WinRM", 5986: "WinRM", 445: "SMB", 5900: "VNC"}

type scanKey struct {
	src    netip.Addr
	target netip.Addr // vertical scans: the host; horizontal: unset
	port   uint16     // horizontal scans: the port; vertical: 0
	window int64
}

type scanDetector struct {
	recon    map[[2]netip.Addr]*Finding        // RPC enumeration of one host by one source
	wins     map[scanKey]*distinct[netip.Addr] // horizontal: distinct targets
	vwins    map[scanKey]*distinct[uint16]     // vertical: distinct ports
	found    map[scanKey]*Finding              // one finding per episode (window unset)
	examples map[scanKey]*attempts             // failed attempts before a threshold is crossed
	sweeps   sweeper
}

// distinct is the set of values a scan window has seen: a short list
// while it is small, as most windows stay, and a map beyond. Once the
// window has crossed its threshold and is long past, the set is dropped
// and only its size kept: a late attempt still counts toward the scan.
type distinct[T comparable] struct {
	few     []T
	many    map[T]struct{}
	n       int // the set's size
	dropped bool
	gen     int // sweep generation of the last attempt
}

// fewValues is how many values a window keeps in its list.
const fewValues = 8

// add puts v into the set unless it holds more than limit values.
func (w *distinct[T]) add(v T, limit int) {
	switch {
	case w.dropped || w.n > limit:
	case w.many != nil:
		if _, ok := w.many[v]; !ok {
			w.many[v] = struct{}{}
			w.n++
		}
	case slices.Contains(w.few, v):
	case len(w.few) < fewValues:
		w.few = append(w.few, v)
		w.n++
	default:
		w.many = make(map[T]struct{}, 2*fewValues)
		for _, x := range w.few {
			w.many[x] = struct{}{}
		}
		w.few = nil
		w.many[v] = struct{}{}
		w.n++
	}
}

// drop forgets the values and keeps the size.
func (w *distinct[T]) drop() { w.few, w.many, w.dropped = nil, nil, true }

// attempts are the failed attempts kept as evidence for a scan that may
// come.
type attempts struct {
	conns []keptRef
	last  int64 // ts of the latest attempt
	gen   int
}

func (s *scanDetector) init() {
	s.recon = map[[2]netip.Addr]*Finding{}
	s.wins, s.vwins, s.found, s.examples = map[scanKey]*distinct[netip.Addr]{}, map[scanKey]*distinct[uint16]{}, map[scanKey]*Finding{}, map[scanKey]*attempts{}
}

func (s *scanDetector) observe(d *detector, c *flows.Conn) {
	s.observeRecon(d, c)
	if !failed(c) {
		return
	}
	if s.sweeps.due(len(s.wins) + len(s.vwins) + len(s.examples)) {
		s.sweep(d)
	}
	gen := s.sweeps.gen
	src, dst := c.Orig, c.Resp
	w := c.TS / int64(d.opt.ScanWindow)
	hosts := addDistinct(s.wins, scanKey{src: src, port: c.RespPort, window: w}, dst, d.opt.ScanHosts*40, gen)
	ports := addDistinct(s.vwins, scanKey{src: src, target: dst, window: w}, c.RespPort, d.opt.ScanPorts*400, gen)
	switch {
	case hosts >= d.opt.ScanHosts:
		s.record(d, c, scanKey{src: src, port: c.RespPort}, fmt.Sprintf("%s:%d", dst, c.RespPort))
	case ports >= d.opt.ScanPorts:
		s.record(d, c, scanKey{src: src, target: dst}, fmt.Sprintf("%s:%d", dst, c.RespPort))
	default:
		// Keep the attempts of a window until it crosses a threshold.
		for _, k := range []scanKey{{src: src, port: c.RespPort}, {src: src, target: dst}} {
			a := s.examples[k]
			if a == nil {
				a = &attempts{}
				s.examples[k] = a
			}
			a.last, a.gen = max(a.last, c.TS), gen
			if len(a.conns) < d.opt.ScanHosts*2 {
				a.conns = append(a.conns, d.keep(c))
			}
		}
	}
}

// addDistinct puts v into the set of window k (at most limit values) and
// returns the set's size.
func addDistinct[T comparable](wins map[scanKey]*distinct[T], k scanKey, v T, limit, gen int) int {
	w := wins[k]
	if w == nil {
		w = &distinct[T]{}
		wins[k] = w
	}
	w.gen = gen
	w.add(v, limit)
	return w.n
}

// sweep drops the windows that stayed below their threshold, and the kept
// attempts, that ended sweepSlack before the latest conversation and saw no
// attempt for a sweep period, and the sets of the windows that crossed it:
// memory stays bounded over days of scanning from the internet. A late
// attempt of a dropped window starts it afresh.
func (s *scanDetector) sweep(d *detector) {
	stale := func(gen int, end int64) bool { return s.sweeps.stale(gen) && end+int64(sweepSlack) < d.last }
	window := int64(d.opt.ScanWindow)
	sweepWindows(s.wins, d.opt.ScanHosts, window, stale)
	sweepWindows(s.vwins, d.opt.ScanPorts, window, stale)
	for k, a := range s.examples {
		if stale(a.gen, a.last+window) {
			delete(s.examples, k)
		}
	}
	s.sweeps.swept(len(s.wins) + len(s.vwins) + len(s.examples))
}

// sweepWindows drops the stale windows below threshold and the sets of
// the stale ones above it.
func sweepWindows[T comparable](wins map[scanKey]*distinct[T], threshold int, window int64, stale func(gen int, end int64) bool) {
	for k, w := range wins {
		switch {
		case !stale(w.gen, (k.window+1)*window):
		case w.n < threshold:
			delete(wins, k)
		default:
			w.drop()
		}
	}
}

func (s *scanDetector) record(d *detector, c *flows.Conn, k scanKey, fact string) {
	f := s.found[k]
	if f == nil {
		f = newFinding("scan", "T1046", c, d.endpoint(k.src, nil), nil)
		s.found[k] = f
		if a := s.examples[k]; a != nil {
			for _, e := range a.conns {
				s.addTarget(d, f, d.evidence.get(e))
			}
		}
		delete(s.examples, k)
	}
	s.addTarget(d, f, c)
}

func (s *scanDetector) addTarget(d *detector, f *Finding, c *flows.Conn) {
	f.add(c)
	if len(f.dsts) < maxEvidence*5 {
		f.dsts = append(f.dsts, d.endpoint(c.Resp, port(c.RespPort)))
	}
}

// Discovery over RPC: the endpoint mapper asked about every interface, and
// the SAMR, LSA, server and workstation queries of BloodHound/SharpHound-style
// Active Directory collection.
const epmLookups = 20

var reconInterfaces = []string{"samr", "lsarpc", "srvsvc", "wkssvc", "winreg"}

func (s *scanDetector) observeRecon(d *detector, c *flows.Conn) {
	if c.App == nil || c.App.DCERPC == nil {
		return
	}
	r := c.App.DCERPC
	var facts []string
	technique := ""
	if slices.Contains(r.Interfaces, "epmapper") && r.Requests >= epmLookups {
		technique = "T1046"
		facts = append(facts, fmt.Sprintf("%d endpoint-mapper requests in one connection", r.Requests))
	}
	for _, op := range r.Operations {
		if op == "srvsvc:NetrSessionEnum" || op == "wkssvc:NetrWkstaUserEnum" || strings.HasPrefix(op, "samr:") || strings.HasPrefix(op, "lsarpc:LsarLookup") {
			facts = append(facts, "rpc "+op)
		}
	}
	n := 0
	for _, i := range reconInterfaces {
		if slices.Contains(r.Interfaces, i) {
			n++
		}
	}
	if technique == "" && n >= 3 {
		technique = "T1087.002"
	}
	if technique == "" {
		return
	}
	k := [2]netip.Addr{c.Orig, c.Resp}
	f := s.recon[k]
	if f == nil {
		f = newFinding("scan", technique, c, d.endpoint(k[0], nil), d.endpoint(k[1], port(c.RespPort)))
		s.recon[k] = f
	}
	f.add(c, facts...)
}

func (s *scanDetector) findings(d *detector) []*Finding {
	var out []*Finding
	for k, f := range s.recon {
		if f.Technique == "T1046" {
			f.Score = 60
			f.Why = fmt.Sprintf("%s asked the RPC endpoint mapper of %s about its interfaces again and again: RPC service discovery", k[0], k[1])
		} else {
			f.Score = 65
			f.Why = fmt.Sprintf("%s queried %s for sessions, users, groups and policy over SMB pipes (SAMR, LSA, server and workstation services): Active Directory reconnaissance as BloodHound/SharpHound collects it", k[0], k[1])
		}
		out = append(out, f)
	}
	for k, f := range s.found {
		external := !d.internal(k.src)
		f.Score = 50 + min(25, f.Count/20)
		if external {
			f.Score += 10
		}
		if k.target.IsValid() {
			f.Why = fmt.Sprintf("%s probed %d connection attempts across many ports of %s that failed or were denied: a port scan (vertical)", k.src, f.Count, k.target)
		} else {
			f.Why = fmt.Sprintf("%s probed port %d on many hosts with %d attempts that failed or were denied: an address scan (horizontal)", k.src, k.port, f.Count)
		}
		out = append(out, f)
	}
	return out
}

// accessDetector finds brute force against exposed services and the
// interactive sessions from the internet that follow.
type accessDetector struct {
	brute    windowFindings[scanKey] // src, target, port, window
	sessions []*Finding              // inbound interactive sessions
	forced   map[netip.Addr][]int64
}

func (a *accessDetector) init() {
	a.brute = newWindowFindings[scanKey](bruteWindow, func(f *Finding) bool { return f.Count < bruteSessions })
	a.forced = map[netip.Addr][]int64{}
}

func (a *accessDetector) observe(d *detector, c *flows.Conn) {
	name, ok := interactive[c.RespPort]
	src, dst := c.Orig, c.Resp
	if !ok || c.Proto != ipproto.TCP || d.internal(src) || !d.internal(dst) {
		return
	}
	bytes := c.OrigIPBytes + c.RespIPBytes
	if c.FlowLog != nil && c.Source == flows.SourceFlowLog && !c.FlowLog.Counted {
		bytes = 0
	}
	if durationOf(c) < bruteMaxLength && !(c.Denied()) {
		k := scanKey{src: src, target: dst, port: c.RespPort, window: c.TS / int64(bruteWindow)}
		f := a.brute.get(d, k, func() *Finding {
			return newFinding("brute_force", "T1110", c, d.endpoint(src, nil), d.endpoint(dst, port(c.RespPort)))
		})
		f.add(c)
		return
	}
	if established(c) && (bytes >= accessMinBytes || durationOf(c) >= accessMinTime) {
		f := newFinding("inbound_access", "T1133", c, d.endpoint(src, nil), d.endpoint(dst, port(c.RespPort)))
		f.add(c, fmt.Sprintf("%s session of %s, %d bytes", name, durationOf(c).Round(time.Second), bytes))
		f.Score = 55
		f.Why = fmt.Sprintf("an interactive %s session from the internet (%s) to %s", name, src, dst)
		a.sessions = append(a.sessions, f)
	}
}

func (a *accessDetector) findings(d *detector) []*Finding {
	var out []*Finding
	for k, f := range a.brute.m {
		if a.brute.below(f) {
			continue
		}
		f.Score = min(85, 65+f.Count/3)
		f.Why = fmt.Sprintf("%d short %s sessions from %s to %s within %s: password guessing against an exposed service",
			f.Count, interactive[k.port], k.src, k.target, bruteWindow)
		a.forced[k.src] = append(a.forced[k.src], f.first)
		out = append(out, f)
	}
	for _, f := range a.sessions {
		src := f.Src.IP
		for _, t := range a.forced[src] {
			if t <= f.first {
				f.Score = 90
				f.Why += ", after the same source's brute force: likely the intrusion"
				break
			}
		}
		if f.Score < 90 && len(a.forced) > 0 {
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
