package flows

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/netfx/netfx/internal/ipproto"
	"github.com/netfx/netfx/pcapread"
)

// addFull accounts packets as a table without lite slots would: every
// conversation in a full slot from its first packet. The packets must
// belong to one conversation, with no timeout between them.
func addFull(t *Table, packets []pcapread.Packet) {
	for n := range packets {
		p := &packets[n]
		k, sport, dport, oneWay, srcIsLo := packetKey(p)
		h := hashKey(&k)
		i, ok := t.index.lookup(&k, h, &t.convs, &t.lites)
		if !ok {
			i = t.create(k, h, p, sport, dport, oneWay, srcIsLo)
			t.index.insert(h, i)
		}
		t.update(i, p, srcIsLo)
	}
}

// TestLiteSlots: a conversation that starts in a lite slot gives the
// record, and until its second packet the deadline, that it gives in a
// full slot from the start, whether it ends with one packet or goes on.
func TestLiteSlots(t *testing.T) {
	at := func(ms int) int64 {
		return time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC).UnixNano() + int64(ms)*int64(time.Millisecond)
	}
	a, b := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.9")
	mappedA, v6B := netip.MustParseAddr("::ffff:10.0.0.5"), netip.MustParseAddr("2001:db8::9")
	syn := pcapread.Packet{Timestamp: at(0), Record: 1, Src: a, Dst: b, Proto: ipproto.TCP, SrcPort: 50000, DstPort: 445,
		HasPorts: true, IPBytes: 52, TCPFlags: pcapread.FlagSYN, Seq: 1000, Window: 64240, NumVLANs: 1, VLANs: [2]uint16{7}}
	synAck := pcapread.Packet{Timestamp: at(1), Record: 2, Src: b, Dst: a, Proto: ipproto.TCP, SrcPort: 445, DstPort: 50000,
		HasPorts: true, IPBytes: 52, TCPFlags: pcapread.FlagSYN | pcapread.FlagACK, Seq: 7000, Ack: 1001, Window: 65535}
	udp := func(ms int, src, dst pcapread.Packet, payload []byte, captured int) pcapread.Packet {
		return pcapread.Packet{Timestamp: at(ms), Record: int64(ms + 1), Src: src.Src, Dst: src.Dst, Proto: ipproto.UDP,
			SrcPort: src.SrcPort, DstPort: src.DstPort, HasPorts: true, IPBytes: uint32(28 + len(payload)), PayloadLen: uint32(len(payload)), Payload: payload[:captured]}
	}
	query := pcapread.Packet{Src: a, Dst: b, SrcPort: 40000, DstPort: 53}
	answer := pcapread.Packet{Src: b, Dst: a, SrcPort: 53, DstPort: 40000}
	dns := []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1}
	// The first datagram counts toward the 16 inspected: a DNS message
	// as the 17th is not read.
	manyUDP := []pcapread.Packet{udp(0, query, query, []byte("x"), 1)}
	for i := 1; i < 16; i++ {
		manyUDP = append(manyUDP, udp(i, answer, answer, []byte("y"), 1))
	}
	manyUDP = append(manyUDP, udp(16, answer, answer, dns, len(dns)))
	icmp := pcapread.Packet{Timestamp: at(0), Record: 1, Src: a, Dst: b, Proto: ipproto.ICMP, SrcPort: 8, DstPort: 0, HasPorts: true, IPBytes: 84, PayloadLen: 56}
	reply := icmp
	reply.Timestamp, reply.Record, reply.Src, reply.Dst, reply.SrcPort = at(3), 2, b, a, 0
	gre := pcapread.Packet{Timestamp: at(0), Record: 1, Src: b, Dst: a, Proto: 47, IPBytes: 100, PayloadLen: 80, BadChecksum: true}
	mapped := syn
	mapped.Src, mapped.Dst = mappedA, v6B
	for _, tc := range []struct {
		name    string
		packets []pcapread.Packet
		lite    bool // whether the first packet takes a lite slot
	}{
		{"SYN alone", []pcapread.Packet{syn}, true},
		{"SYN, SYN-ACK", []pcapread.Packet{syn, synAck}, true},
		{"SYN to and from mapped and IPv6 addresses", []pcapread.Packet{mapped}, true},
		{"SYN-ACK first", []pcapread.Packet{synAck, syn}, false},
		{"UDP, one byte", []pcapread.Packet{udp(0, query, query, []byte("x"), 1)}, true},
		{"UDP, payload not captured", []pcapread.Packet{udp(0, query, query, dns, 0), udp(5, answer, answer, dns, len(dns))}, true},
		{"UDP, unidentified, then DNS past the limit", manyUDP, true},
		{"UDP, DNS first", []pcapread.Packet{udp(0, query, query, dns, len(dns))}, false},
		{"ICMP echo and reply", []pcapread.Packet{icmp, reply}, true},
		{"GRE, bad checksum", []pcapread.Packet{gre}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got, want []*Conn
			lites := NewTable(DefaultConfig, func(c *Conn) { got = append(got, c) })
			full := NewTable(DefaultConfig, func(c *Conn) { want = append(want, c) })
			for _, tab := range []*Table{lites, full} {
				tab.SetFile("lite.pcap")
			}
			lites.Add(&tc.packets[0])
			if isLite := lites.lites.len() == 1 && lites.lites.at(0).live; isLite != tc.lite {
				t.Fatalf("first packet in a lite slot: %v, want %v", isLite, tc.lite)
			}
			addFull(full, tc.packets[:1])
			if tc.lite {
				if d, fd := lites.liteDeadlines[0], full.deadlines[0]; d != fd {
					t.Errorf("deadline after the first packet: lite slot %d, full slot %d", d, fd)
				}
			}
			for n := 1; n < len(tc.packets); n++ {
				lites.Add(&tc.packets[n])
			}
			addFull(full, tc.packets[1:])
			lites.Flush()
			full.Flush()
			if len(got) != 1 || len(want) != 1 || !reflect.DeepEqual(got[0], want[0]) {
				t.Errorf("records through a lite slot:\n%+v\nin a full slot:\n%+v", got, want)
			}
		})
	}
}

