package flows

import (
	"cmp"
	"context"
	"encoding/binary"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/internal/ipproto"
	"github.com/netfx/netfx/internal/prefetch"
	"github.com/netfx/netfx/pcapread"
)

// Config sets the conversation timeouts and the Community ID seed. The zero
// value is not useful; start from DefaultConfig.
type Config struct {
	TCPTimeout   time.Duration // inactivity timeout of TCP conversations
	UDPTimeout   time.Duration
	ICMPTimeout  time.Duration
	OtherTimeout time.Duration // other IP protocols
	// TCPAttemptDelay ends a connection attempt that got no answer, and
	// TCPCloseDelay a closed or reset connection, after this long.
	TCPAttemptDelay time.Duration
	TCPCloseDelay   time.Duration
	CommunityIDSeed uint16
	// MaxLive bounds the conversations in progress; once it is reached,
	// those that have expired are finished and, if that frees less than
	// a quarter, the longest idle are ended early until it does, as a
	// timeout would end them (a flood of one-packet flows must not take
	// the machine's memory). It bounds the names and answers their
	// payloads gave, and the stream bytes payload inspection holds, too
	// (appid.Inspector.Kept), to keptPerLive bytes for each of MaxLive,
	// the same way: a flood of DNS responses of 64 long names each would
	// otherwise hold 5 KB a conversation, one of HTTP requests with
	// cookies of 16 KB that nobody answers 16 KB. The bounds are
	// checked every few hundred packets, and may be passed by 4 % before
	// room is made (see roomEvery). 0 means DefaultMaxLive.
	MaxLive int
}

// DefaultMaxLive is the live conversations a Table holds by default:
// at most about 150 MB of state with their payload inspection, twice what
// a busy VM's gigabyte of capture keeps in progress at once (pcapgen's
// 1 GiB: between 20,000 and 50,000).
const DefaultMaxLive = 100_000

// keptPerLive is the bytes of names and answers that live conversations
// may keep, on average, for each of MaxLive: 50 MB by default, where a
// busy VM's conversations keep a few hundred bytes each at most (an
// ordinary DNS lookup, under a hundred) and only a flood of long answers
// comes near.
const keptPerLive = 512

// DefaultConfig has Zeek's defaults: tcp_inactivity_timeout 5 min,
// udp_inactivity_timeout, icmp_inactivity_timeout and
// unknown_ip_inactivity_timeout 1 min, tcp_attempt_delay and
// tcp_close_delay 5 s, Community ID seed 0.
var DefaultConfig = Config{
	TCPTimeout:      5 * time.Minute,
	UDPTimeout:      time.Minute,
	ICMPTimeout:     time.Minute,
	OtherTimeout:    time.Minute,
	TCPAttemptDelay: 5 * time.Second,
	TCPCloseDelay:   5 * time.Second,
}

// key is the canonical, direction-free identity of a conversation: the
// lower (address, port) pair first.
type key struct {
	lo, hi         [16]byte
	loPort, hiPort uint16
	proto          uint8
	v6             bool
}

// conv is the live state of one conversation. Its only pointers are tcp,
// nil but for TCP, and parents, nil but for conversations that came out
// of a tunnel.
type conv struct {
	key                key
	hash               uint64 // hashKey(&key)
	origIsLo           bool   // the originator is key.lo
	origPort, respPort uint16
	proto              uint8
	oneWay             bool // an ICMP message type without a reply type
	live               bool // the slot holds a conversation in progress
	inspected          bool // payload inspection is over
	closed             bool // TCP: the close is complete (Zeek's close_complete)
	flipped            bool
	numVLANs           uint8
	vlan, innerVLAN    uint16
	// The small fields sit together where the larger would leave padding:
	// a flood keeps a slot for each conversation in progress.
	nhistory uint8 // the letters of history written
	// carries is the tunnel the conversation carries (pcapread.TunnelVXLAN,
	// ...), its service; carriedDirs has bit 0 set when the originator
	// sent a packet carrying the tunnel, bit 1 the responder.
	carries, carriedDirs uint8
	// dnsSession says that the conversation is DNS over UDP, which times
	// out sooner (dns_session_timeout).
	dnsSession         bool
	ftpData            bool  // an FTP control connection announced it: service ftp-data
	depth              uint8 // the tunnels around its first packet: see Table.depth
	start, lastTime    int64 // lastTime stops once both TCP sides have closed
	lastPacket         int64
	origPkts, respPkts uint64
	origIP, respIP     uint64
	// The history bits each side has shown (see historyOnce); the payload
	// bytes each has sent, for protocols other than TCP, whose sizes
	// come from sequence numbers.
	origHistory, respHistory uint16
	origSize, respSize       uint64
	tcp                      *tcpSides // TCP's state of each side, from Table.newTCPSides
	history                  [maxHistory]byte
	firstFile                int32
	lastFile                 int32
	firstRecord              int64
	// parents are the uids of the carriers of a conversation that came
	// out of a tunnel (Zeek's tunnel_parents).
	parents     []string
	lastCarrier place // the first packet of the carrier parents last took
}

// maxHistory bounds the history string; Zeek's letters that repeat are
// logarithmic or tied to sequence numbers, so real histories are short.
const maxHistory = 32

func (c *conv) addHistory(letter byte, isOrig bool) {
	if !isOrig && letter >= 'A' && letter <= 'Z' {
		letter += 'a' - 'A'
	}
	if int(c.nhistory) < maxHistory {
		c.history[c.nhistory] = letter
		c.nhistory++
	}
}

