package flows

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/gob"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
)

// Sorter puts records in the order netfx writes them: by ts, then uid. It
// holds up to a fixed number of records in memory and spills sorted runs to
// temporary files beyond that, merging them at the end, so memory stays
// bounded however many conversations the input has.
type Sorter struct {
	limit int
	buf   []*Conn
	runs  []*os.File
	err   error
}

// DefaultSortMemory is the number of records a Sorter holds in memory:
// about 60 MiB of records.
const DefaultSortMemory = 200_000

// NewSorter returns a Sorter that holds at most limit records in memory.
func NewSorter(limit int) *Sorter {
	return &Sorter{limit: max(limit, 1)}
}

// compareConns orders records by ts, then uid.
func compareConns(a, b *Conn) int {
	return cmp.Or(cmp.Compare(a.TS, b.TS), strings.Compare(a.UID, b.UID))
}

// Add takes a record. An error spilling a run is kept and returned by Each.
func (s *Sorter) Add(c *Conn) {
	if s.err != nil {
		return
	}
	s.buf = append(s.buf, c)
	if len(s.buf) >= s.limit {
		s.err = s.spill()
	}
}

// spill writes the buffered records, sorted, to a temporary file.
func (s *Sorter) spill() error {
	slices.SortFunc(s.buf, compareConns)
	f, err := os.CreateTemp("", "netfx-sort-*")
	if err != nil {
		return err
	}
	s.runs = append(s.runs, f)
	bw := bufio.NewWriterSize(f, 1<<20)
	enc := gob.NewEncoder(bw)
	for _, c := range s.buf {
		if err := enc.Encode(c); err != nil {
			return err
		}
	}
	s.buf = s.buf[:0]
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}

// Each calls fn with the records in order, in blocks, and removes the
// temporary files. The Sorter cannot be used afterwards.
func (s *Sorter) Each(block int, fn func([]*Conn) error) error {
	defer s.removeRuns()
	if s.err != nil {
		return s.err
	}
	slices.SortFunc(s.buf, compareConns)
	if len(s.runs) == 0 {
		for start := 0; start < len(s.buf); start += block {
			if err := fn(s.buf[start:min(start+block, len(s.buf))]); err != nil {
				return err
			}
		}
		return nil
	}
	h := &mergeHeap{}
	push := func(src *mergeSource) error {
		c, err := src.next()
		if err != nil {
			return err
		}
		if c != nil {
			heap.Push(h, mergeItem{c, src})
		}
		return nil
	}
	for _, f := range s.runs {
		if err := push(&mergeSource{dec: gob.NewDecoder(bufio.NewReaderSize(f, 256<<10))}); err != nil {
			return err
		}
	}
	if len(s.buf) > 0 {
		if err := push(&mergeSource{mem: s.buf}); err != nil {
			return err
		}
	}
	out := make([]*Conn, 0, block)
	for h.Len() > 0 {
		it := heap.Pop(h).(mergeItem)
		out = append(out, it.c)
		if len(out) == block {
			if err := fn(out); err != nil {
				return err
			}
			out = make([]*Conn, 0, block)
		}
		if err := push(it.src); err != nil {
			return err
		}
	}
	if len(out) > 0 {
		return fn(out)
	}
	return nil
}

func (s *Sorter) removeRuns() {
	for _, f := range s.runs {
		f.Close()
		os.Remove(f.Name())
	}
	s.runs = nil
}

// mergeSource is one sorted run: a spilled file or the records in memory.
type mergeSource struct {
	dec *gob.Decoder
	mem []*Conn
}

func (m *mergeSource) next() (*Conn, error) {
	if m.dec == nil {
		if len(m.mem) == 0 {
			return nil, nil
		}
		c := m.mem[0]
		m.mem = m.mem[1:]
		return c, nil
	}
	c := new(Conn)
	if err := m.dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	return c, nil
}

type mergeItem struct {
	c   *Conn
	src *mergeSource
}

type mergeHeap []mergeItem

func (h mergeHeap) Len() int           { return len(h) }
func (h mergeHeap) Less(i, j int) bool { return compareConns(h[i].c, h[j].c) < 0 }
func (h mergeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)        { *h = append(*h, x.(mergeItem)) }
func (h *mergeHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
