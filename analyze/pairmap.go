package analyze

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"slices"

	"github.com/klauspost/compress/s2"

	"github.com/netfx/netfx/internal/extsort"
	"github.com/netfx/netfx/internal/tempfile"
)

// pairMap holds one analysis's state per pair of hosts, keyed by pairOf.
// Evidence with ever new peers brings ever new pairs, so past limit
// entries the map moves them, sorted by key, to a temporary file (never
// next to the evidence; unlinked at once; in memory when TMPDIR cannot be
// written) as a run compressed with S2, and starts afresh: a
// pair seen again starts a new entry. all merges the runs and the entries
// in memory back, key by key, combining a pair's entries in the order they
// were made with the codec's merge, so the result is what one map would
// have held. If the temporary file cannot be written, the entries stay in
// the map.
type pairMap[V any] struct {
	m     map[uint64]V
	limit int
	// Values that grow (beacon series) add to weight; past maxWeight the
	// map spills too, so memory is bounded by size as well as by pairs.
	weight, maxWeight int
	codec             pairCodec[V]
	file              tempfile.File
	zw                *s2.Writer // compresses the runs
	runs              []int64    // where each run ends in the file
	err               error      // the first run that could not be read back
	full              bool       // the file could not be written: no more runs
}

// pairCodec encodes a pairMap's values and merges two entries of one pair.
type pairCodec[V any] interface {
	append(b []byte, v V) []byte
	decode(b []byte) (V, error)
	// merge combines the state of a pair from two stretches of the
	// evidence, older first.
	merge(older, newer V) V
}

// pairMapLimit is how many pairs an analysis holds in memory.
const pairMapLimit = 1 << 14

// pairRunBlock is the S2 block size of a run: each run being merged holds
// about two (a SYN flood's report merges hundreds of runs).
const pairRunBlock = 16 << 10

func newPairMap[V any](limit int, codec pairCodec[V]) *pairMap[V] {
	return &pairMap[V]{m: make(map[uint64]V), limit: limit, codec: codec}
}

func (p *pairMap[V]) get(k uint64) V { return p.m[k] }

func (p *pairMap[V]) set(k uint64, v V) {
	p.m[k] = v
	if (len(p.m) >= p.limit || p.maxWeight > 0 && p.weight >= p.maxWeight) && !p.full {
		p.spill()
	}
}

// grow adds n to the weight of the entries in memory.
func (p *pairMap[V]) grow(n int) { p.weight += n }

// spill writes the entries in memory, sorted by key, as a run.
func (p *pairMap[V]) spill() {
	if p.file == nil {
		p.file = tempfile.New("netfx-pairs-*")
	}
	start := int64(0)
	if len(p.runs) > 0 {
		start = p.runs[len(p.runs)-1]
	}
	var b []byte
	for _, k := range slices.Sorted(maps.Keys(p.m)) {
		b = binary.LittleEndian.AppendUint64(b, k)
		at := len(b)
		b = append(b, 0, 0, 0, 0)
		b = p.codec.append(b, p.m[k])
		binary.LittleEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	}
	// Compressed, as the Sorter's runs: a third of the bytes to write,
	// or to hold when the file is in memory.
	w := io.NewOffsetWriter(p.file, start)
	if p.zw == nil {
		p.zw = s2.NewWriter(nil, s2.WriterConcurrency(1), s2.WriterBlockSize(pairRunBlock))
	}
	p.zw.Reset(w)
	if _, err := p.zw.Write(b); err != nil || p.zw.Close() != nil {
		p.full = true
		return
	}
	n, _ := w.Seek(0, io.SeekCurrent)
	p.runs = append(p.runs, start+n)
	clear(p.m)
	p.weight = 0
}

// all yields every pair's merged state, in key order once there are
// runs. A run that cannot be read back ends the sequence early, and Err
// says why.
func (p *pairMap[V]) all() iter.Seq2[uint64, V] {
	return func(yield func(uint64, V) bool) {
		if len(p.runs) == 0 {
			for k, v := range p.m {
				if !yield(k, v) {
					return
				}
			}
			return
		}
		var runs []extsort.Run[pairEntry[V]]
		start := int64(0)
		for _, end := range p.runs {
			zr := s2.NewReader(io.NewSectionReader(p.file, start, end-start), s2.ReaderMaxBlockSize(pairRunBlock))
			runs = append(runs, &pairRun[V]{codec: p.codec, r: zr})
			start = end
		}
		runs = append(runs, &pairRun[V]{keys: slices.Sorted(maps.Keys(p.m)), m: p.m})
		// Entries of one pair come in the order their runs were written:
		// merge them, and yield the pair when the next key comes.
		var cur pairEntry[V]
		have, stopped := false, false
		err := extsort.Merge(runs, func(a, b pairEntry[V]) int { return cmp.Compare(a.key, b.key) }, func(e pairEntry[V]) bool {
			switch {
			case have && e.key == cur.key:
				cur.val = p.codec.merge(cur.val, e.val)
				return true
			case have && !yield(cur.key, cur.val):
				stopped = true
				return false
			}
			cur, have = e, true
			return true
		})
		if err != nil {
			p.fail(err)
			return
		}
		if have && !stopped {
			yield(cur.key, cur.val)
		}
	}
}

// Err reports a run that could not be read back.
func (p *pairMap[V]) Err() error { return p.err }

type pairEntry[V any] struct {
	key uint64
	val V
}

// pairRun is one run in the file, or the pairs in memory.
type pairRun[V any] struct {
	r       io.Reader // the run, decompressed
	codec   pairCodec[V]
	keys    []uint64 // the keys in memory, sorted
	m       map[uint64]V
	scratch []byte
}

func (r *pairRun[V]) Next() (e pairEntry[V], ok bool, err error) {
	if r.m != nil {
		if len(r.keys) == 0 {
			return e, false, nil
		}
		e.key, r.keys = r.keys[0], r.keys[1:]
		return pairEntry[V]{e.key, r.m[e.key]}, true, nil
	}
	var head [12]byte
	if _, err := io.ReadFull(r.r, head[:]); err != nil {
		if err == io.EOF {
			return e, false, nil
		}
		return e, false, err
	}
	e.key = binary.LittleEndian.Uint64(head[:])
	n := binary.LittleEndian.Uint32(head[8:])
	if n > 1<<20 {
		return e, false, errors.New("entry longer than any value")
	}
	r.scratch = slices.Grow(r.scratch[:0], int(n))[:n]
	if _, err := io.ReadFull(r.r, r.scratch); err != nil {
		return e, false, err
	}
	e.val, err = r.codec.decode(r.scratch)
	return e, err == nil, err
}

func (p *pairMap[V]) fail(err error) {
	if p.err == nil {
		p.err = fmt.Errorf("reading back per-pair state from a temporary file: %w", err)
	}
}

// close releases the temporary file.
func (p *pairMap[V]) close() {
	tempfile.Close(p.file)
	p.file = nil
}
