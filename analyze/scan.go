package analyze

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
)

// Scans (ATT&CK T1046): failed connection attempts (unanswered, rejected,
// or denied by the NSG) from one source to many hosts on one port
// (horizontal) or to many ports of one host (vertical) within a window;
// and, from a source inside the network, failed attempts or unanswered
// datagrams to sprayHosts hosts on any ports within a window (a sweep of
// random hosts and ports too slow for any one port's threshold, or a bot
// spraying datagrams).

// Scan thresholds default to Zeek's scan.zeek: 25 hosts on one port, or 15
// ports on one host, within 5 minutes, counting failed attempts (unanswered,
// rejected, or denied by the NSG); DetectOptions changes them.
const (
	DefaultScanHosts  = 25
	DefaultScanPorts  = 15
	DefaultScanWindow = 5 * time.Minute
)

// A quick sweep of a few ports of one host (nmap's top ports) is a low
// scan: sweepPorts failed attempts on distinct ports within sweepTime of
// the window's first.
const (
	sweepPorts = 5
	sweepTime  = 10 * time.Second
)

type scanKey struct {
	src    netip.Addr
	target netip.Addr // vertical scans: the host; horizontal: unset
	port   uint16     // horizontal scans: the port; vertical: 0
	window int64
	// manyPorts is the finding of a source's horizontal scans, all of
	// them, once they pass maxPortScans ports (port unset).
	manyPorts bool
}

// maxPortScans is how many address scans of one port each a source may
// have; past them, all of its ports make one finding, of many ports: a
// scanner trying random ports of random hosts crosses the threshold on
// nearly every port, and 65,536 findings would say one thing.
const maxPortScans = 64

// sprayHosts is how many hosts a source inside the network fails to
// reach, on any ports, within a scan window, for a finding of many ports:
// forty times the threshold of one port. Nothing an ordinary server or
// client runs fails to reach a thousand hosts in five minutes; a VM that
// does is sweeping the internet or flooding it.
const sprayHosts = 1000

type scanDetector struct {
	wins     map[scanKey]*distinct[netip.Addr] // horizontal: distinct targets
	vwins    map[scanKey]*distinct[uint16]     // vertical: distinct ports
	found    map[scanKey]*Finding              // one finding per episode (window unset)
	examples map[scanKey]*attempts             // failed attempts before a threshold is crossed
	sweeps   sweeper
	// A source's first failed attempt is kept alone (a flood from millions
	// of spoofed sources tries once each); its windows are made from its
	// second attempt on, the first replayed.
	firsts     firstAttempts[hostKey]
	stealth    map[hostKey]*stealthAcc // stealth probes by source (stealth.go)
	sweepsOnly map[scanKey]bool        // vertical findings that only a quick sweep made
	active     map[netip.Addr]int      // sources with windows: the sweep generation last seen, or withFinding
	// targets counts each source's vertical windows: a source past
	// maxScanTargets of them, or any past maxVerticalWindows in all, gets
	// none for new targets.
	targets   map[netip.Addr]int
	portScans map[netip.Addr]int // each source's findings of one port
	// sprays are the attempts on any ports of the sources inside the
	// network; lastSpray (of lastSprayer) is the last one looked up, as
	// a VM is the source of most of its capture's attempts.
	sprays      map[hostKey]*spray
	lastSprayer netip.Addr
	lastSpray   *spray
	kept        map[netip.Addr]int // each source's attempts kept in examples
}

// A scanner trying random ports of random hosts (masscan) makes a
// vertical window, and kept attempts, for every host it tries: 3 M
// attempts in a minute held 3.9 GiB. A source's vertical windows are
// bounded, as are all of them: past either bound, the attempts of a source
// to a host it has no window for count toward its horizontal windows only
// (at most one a port), so a vertical scan of a host it has not tried
// before goes unseen while it sweeps more than 16,384 others.
const (
	maxScanTargets     = 1 << 14
	maxVerticalWindows = 1 << 18
)

// withFinding marks an active source with a scan finding: never swept.
const withFinding = -1

// maxFirsts bounds the sources whose one failed attempt is kept (a flood,
// not a scan: one attempt each); the older are forgotten.
const maxFirsts = 1 << 17

