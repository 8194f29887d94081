package pcapread

import "slices"

// Fragment reassembly keeps, per datagram, which byte ranges have arrived
// and the first bytes of the payload (enough for the transport header and a
// little payload), never the whole datagram: netfx needs the datagram's
// size, ports and first bytes, not its contents. Memory is bounded by
// maxPendingDatagrams and maxFragmentsPerDatagram; a datagram that does not
// complete within fragmentTimeout is dropped and counted. When
// maxPendingDatagrams are pending, the oldest is dropped to make room, as
// Linux's fragment evictor does: a flood of fragments that never complete
// (a classic denial of service) then costs the same time a fragment as
// any, and the datagrams that do complete amid it still do.

const (
	maxPendingDatagrams     = 1024
	maxFragmentsPerDatagram = 64
	fragmentHeadBytes       = 128
	fragmentTimeout         = 60e9 // ns, as Linux's ipfrag_time (30 s) and Zeek's frag_timeout leave room for
)

type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
	v6       bool
}

type fragEntry struct {
	key      fragKey
	seq      uint64   // when the entry was made, counting from 1; 0 when free
	first    int64    // timestamp of the first fragment
	total    int      // payload length, -1 until the last fragment arrives
	ipHdr    int      // IP header bytes of the reassembled packet
	covered  [][2]int // arrived byte ranges of the payload, sorted, disjoint
	nfrags   int
	head     [fragmentHeadBytes]byte
	nhead    int // bytes of head filled from the fragment at offset 0
	haveHead bool
}

type fragTable struct {
	index   map[fragKey]int
	entries []fragEntry
	free    []int
	headBuf [fragmentHeadBytes]byte // the delivered datagram's first bytes
	// made lists the entries in the order they were made, oldest from
	// head on; an item whose entry was released since is skipped.
	made []fragMade
	head int
	seq  uint64
}

// fragMade is an entry, as it was when made: stale once the entry's seq
// differs.
type fragMade struct {
	i   int
	seq uint64
}

// fragment records one fragment and, when it completes its datagram, fills
// p with the datagram's transport header and returns true.
func (d *Decoder) fragment(p *Packet, key fragKey, ipHdr, offset int, more bool, data []byte, length int, stats *Stats) bool {
	t := &d.frags
	e := t.lookup(key, p.Timestamp, stats)
	if e == nil {
		stats.FragDropped++
		return false
	}
	e.nfrags++
	if e.nfrags > maxFragmentsPerDatagram || length < 0 {
		stats.FragDropped += int64(e.nfrags)
		t.release(key)
		return false
	}
	end := offset + length
	if !more {
		e.total = end
	}
	if offset == 0 && !e.haveHead {
		e.haveHead = true
		e.ipHdr = ipHdr
		e.nhead = copy(e.head[:], data)
	}
	e.covered = addRange(e.covered, offset, end)
	if e.total < 0 || !e.haveHead || e.covered[0][0] != 0 || e.covered[0][1] < e.total {
		return false
	}
	// Complete: deliver the datagram as one packet.
	n := copy(t.headBuf[:], e.head[:e.nhead])
	total, hdr := e.total, e.ipHdr
	t.release(key)
	p.IPBytes = uint32(hdr + total)
	p.Fragment = true
	ok := d.transport(p, t.headBuf[:n], total, false, stats) // only the head is kept: no checksum
	if ok {
		p.Truncated = false // the payload beyond the first bytes was seen, just not kept
	}
	return ok
}

// lookup returns the entry for key, making one if needed; nil when the
// table is full of datagrams younger than the timeout.
func (t *fragTable) lookup(key fragKey, now int64, stats *Stats) *fragEntry {
	if t.index == nil {
		t.index = make(map[fragKey]int)
	}
	if i, ok := t.index[key]; ok {
		e := &t.entries[i]
		if now-e.first <= fragmentTimeout {
			return e
		}
		stats.FragDropped += int64(e.nfrags)
		t.release(key)
	}
	if len(t.index) >= maxPendingDatagrams {
		stats.FragDropped += int64(t.dropOldest())
	}
	var i int
	if n := len(t.free); n > 0 {
		i, t.free = t.free[n-1], t.free[:n-1]
	} else {
		t.entries = append(t.entries, fragEntry{})
		i = len(t.entries) - 1
	}
	e := &t.entries[i]
	t.seq++
	*e = fragEntry{key: key, seq: t.seq, first: now, total: -1, covered: e.covered[:0]}
	t.index[key] = i
	t.noteMade(i)
	return e
}

// noteMade appends entry i to made. Once made holds more than four times
// the most entries pending, the items of released entries are dropped
// from it, so that it stays bounded however many datagrams complete.
func (t *fragTable) noteMade(i int) {
	if len(t.made)-t.head > 4*maxPendingDatagrams {
		live := t.made[:0]
		for _, m := range t.made[t.head:] {
			if t.entries[m.i].seq == m.seq {
				live = append(live, m)
			}
		}
		t.made, t.head = live, 0
	}
	t.made = append(t.made, fragMade{i: i, seq: t.seq})
}

// dropOldest releases the oldest pending datagram and returns how many
// fragments it held.
func (t *fragTable) dropOldest() int {
	for ; t.head < len(t.made); t.head++ {
		m := t.made[t.head]
		if e := &t.entries[m.i]; e.seq == m.seq {
			t.head++
			n := e.nfrags
			t.release(e.key)
			return n
		}
	}
	return 0
}

func (t *fragTable) release(key fragKey) {
	if i, ok := t.index[key]; ok {
		delete(t.index, key)
		t.entries[i].seq = 0
		t.free = append(t.free, i)
	}
}

// flush drops every pending datagram at the end of input and returns how
// many fragments they held.
func (t *fragTable) flush() int {
	dropped := 0
	for key, i := range t.index {
		dropped += t.entries[i].nfrags
		t.release(key)
	}
	t.made, t.head = t.made[:0], 0
	return dropped
}

// addRange merges [lo, hi) into the sorted disjoint ranges rs, in place.
func addRange(rs [][2]int, lo, hi int) [][2]int {
	if hi <= lo {
		return rs
	}
	i := 0
	for i < len(rs) && rs[i][1] < lo {
		i++
	}
	j := i
	for j < len(rs) && rs[j][0] <= hi {
		lo, hi = min(lo, rs[j][0]), max(hi, rs[j][1])
		j++
	}
	if i == j {
		return slices.Insert(rs, i, [2]int{lo, hi})
	}
	rs[i] = [2]int{lo, hi}
	return slices.Delete(rs, i+1, j)
}
