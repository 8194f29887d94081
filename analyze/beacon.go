package analyze

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
	"github.com/netfx/netfx/internal/record"
)

// Beacons (ATT&CK T1071): connections from one host to another at regular
// intervals with regular sizes, over a large part of the evidence, seen
// across the gaps between captures.

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

func newBeaconDetector() *beaconDetector {
	b := &beaconDetector{pairs: newPairMap[seriesAcc](pairMapLimit, seriesCodec{})}
	b.pairs.maxWeight = maxSeriesPoints
	return b
}

func (b *beaconDetector) err() error { return b.pairs.Err() }

func (b *beaconDetector) observe(d *detection, c *flows.Conn) {
	// Resolvers and time servers are periodic by design; failed attempts
	// are retries, not beacons (RITA's known false positives). A beacon
	// calls out from the network, as RITA looks for it: an internet host
	// polling a VM (a monitor, or brute force at a steady pace) is none.
	if !established(c) || c.RespPort == 53 || c.RespPort == 123 || ipproto.IsICMP(c.Proto) || !d.internal(c.Orig) {
		return
	}
	// A regular series of short login sessions is password guessing at a
	// steady pace: brute force, not a beacon.
	if interactiveName(c.Service, c.RespPort) != "" && durationOf(c) < bruteMaxLength {
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

func (b *beaconDetector) findings(d *detection) []*Finding {
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
		f.Title = fmt.Sprintf("beacon every %s", median)
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