// Table builds conversations from packets. It is not safe for concurrent
// use.
type Table struct {
	cfg      Config
	emit     func(*Conn)
	index    *index
	convs    slab[conv]
	insp     []*inspection             // per slot: payload inspection, nil before any payload
	inspPool []*inspection             // finished inspections, for reuse
	keyed    [2 * keyAhead]keyedPacket // the next packets of a batch, keyed ahead (lookAhead)
	// TCP sides for the conversations of the slots: those finished
	// conversations left, and the rest of the chunk they are made in.
	tcpFree  []*tcpSides
	tcpChunk []tcpSides
	// carrier is the slot of the conversation whose packet, the last one,
	// carried a tunnel: the next packet came out of it. -1 otherwise.
	carrier int32
	// remoteCarrier, when not nil, is the carrier of the packet being
	// added, which another worker of a Sharded table accounted.
	remoteCarrier *carrierRef
	held          int     // out-of-order bytes the inspections hold, at most maxHeldBytes
	kept          int     // bytes of facts the inspections keep (appid.Inspector.Kept), about maxKept at most
	deadlines     []int64 // per slot: when the conversation expires if no packet comes
	free          []int32
	// Lite slots (see lite.go), their deadlines and free slots.
	lites         slab[lite]
	liteDeadlines []int64
	liteFree      []int32
	// With OnWatermark: per slot, full and lite, when the conversation
	// started (math.MaxInt64 for a free slot), what is told the earliest
	// start, and the conversations handed on since it was last told.
	starts, liteStarts []int64
	watermark          func(ts int64)
	sinceWatermark     int
	watermarkEvery     int // watermarkEvery, but in tests
	// expected are the data connections FTP control connections announced,
	// until when.
	expected map[expectKey]int64
	// sessions are the RPC and SMB sessions of TCP conversations that
	// stopped without a close, for the conversation continuing each (see
	// appid.Session), with when they stopped.
	sessions map[key]stoppedSession
	files    []string
	file     int32
	clock
	// room is the group of tables this one makes room with, and member
	// its place in it; checkpoints are a serial Table's own, and
	// roomMadeAt the checkpoint at which room was last made.
	room        *roomGroup
	member      int
	checkpoints checkpoints
	roomMadeAt  int64
	early       int64       // conversations ended early, past MaxLive or the bytes kept
	order       []slotOrder // scratch for makeRoom, sweep and Flush
	// seq is the place of the packet being added in the whole input, and
	// phase why conversations are finishing: with the conversation's
	// first packet they make finished, the tag of the conversation being
	// handed on, by which a Sharded table merges its workers' output in
	// the order of a serial one.
	seq      int64
	phase    int8
	finished tag
	// depth counts the tunnels around the packet being added: 0 for a
	// frame's outermost packet, one more for each packet that came out of
	// the one before (pcapread hands a frame's packets on in a row).
	depth uint8
}

// Phases of a packet's place in which conversations finish, in the order
// a Table finishes them there: the sweep before the packet, room made
// under MaxLive at a checkpoint before it (a sweep, then the idlest ended
// early), and the packet's own conversation ending (timed out, or its
// tuple reused). The end of a file comes before all of them.
const (
	phaseFileEnd int8 = iota - 1
	phaseSweep
	phaseRoomSweep
	phaseRoomEnd
	phaseOwn
)

// tag places a finished conversation in the order a serial Table hands
// conversations on: by the packet at which it finished (math.MaxInt64 at
// the end of the input), the phase, then its first packet's place.
type tag struct {
	seq   int64
	phase int8
	first place
}

func compareTags(a, b tag) int {
	if c := cmp.Compare(a.seq, b.seq); c != 0 {
		return c
	}
	if c := cmp.Compare(a.phase, b.phase); c != 0 {
		return c
	}
	return comparePlaces(a.first, b.first)
}

// place is where a conversation's first packet is in the input: the
// file, the record and how many tunnels deep. No two conversations share
// one.
type place struct {
	file   int32
	depth  uint8
	record int64
}

// comparePlaces orders places as the input has them: a tunnel's carrier
// and what came out of it share a record, in that order.
func comparePlaces(a, b place) int {
	if a.file != b.file {
		return cmp.Compare(a.file, b.file)
	}
	if a.record != b.record {
		return cmp.Compare(a.record, b.record)
	}
	return cmp.Compare(a.depth, b.depth)
}

func (c *conv) first() place { return place{file: c.firstFile, depth: c.depth, record: c.firstRecord} }

// slotOrder is a live conversation's slot, the time of its last packet
// and the place of its first in the input, by which conversations are
// ordered without reading them again.
type slotOrder struct {
	last  int64
	first place
	slot  int32
}

// compareStarts orders conversations by the place of their first packet.
func compareStarts(a, b slotOrder) int { return comparePlaces(a.first, b.first) }

// compareIdle orders conversations by their last packet, then as
// compareStarts.
func compareIdle(a, b slotOrder) int {
	if a.last != b.last {
		return cmp.Compare(a.last, b.last)
	}
	return compareStarts(a, b)
}

// orderOf returns the slotOrder of the conversation in slot i.
func (t *Table) orderOf(i int32) slotOrder {
	if i&liteBit != 0 {
		l := t.lites.at(i &^ liteBit)
		return slotOrder{last: l.ts, first: place{file: l.file, record: l.record}, slot: i}
	}
	c := t.convs.at(i)
	return slotOrder{last: c.lastPacket, first: c.first(), slot: i}
}

// live appends the slotOrder of every live conversation, full and lite,
// for which keep (if given) is true, to t.order.
func (t *Table) live(keep func(deadline int64) bool) {
	for i := range t.convs.len() {
		if (keep == nil || keep(t.deadlines[i])) && t.convs.at(i).live {
			t.order = append(t.order, t.orderOf(i))
		}
	}
	for j := range t.lites.len() {
		if (keep == nil || keep(t.liteDeadlines[j])) && t.lites.at(j).live {
			t.order = append(t.order, t.orderOf(j|liteBit))
		}
	}
}