// firstAttempts holds the first failed attempt of each source (K: its
// host) that has made one only, or the first conversation of each flood
// target's minute (K: floodMinuteKey): past maxFirsts/2 keys the notes
// start afresh, and the older are kept until the next time (at most
// maxFirsts, the newest half at least). An attempt no other detector kept is held in a store of the
// notes' own generation, rather than in the evidence store, and goes there
// only when its source tries again: the attempts of a flood's spoofed
// sources are forgotten with them instead of filling the evidence store
// (on disk, or without a writable TMPDIR in memory) at 66 bytes a packet.
// Each generation's store holds firstsBuffer bytes of records in memory,
// the rest compressed in a temporary file, as the evidence store does.
type firstAttempts[K comparable] struct {
	// A source's attempt: its place in the evidence store, or, when
	// negative, ^its place in recs (olderRecs for older).
	refs, older     map[K]keptRef
	recs, olderRecs *evidenceStore
}

// firstsBuffer is the bytes of first attempts a generation's store holds
// in memory.
const firstsBuffer = 1 << 20

// keep notes c, the conversation being observed, as src's first attempt.
func (f *firstAttempts[K]) keep(d *detection, src K, c *flows.Conn) {
	if f.refs == nil || len(f.refs) >= maxFirsts/2 {
		clear(f.older)
		f.older, f.refs = f.refs, f.older
		if f.refs == nil {
			f.refs = make(map[K]keptRef)
		}
		if f.olderRecs != nil {
			f.olderRecs.close()
		}
		f.olderRecs, f.recs = f.recs, newEvidenceStore(firstsBuffer)
	}
	if d.isKept {
		f.refs[src] = d.kept
		return
	}
	f.refs[src] = ^f.recs.put(c)
}

// take forgets src's first attempt and returns it with its place in the
// evidence store, where it is put if it was held here; ok is false when
// src has none.
func (f *firstAttempts[K]) take(d *detection, src K) (c *flows.Conn, ref keptRef, ok bool) {
	recs := f.recs
	if ref, ok = f.refs[src]; ok {
		delete(f.refs, src)
	} else if ref, ok = f.older[src]; ok {
		delete(f.older, src)
		recs = f.olderRecs
	} else {
		return nil, 0, false
	}
	if ref >= 0 {
		return d.evidence.get(ref), ref, true
	}
	// The same fields, encoded again: the same record.
	c = recs.get(^ref)
	if recs.err != nil && d.evidence.err == nil {
		d.evidence.err = recs.err
	}
	return c, d.evidence.put(c), true
}

// close releases the stores' temporary files.
func (f *firstAttempts[K]) close() {
	for _, s := range []*evidenceStore{f.recs, f.olderRecs} {
		if s != nil {
			s.close()
		}
	}
}

// distinct is the set of values a scan window has seen: a short list
// while it is small, as most windows stay, and a map beyond. Once it
// holds one more than its limit (the window's threshold), or its window
// is long past, the set is dropped and only its size kept: a late attempt
// still counts toward the scan.
type distinct[T comparable] struct {
	few     []T
	many    map[T]struct{}
	n       int // the set's size
	dropped bool
	gen     int   // sweep generation of the last attempt
	first   int64 // the first attempt's time
	// found is the finding a horizontal window's attempts go to once it
	// has crossed its threshold: record's lookups, once.
	found *Finding
}

// fewValues is how many values a window keeps in its list, unless its
// limit is below listedLimit: then the list holds them all (a map of 26
// addresses takes twice the memory of their list, and a masscan makes a
// window of each port).
const (
	fewValues   = 8
	listedLimit = 64
)

