package flows

import (
	"net/netip"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/internal/ipproto"
	"github.com/netfx/netfx/pcapread"
)

// TestLiveConversationCost measures the heap a conversation in progress
// holds, for a DNS lookup (a query, then its answer) and for a TCP
// connection past its handshake, and fails past a budget: a flood keeps
// --max-live of them, 100,000 by default. A conversation's slot keeps TCP's
// state of its sides apart (conv.tcp), so other protocols go without it.
func TestLiveConversationCost(t *testing.T) {
	const n = 20_000
	start := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC).UnixNano()
	server := netip.MustParseAddr("10.53.0.1")
	client := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}) }
	query := []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1}
	answer := append([]byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0}, query[12:]...)
	answer = append(answer, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1)
	for _, tc := range []struct {
		name    string
		budget  int // bytes a live conversation may hold
		packets func(i int) []pcapread.Packet
	}{
		// The slot, its index entry and deadline (about 280 bytes), and
		// the inspection (352 bytes) with the DNS facts it gathers: 815
		// bytes; 1,000 when the inspection held TCP's reassembly, the
		// first bytes of unknown protocols and 64-bit counters in place
		// (512) and the slot padding (272 bytes instead of 248), 1,280
		// when every slot held TCP's state.
		{"dns", 900, func(i int) []pcapread.Packet {
			q := pcapread.Packet{Timestamp: start + int64(i), Src: client(i), Dst: server, Proto: ipproto.UDP, SrcPort: 40000, DstPort: 53,
				HasPorts: true, IPBytes: uint32(28 + len(query)), PayloadLen: uint32(len(query)), Payload: query}
			a := q
			a.Src, a.Dst, a.SrcPort, a.DstPort = server, client(i), 53, 40000
			a.PayloadLen, a.Payload, a.IPBytes = uint32(len(answer)), answer, uint32(28+len(answer))
			return []pcapread.Packet{q, a}
		}},
		// The slot and TCP's state of both sides (about 560 bytes): no
		// payload, nothing inspected.
		{"tcp", 650, func(i int) []pcapread.Packet { return connection(start+int64(i), client(i), server, 443, nil) }},
		// The slot, TCP's state, the inspection and the TLS facts of a
		// client hello (about 1,230 bytes), not the hello's bytes: a flood
		// of TLS handshakes that the server never answers keeps
		// --max-live of them.
		{"tls", 1400, func(i int) []pcapread.Packet { return connection(start+int64(i), client(i), server, 443, clientHello) }},
		// The slot, TCP's state, the inspection, the request's facts and
		// its 460 bytes, which the HTTP reader holds until the answer
		// comes (about 1,820 bytes): the bytes held count among those
		// kept, which --max-live bounds (TestStreamBytesCountAsKept).
		{"http", 2000, func(i int) []pcapread.Packet { return connection(start+int64(i), client(i), server, 80, httpGet) }},
	} {
		if tc.name == "tls" && len(clientHello) != 512 {
			t.Fatalf("the client hello is %d bytes, want 512", len(clientHello))
		}
		held, live := heldPerConversation(n, tc.packets)
		if live != n {
			t.Fatalf("%s: %d conversations live, want %d", tc.name, live, n)
		}
		t.Logf("%.0f bytes a live %s conversation", held, tc.name)
		if held > float64(tc.budget) {
			t.Errorf("a live %s conversation holds %.0f bytes, want at most %d", tc.name, held, tc.budget)
		}
	}
}

// heldPerConversation adds the packets of n conversations to a table and
// returns the heap each holds, and how many are live.
func heldPerConversation(n int, packets func(i int) []pcapread.Packet) (float64, int) {
	cfg := DefaultConfig
	cfg.MaxLive = 2 * n
	tab := NewTable(cfg, func(*Conn) {})
	tab.SetFile("live.pcap")
	all := make([][]pcapread.Packet, n)
	for i := range all {
		all[i] = packets(i)
	}
	before := liveHeap()
	for i := range all {
		for j := range all[i] {
			tab.Add(&all[i][j])
		}
	}
	held := (float64(liveHeap()) - float64(before)) / float64(n)
	runtime.KeepAlive(all)
	return held, tab.Live()
}

// liveHeap returns the bytes of live heap objects, after a collection.
func liveHeap() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// clientHello is a TLS 1.2 client hello of 512 bytes, as browsers pad
// theirs, with a server name.
var clientHello = func() []byte {
	sni := []byte("abcdefghijklmnop0123456789.example.net")
	ext := append([]byte{0, 0, 0, byte(len(sni) + 5), 0, byte(len(sni) + 3), 0, 0, byte(len(sni))}, sni...)
	ext = append(ext, 0, 21, 1, 0x99) // padding: 409 zero bytes
	ext = append(ext, make([]byte, 0x199)...)
	body := append([]byte{3, 3}, make([]byte, 32)...)
	body = append(body, 0, 0, 2, 0x13, 0x01, 1, 0, byte(len(ext)>>8), byte(len(ext)))
	body = append(body, ext...)
	hs := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{0x16, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}()

var httpGet = []byte("GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.9\r\nCookie: session=" + strings.Repeat("x", 200) + "\r\n\r\n")

// connection is a TCP handshake from client to port of server at ts, and
// then, unless it is nil, the client's payload in one segment, which
// nobody answers.
func connection(ts int64, client, server netip.Addr, port uint16, payload []byte) []pcapread.Packet {
	syn := pcapread.Packet{Timestamp: ts, Src: client, Dst: server, Proto: ipproto.TCP, SrcPort: 50000, DstPort: port,
		HasPorts: true, IPBytes: 40, TCPFlags: pcapread.FlagSYN, Seq: 1000}
	synAck := syn
	synAck.Src, synAck.Dst, synAck.SrcPort, synAck.DstPort = server, client, port, 50000
	synAck.TCPFlags, synAck.Seq, synAck.Ack = pcapread.FlagSYN|pcapread.FlagACK, 7000, 1001
	ack := syn
	ack.TCPFlags, ack.Seq, ack.Ack = pcapread.FlagACK, 1001, 7001
	if payload == nil {
		return []pcapread.Packet{syn, synAck, ack}
	}
	data := ack
	data.TCPFlags |= pcapread.FlagPSH
	data.Payload, data.PayloadLen, data.IPBytes = payload, uint32(len(payload)), uint32(40+len(payload))
	return []pcapread.Packet{syn, synAck, ack, data}
}
