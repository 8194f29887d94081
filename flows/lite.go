package flows

import (
	"math"
	"net/netip"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/internal/ipproto"
	"github.com/netfx/netfx/pcapread"
)

// A conversation's first packet is often its only one: a SYN that gets no
// answer, a one-datagram UDP exchange, an ICMP message. A flood brings
// millions of them, each held until its timeout, so such a conversation is
// held as its first packet alone, in a lite slot (about 130 bytes with its
// index entry and deadline) instead of a full one (about 500, and payload
// inspection). Its second packet, or its end, replays the first into a
// full slot through the same code as every packet, so the records are the
// same either way.

// lite is the first packet of a conversation, as the table needs it.
type lite struct {
	key                 key
	ts, record          int64
	ipBytes, payloadLen uint32
	seq, ack            uint32
	srcPort, dstPort    uint16 // as captured (the key holds ICMP's mapped ports)
	window              uint16
	vlans               [2]uint16
	file                int32
	flags, numVLANs     uint8
	srcIsLo             bool
	badChecksum         bool
	headerCut           bool
	// skipped is the captured length of a UDP payload that identified
	// nothing (counted by the inspection, its bytes not kept), skippedCut
	// whether the snap length cut it.
	skipped    uint32
	skippedCut bool
	live       bool
}

// liteBit marks a lite slot's number in the index.
const liteBit = 1 << 30

// liteDeadline reports whether packet p, the first of its conversation,
// may start a lite slot, and when the conversation expires if no other
// packet comes: the deadline that a full slot would have after p. A TCP
// conversation must start with a bare SYN and a UDP one with a payload
// that identifies nothing; payload to inspect needs a full slot.
func (t *Table) liteDeadline(p *pcapread.Packet) (int64, bool) {
	switch p.Proto {
	case ipproto.TCP:
		const flags = pcapread.FlagSYN | pcapread.FlagACK | pcapread.FlagFIN | pcapread.FlagRST
		if p.HeaderCut || p.PayloadLen > 0 || p.TCPFlags&flags != pcapread.FlagSYN {
			return 0, false
		}
		return p.Timestamp + int64(min(t.cfg.TCPTimeout, t.cfg.TCPAttemptDelay)), true
	case ipproto.UDP:
		if !p.HeaderCut && appid.DatagramIdentifies(p.Payload) {
			return 0, false
		}
		return p.Timestamp + int64(t.cfg.UDPTimeout), true
	case ipproto.ICMP, ipproto.ICMPv6:
		return p.Timestamp + int64(t.cfg.ICMPTimeout), true
	}
	return p.Timestamp + int64(t.cfg.OtherTimeout), true
}

// addLite starts a conversation in a lite slot with packet p.
func (t *Table) addLite(k *key, h uint64, p *pcapread.Packet, srcIsLo bool, deadline int64) {
	var j int32
	if n := len(t.liteFree); n > 0 {
		j, t.liteFree = t.liteFree[n-1], t.liteFree[:n-1]
	} else {
		j = t.lites.add()
		t.liteDeadlines = append(t.liteDeadlines, 0)
		if t.watermark != nil {
			t.liteStarts = append(t.liteStarts, 0)
		}
	}
	if t.watermark != nil {
		t.liteStarts[j] = p.Timestamp
	}
	*t.lites.at(j) = lite{
		key: *k, ts: p.Timestamp, record: p.Record,
		ipBytes: p.IPBytes, payloadLen: p.PayloadLen,
		seq: p.Seq, ack: p.Ack, srcPort: p.SrcPort, dstPort: p.DstPort, window: p.Window,
		vlans: p.VLANs, file: t.file, flags: p.TCPFlags, numVLANs: p.NumVLANs,
		srcIsLo: srcIsLo, badChecksum: p.BadChecksum, headerCut: p.HeaderCut,
		live: true,
	}
	if p.Proto == ipproto.UDP && !p.HeaderCut && len(p.Payload) > 0 {
		t.lites.at(j).skipped, t.lites.at(j).skippedCut = uint32(len(p.Payload)), p.Truncated && len(p.Payload) < int(p.PayloadLen)
	}
	t.liteDeadlines[j] = deadline
	t.index.insert(h, j|liteBit)
}

// packet rebuilds the first packet, without its payload bytes.
func (l *lite) packet() pcapread.Packet {
	lo, hi := keyAddr(l.key.lo, l.key.v6), keyAddr(l.key.hi, l.key.v6)
	src, dst := lo, hi
	if !l.srcIsLo {
		src, dst = hi, lo
	}
	return pcapread.Packet{
		Timestamp: l.ts, Record: l.record, Src: src, Dst: dst, Proto: l.key.proto,
		SrcPort: l.srcPort, DstPort: l.dstPort, HasPorts: true,
		IPBytes: l.ipBytes, TCPFlags: l.flags, Seq: l.seq, Ack: l.ack, Window: l.window,
		PayloadLen: l.payloadLen, VLANs: l.vlans, NumVLANs: l.numVLANs,
		BadChecksum: l.badChecksum, HeaderCut: l.headerCut,
	}
}

// keyAddr returns the address a key was made from, exactly (an
// IPv4-mapped IPv6 address stays one).
func keyAddr(b [16]byte, v6 bool) netip.Addr {
	if v6 {
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte(b[12:16]))
}

// promote moves the conversation in lite slot ref, whose key hashes to h,
// into a full slot, replaying its first packet, and returns the full
// slot.
func (t *Table) promote(ref int32, h uint64) int32 {
	j := ref &^ liteBit
	l := t.lites.at(j)
	p := l.packet()
	file := t.file
	t.file = l.file
	k, sport, dport, oneWay, srcIsLo := packetKey(&p)
	i := t.create(k, h, &p, sport, dport, oneWay, srcIsLo)
	t.convs.at(i).depth = 0 // lite slots hold the outermost packets of frames only
	t.index.replace(h, ref, i)
	t.update(i, &p, srcIsLo)
	if l.skipped > 0 {
		dir := appid.FromResp
		if srcIsLo == t.convs.at(i).origIsLo {
			dir = appid.FromOrig
		}
		if l.skippedCut {
			t.insp[i].in.Cut()
		}
		t.insp[i].in.SkipDatagram(dir, int(l.skipped))
	}
	t.file = file
	l.live = false
	t.liteFree = append(t.liteFree, j)
	if t.watermark != nil {
		t.liteStarts[j] = math.MaxInt64
	}
	return i
}
