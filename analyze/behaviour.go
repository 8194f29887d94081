package analyze

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
	"github.com/netfx/netfx/internal/record"
)

// Beacons (T1071), exfiltration (T1041), long connections and DNS tunnels
// (T1071.004).

// Beacon thresholds: RITA v5 scores interval and size regularity; netfx
// adds connection count and time coverage over the whole evidence, so a
// beacon is seen across the gaps between captures.
const (
	beaconMinConns    = 6
	beaconMinScore    = 0.75
	beaconMinTiming   = 0.8             // interval regularity a beacon needs, whatever its other scores
	beaconMinCoverage = 0.25            // share of the evidence span it must cover: a burst is not a beacon
	beaconMinInterval = 5 * time.Second // faster is a burst, not a beacon
	maxSeries         = 4096            // connection times kept per pair
)

// seriesAcc is the connections of one originator to one responder, kept
// by value: most pairs have one.
type seriesAcc struct {
	n      int
	points []seriesPoint        // the first maxSeries connections
	conns  [keptPerPair]keptRef // the first min(n, keptPerPair), for evidence
}

type seriesPoint struct {
	ts    int64
	bytes float64 // the originator's IP bytes
}

type seriesCodec struct{}

func (seriesCodec) append(b []byte, s seriesAcc) []byte {
	b = binary.AppendUvarint(b, uint64(s.n))
	b = appendKeptRefs(b, s.conns)
	b = binary.AppendUvarint(b, uint64(len(s.points)))
	for _, p := range s.points {
		b = binary.AppendVarint(b, p.ts)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.bytes))
	}
	return b
}

func (seriesCodec) decode(b []byte) (seriesAcc, error) {
	d := record.NewDecoder(b)
	s := seriesAcc{n: int(d.Uvarint()), conns: decodeKeptRefs(d)}
	if n := d.Uvarint(); n <= uint64(d.Left()) { // each point takes a byte at least
		s.points = make([]seriesPoint, n)
		for i := range s.points {
			s.points[i].ts = d.Varint()
			s.points[i].bytes = math.Float64frombits(d.Fixed64())
		}
	} else {
		d.Fail(io.ErrUnexpectedEOF)
	}
	return s, d.End()
}

func (seriesCodec) merge(older, newer seriesAcc) seriesAcc {
	older.conns = mergeKept(older.conns, older.n, newer.conns, newer.n)
	older.n += newer.n
	older.points = append(older.points, newer.points[:min(len(newer.points), maxSeries-len(older.points))]...)
	return older
}

type beaconDetector struct {
	pairs *pairMap[seriesAcc] // originator and responder (pairOf)
}

// maxSeriesPoints bounds the beacon times held in memory (16 bytes each):
// past it the series spill, however few pairs there are.
const maxSeriesPoints = 1 << 21

func (b *beaconDetector) init() {
	b.pairs = newPairMap[seriesAcc](pairMapLimit, seriesCodec{})
	b.pairs.maxWeight = maxSeriesPoints
}

func (b *beaconDetector) observe(d *detector, c *flows.Conn) {
	// Resolvers and time servers are periodic by design; failed attempts
	// are retries, not beacons (RITA's known false positives).
	if !established(c) || c.RespPort == 53 || c.RespPort == 123 || c.Proto == ipproto.ICMP || c.Proto == ipproto.ICMPv6 {
		return
	}
	k := pairOf(d.hosts.id(c.Orig), d.hosts.id(c.Resp))
	s := b.pairs.get(k)
	if s.n < keptPerPair {
		s.conns[s.n] = d.keep(c)
	}
	s.n++
	if len(s.points) < maxSeries {
		s.points = append(s.points, seriesPoint{c.TS, float64(c.OrigIPBytes)})
		b.pairs.grow(1)
	}
	b.pairs.set(k, s)
}