// NewTable returns a Table that passes each finished conversation to emit.
func NewTable(cfg Config, emit func(*Conn)) *Table {
	return &Table{cfg: cfg, emit: emit, index: newIndex(), carrier: -1, room: newRoomGroup(context.Background(), 1, cfg.MaxLive), roomMadeAt: math.MinInt64,
		insp: make([]*inspection, 0, initialSlots), deadlines: make([]int64, 0, initialSlots)}
}

// EndedEarly returns how many conversations were ended early because the
// table held MaxLive, or what their payloads gave held more than its
// share of memory.
func (t *Table) EndedEarly() int64 { return t.early }

// selectSmallest reorders s so that its k smallest elements under cmp, a
// total order, come first, in some order: quickselect, which takes
// linear time where sorting all of s would take n log n. Should the
// pivots keep falling badly (a crafted input), it sorts instead.
func selectSmallest[T any](s []T, k int, cmp func(a, b T) int) {
	lo, hi := 0, len(s)-1
	for rounds := 0; lo < hi && k-1 >= lo && k-1 <= hi; rounds++ {
		if rounds > 64 {
			slices.SortFunc(s[lo:hi+1], cmp)
			return
		}
		p := s[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for cmp(s[i], p) < 0 {
				i++
			}
			for cmp(s[j], p) > 0 {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		// s[lo..j] are at most p, s[i..hi] at least p, and between them p.
		switch {
		case k-1 <= j:
			hi = j
		case k-1 >= i:
			lo = i
		default:
			return
		}
	}
}

// initialSlots is the room the per-slot slices (deadlines, inspections)
// start with, so that a busy capture seldom copies them as they grow. The
// memory is touched only as slots are used.
const initialSlots = 1 << 15

// SetFile names the capture file the next packets come from. Files must be
// given in the order they are read; a conversation may span several.
func (t *Table) SetFile(name string) {
	t.files = append(t.files, name)
	t.file = int32(len(t.files) - 1)
}

// sweepInterval is how often, in packet time, idle conversations are
// flushed even if no packet of theirs arrives.
const sweepInterval = int64(10 * time.Second)

// clock is the input's time: the latest packet's, and when idle
// conversations are next swept out.
type clock struct {
	now, nextSweep int64
}

// tick advances the clock to a packet's time and reports whether a sweep
// is due before the packet.
func (c *clock) tick(ts int64) bool {
	if ts <= c.now {
		return false
	}
	c.now = ts
	if c.now < c.nextSweep {
		return false
	}
	c.nextSweep = c.now + sweepInterval
	return true
}

// Add accounts one packet.
func (t *Table) Add(p *pcapread.Packet) {
	var kp keyedPacket
	kp.set(p)
	t.addNext(p, &kp)
}

// addNext accounts packet p, whose key is kp, after the sweep its time
// calls for, if any.
func (t *Table) addNext(p *pcapread.Packet, kp *keyedPacket) {
	if t.tick(p.Timestamp) {
		t.phase = phaseSweep
		t.sweep(t.now)
		t.tellWatermark()
	}
	if x, tally, earlier, ok := t.checkpoints.at(t.seq, p, t.room.every, 1); ok {
		t.checkpoint(x, tally, earlier)
	}
	t.depth = tunnelDepth(t.depth, p)
	t.add(p, kp)
	t.seq++
}

// tunnelDepth is the depth of packet p (see Table.depth), the packet
// before it having depth before.
func tunnelDepth(before uint8, p *pcapread.Packet) uint8 {
	if p.Tunnel == pcapread.TunnelNone {
		return 0
	}
	return before + 1
}

// AddBatch accounts packets in order, then calls release: the packets and
// their payloads are not used after that.
func (t *Table) AddBatch(packets []pcapread.Packet, release func()) {
	for j := range min(len(packets), keyAhead) {
		t.keyAhead(j, &packets[j])
	}
	for i := range packets {
		var ahead *pcapread.Packet
		if j := i + keyAhead; j < len(packets) {
			ahead = &packets[j]
		}
		t.addNext(&packets[i], t.lookAhead(i, len(packets), ahead))
	}
	release()
}

// lookAhead works out the key of each packet of a batch keyAhead packets
// before its turn, and asks for the cache line of its index entry;
// slotAhead packets before, for that of the slot the entry names. The
// lookups of a gigabyte of capture otherwise wait on memory for most of
// their time (docs/performance.md). Once the first keyAhead packets of a
// batch of count are keyed (keyAhead), it is called before packet n is
// added, for n from 0 in order, with packet n+keyAhead (ahead, nil past
// the batch), and returns packet n's key.
func (t *Table) lookAhead(n, count int, ahead *pcapread.Packet) *keyedPacket {
	if ahead != nil {
		t.keyAhead(n+keyAhead, ahead)
	}
	if j := n + slotAhead; j < count {
		t.prefetchSlot(&t.keyed[j%len(t.keyed)])
	}
	return &t.keyed[n%len(t.keyed)]
}

const (
	keyAhead  = 8
	slotAhead = 4
)

// keyedPacket is a packet's key and its hash, worked out ahead.
type keyedPacket struct {
	k               key
	h               uint64
	sport, dport    uint16
	oneWay, srcIsLo bool
}

func (kp *keyedPacket) set(p *pcapread.Packet) {
	kp.k, kp.sport, kp.dport, kp.oneWay, kp.srcIsLo = packetKey(p)
	kp.h = hashKey(&kp.k)
}

// keyAhead keys packet n of a batch, p, and prefetches its index entry.
func (t *Table) keyAhead(n int, p *pcapread.Packet) {
	kp := &t.keyed[n%len(t.keyed)]
	kp.set(p)
	prefetch.ForRead(unsafe.Pointer(t.index.at(kp.h)), 1)
}

// prefetchSlot prefetches the slot a packet's index entry names, if the
// entry is the packet's conversation's, as it most often is. The slot is
// a live conversation's or a free one's: any memory the slabs hold.
func (t *Table) prefetchSlot(kp *keyedPacket) {
	e := *t.index.at(kp.h)
	if e == 0 || e>>32 != kp.h>>32 {
		return
	}
	if slot := int32(uint32(e)) - 1; slot&liteBit != 0 {
		prefetch.ForRead(unsafe.Pointer(t.lites.at(slot&^liteBit)), 1)
	} else {
		prefetch.ForRead(unsafe.Pointer(t.convs.at(slot)), 1)
	}
}

// EndFile calls done with the conversations ended early so far, once the
// packets added before it are accounted.
func (t *Table) EndFile(done func(endedEarly int64)) { done(t.early) }

// add accounts one packet, whose key is kp, at the table's time and place
// (now, seq, depth).
func (t *Table) add(p *pcapread.Packet, kp *keyedPacket) {
	p.VerifyChecksum() // when the reader left it to the table
	t.phase = phaseOwn
	k, h, sport, dport, oneWay, srcIsLo := &kp.k, kp.h, kp.sport, kp.dport, kp.oneWay, kp.srcIsLo
	i, ok := t.index.lookup(k, h, &t.convs, &t.lites)
	if ok && p.Timestamp >= t.deadlineOf(i) {
		t.finish(i)
		ok = false
	}
	if ok && i&liteBit != 0 {
		i = t.promote(i, h)
	}
	if ok && t.reused(t.convs.at(i), p, srcIsLo) {
		t.finish(i)
		ok = false
	}
	if !ok {
		if deadline, ok := t.liteDeadline(p); ok && p.Carries == pcapread.TunnelNone && p.Tunnel == pcapread.TunnelNone {
			t.addLite(k, h, p, srcIsLo, deadline)
			return
		}
		i = t.create(*k, h, p, sport, dport, oneWay, srcIsLo)
		t.index.insert(h, i)
	}
	if p.Tunnel != pcapread.TunnelNone {
		t.takeCarrier(i)
	}
	t.carrier, t.remoteCarrier = -1, nil
	if p.Carries != pcapread.TunnelNone {
		t.carrier = i
		c := t.convs.at(i)
		c.carries = p.Carries
		if srcIsLo == c.origIsLo {
			c.carriedDirs |= 1
		} else {
			c.carriedDirs |= 2
		}
	}
	t.update(i, p, srcIsLo)
}

// takeCarrier lists the carrier of the packet just added, which came out
// of a tunnel, among the parents of its conversation i: the conversation
// of the packet just before, if it is still live (no checkpoint, where
// room is made, comes between them), or the one another worker of a
// Sharded table named.
func (t *Table) takeCarrier(i int32) {
	var carrier carrierRef
	switch {
	case t.remoteCarrier != nil:
		carrier = *t.remoteCarrier
	case t.carrier >= 0 && t.carrier != i && t.convs.at(t.carrier).live:
		carrier = t.carrierRef(t.carrier)
	default:
		return
	}
	c := t.convs.at(i)
	if c.parents != nil && c.lastCarrier == carrier.first {
		return
	}
	c.lastCarrier = carrier.first
	if uid := connUID(&carrier.key, carrier.start, carrier.first.record, t.files[carrier.first.file]); !slices.Contains(c.parents, uid) && len(c.parents) < maxParents {
		c.parents = append(c.parents, uid)
	}
}

// carrierRef is what a conversation out of a tunnel takes from its
// carrier: enough to name it.
type carrierRef struct {
	key   key
	start int64
	first place
}

func (t *Table) carrierRef(i int32) carrierRef {
	c := t.convs.at(i)
	return carrierRef{key: c.key, start: c.start, first: c.first()}
}

// maxParents bounds the carriers a conversation lists.
const maxParents = 4

// update accounts packet p to the conversation in full slot i.
func (t *Table) update(i int32, p *pcapread.Packet, srcIsLo bool) {
	c := t.convs.at(i)
	if t.insp[i] == nil && c.confirmsSYNACK(p) {
		c.flipRoles()
		c.flipHistoryFromStart()
	}
	isOrig := srcIsLo == c.origIsLo
	c.account(p, isOrig)
	if (c.proto == ipproto.TCP || c.proto == ipproto.UDP) && !p.HeaderCut {
		t.inspect(i, c, p, isOrig)
	}
	c.lastFile = t.file
	t.deadlines[i] = t.deadline(c)
}

// deadlineOf returns when the conversation in slot i (full or lite)
// expires if no packet of it comes.
func (t *Table) deadlineOf(i int32) int64 {
	if i&liteBit != 0 {
		return t.liteDeadlines[i&^liteBit]
	}
	return t.deadlines[i]
}

// packetKey returns the packet's canonical key, its ports as Zeek maps them
// (ICMP types to type and counterpart type or code), and whether its source
// is the key's lower endpoint.
func packetKey(p *pcapread.Packet) (k key, sport, dport uint16, oneWay, srcIsLo bool) {
	sport, dport = p.SrcPort, p.DstPort
	switch p.Proto {
	case ipproto.ICMP, ipproto.ICMPv6:
		sport, dport, oneWay = icmpPorts(p.Proto, uint8(sport), uint8(dport))
	case ipproto.TCP, ipproto.UDP, ipproto.SCTP:
	default:
		sport, dport = 0, 0
	}
	s, d := p.Src.As16(), p.Dst.As16()
	k.proto, k.v6 = p.Proto, p.Src.Is6()
	srcIsLo = compareAddrPort(s, d, sport, dport) <= 0
	if srcIsLo {
		k.lo, k.hi, k.loPort, k.hiPort = s, d, sport, dport
	} else {
		k.lo, k.hi, k.loPort, k.hiPort = d, s, dport, sport
	}
	return k, sport, dport, oneWay, srcIsLo
}

// compareAddrPort orders addresses as bytes, then ports: as two
// big-endian words, which order like the bytes they hold.
func compareAddrPort(a, b [16]byte, ap, bp uint16) int {
	if c := cmp.Compare(binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])); c != 0 {
		return c
	}
	if c := cmp.Compare(binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:])); c != 0 {
		return c
	}
	return cmp.Compare(ap, bp)
}

