package pcapread

// Fragment reassembly keeps, per datagram, which byte ranges have arrived
// and the first bytes of the payload (enough for the transport header and a
// little payload), never the whole datagram: netfx needs the datagram's
// size, ports and first bytes, not its contents. Memory is bounded by
// maxPendingDatagrams and maxFragmentsPerDatagram; a datagram that does not
// complete within fragmentTimeout is dropped and counted.

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
	p.IPBytes = hdr + total
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
		stats.FragDropped += int64(t.expire(now))
		if len(t.index) >= maxPendingDatagrams {
			return nil
		}
	}
	var i int
	if n := len(t.free); n > 0 {
		i, t.free = t.free[n-1], t.free[:n-1]
	} else {
		t.entries = append(t.entries, fragEntry{})
		i = len(t.entries) - 1
	}
	e := &t.entries[i]
	*e = fragEntry{key: key, first: now, total: -1}
	t.index[key] = i
	return e
}

func (t *fragTable) release(key fragKey) {
	if i, ok := t.index[key]; ok {
		delete(t.index, key)
		t.free = append(t.free, i)
	}
}

// expire drops datagrams older than the timeout and returns how many
// fragments they held.
func (t *fragTable) expire(now int64) int {
	dropped := 0
	for key, i := range t.index {
		if e := &t.entries[i]; now-e.first > fragmentTimeout {
			dropped += e.nfrags
			t.release(key)
		}
	}
	return dropped
}

// flush drops every pending datagram at the end of input and returns how
// many fragments they held.
func (t *fragTable) flush() int {
	dropped := 0
	for key, i := range t.index {
		dropped += t.entries[i].nfrags
		t.release(key)
	}
	return dropped
}

// addRange merges [lo, hi) into the sorted disjoint ranges rs.
func addRange(rs [][2]int, lo, hi int) [][2]int {
	if hi <= lo {
		return rs
	}
	out := make([][2]int, 0, len(rs)+1)
	placed := false
	for _, r := range rs {
		switch {
		case r[1] < lo:
			out = append(out, r)
		case hi < r[0]:
			if !placed {
				out = append(out, [2]int{lo, hi})
				placed = true
			}
			out = append(out, r)
		default:
			lo, hi = min(lo, r[0]), max(hi, r[1])
		}
	}
	if !placed {
		out = append(out, [2]int{lo, hi})
	}
	return out
}