func (b *beaconDetector) findings(d *detector) []*Finding {
	var out []*Finding
	span := float64(d.last - d.first)
	defer b.pairs.close()
	for k, s := range b.pairs.all() {
		if len(s.points) < beaconMinConns || span <= 0 {
			continue
		}
		ts, bytes := make([]int64, len(s.points)), make([]float64, len(s.points))
		for i, p := range s.points {
			ts[i], bytes[i] = p.ts, p.bytes
		}
		slices.Sort(ts)
		var intervals []float64
		for i := 1; i < len(ts); i++ {
			if dt := ts[i] - ts[i-1]; dt > 0 {
				intervals = append(intervals, float64(dt))
			}
		}
		if len(intervals) < 3 {
			continue
		}
		tsScore := regularity(intervals, 1, float64(10*time.Second))
		dsScore := regularity(bytes, 0, 10)
		coverage := math.Min(1, float64(ts[len(ts)-1]-ts[0])/span)
		countScore := math.Min(1, float64(s.n)/24)
		score := 0.4*tsScore + 0.2*dsScore + 0.2*coverage + 0.2*countScore
		if score < beaconMinScore || tsScore < beaconMinTiming || coverage < beaconMinCoverage {
			continue
		}
		median := time.Duration(quantile(intervals, 0.5)).Round(time.Second)
		if median < beaconMinInterval {
			continue
		}
		orig, resp := d.hosts.pair(k)
		f := d.findingFrom("beacon", "T1071", s.conns[:min(s.n, keptPerPair)], d.endpoint(orig, nil), d.endpoint(resp, port(d.evidence.get(s.conns[0]).RespPort)))
		f.Count = s.n
		f.first, f.last = ts[0], ts[len(ts)-1]
		f.Score = int(math.Round(score * 100))
		f.Evidence.Facts = append(f.Evidence.Facts, fmt.Sprintf("interval median %s, interval regularity %.2f, size regularity %.2f, coverage %.2f", median, tsScore, dsScore, coverage))
		f.Why = fmt.Sprintf("%d connections from %s to %s about every %s, with regular sizes, over %.0f%% of the evidence's time span: a beacon", s.n, orig, resp, median, coverage*100)
		out = append(out, f)
	}
	return out
}

// regularity scores how regular values are, as RITA does: the mean of a
// Bowley-skew score and a median-absolute-deviation score, 1 for perfectly
// regular. small is the MAD score for a median below 1; the skew counts
// only when the interquartile range reaches minIQR (RITA: 10 seconds for
// intervals, 10 bytes for sizes), so jitter below it is not skew.
func regularity(v []float64, small, minIQR float64) float64 {
	if len(v) < 3 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	q1, q2, q3 := quantile(s, 0.25), quantile(s, 0.5), quantile(s, 0.75)
	skew := 0.0
	if q3-q1 >= minIQR && q2 != q1 && q2 != q3 {
		skew = (q1 + q3 - 2*q2) / (q3 - q1)
	}
	skewScore := 1 - math.Abs(skew)
	dev := make([]float64, len(s))
	for i, x := range s {
		dev[i] = math.Abs(x - q2)
	}
	slices.Sort(dev)
	mad := quantile(dev, 0.5)
	madScore := small
	if q2 >= 1 {
		madScore = math.Max(0, (q2-mad)/q2)
	}
	return (skewScore + madScore) / 2
}