// create starts a conversation with packet p in a full slot and returns
// the slot; the caller puts it into the index.
func (t *Table) create(k key, h uint64, p *pcapread.Packet, sport, dport uint16, oneWay, srcIsLo bool) int32 {
	var i int32
	if n := len(t.free); n > 0 {
		i, t.free = t.free[n-1], t.free[:n-1]
	} else {
		i = t.convs.add()
		t.insp = append(t.insp, nil)
		t.deadlines = append(t.deadlines, 0)
		if t.watermark != nil {
			t.starts = append(t.starts, 0)
		}
	}
	if t.watermark != nil {
		t.starts[i] = p.Timestamp
	}
	c := t.convs.at(i)
	*c = conv{
		key: k, hash: h, proto: p.Proto, oneWay: oneWay,
		origIsLo: srcIsLo, origPort: sport, respPort: dport,
		start: p.Timestamp, lastTime: p.Timestamp, lastPacket: p.Timestamp,
		numVLANs: p.NumVLANs, vlan: p.VLANs[0], innerVLAN: p.VLANs[1],
		firstFile: t.file, lastFile: t.file, firstRecord: p.Record, live: true, depth: t.depth,
	}
	if c.proto == ipproto.TCP {
		c.tcp = t.newTCPSides()
	}
	if t.flipOriginator(p, sport, dport) {
		c.flipRoles()
		c.addHistory('^', true)
	}
	if len(t.expected) > 0 && c.proto == ipproto.TCP {
		c.ftpData = t.wasExpected(c)
	}
	if len(t.sessions) > 0 && c.proto == ipproto.TCP {
		t.resumeSession(i, p)
	}
	return i
}