// TestHeldBytesAreBounded: conversations whose data all comes after a
// hole hold their out-of-order segments for inspection, but the table as
// a whole holds at most maxHeldBytes, and nothing once they end; a
// direction given up lets go of what it held.
func TestHeldBytesAreBounded(t *testing.T) {
	vm := netip.MustParseAddr("10.1.0.4")
	payload := make([]byte, 1400)
	at := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC).UnixNano()
	// connect adds connection j, then segments of data after a hole.
	connect := func(tab *Table, j, segments int) {
		client := netip.AddrFrom4([4]byte{10, 4, byte(j >> 8), byte(j)})
		seg := func(k int, from, to netip.Addr, sport, dport uint16, seq, ack uint32, flags uint8, data []byte) {
			p := pcapread.Packet{Timestamp: at + int64(j*20+k)*int64(time.Microsecond), Src: from, Dst: to, Proto: ipproto.TCP,
				SrcPort: sport, DstPort: dport, HasPorts: true, IPBytes: uint32(40 + len(data)), TCPFlags: flags, Seq: seq, Ack: ack,
				Window: 64240, PayloadLen: uint32(len(data)), Payload: data}
			tab.Add(&p)
		}
		seg(0, client, vm, 40000, 443, 1000, 0, pcapread.FlagSYN, nil)
		seg(1, vm, client, 443, 40000, 5000, 1001, pcapread.FlagSYN|pcapread.FlagACK, nil)
		seg(2, client, vm, 40000, 443, 1001, 5001, pcapread.FlagACK, nil)
		for k := range segments {
			seg(3+k, client, vm, 40000, 443, uint32(1001+1400*(k+1)), 5001, pcapread.FlagACK, payload)
		}
	}
	var records int
	tab := NewTable(DefaultConfig, func(*Conn) { records++ })
	tab.SetFile("holes.pcap")
	const conns = 3000 // 16 segments of 1,400 bytes each: 67 MB without the bound
	for j := range conns {
		connect(tab, j, maxPendingSegments)
		if tab.held > maxHeldBytes {
			t.Fatalf("after %d connections the table holds %d bytes, more than %d", j+1, tab.held, maxHeldBytes)
		}
	}
	if tab.held < maxHeldBytes-maxPendingBytes {
		t.Errorf("the table holds %d bytes: the bound was not reached, the test proves nothing", tab.held)
	}
	tab.Flush()
	if tab.held != 0 || records != conns {
		t.Errorf("after the end: %d bytes held, %d records", tab.held, records)
	}

	one := NewTable(DefaultConfig, func(*Conn) {})
	one.SetFile("holes.pcap")
	connect(one, 0, maxPendingSegments)
	if one.held != maxPendingSegments*len(payload) {
		t.Errorf("%d bytes held after %d segments", one.held, maxPendingSegments)
	}
	connect(one, 0, maxPendingSegments+1) // the same connection again: one segment more than is held
	if one.held != 0 {
		t.Errorf("%d bytes held after the direction was given up", one.held)
	}
}