// add puts v into the set unless it holds more than limit values; once
// it does, the values are dropped.
func (w *distinct[T]) add(v T, limit int) {
	switch {
	case w.dropped || w.n > limit:
	case w.many != nil:
		if _, ok := w.many[v]; !ok {
			w.many[v] = struct{}{}
			w.n++
		}
	case slices.Contains(w.few, v):
	case len(w.few) < fewValues || limit < listedLimit:
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
	if w.n > limit {
		w.drop() // no value can change the size any more
	}
}

// drop forgets the values and keeps the size.
func (w *distinct[T]) drop() { w.few, w.many, w.dropped = nil, nil, true }

// attempts are the failed attempts kept as evidence for a scan that may
// come: their records, or, past maxSourceExamples of a source's, their
// number and times alone.
type attempts struct {
	conns                   []keptRef
	last                    int64 // ts of the latest attempt
	gen                     int
	unkept                  int
	unkeptFirst, unkeptLast int64 // the first start and the last end of those
}

// maxSourceExamples bounds the attempts a source has kept for scans that
// may come. A scanner of random ports and hosts keeps some for each port
// until the port crosses its threshold: past the bound they are counted,
// not kept, so that the finding does not read back hundreds of thousands
// of records from all over the evidence store.
const maxSourceExamples = 4096

func newScanDetector() *scanDetector {
	return &scanDetector{wins: map[scanKey]*distinct[netip.Addr]{}, vwins: map[scanKey]*distinct[uint16]{},
		found: map[scanKey]*Finding{}, examples: map[scanKey]*attempts{}, active: map[netip.Addr]int{},
		stealth: map[hostKey]*stealthAcc{}, sweepsOnly: map[scanKey]bool{}, targets: map[netip.Addr]int{}, portScans: map[netip.Addr]int{}, kept: map[netip.Addr]int{},
		sprays: map[hostKey]*spray{}}
}

func (s *scanDetector) observe(d *detection, c *flows.Conn) {
	if kind, ok := stealthKind(c); ok {
		s.probe(d, c, kind)
	}
	attempt := failed(c)
	if !attempt && !(unansweredDatagram(c) && d.internal(c.Orig)) {
		return
	}
	if s.sweeps.due(s.entries()) {
		s.sweep(d)
	}
	if !attempt {
		s.datagram(d, c)
		return
	}
	gen, active := s.active[c.Orig]
	if !active {
		src := keyOf(c.Orig)
		first, ref, ok := s.firsts.take(d, src)
		if !ok {
			s.firsts.keep(d, src, c)
			return
		}
		s.active[c.Orig] = s.sweeps.gen
		s.attempt(d, first, func() keptRef { return ref })
	} else if gen != withFinding {
		s.active[c.Orig] = s.sweeps.gen
	}
	s.attempt(d, c, func() keptRef { return d.keep(c) })
}

// entries counts the state a sweep can shrink.
func (s *scanDetector) entries() int {
	return len(s.wins) + len(s.vwins) + len(s.examples) + len(s.active) + len(s.sprays)
}

// attempt counts a failed attempt toward its source's scan windows; ref
// keeps it in the evidence store and returns its place there, called only
// when a window holds on to it (a scanner's attempts past its bounds are
// not stored at all).
func (s *scanDetector) attempt(d *detection, c *flows.Conn, ref func() keptRef) {
	gen := s.sweeps.gen
	src, dst := c.Orig, c.Resp
	w := c.TS / int64(d.opt.ScanWindow)
	// A window's set stops growing past its threshold: only whether it
	// crossed it counts.
	hw := addDistinct(s.wins, scanKey{src: src, port: c.RespPort, window: w}, dst, d.opt.ScanHosts, gen, c.TS)
	hosts := hw.n
	ports, vertical := 0, scanKey{src: src, target: dst}
	k := scanKey{src: src, target: dst, window: w}
	vw := s.vwins[k]
	if vw == nil && s.targets[src] < maxScanTargets && len(s.vwins) < maxVerticalWindows {
		vw = &distinct[uint16]{first: c.TS}
		s.vwins[k] = vw
		s.targets[src]++
	}
	if vw != nil {
		vw.gen = gen
		vw.add(c.RespPort, d.opt.ScanPorts)
		ports = vw.n
	}
	var sp *spray
	if d.internal(src) {
		sp = s.sprayOf(c, w)
	}
	switch {
	case hosts >= d.opt.ScanHosts && hw.found != nil:
		s.addTarget(d, hw.found, c)
	case hosts >= d.opt.ScanHosts:
		hw.found = s.record(d, c, scanKey{src: src, port: c.RespPort})
	case ports >= d.opt.ScanPorts:
		delete(s.sweepsOnly, vertical)
		s.record(d, c, vertical)
	case ports >= sweepPorts && (s.found[vertical] != nil || c.TS-vw.first <= int64(sweepTime)):
		// A few ports of one host within seconds: a quick sweep (nmap's
		// top ports), low, not a rare-port finding for each.
		if s.found[vertical] == nil {
			s.sweepsOnly[vertical] = true
		}
		s.record(d, c, vertical)
	case sp != nil && (sp.found != nil || sp.hosts.n >= sprayHosts):
		s.recordSpray(d, c, sp)
	default:
		// Keep the attempts of a window until it crosses a threshold.
		for _, k := range []scanKey{{src: src, port: c.RespPort}, {src: src, target: dst}} {
			if k.target.IsValid() && vw == nil {
				continue // no vertical window: none to keep them for
			}
			a := s.examples[k]
			if a == nil {
				a = &attempts{}
				s.examples[k] = a
			}
			a.last, a.gen = max(a.last, c.TS), gen
			switch {
			case len(a.conns)+a.unkept >= d.opt.ScanHosts*2:
			case s.kept[src] < maxSourceExamples:
				a.conns = append(a.conns, ref())
				s.kept[src]++
			case a.unkept == 0:
				a.unkept, a.unkeptFirst, a.unkeptLast = 1, c.TS, c.TS+c.Duration
			default:
				a.unkept++
				a.unkeptFirst, a.unkeptLast = min(a.unkeptFirst, c.TS), max(a.unkeptLast, c.TS+c.Duration)
			}
		}
	}
}

// unansweredDatagram reports whether c is UDP that a capture saw go
// unanswered to one host (not to a group or to all).
func unansweredDatagram(c *flows.Conn) bool {
	return c.Proto == ipproto.UDP && c.Captured() && c.OrigPkts > 0 && c.RespPkts == 0 &&
		!c.Resp.IsMulticast() && c.Resp != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// spray is a source's failed attempts and unanswered datagrams on any
// ports: the hosts of its current scan window and the datagrams of the
// window counted (not kept) before it made a finding, and the finding
// once the hosts reached sprayHosts, which every later attempt of the
// source goes to.
type spray struct {
	window      int64
	hosts       distinct[hostKey]
	datagrams   int
	first, last int64 // of the datagrams counted
	found       *Finding
}

// sprayOf counts c's target toward the hosts of its source's spray in
// window w, until the spray has a finding, and returns the spray.
func (s *scanDetector) sprayOf(c *flows.Conn, w int64) *spray {
	sp := s.lastSpray
	if sp == nil || s.lastSprayer != c.Orig {
		k := keyOf(c.Orig)
		if sp = s.sprays[k]; sp == nil {
			sp = &spray{window: w, hosts: distinct[hostKey]{first: c.TS}}
			s.sprays[k] = sp
		}
		s.lastSprayer, s.lastSpray = c.Orig, sp
	}
	if sp.found == nil {
		if w > sp.window { // a new window: the hosts and datagrams of the last one did not make a spray
			sp.window, sp.hosts, sp.datagrams = w, distinct[hostKey]{first: c.TS}, 0
		}
		sp.hosts.gen = s.sweeps.gen
		sp.hosts.add(keyOf(c.Resp), sprayHosts)
	}
	return sp
}

// datagram counts an unanswered datagram of a source inside the network
// toward its spray: counted, not kept, until the spray makes a finding;
// in it from then on.
func (s *scanDetector) datagram(d *detection, c *flows.Conn) {
	sp := s.sprayOf(c, c.TS/int64(d.opt.ScanWindow))
	if sp.found != nil || sp.hosts.n >= sprayHosts {
		s.recordSpray(d, c, sp)
		return
	}
	if sp.datagrams == 0 {
		sp.first, sp.last = c.TS, c.TS+c.Duration
	}
	sp.datagrams++
	sp.first, sp.last = min(sp.first, c.TS), max(sp.last, c.TS+c.Duration)
}

// recordSpray adds attempt c to its source's finding of many ports, made
// when its spray sp crosses sprayHosts: with the datagrams counted and
// the attempts kept or counted for the source's address scans that have
// not crossed their thresholds.
func (s *scanDetector) recordSpray(d *detection, c *flows.Conn, sp *spray) {
	src := c.Orig
	if sp.found == nil {
		k := scanKey{src: src, manyPorts: true}
		f := s.found[k]
		if f == nil {
			f = newFinding("scan", "T1046", c, d.endpoint(src, nil), Endpoint{})
			s.found[k] = f
			s.active[src] = withFinding
		}
		sp.found, sp.hosts = f, distinct[hostKey]{}
		f.addUnkept(sp.datagrams, sp.first, sp.last)
		var held []scanKey
		for k := range s.examples {
			if k.src == src && !k.target.IsValid() {
				held = append(held, k)
			}
		}
		slices.SortFunc(held, func(a, b scanKey) int { return cmp.Compare(a.port, b.port) })
		for _, k := range held {
			a := s.examples[k]
			s.forget(k, a)
			for _, e := range a.conns {
				s.addTarget(d, f, d.evidence.get(e))
			}
			f.addUnkept(a.unkept, a.unkeptFirst, a.unkeptLast)
		}
	}
	s.addTarget(d, sp.found, c)
}

// addDistinct puts v into the set of window k (at most limit values),
// made at time ts if new, and returns the window.
func addDistinct[T comparable](wins map[scanKey]*distinct[T], k scanKey, v T, limit, gen int, ts int64) *distinct[T] {
	w := wins[k]
	if w == nil {
		w = &distinct[T]{first: ts}
		wins[k] = w
	}
	w.gen = gen
	w.add(v, limit)
	return w
}

// sweep drops the windows that stayed below their threshold, and the kept
// attempts, that ended sweepSlack before the latest conversation and saw no
// attempt for a sweep period, and the sets of the windows that crossed it:
// memory stays bounded over days of scanning from the internet. A late
// attempt of a dropped window starts it afresh.
func (s *scanDetector) sweep(d *detection) {
	stale := func(gen int, end int64) bool { return s.sweeps.stale(gen) && end+int64(sweepSlack) < d.last }
	window := int64(d.opt.ScanWindow)
	sweepWindows(s.wins, d.opt.ScanHosts, window, stale, nil)
	sweepWindows(s.vwins, d.opt.ScanPorts, window, stale, func(k scanKey) {
		if s.targets[k.src]--; s.targets[k.src] == 0 {
			delete(s.targets, k.src)
		}
	})
	for k, a := range s.examples {
		if stale(a.gen, a.last+window) {
			s.forget(k, a)
		}
	}
	maps.DeleteFunc(s.active, func(_ netip.Addr, gen int) bool { return gen != withFinding && s.sweeps.stale(gen) })
	maps.DeleteFunc(s.sprays, func(_ hostKey, sp *spray) bool {
		return sp.found == nil && stale(sp.hosts.gen, (sp.window+1)*window)
	})
	s.lastSprayer, s.lastSpray = netip.Addr{}, nil
	s.sweeps.swept(s.entries())
}

// sweepWindows drops the stale windows below threshold (telling deleted,
// if set) and the sets of the stale ones above it.
func sweepWindows[T comparable](wins map[scanKey]*distinct[T], threshold int, window int64, stale func(gen int, end int64) bool, deleted func(scanKey)) {
	for k, w := range wins {
		switch {
		case !stale(w.gen, (k.window+1)*window):
		case w.n < threshold:
			delete(wins, k)
			if deleted != nil {
				deleted(k)
			}
		default:
			w.drop()
		}
	}
}

// record adds attempt c to the finding of scan k, made with the attempts
// kept for it if there is none (that of the source's many ports, for an
// address scan past its maxPortScans), and returns the finding.
func (s *scanDetector) record(d *detection, c *flows.Conn, k scanKey) *Finding {
	f := s.found[k]
	if f == nil {
		examples := s.examples[k]
		if examples != nil {
			s.forget(k, examples)
		}
		if !k.target.IsValid() {
			if s.portScans[k.src] >= maxPortScans {
				k = scanKey{src: k.src, manyPorts: true}
				f = s.found[k]
			} else {
				s.portScans[k.src]++
			}
		}
		if f == nil {
			f = newFinding("scan", "T1046", c, d.endpoint(k.src, nil), Endpoint{})
			s.found[k] = f
			s.active[k.src] = withFinding
		}
		if examples != nil {
			for _, e := range examples.conns {
				s.addTarget(d, f, d.evidence.get(e))
			}
			f.addUnkept(examples.unkept, examples.unkeptFirst, examples.unkeptLast)
		}
	}
	s.addTarget(d, f, c)
	return f
}

// foldPortScans makes the address scans of one port each of a source
// whose scans passed maxPortScans ports part of its finding of many
// ports, in the order of their ports: one scan, one finding.
func (s *scanDetector) foldPortScans() {
	var folded []scanKey
	for k := range s.found {
		if !k.target.IsValid() && !k.manyPorts && s.found[scanKey{src: k.src, manyPorts: true}] != nil {
			folded = append(folded, k)
		}
	}
	slices.SortFunc(folded, func(a, b scanKey) int { return cmp.Or(a.src.Compare(b.src), cmp.Compare(a.port, b.port)) })
	for _, k := range folded {
		many, f := s.found[scanKey{src: k.src, manyPorts: true}], s.found[k]
		many.Count += f.Count
		many.first, many.last = min(many.first, f.first), max(many.last, f.last)
		many.Evidence.merge(&f.Evidence)
		for _, e := range f.dsts {
			if len(many.dsts) < maxEvidence*5 {
				many.dsts = append(many.dsts, e)
			}
		}
		delete(s.found, k)
	}
}

// forget drops the attempts kept for window k.
func (s *scanDetector) forget(k scanKey, a *attempts) {
	delete(s.examples, k)
	if s.kept[k.src] -= len(a.conns); s.kept[k.src] == 0 {
		delete(s.kept, k.src)
	}
}

func (s *scanDetector) addTarget(d *detection, f *Finding, c *flows.Conn) {
	f.add(c)
	if len(f.dsts) < maxEvidence*5 {
		f.dsts = append(f.dsts, d.endpoint(c.Resp, port(c.RespPort)))
	}
}

func (s *scanDetector) findings(d *detection) []*Finding {
	s.firsts.close()
	s.foldPortScans()
	var out []*Finding
	for k, f := range s.found {
		external := !d.internal(k.src)
		f.Score = 50 + min(25, f.Count/20)
		if external {
			f.Score += 10
		}
		if s.sweepsOnly[k] {
			f.Score = 30
			f.Title = "quick port sweep"
			f.Why = fmt.Sprintf("%s tried %d connections to a few ports of %s within seconds that failed or were denied: a quick port sweep", k.src, f.Count, k.target)
		} else if sp := s.sprays[keyOf(k.src)]; k.manyPorts && sp != nil && sp.found == f {
			f.Title = "address scan of many ports"
			f.Why = fmt.Sprintf("%s failed to reach %d hosts or more on any ports within %s, with %d attempts that failed, were denied or went unanswered: an address scan of many ports (horizontal), as a scanner of random hosts and ports, or a bot spraying them, makes", k.src, sprayHosts, d.opt.ScanWindow, f.Count)
		} else if k.manyPorts {
			f.Title = "address scan of many ports"
			f.Why = fmt.Sprintf("%s probed more than %d ports, each on many hosts, with %d attempts that failed or were denied: an address scan of many ports (horizontal), as a scanner of random hosts and ports makes", k.src, maxPortScans, f.Count)
		} else if k.target.IsValid() {
			f.Title = "port scan"
			f.Why = fmt.Sprintf("%s probed %d connection attempts across many ports of %s that failed or were denied: a port scan (vertical)", k.src, f.Count, k.target)
		} else {
			f.Title = fmt.Sprintf("address scan of port %d", k.port)
			f.Why = fmt.Sprintf("%s probed port %d on many hosts with %d attempts that failed or were denied: an address scan (horizontal)", k.src, k.port, f.Count)
		}
		out = append(out, f)
	}
	return append(out, s.stealthFindings(d)...)
}