// newTCPSides returns zeroed TCP sides for a conversation, reused or
// made in chunks.
func (t *Table) newTCPSides() *tcpSides {
	if n := len(t.tcpFree); n > 0 {
		s := t.tcpFree[n-1]
		t.tcpFree = t.tcpFree[:n-1]
		*s = tcpSides{}
		return s
	}
	if len(t.tcpChunk) == 0 {
		t.tcpChunk = make([]tcpSides, tcpSidesChunk)
	}
	s := &t.tcpChunk[0]
	t.tcpChunk = t.tcpChunk[1:]
	return s
}

// tcpSidesChunk is how many TCP sides are made at once (64 KiB).
const tcpSidesChunk = 256

// stoppedSession is a session left by a conversation that stopped
// without a close, and the time of that conversation's last packet.
type stoppedSession struct {
	session *appid.Session
	stopped int64
}

// Sessions are kept for the conversation that continues them for a day of
// packet time (captures of one investigation follow each other with gaps
// of hours), at most maxSessions at once: past that, new ones are dropped.
const (
	keepSessions = int64(24 * time.Hour)
	maxSessions  = 1024
)

// keepSession keeps the session of TCP conversation c, finished without a
// close, for the conversation that may continue it.
func (t *Table) keepSession(c *conv, in *appid.Inspector) {
	if c.proto != ipproto.TCP || c.tcp.orig.didClose || c.tcp.resp.didClose || in.Done() || len(t.sessions) >= maxSessions {
		return
	}
	if s := in.Session(); s != nil {
		if t.sessions == nil {
			t.sessions = map[key]stoppedSession{}
		}
		t.sessions[c.key] = stoppedSession{session: s, stopped: c.lastTime}
	}
}

// resumeSession gives the conversation just created in slot i from packet
// p the session an earlier conversation on its addresses and ports left,
// unless p opens a new connection.
func (t *Table) resumeSession(i int32, p *pcapread.Packet) {
	c := t.convs.at(i)
	s, ok := t.sessions[c.key]
	if !ok {
		return
	}
	delete(t.sessions, c.key)
	if p.TCPFlags&pcapread.FlagSYN != 0 {
		return
	}
	ins := t.newInspection(false)
	ins.in.Resume(s.session)
	t.insp[i] = ins
}

// flipRoles swaps originator and responder, with all they have sent, as
// Zeek's Connection::FlipRoles does.
func (c *conv) flipRoles() {
	c.origIsLo = !c.origIsLo
	c.origPort, c.respPort = c.respPort, c.origPort
	c.origPkts, c.respPkts = c.respPkts, c.origPkts
	c.origIP, c.respIP = c.respIP, c.origIP
	c.origHistory, c.respHistory = c.respHistory, c.origHistory
	c.origSize, c.respSize = c.respSize, c.origSize
	if c.tcp != nil {
		c.tcp.orig, c.tcp.resp = c.tcp.resp, c.tcp.orig
	}
	c.carriedDirs = c.carriedDirs>>1 | c.carriedDirs&1<<1
	c.flipped = true
}

