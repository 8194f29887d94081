package analyze

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"os"
	"slices"
)

// pairMap holds one analysis's state per pair of hosts, keyed by pairOf.
// Evidence with ever new peers brings ever new pairs, so past limit
// entries the map moves them, sorted by key, to a temporary file (never
// next to the evidence; unlinked at once) as a run, and starts afresh: a
// pair seen again starts a new entry. all merges the runs and the entries
// in memory back, key by key, combining a pair's entries in the order they
// were made with the codec's merge, so the result is what one map would
// have held. If no temporary file can be used, the entries stay in memory.
type pairMap[V any] struct {
	m     map[uint64]V
	limit int
	codec pairCodec[V]
	file  *os.File
	runs  []int64 // where each run ends in the file
	err   error   // the first run that could not be read back
	full  bool    // the file could not be made or written: no more runs
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
const pairMapLimit = 1 << 16

func newPairMap[V any](limit int, codec pairCodec[V]) *pairMap[V] {
	return &pairMap[V]{m: make(map[uint64]V), limit: limit, codec: codec}
}

func (p *pairMap[V]) get(k uint64) V { return p.m[k] }

func (p *pairMap[V]) set(k uint64, v V) {
	p.m[k] = v
	if len(p.m) >= p.limit && !p.full {
		p.spill()
	}
}

// spill writes the entries in memory, sorted by key, as a run.
func (p *pairMap[V]) spill() {
	if p.file == nil {
		f, err := createTemp("netfx-pairs-*")
		if err != nil {
			p.full = true
			return
		}
		p.file = f
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
	if _, err := p.file.WriteAt(b, start); err != nil {
		p.full = true
		return
	}
	p.runs = append(p.runs, start+int64(len(b)))
	clear(p.m)
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
		h := &runHeap[V]{}
		start := int64(0)
		for i, end := range p.runs {
			r := &runReader[V]{order: i, codec: p.codec, r: bufio.NewReaderSize(io.NewSectionReader(p.file, start, end-start), 16<<10)}
			start = end
			h.add(r, p)
		}
		keys := slices.Sorted(maps.Keys(p.m))
		h.add(&runReader[V]{order: len(p.runs), mem: keys, m: p.m}, p)
		heap.Init(h)
		for h.Len() > 0 {
			src := h.items[0]
			k, v := src.key, src.val
			h.next(src, p)
			for h.Len() > 0 && h.items[0].key == k {
				src := h.items[0]
				v = p.codec.merge(v, src.val)
				h.next(src, p)
			}
			if p.err != nil || !yield(k, v) {
				return
			}
		}
	}
}

// Err reports a run that could not be read back.
func (p *pairMap[V]) Err() error { return p.err }

// runReader is one run, or the entries in memory, with its current entry.
type runReader[V any] struct {
	order    int // runs in the order they were written; memory last
	r        *bufio.Reader
	codec    pairCodec[V]
	mem      []uint64 // the keys in memory, sorted
	m        map[uint64]V
	key      uint64
	val      V
	scratch  []byte
	finished bool
}

func (r *runReader[V]) advance() error {
	if r.m != nil {
		if len(r.mem) == 0 {
			r.finished = true
			return nil
		}
		r.key, r.val, r.mem = r.mem[0], r.m[r.mem[0]], r.mem[1:]
		return nil
	}
	var head [12]byte
	if _, err := io.ReadFull(r.r, head[:]); err != nil {
		if err == io.EOF {
			r.finished = true
			return nil
		}
		return err
	}
	r.key = binary.LittleEndian.Uint64(head[:])
	n := binary.LittleEndian.Uint32(head[8:])
	if n > 1<<20 {
		return errors.New("entry longer than any value")
	}
	r.scratch = slices.Grow(r.scratch[:0], int(n))[:n]
	if _, err := io.ReadFull(r.r, r.scratch); err != nil {
		return err
	}
	var err error
	r.val, err = r.codec.decode(r.scratch)
	return err
}

// runHeap orders the runs by their current key, then by age.
type runHeap[V any] struct{ items []*runReader[V] }

func (h *runHeap[V]) Len() int { return len(h.items) }
func (h *runHeap[V]) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.order, b.order)) < 0
}
func (h *runHeap[V]) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *runHeap[V]) Push(x any)    { h.items = append(h.items, x.(*runReader[V])) }
func (h *runHeap[V]) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// add reads a run's first entry and takes it in unless it is empty.
func (h *runHeap[V]) add(r *runReader[V], p *pairMap[V]) {
	if err := r.advance(); err != nil {
		p.fail(err)
		return
	}
	if !r.finished {
		h.items = append(h.items, r)
	}
}

// next moves the run at the top to its next entry.
func (h *runHeap[V]) next(r *runReader[V], p *pairMap[V]) {
	if err := r.advance(); err != nil {
		p.fail(err)
		r.finished = true
	}
	if r.finished {
		heap.Pop(h)
	} else {
		heap.Fix(h, 0)
	}
}

func (p *pairMap[V]) fail(err error) {
	if p.err == nil {
		p.err = fmt.Errorf("reading back per-pair state from a temporary file: %w", err)
	}
}

// close releases the temporary file.
func (p *pairMap[V]) close() {
	closeTemp(p.file)
	p.file = nil
}
