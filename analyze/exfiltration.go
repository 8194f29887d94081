package analyze

import (
	"encoding/binary"
	"fmt"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/record"
)

// Exfiltration (ATT&CK T1041): an internal host sending far more to an
// external one than it receives, over every connection between the two.

// Exfiltration thresholds. 25 MB mirrors RITA's data-size modifier; the
// producer-consumer ratio (Bullard and Gerth, FloCon 2014) of 0.6 means
// the source sends at least four times what it receives.
const (
	exfilBytes = 25_000_000
	exfilPCR   = 0.6
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

type exfiltrationDetector struct {
	pairs *pairMap[volumeAcc] // originator and responder (pairOf)
}

func newExfiltrationDetector() *exfiltrationDetector {
	return &exfiltrationDetector{pairs: newPairMap[volumeAcc](pairMapLimit, volumeCodec{})}
}

func (v *exfiltrationDetector) err() error { return v.pairs.Err() }

func (v *exfiltrationDetector) observe(d *detection, c *flows.Conn) {
	orig, resp := c.Orig, c.Resp
	if !d.internal(orig) || d.internal(resp) || !established(c) {
		return
	}
	out, in := c.OrigIPBytes, c.RespIPBytes
	if !c.Captured() && (c.FlowLog == nil || !c.FlowLog.Counted) {
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

func (v *exfiltrationDetector) findings(d *detection) []*Finding {
	out := []*Finding{}
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
		f.Title = fmt.Sprintf("upload of %.1f MB", float64(a.out)/1e6)
		f.Why = fmt.Sprintf("%s sent %.1f MB to %s and received %.1f MB: a large, one-way upload", orig, float64(a.out)/1e6, resp, float64(a.in)/1e6)
		out = append(out, f)
	}
	return out
}