// confirmsSYNACK reports whether TCP packet p, an ACK or data in either
// direction, follows the SYN-ACK (or SYN-ACKs) that opened the
// conversation: then the SYN-ACK's sender is the server, and Zeek flips
// (since 5.1; a stealth scan's SYN-ACK draws a RST or nothing, which keeps
// the direction).
func (c *conv) confirmsSYNACK(p *pcapread.Packet) bool {
	return c.proto == ipproto.TCP && !c.flipped &&
		c.tcp.orig.state == tcpSynAckSent && c.tcp.resp.state == tcpInactive &&
		p.TCPFlags&(pcapread.FlagSYN|pcapread.FlagFIN|pcapread.FlagRST) == 0 &&
		(p.TCPFlags&pcapread.FlagACK != 0 || p.PayloadLen > 0)
}

// flipHistoryFromStart rewrites the history of a conversation flipped
// after its first packets as Zeek writes it: as if flipped from the start,
// "^h..." for a SYN-ACK that is now the responder's.
func (c *conv) flipHistoryFromStart() {
	h := c.history[:c.nhistory]
	for i, l := range h {
		switch {
		case l >= 'A' && l <= 'Z':
			h[i] = l + 'a' - 'A'
		case l >= 'a' && l <= 'z':
			h[i] = l - ('a' - 'A')
		}
	}
	n := min(int(c.nhistory)+1, maxHistory)
	copy(c.history[1:n], h)
	c.history[0] = '^'
	c.nhistory = uint8(n)
}

// flipOriginator decides, as Zeek's WantConnection does, whether the
// sender of a conversation's first packet is the responder: when it is not
// a TCP SYN and only its source port is a likely server port. When both
// are, a TCP conversation flips only if the packet is no SYN-ACK (a
// stealth scan's answer keeps its direction) and the source port is the
// lower.
func (t *Table) flipOriginator(p *pcapread.Packet, sport, dport uint16) bool {
	switch p.Proto {
	case ipproto.TCP:
		flags := p.TCPFlags & (pcapread.FlagSYN | pcapread.FlagACK)
		if flags == pcapread.FlagSYN || !likelyServerPort(p.Proto, sport) {
			return false
		}
		if likelyServerPort(p.Proto, dport) {
			return flags&pcapread.FlagSYN == 0 && sport < dport
		}
		return true
	case ipproto.UDP:
		return likelyServerPort(p.Proto, sport) && !likelyServerPort(p.Proto, dport)
	}
	return false
}

// account adds the packet to the conversation's counters and state.
func (c *conv) account(p *pcapread.Packet, isOrig bool) {
	c.lastPacket = max(c.lastPacket, p.Timestamp)
	if isOrig {
		c.origPkts++
		c.origIP += uint64(p.IPBytes)
	} else {
		c.respPkts++
		c.respIP += uint64(p.IPBytes)
	}
	if p.BadChecksum {
		// Counted all the same, as tshark counts it; Zeek would drop it.
		c.historyOnce(histBadChecksum, 'C', isOrig)
	}
	switch {
	case p.HeaderCut:
		c.extend(p.Timestamp) // counted, but its flags are unknown
		return
	case c.proto == ipproto.TCP:
		c.tcpPacket(p, isOrig)
		return
	}
	c.lastTime = max(c.lastTime, p.Timestamp)
	if isOrig {
		c.origSize += uint64(p.PayloadLen)
	} else {
		c.respSize += uint64(p.PayloadLen)
	}
	if c.proto == ipproto.UDP && p.PayloadLen > 0 {
		c.historyOnce(histData, 'D', isOrig)
	}
}

// extend makes a TCP packet at ts the conversation's last, unless both
// sides had closed (Zeek leaves those packets out of the duration).
func (c *conv) extend(ts int64) {
	if c.tcp == nil || !c.tcp.orig.didClose || !c.tcp.resp.didClose {
		c.lastTime = ts
	}
}

// deadline returns the time after which the conversation has ended if no
// packet of it arrives: its inactivity timeout, and for TCP the attempt
// and close delays.
func (t *Table) deadline(c *conv) int64 {
	switch c.proto {
	case ipproto.UDP:
		if c.dnsSession {
			return c.lastPacket + int64(min(t.cfg.UDPTimeout, dnsSessionTimeout))
		}
		return c.lastPacket + int64(t.cfg.UDPTimeout)
	case ipproto.TCP:
		d := c.lastPacket + int64(t.cfg.TCPTimeout)
		if c.closed {
			d = min(d, c.lastTime+int64(t.cfg.TCPCloseDelay))
		}
		if o := c.tcp.orig.state; (o == tcpSynSent || o == tcpSynAckSent) && c.tcp.resp.state == tcpInactive {
			d = min(d, c.start+int64(t.cfg.TCPAttemptDelay))
		}
		return d
	case ipproto.ICMP, ipproto.ICMPv6:
		return c.lastPacket + int64(t.cfg.ICMPTimeout)
	}
	return c.lastPacket + int64(t.cfg.OtherTimeout)
}

// dnsSessionTimeout is how long a DNS conversation over UDP lasts without
// a packet: Zeek's dns_session_timeout, which its DNS analyzer sets as the
// connection's inactivity timeout.
const dnsSessionTimeout = 10 * time.Second