// quantile of sorted values, by linear interpolation.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	if !slices.IsSorted(sorted) {
		sorted = slices.Clone(sorted)
		slices.Sort(sorted)
	}
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	return sorted[lo] + (pos-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// Exfiltration and long-connection thresholds. 25 MB mirrors RITA's
// data-size modifier; the producer-consumer ratio (Bullard and Gerth,
// FloCon 2014) of 0.6 means the source sends at least four times what it
// receives. Long connections start at RITA's one hour.
const (
	exfilBytes   = 25_000_000
	exfilPCR     = 0.6
	longDuration = time.Hour
)

// volumeAcc is the traffic of one originator to one responder, kept by
// value in a map without pointers.
type volumeAcc struct {
	out, in uint64
	conns   [keptPerPair]keptRef // the first min(n, keptPerPair), for evidence
	n       int
}

type volumeCodec struct{}

func (volumeCodec) append(b []byte, a volumeAcc) []byte {
	b = binary.AppendUvarint(b, a.out)
	b = binary.AppendUvarint(b, a.in)
	b = binary.AppendUvarint(b, uint64(a.n))
	return appendKeptRefs(b, a.conns)
}

func (volumeCodec) decode(b []byte) (volumeAcc, error) {
	d := record.NewDecoder(b)
	a := volumeAcc{out: d.Uvarint(), in: d.Uvarint(), n: int(d.Uvarint()), conns: decodeKeptRefs(d)}
	return a, d.End()
}

func (volumeCodec) merge(older, newer volumeAcc) volumeAcc {
	older.conns = mergeKept(older.conns, older.n, newer.conns, newer.n)
	older.out += newer.out
	older.in += newer.in
	older.n += newer.n
	return older
}

type volumeDetector struct {
	pairs *pairMap[volumeAcc] // originator and responder (pairOf)
	// pieces gathers, per TCP 5-tuple, the conversations that may be
	// parts of one connection that a capture gap cut: those still open
	// when they ended, and those that started without a handshake. There
	// is one such for many a conversation, so they spill as pairs do,
	// keyed by a hash of the 5-tuple (with a list for the rare 5-tuples
	// that share one).
	pieces     *pairMap[[]piecesAcc]
	piecesSeed maphash.Seed
	long       []*Finding
}

// piecesAcc is the pieces of one 5-tuple: most stay one piece, so the
// finding is only made at the end, for those that join into a long one.
type piecesAcc struct {
	ends        flows.Endpoints
	first, last int64
	n           int
	orig        netip.Addr
	kept        []keptRef // the first pieces, for evidence
}

type piecesCodec struct{}

func (piecesCodec) append(b []byte, ps []piecesAcc) []byte {
	b = binary.AppendUvarint(b, uint64(len(ps)))
	for _, p := range ps {
		b = record.AppendAddr(b, p.ends.A)
		b = record.AppendAddr(b, p.ends.B)
		b = binary.AppendUvarint(b, uint64(p.ends.APort))
		b = binary.AppendUvarint(b, uint64(p.ends.BPort))
		b = append(b, p.ends.Proto)
		b = binary.AppendVarint(b, p.first)
		b = binary.AppendVarint(b, p.last)
		b = binary.AppendUvarint(b, uint64(p.n))
		b = record.AppendAddr(b, p.orig)
		b = binary.AppendUvarint(b, uint64(len(p.kept)))
		for _, k := range p.kept {
			b = binary.AppendVarint(b, int64(k))
		}
	}
	return b
}

func (piecesCodec) decode(b []byte) ([]piecesAcc, error) {
	d := record.NewDecoder(b)
	n := d.Uvarint()
	if n > uint64(d.Left()) { // each takes bytes
		d.Fail(io.ErrUnexpectedEOF)
		n = 0
	}
	ps := make([]piecesAcc, n)
	for i := range ps {
		p := &ps[i]
		p.ends.A, p.ends.B = d.Addr(), d.Addr()
		p.ends.APort, p.ends.BPort, p.ends.Proto = uint16(d.Uvarint()), uint16(d.Uvarint()), d.Byte()
		p.first, p.last, p.n, p.orig = d.Varint(), d.Varint(), int(d.Uvarint()), d.Addr()
		kept := d.Uvarint()
		if kept > maxEvidence {
			d.Fail(io.ErrUnexpectedEOF)
			kept = 0
		}
		p.kept = make([]keptRef, kept)
		for j := range p.kept {
			p.kept[j] = keptRef(d.Varint())
		}
	}
	return ps, d.End()
}

func (piecesCodec) merge(older, newer []piecesAcc) []piecesAcc {
	for _, n := range newer {
		i := slices.IndexFunc(older, func(o piecesAcc) bool { return o.ends == n.ends })
		if i < 0 {
			older = append(older, n)
			continue
		}
		o := &older[i]
		o.first, o.last, o.n = min(o.first, n.first), max(o.last, n.last), o.n+n.n
		o.kept = append(o.kept, n.kept[:min(len(n.kept), maxEvidence-len(o.kept))]...)
	}
	return older
}

func (v *volumeDetector) init() {
	v.pairs, v.pieces = newPairMap[volumeAcc](pairMapLimit, volumeCodec{}), newPairMap[[]piecesAcc](pairMapLimit, piecesCodec{})
	v.piecesSeed = maphash.MakeSeed()
}

// span is how long a conversation lasted as far as the evidence shows: the
// capture's duration, or the flow logs' when they saw more of it.
func span(c *flows.Conn) (first, last int64) {
	first, last = c.TS, c.TS+c.Duration
	if v := c.FlowLog; v != nil && v.Decision != flows.Deny && v.End > v.Begin && v.Begin > 0 {
		first, last = min(first, v.Begin), max(last, v.End)
	}
	return first, last
}

func (v *volumeDetector) observe(d *detector, c *flows.Conn) {
	orig, resp := c.Orig, c.Resp
	if first, last := span(c); last-first >= int64(longDuration) && established(c) {
		f := newFinding("long_connection", "", c, d.endpoint(orig, nil), d.endpoint(resp, port(c.RespPort)))
		f.first, f.last = first, last
		f.add(c, fmt.Sprintf("one connection lasting %s", time.Duration(last-first).Round(time.Second)))
		v.long = append(v.long, f)
	} else if c.Proto == ipproto.TCP && c.Source != flows.SourceFlowLog && (!strings.ContainsAny(c.History, "FfRr") || !strings.HasPrefix(c.History, "S")) {
		ends := c.Endpoints()
		k := maphash.Comparable(v.piecesSeed, ends)
		ps := v.pieces.get(k)
		i := slices.IndexFunc(ps, func(p piecesAcc) bool { return p.ends == ends })
		if i < 0 {
			ps = append(ps, piecesAcc{ends: ends, first: c.TS, last: c.TS + c.Duration, orig: orig})
			i = len(ps) - 1
		}
		p := &ps[i]
		p.n++
		p.first, p.last = min(p.first, c.TS), max(p.last, c.TS+c.Duration)
		if len(p.kept) < maxEvidence {
			p.kept = append(p.kept, d.keep(c))
		}
		v.pieces.set(k, ps)
	}
	if !d.internal(orig) || d.internal(resp) || !established(c) {
		return
	}
	out, in := c.OrigIPBytes, c.RespIPBytes
	if c.Source == flows.SourceFlowLog && (c.FlowLog == nil || !c.FlowLog.Counted) {
		return
	}
	k := pairOf(d.hosts.id(orig), d.hosts.id(resp))
	a := v.pairs.get(k)
	a.out += out
	a.in += in
	if a.n < keptPerPair {
		a.conns[a.n] = d.keep(c)
	}
	a.n++
	v.pairs.set(k, a)
}

func (v *volumeDetector) findings(d *detector) []*Finding {
	out := []*Finding{}
	for _, f := range v.long {
		out = append(out, longFinding(d, f, ""))
	}
	defer v.pieces.close()
	for _, ps := range v.pieces.all() {
		for _, p := range ps {
			if p.n > 1 && p.last-p.first >= int64(longDuration) {
				first := d.evidence.get(p.kept[0])
				f := d.findingFrom("long_connection", "", p.kept, d.endpoint(p.orig, nil), d.endpoint(first.Resp, port(first.RespPort)))
				f.Count, f.first, f.last = p.n, p.first, p.last
				out = append(out, longFinding(d, f, fmt.Sprintf(", in %d pieces that capture gaps cut", f.Count)))
			}
		}
	}
	defer v.pairs.close()
	for k, a := range v.pairs.all() {
		pcr := float64(int64(a.out)-int64(a.in)) / float64(a.out+a.in)
		if a.out < exfilBytes || pcr < exfilPCR {
			continue
		}
		orig, resp := d.hosts.pair(k)
		f := d.findingFrom("exfiltration", "T1041", a.conns[:min(a.n, keptPerPair)], d.endpoint(orig, nil), d.endpoint(resp, port(d.evidence.get(a.conns[0]).RespPort)))
		f.Count = a.n
		f.Score = min(95, 70+int(a.out/exfilBytes)*5)
		f.Evidence.Facts = append(f.Evidence.Facts, fmt.Sprintf("%d bytes out, %d in, producer-consumer ratio %.2f", a.out, a.in, pcr))
		f.Why = fmt.Sprintf("%s sent %.1f MB to %s and received %.1f MB: a large, one-way upload", orig, float64(a.out)/1e6, resp, float64(a.in)/1e6)
		out = append(out, f)
	}
	return out
}

// longFinding scores and explains a long connection.
func longFinding(d *detector, f *Finding, pieces string) *Finding {
	f.Score = 35
	if !d.internal(f.Src.IP) || !d.internal(f.Dst.(Endpoint).IP) {
		f.Score = 50
	}
	f.Why = fmt.Sprintf("a connection from %s to %s lasted %s%s: a long-lived channel (C2, tunnel) or an admin session to confirm",
		f.Src.IP, f.Dst.(Endpoint).IP, spanOf(f), pieces)
	return f
}

// DNS tunnel thresholds: queries to one domain with long or random-looking
// names, or many TXT queries, carry data or commands.
const (
	tunnelQueries = 10 // suspicious queries to one domain
	longLabel     = 30 // a label this long...
	longName      = 52 // ...or a name this long is suspicious
	entropyMin    = 3.5
)

type dnsKey struct {
	client netip.Addr
	domain string
}

type dnsAcc struct {
	suspicious, txt, total int
	subdomains             []uint64 // hashes of the distinct subdomains, sorted (see nameHash)
	conns                  []keptRef
	resolver               netip.Addr
}

type dnsDetector struct {
	domains map[dnsKey]*dnsAcc
}

func (n *dnsDetector) init() { n.domains = map[dnsKey]*dnsAcc{} }

func (n *dnsDetector) observe(d *detector, c *flows.Conn) {
	if c.App == nil || c.App.DNS == nil {
		return
	}
	for _, q := range c.App.DNS.Queries {
		name, typ, _ := strings.Cut(q, " ")
		domain := registered(name)
		if domain == "" {
			continue
		}
		k := dnsKey{c.Orig, domain}
		a := n.domains[k]
		if a == nil {
			if len(n.domains) >= 1<<16 {
				continue
			}
			// The domain is copied out of the query, which is then not
			// kept for it.
			k.domain = strings.Clone(domain)
			a = &dnsAcc{resolver: c.Resp}
			n.domains[k] = a
		}
		a.total++
		if typ == "TXT" {
			a.txt++
		}
		sub := strings.TrimSuffix(strings.TrimSuffix(name, domain), ".")
		if len(a.subdomains) < 1024 {
			h := nameHash(sub)
			if i, found := slices.BinarySearch(a.subdomains, h); !found {
				a.subdomains = slices.Insert(a.subdomains, i, h)
			}
		}
		if len(name) >= longName || longestLabel(sub) >= longLabel || (len(sub) >= 16 && entropy(sub) >= entropyMin) {
			a.suspicious++
		}
		if len(a.conns) < keptPerPair {
			a.conns = append(a.conns, d.keep(c))
		}
	}
}

// nameHash is the 64-bit FNV-1a hash of a name: subdomains are counted by
// their hashes, so that the query names need not be kept (two of a
// domain's at most 1,024 distinct subdomains collide with a probability
// under 10^-13).
func nameHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// cloudDomains name their hosts with long random-looking labels by design
// (storage accounts, VMs, CDN edges): RITA's users keep the same list of
// never-include domains.
var cloudDomains = map[string]bool{
	"windows.net": true, "azure.com": true, "cloudapp.net": true, "azureedge.net": true, "trafficmanager.net": true,
	"microsoft.com": true, "microsoftonline.com": true, "azure.net": true, "msedge.net": true, "office.com": true,
	"amazonaws.com": true, "cloudfront.net": true, "googleapis.com": true, "gvt1.com": true, "akamaiedge.net": true,
	"akadns.net": true, "windowsupdate.com": true, "azurewebsites.net": true, "core.windows.net": true, "live.com": true,
}

func (n *dnsDetector) findings(d *detector) []*Finding {
	var out []*Finding
	for k, a := range n.domains {
		if cloudDomains[k.domain] {
			continue
		}
		encoded := a.suspicious >= tunnelQueries && 2*a.suspicious >= a.total
		if !encoded && (a.txt < tunnelQueries || len(a.subdomains) < tunnelQueries) {
			continue
		}
		f := d.findingFrom("dns_tunnel", "T1071.004", a.conns, d.endpoint(k.client, nil), d.endpoint(a.resolver, port(53)))
		f.Count = a.total
		f.Score = min(90, 60+a.suspicious/5+a.txt/5)
		f.Evidence.Facts = append(f.Evidence.Facts, fmt.Sprintf("domain %s: %d queries, %d with long or random-looking names, %d TXT, %d distinct subdomains", k.domain, a.total, a.suspicious, a.txt, len(a.subdomains)))
		f.Why = fmt.Sprintf("%s sent %d queries for %s with encoded-looking names or TXT lookups: data or commands carried in DNS", k.client, a.total, k.domain)
		out = append(out, f)
	}
	return out
}

// registered approximates a name's registered domain: its last two labels
// (three under a two-letter country code with a short second level, as
// example.co.uk).
func registered(name string) string {
	labels := strings.Split(strings.TrimSuffix(strings.ToLower(name), "."), ".")
	if len(labels) < 2 {
		return ""
	}
	n := 2
	if len(labels) >= 3 && len(labels[len(labels)-1]) == 2 && len(labels[len(labels)-2]) <= 3 {
		n = 3
	}
	return strings.Join(labels[len(labels)-n:], ".")
}

func longestLabel(name string) int {
	best := 0
	for _, l := range strings.Split(name, ".") {
		best = max(best, len(l))
	}
	return best
}

// entropy is the Shannon entropy of s in bits per character.
func entropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	e := 0.0
	for _, n := range counts {
		if n > 0 {
			p := float64(n) / float64(len(s))
			e -= p * math.Log2(p)
		}
	}
	return e
}