// reused reports whether a TCP SYN starts a new connection on the 5-tuple
// of this one, as Zeek's IsReuse decides: once either side has closed or
// reset, any SYN does; before, a SYN whose initial sequence number is not
// the connection's (not a retransmission). A SYN-ACK does only on a half
// connection, whose originator the capture has not seen.
func (t *Table) reused(c *conv, p *pcapread.Packet, srcIsLo bool) bool {
	if c.proto != ipproto.TCP || p.TCPFlags&pcapread.FlagSYN == 0 {
		return false
	}
	connOrig := &c.tcp.orig
	if p.TCPFlags&pcapread.FlagACK != 0 {
		if c.tcp.orig.state != tcpInactive {
			return false // not a half connection
		}
		connOrig = &c.tcp.resp
	}
	if c.tcp.orig.didClose || c.tcp.resp.didClose {
		return true
	}
	if connOrig.seqInit && p.Seq == uint32(connOrig.start) {
		return false // a retransmitted SYN
	}
	if p.TCPFlags&pcapread.FlagACK == 0 && connOrig.state == tcpSynAckSent && c.tcp.resp.state == tcpInactive &&
		c.tcp.resp.seqInit && p.Seq == uint32(c.tcp.resp.start) {
		return false // the SYN after its SYN-ACK (two interfaces, reordered): the flip sorts it out
	}
	return true
}

// trimSlots gives back the chunks of slots, full and lite, above the
// highest one in use, and the per-slot state of their slots: a table's
// slots otherwise stay as many as it ever held. A worker of a Sharded
// table may in turn hold all of MaxLive, as a flood moves from one pair of
// hosts to another, and then none.
func (t *Table) trimSlots() {
	top := t.convs.len()
	for top > 0 && !t.convs.at(top-1).live {
		top--
	}
	if keep := t.convs.trim(top); keep < int32(len(t.insp)) {
		t.insp, t.deadlines = t.insp[:keep], t.deadlines[:keep]
		if t.watermark != nil {
			t.starts = t.starts[:keep]
		}
		t.free = slices.DeleteFunc(t.free, func(i int32) bool { return i >= keep })
		if len(t.tcpFree) > int(keep) {
			clear(t.tcpFree[keep:]) // for the collector
			t.tcpFree = t.tcpFree[:keep]
		}
		if t.carrier >= keep {
			t.carrier = -1
		}
	}
	top = t.lites.len()
	for top > 0 && !t.lites.at(top-1).live {
		top--
	}
	if keep := t.lites.trim(top); keep < int32(len(t.liteDeadlines)) {
		t.liteDeadlines = t.liteDeadlines[:keep]
		if t.watermark != nil {
			t.liteStarts = t.liteStarts[:keep]
		}
		t.liteFree = slices.DeleteFunc(t.liteFree, func(j int32) bool { return j >= keep })
	}
}

// sweep finishes every conversation that has expired by now. It reads the
// dense deadline arrays, and the conversations only of those that expired.
func (t *Table) sweep(now int64) {
	t.order = t.order[:0]
	t.live(func(deadline int64) bool { return now >= deadline })
	t.finishInOrder()
	if len(t.expected) > 0 {
		maps.DeleteFunc(t.expected, func(_ expectKey, until int64) bool { return until < now })
	}
	if len(t.sessions) > 0 {
		maps.DeleteFunc(t.sessions, func(_ key, s stoppedSession) bool { return now-s.stopped > keepSessions })
	}
	t.trimSlots()
}

// OnWatermark makes the table tell f, after each sweep and after every
// watermarkEvery conversations it hands on, a time below which no
// conversation it hands on from then on starts, as long as the input's
// packet times do not go back: the start of the earliest conversation in
// progress, or the input's time when none is. A writer that must order
// its records by start can write those below it. Call it before the
// first packet.
func (t *Table) OnWatermark(f func(ts int64)) { t.watermark, t.watermarkEvery = f, watermarkEvery }

// watermarkEvery is how many conversations a table hands on between
// watermarks, at most, besides those after sweeps: a flood ends tens of
// thousands of conversations between two sweeps (10 s apart in its time).
// Each watermark reads the start of every slot, a few per conversation
// handed on.
const watermarkEvery = 8192

// tellWatermark tells the watermark, if asked to (OnWatermark).
func (t *Table) tellWatermark() {
	if t.watermark == nil {
		return
	}
	t.sinceWatermark = 0
	earliest := t.now
	for _, s := range t.starts {
		earliest = min(earliest, s)
	}
	for _, s := range t.liteStarts {
		earliest = min(earliest, s)
	}
	t.watermark(earliest)
}

// Flush finishes every live conversation, at the end of the input.
func (t *Table) Flush() {
	t.seq, t.phase = math.MaxInt64, phaseSweep
	t.order = t.order[:0]
	t.live(nil)
	t.finishInOrder()
}

// finishInOrder finishes the conversations in t.order in the order they
// started, so that the order in which conversations are handed on
// depends on the packets alone, not on the slots they had.
func (t *Table) finishInOrder() {
	slices.SortFunc(t.order, compareStarts)
	for _, o := range t.order {
		t.finish(o.slot)
	}
}

// Live returns the number of conversations in progress.
func (t *Table) Live() int { return t.index.count }

// finish hands the conversation in slot i (full or lite) to emit and
// frees its slot.
func (t *Table) finish(i int32) {
	if i&liteBit != 0 {
		i = t.promote(i, hashKey(&t.lites.at(i&^liteBit).key))
	}
	c := t.convs.at(i)
	t.index.remove(c.hash, i)
	c.live = false
	t.free = append(t.free, i)
	if t.watermark != nil {
		t.starts[i] = math.MaxInt64
	}
	ins := t.insp[i]
	r := t.record(c, ins)
	if ins != nil {
		t.kept -= int(ins.kept)
		r.Service, r.Unidentified = ins.in.Services(), uint64(ins.in.Unidentified())
		t.keepSession(c, &ins.in)
		ins.drop(0)
		ins.drop(1)
		t.insp[i] = nil
		if len(t.inspPool) < maxInspectionPool {
			t.inspPool = append(t.inspPool, ins)
		}
	}
	if c.tcp != nil {
		t.tcpFree = append(t.tcpFree, c.tcp)
		c.tcp = nil
	}
	// Zeek names the tunnel a service of its carrier; Teredo only once
	// both sides used it (Tunnel::delay_teredo_confirmation).
	if c.carries != pcapread.TunnelNone && (c.carries != pcapread.TunnelTeredo || c.carriedDirs == 3) {
		r.Service = strings.Trim(pcapread.TunnelNames[c.carries]+","+r.Service, ",")
	}
	if c.ftpData {
		r.Service = strings.Trim("ftp-data,"+r.Service, ",")
	}
	t.finished = tag{seq: t.seq, phase: t.phase, first: c.first()}
	t.emit(r)
	if t.watermark != nil {
		if t.sinceWatermark++; t.sinceWatermark >= t.watermarkEvery {
			t.tellWatermark()
		}
	}
}

// expectKey is a connection announced for FTP data: its originator,
// responder and responder's port, as Zeek's schedule_analyzer takes them.
type expectKey struct {
	orig, resp netip.Addr
	port       uint16
}

// Announced data connections are expected for 5 minutes (Zeek's FTP
// analyzer schedules ftp-data for that long), at most maxExpected at once:
// past that, announcements are dropped until sweeps forget expired ones.
const (
	expectFor   = 5 * time.Minute
	maxExpected = 4096
)

// expect notes the data connections control conversation c announced.
func (t *Table) expect(c *conv, announced []appid.Expected) {
	orig, resp := c.addrs()
	if t.expected == nil {
		t.expected = map[expectKey]int64{}
	}
	for _, e := range announced {
		k := expectKey{orig: orig, resp: cmp.Or(e.Addr, resp), port: e.Port}
		if e.ServerConnects {
			k = expectKey{orig: resp, resp: cmp.Or(e.Addr, orig), port: e.Port}
		}
		if len(t.expected) < maxExpected {
			t.expected[k] = t.now + int64(expectFor)
		}
	}
}

// wasExpected reports whether a new conversation is one an FTP control
// connection announced, and forgets the announcement.
func (t *Table) wasExpected(c *conv) bool {
	orig, resp := c.addrs()
	k := expectKey{orig, resp, c.respPort}
	until, ok := t.expected[k]
	if ok {
		delete(t.expected, k)
	}
	return ok && c.start <= until
}

// addrs returns the originator's and responder's addresses.
func (c *conv) addrs() (orig, resp netip.Addr) {
	lo, hi := addrFrom16(c.key.lo, c.key.v6), addrFrom16(c.key.hi, c.key.v6)
	if c.origIsLo {
		return lo, hi
	}
	return hi, lo
}

// addrFrom16 returns a key's address. An IPv4-mapped IPv6 address
// (::ffff:a.b.c.d) comes out as the IPv4 address, as Zeek writes it: the
// records' addresses are unmapped here, once, for every stage after.
func addrFrom16(b [16]byte, v6 bool) netip.Addr {
	if v6 {
		return netip.AddrFrom16(b).Unmap()
	}
	return netip.AddrFrom4([4]byte(b[12:16]))
}

// record builds the Conn of a finished conversation, with the facts its
// inspection, if not nil, found in the same allocation.
func (t *Table) record(c *conv, ins *inspection) *Conn {
	orig, resp := c.addrs()
	var r *Conn
	if ins != nil && ins.in.HasFacts() {
		// 432 bytes: objects of 512 or less cost the collector least.
		both := new(struct {
			conn  Conn
			facts appid.Facts
		})
		ins.in.FactsTo(&both.facts)
		r = &both.conn
		r.App = &both.facts
	} else {
		r = new(Conn)
	}
	*r = Conn{
		App: r.App,
		TS:  c.start, Duration: c.lastTime - c.start,
		Orig: orig, Resp: resp, OrigPort: c.origPort, RespPort: c.respPort, Proto: c.proto,
		OrigPkts: c.origPkts, RespPkts: c.respPkts, OrigIPBytes: c.origIP, RespIPBytes: c.respIP,
		VLAN: c.vlan, InnerVLAN: c.innerVLAN, NumVLANs: c.numVLANs,
		Files:       t.files[c.firstFile : c.lastFile+1 : c.lastFile+1],
		FirstRecord: c.firstRecord,
		Source:      SourceCapture,
	}
	switch c.proto {
	case ipproto.TCP:
		o, p := &c.tcp.orig, &c.tcp.resp
		r.OrigBytes, r.RespBytes = o.tcpSize(p), p.tcpSize(o)
		r.ConnState = tcpConnState(o.state, p.state, r.OrigBytes, r.RespBytes, r.History)
		r.MissedBytes = o.missed + p.missed
	case ipproto.UDP:
		r.OrigBytes, r.RespBytes = c.origSize, c.respSize
		r.ConnState = udpConnState(c.origPkts > 0, c.respPkts > 0)
	default:
		r.OrigBytes, r.RespBytes = c.origSize, c.respSize
		r.ConnState = "OTH"
	}
	// The uid, Community ID and history share one allocation.
	var buf [uidLen + communityIDLen + maxHistory]byte
	b := appendConnUID(buf[:0], &c.key, c.start, c.firstRecord, t.files[c.firstFile])
	b = appendCommunityID(b, t.cfg.CommunityIDSeed, c.proto, orig, resp, c.origPort, c.respPort, c.oneWay)
	b = append(b, c.history[:c.nhistory]...)
	strs := string(b)
	r.UID, r.CommunityID, r.History = strs[:uidLen], strs[uidLen:uidLen+communityIDLen], strs[uidLen+communityIDLen:]
	r.TunnelParents = c.parents
	return r
}

func udpConnState(origActive, respActive bool) string {
	switch {
	case origActive && respActive:
		return "SF"
	case origActive:
		return "S0"
	case respActive:
		return "SHR"
	}
	return "OTH"
}
