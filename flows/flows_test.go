package flows

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/internal/demogen"
	"github.com/netfx/netfx/internal/ipproto"

	"encoding/binary"
	"encoding/json"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/netfx/netfx/pcapread"
)

func TestCommunityIDBaseline(t *testing.T) {
	const dir = "../../shared/corpus/communityid/baseline"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("Community ID baseline not found at %s; skipping", dir)
	}
	for file, seed := range map[string]uint16{"baseline_deflt.json": 0, "baseline_seed1.json": 1} {
		data, err := os.ReadFile(dir + "/" + file)
		if err != nil {
			t.Fatal(err)
		}
		var records []struct {
			Proto        uint8
			Saddr, Daddr string
			Sport, Dport *uint16
			Communityid  string
		}
		if err := json.Unmarshal(data, &records); err != nil {
			t.Fatal(err)
		}
		for _, r := range records {
			var sp, dp uint16
			if r.Sport != nil {
				sp, dp = *r.Sport, *r.Dport
			}
			oneWay := false
			if r.Proto == 1 || r.Proto == 58 {
				_, _, oneWay = icmpPorts(r.Proto, uint8(sp), 0)
			}
			got := communityID(seed, r.Proto, netip.MustParseAddr(r.Saddr), netip.MustParseAddr(r.Daddr), sp, dp, oneWay)
			if got != r.Communityid {
				t.Errorf("%s: proto %d %s:%d > %s:%d = %s, want %s", file, r.Proto, r.Saddr, sp, r.Daddr, dp, got, r.Communityid)
			}
		}
	}
}

func TestCommunityIDSpecVectors(t *testing.T) {
	a, b := netip.MustParseAddr("1.2.3.4"), netip.MustParseAddr("5.6.7.8")
	tests := []struct {
		name         string
		proto        uint8
		src, dst     netip.Addr
		sport, dport uint16
		want         string
	}{
		{"ICMP time exceeded is one-way", 1, a, b, 11, 0, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk="},
		{"RSVP has no ports", 46, a, b, 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768="},
		{"echo request", 1, netip.MustParseAddr("192.168.0.89"), netip.MustParseAddr("192.168.0.1"), 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
		{"echo reply", 1, netip.MustParseAddr("192.168.0.1"), netip.MustParseAddr("192.168.0.89"), 0, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
	}
	for _, tt := range tests {
		if got := CommunityID(0, tt.proto, tt.src, tt.dst, tt.sport, tt.dport); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

// seg is one TCP segment of a crafted connection.
type seg struct {
	fromOrig bool
	flags    uint8
	seq, ack uint32
	n        int
	at       time.Duration
}

const (
	S  = pcapread.FlagSYN
	A  = pcapread.FlagACK
	F  = pcapread.FlagFIN
	R  = pcapread.FlagRST
	PA = pcapread.FlagPSH | pcapread.FlagACK
)

// runCrafted runs packets between a client, 10.0.0.1:40000, and a server,
// 10.0.0.2 on port, through a Table. Each packet gives what differs: time,
// flags, sequence numbers, lengths; fromOrig[i] says which way packet i goes.
func runCrafted(port uint16, pkts []pcapread.Packet, fromOrig []bool) []*Conn {
	return runCraftedPorts(40000, port, pkts, fromOrig)
}

// runCraftedPorts is runCrafted with the client's port given too.
func runCraftedPorts(clientPort, port uint16, pkts []pcapread.Packet, fromOrig []bool) []*Conn {
	var out []*Conn
	tab := NewTable(DefaultConfig, func(c *Conn) { out = append(out, c) })
	tab.SetFile("crafted.pcap")
	client, server := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for i := range pkts {
		p := &pkts[i]
		p.Record, p.HasPorts = int64(i+1), true
		if fromOrig[i] {
			p.Src, p.Dst, p.SrcPort, p.DstPort = client, server, clientPort, port
		} else {
			p.Src, p.Dst, p.SrcPort, p.DstPort = server, client, port, clientPort
		}
		tab.Add(p)
	}
	tab.Flush()
	return out
}

func runTCP(t *testing.T, segs []seg) []*Conn {
	t.Helper()
	return runTCPPorts(t, 40000, 80, segs)
}

func runTCPPorts(t *testing.T, clientPort, port uint16, segs []seg) []*Conn {
	t.Helper()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	pkts, dirs := make([]pcapread.Packet, len(segs)), make([]bool, len(segs))
	for i, s := range segs {
		pkts[i] = pcapread.Packet{Timestamp: base + int64(s.at), Proto: ipproto.TCP,
			TCPFlags: s.flags, Seq: s.seq, Ack: s.ack, PayloadLen: uint32(s.n), IPBytes: uint32(40 + s.n), Window: 64240}
		dirs[i] = s.fromOrig
	}
	return runCraftedPorts(clientPort, port, pkts, dirs)
}

func TestTCPConversations(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name               string
		segs               []seg
		state, history     string
		origBytes, respBts uint64
		conns              int
	}{
		{"normal", []seg{
			{true, S, 100, 0, 0, 0}, {false, S | A, 500, 101, 0, ms}, {true, A, 101, 501, 0, 2 * ms},
			{true, PA, 101, 501, 10, 3 * ms}, {false, PA, 501, 111, 20, 4 * ms},
			{true, F | A, 111, 521, 0, 5 * ms}, {false, F | A, 521, 112, 0, 6 * ms}, {true, A, 112, 522, 0, 7 * ms},
		}, "SF", "ShADdFf", 10, 20, 1},
		{"attempt", []seg{{true, S, 100, 0, 0, 0}}, "S0", "S", 0, 0, 1},
		{"rejected", []seg{{true, S, 100, 0, 0, 0}, {false, R | A, 0, 101, 0, ms}}, "REJ", "Sr", 0, 0, 1},
		{"established, not closed", []seg{
			{true, S, 100, 0, 0, 0}, {false, S | A, 500, 101, 0, ms}, {true, A, 101, 501, 0, 2 * ms},
		}, "S1", "ShA", 0, 0, 1},
		{"midstream from the server side", []seg{
			{false, PA, 501, 101, 20, 0}, {true, A, 101, 521, 0, ms},
		}, "OTH", "^dA", 0, 20, 1},
		{"originator abort", []seg{
			{true, S, 100, 0, 0, 0}, {false, S | A, 500, 101, 0, ms}, {true, A, 101, 501, 0, 2 * ms}, {true, R | A, 101, 501, 0, 3 * ms},
		}, "RSTO", "ShAR", 0, 0, 1},
		{"one-sided: the silent side's size stays 0 (Zeek)", []seg{
			{true, S, 100, 0, 0, 0}, {true, A, 101, 501, 0, ms}, {true, PA, 101, 601, 10, 2 * ms}, {true, PA, 111, 901, 10, 3 * ms},
		}, "S0", "SAD", 20, 0, 1},
		{"three rejected attempts with one ISN are three connections (Zeek's IsReuse)", []seg{
			{true, S, 100, 0, 0, 0}, {false, R | A, 0, 101, 0, ms}, {true, S, 100, 0, 0, 500 * ms}, {false, R | A, 0, 101, 0, 501 * ms},
			{true, S, 100, 0, 0, time.Second}, {false, R | A, 0, 101, 0, time.Second + ms},
		}, "REJ", "Sr", 0, 0, 3},
		{"a SYN with another ISN before the close is a new connection", []seg{
			{true, S, 100, 0, 0, 0}, {true, S, 7000, 0, 0, 500 * ms},
		}, "S0", "S", 0, 0, 2},
		{"retried SYNs beyond the attempt delay are new connections", []seg{
			{true, S, 100, 0, 0, 0}, {true, S, 100, 0, 0, 3 * time.Second}, {true, S, 100, 0, 0, 9 * time.Second},
		}, "S0", "S", 0, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conns := runTCP(t, tt.segs)
			if len(conns) != tt.conns {
				t.Fatalf("%d conversations, want %d", len(conns), tt.conns)
			}
			c := conns[0]
			if c.ConnState != tt.state || c.History != tt.history {
				t.Errorf("conn_state %s history %s, want %s %s", c.ConnState, c.History, tt.state, tt.history)
			}
			if c.OrigBytes != tt.origBytes || c.RespBytes != tt.respBts {
				t.Errorf("bytes %d/%d, want %d/%d", c.OrigBytes, c.RespBytes, tt.origBytes, tt.respBts)
			}
			if c.Orig != netip.MustParseAddr("10.0.0.1") || c.RespPort != 80 {
				t.Errorf("originator %v:%d > %v:%d, want the client", c.Orig, c.OrigPort, c.Resp, c.RespPort)
			}
		})
	}
}

// TestFlipsLikeZeek checks who is the originator when the capture missed
// the start: Zeek's likely server ports at the first packet, the packet
// after a SYN-ACK, and a SYN that arrives after its SYN-ACK.
func TestFlipsLikeZeek(t *testing.T) {
	ms := time.Millisecond
	synAck := seg{false, S | A, 500, 101, 0, 0}
	tests := []struct {
		name                   string
		clientPort, serverPort uint16
		segs                   []seg
		clientIsOrig           bool
		state, history         string
		origPkts, respPkts     uint64
	}{
		{"SYN-ACK from a server port: flipped at once", 40000, 443, []seg{synAck, {true, A, 101, 501, 0, ms}},
			true, "S1", "^hA", 1, 1},
		{"SYN-ACK then ACK on unknown ports: flipped at the ACK (Zeek 5.1+)", 40000, 44444, []seg{
			synAck, {true, A, 101, 501, 0, ms}, {true, PA, 101, 501, 10, 2 * ms}, {false, PA, 501, 111, 20, 3 * ms}},
			true, "OTH", "^hADd", 2, 2},
		{"both ports a server's: the SYN-ACK's ACK decides (Zeek's flip-without-syn)", 6669, 80, []seg{
			synAck, {true, A, 101, 501, 0, ms}, {true, PA, 101, 501, 136, 2 * ms}, {false, PA, 501, 237, 200, 3 * ms},
			{true, F | A, 237, 701, 0, 4 * ms}, {false, F | A, 701, 238, 0, 5 * ms}},
			true, "SF", "^hADdFf", 3, 3},
		{"only the server side captured: its own ACK after the SYN-ACK", 40000, 44444, []seg{
			synAck, {false, A, 501, 101, 0, ms}, {false, F | A, 501, 101, 0, 2 * ms}},
			true, "SHR", "^haf", 0, 3},
		{"a SYN-ACK answered by a reset keeps its direction (stealth scan)", 40000, 44444, []seg{
			synAck, {true, R, 101, 0, 0, ms}},
			false, "REJ", "Hr", 1, 1},
		{"the SYN after its SYN-ACK (reordered): flipped and established", 40000, 44444, []seg{
			synAck, {true, S, 100, 0, 0, ms}, {true, A, 101, 501, 0, 2 * ms}},
			true, "S1", "Hs^A", 2, 1},
		{"a lone SYN-ACK stays as it came", 40000, 44444, []seg{synAck},
			false, "OTH", "H", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conns := runTCPPorts(t, tt.clientPort, tt.serverPort, tt.segs)
			if len(conns) != 1 {
				t.Fatalf("%d conversations, want 1", len(conns))
			}
			c := conns[0]
			client := netip.MustParseAddr("10.0.0.1")
			if (c.Orig == client && c.OrigPort == tt.clientPort) != tt.clientIsOrig {
				t.Errorf("originator %v:%d, want the client: %v", c.Orig, c.OrigPort, tt.clientIsOrig)
			}
			if c.ConnState != tt.state || c.History != tt.history || c.OrigPkts != tt.origPkts || c.RespPkts != tt.respPkts {
				t.Errorf("%s %s packets %d/%d, want %s %s %d/%d", c.ConnState, c.History, c.OrigPkts, c.RespPkts,
					tt.state, tt.history, tt.origPkts, tt.respPkts)
			}
		})
	}

	// UDP: a likely server port as the source flips, unless the
	// destination is one too; a port below 1024 is no server's for that.
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for _, tt := range []struct {
		sport, dport uint16
		flipped      bool
	}{{53, 40000, true}, {53, 5353, false}, {67, 68, false}, {4789, 50000, true}, {800, 40000, false}, {40000, 53, false}} {
		p := []pcapread.Packet{{Timestamp: base, Proto: ipproto.UDP, IPBytes: 40, PayloadLen: 12}}
		c := runCraftedPorts(tt.sport, tt.dport, p, []bool{true})[0]
		if got := c.OrigPort == tt.dport; got != tt.flipped {
			t.Errorf("UDP %d > %d: flipped %v, want %v", tt.sport, tt.dport, got, tt.flipped)
		}
	}

	// A reply first: a DNS response or an NTP server's message flips the
	// roles whatever the ports, as Zeek's analyzers do.
	dnsResponse := []byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 9}
	dnsQuery := slices.Clone(dnsResponse[:17])
	dnsQuery[2], dnsQuery[3], dnsQuery[7] = 1, 0, 0
	ntpServer := append([]byte{0x24, 2}, make([]byte, 46)...)
	for _, tt := range []struct {
		name         string
		sport, dport uint16
		payload      []byte
		history      string
		flipped      bool
	}{
		{"DNS response between two port 53s", 53, 53, dnsResponse, "^d", true},
		{"DNS response from a server on 5300", 5300, 40000, dnsResponse, "^d", true},
		{"DNS query between two port 53s", 53, 53, dnsQuery, "D", false},
		{"NTP server's message between two port 123s", 123, 123, ntpServer, "^d", true},
	} {
		p := []pcapread.Packet{{Timestamp: base, Proto: ipproto.UDP, IPBytes: uint32(28 + len(tt.payload)), PayloadLen: uint32(len(tt.payload)), Payload: tt.payload}}
		c := runCraftedPorts(tt.sport, tt.dport, p, []bool{true})[0]
		if got := c.Orig == netip.MustParseAddr("10.0.0.2"); got != tt.flipped || c.History != tt.history {
			t.Errorf("%s: flipped %v history %q, want %v %q", tt.name, got, c.History, tt.flipped, tt.history)
		}
	}
}

func TestTimeoutsSplitConversations(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.53")
	run := func(times ...time.Duration) []*Conn {
		var out []*Conn
		tab := NewTable(DefaultConfig, func(c *Conn) { out = append(out, c) })
		tab.SetFile("a.pcap")
		for _, at := range times {
			p := pcapread.Packet{Timestamp: int64(at), Src: a, Dst: b, Proto: ipproto.UDP, SrcPort: 5000, DstPort: 53, HasPorts: true, IPBytes: 60, PayloadLen: 32}
			tab.Add(&p)
		}
		tab.Flush()
		return out
	}
	out := run(0, 30*time.Second, 3*time.Minute)
	if len(out) != 2 {
		t.Fatalf("%d conversations, want 2 (the UDP timeout is one minute)", len(out))
	}
	if out[0].OrigPkts != 2 || out[0].ConnState != "S0" || out[0].History != "D" {
		t.Errorf("first conversation %+v", out[0])
	}
	// A packet exactly the timeout after the last starts a new one: Zeek's
	// inactivity timer expires at the limit, not past it.
	if out := run(0, 30*time.Second, 90*time.Second); len(out) != 2 {
		t.Errorf("%d conversations, want 2: the third packet came exactly the UDP timeout after the second", len(out))
	}
}

// TestBadChecksumLetter checks that a segment with a wrong checksum sets
// C for its side, once, and is still counted.
func TestBadChecksumLetter(t *testing.T) {
	var pkts []pcapread.Packet
	for i, bad := range []bool{false, true, true} {
		pkts = append(pkts, pcapread.Packet{Timestamp: int64(i) * 1e6, Proto: ipproto.UDP,
			PayloadLen: 10, IPBytes: 38, BadChecksum: bad})
	}
	out := runCrafted(53, pkts, []bool{true, true, true})
	if len(out) != 1 || out[0].History != "DC" || out[0].OrigPkts != 3 {
		t.Fatalf("got %+v", out)
	}
}

// TestNoAllocationsPerPacketInTable checks that a packet of a live
// conversation costs the flow table no allocation once identification is
// over: data segments after the payload was identified (or given up on)
// and acknowledgements.
func TestNoAllocationsPerPacketInTable(t *testing.T) {
	tab := NewTable(DefaultConfig, func(*Conn) {})
	tab.SetFile("allocs.pcap")
	client, server := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	payload := make([]byte, 1400)
	for i := range payload {
		payload[i] = byte(i*7 + i>>3) // no protocol's signature
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	seq, n := uint32(1001), 0
	add := func(fromClient bool, flags uint8, data []byte) {
		p := pcapread.Packet{Timestamp: base + int64(n)*1000, Proto: ipproto.TCP, HasPorts: true, TCPFlags: flags,
			Window: 64240, IPBytes: uint32(40 + len(data)), PayloadLen: uint32(len(data)), Payload: data, Record: int64(n + 1)}
		if fromClient {
			p.Src, p.Dst, p.SrcPort, p.DstPort, p.Seq, p.Ack = client, server, 40000, 443, seq, 5001
			seq += uint32(len(data))
		} else {
			p.Src, p.Dst, p.SrcPort, p.DstPort, p.Seq, p.Ack = server, client, 443, 40000, 5001, seq
		}
		n++
		tab.Add(&p)
	}
	add(true, S, nil)
	seq++
	add(false, S|A, nil)
	add(true, A, nil)
	for range 64 { // past the identification budget
		add(true, A|pcapread.FlagPSH, payload)
	}
	for _, tc := range []struct {
		name string
		add  func()
	}{
		{"data", func() { add(true, A|pcapread.FlagPSH, payload) }},
		{"ack", func() { add(false, A, nil) }},
	} {
		if allocs := testing.AllocsPerRun(1000, tc.add); allocs != 0 {
			t.Errorf("%s: %v allocations per packet, want 0", tc.name, allocs)
		}
	}
}

// TestHeaderCutPackets: TCP packets whose header the snap length cut after
// the ports count in their conversation (packets, IP bytes, duration), as
// tshark counts them, without touching its state.
func TestHeaderCutPackets(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	full := func(at time.Duration, flags uint8, seq, ack uint32) pcapread.Packet {
		return pcapread.Packet{Timestamp: base + int64(at), Proto: ipproto.TCP, TCPFlags: flags, Seq: seq, Ack: ack, IPBytes: 40, Window: 64240}
	}
	cut := func(at time.Duration) pcapread.Packet {
		return pcapread.Packet{Timestamp: base + int64(at), Proto: ipproto.TCP, HeaderCut: true, Truncated: true, PayloadLen: 1000, IPBytes: 1060}
	}
	ms := time.Millisecond
	tests := []struct {
		name                   string
		pkts                   []pcapread.Packet
		fromOrig               []bool
		state, history         string
		origPkts, origIP, resp uint64
		duration               time.Duration
	}{
		{"inside a connection",
			[]pcapread.Packet{full(0, S, 100, 0), full(ms, S|A, 500, 101), full(2*ms, A, 101, 501), cut(3 * ms), cut(4 * ms),
				full(5*ms, F|A, 2101, 501), full(6*ms, F|A, 501, 2102), full(7*ms, A, 2102, 502)},
			[]bool{true, false, true, true, true, true, false, true}, "SF", "ShAFf", 6, 4*40 + 2*1060, 2, 6 * ms}, // the last ACK comes after both FINs
		{"nothing but cut packets", []pcapread.Packet{cut(0), cut(ms), cut(2 * ms)}, []bool{true, false, true}, "OTH", "", 2, 2 * 1060, 1, 2 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conns := runCrafted(80, tt.pkts, tt.fromOrig)
			if len(conns) != 1 {
				t.Fatalf("%d conversations, want 1", len(conns))
			}
			c := conns[0]
			if c.Orig != netip.MustParseAddr("10.0.0.1") {
				t.Errorf("originator %v, want the client", c.Orig)
			}
			if c.ConnState != tt.state || c.History != tt.history || c.OrigPkts != tt.origPkts || c.OrigIPBytes != tt.origIP ||
				c.RespPkts != tt.resp || time.Duration(c.Duration) != tt.duration {
				t.Errorf("conn_state %s history %q orig %d pkts %d IP bytes, resp %d pkts, duration %v; want %s %q %d %d %d %v",
					c.ConnState, c.History, c.OrigPkts, c.OrigIPBytes, c.RespPkts, time.Duration(c.Duration),
					tt.state, tt.history, tt.origPkts, tt.origIP, tt.resp, tt.duration)
			}
		})
	}
}

// TestMaxKept: a flood of DNS responses whose answers have long names of
// their own keeps at most about keptPerLive bytes of them for each of
// MaxLive; the longest idle conversations are ended early, counted and
// written, the same every run, and the table's count of kept bytes comes
// back to nothing once every conversation is finished. Responses of one
// short answer, as many, end none early.
func TestMaxKept(t *testing.T) {
	const n, maxLive = 2000, 4000
	resolver, vm := netip.MustParseAddr("10.53.0.1"), netip.MustParseAddr("10.1.0.4")
	response := func(i, answers int) []byte {
		m := []byte{byte(i >> 8), byte(i), 0x81, 0x80, 0, 1, 0, byte(answers), 0, 0, 0, 0, 3, 'c', 'd', 'n', 0, 0, 28, 0, 1}
		for j := range answers {
			name := fmt.Sprintf("%056x", i*answers+j)
			m = append(m, byte(len(name)))
			m = append(append(m, name...), 0, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16)
			addr := [16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(i >> 8), byte(i), byte(j), 1}
			m = append(m, addr[:]...)
		}
		return m
	}
	run := func(answers int) (out []*Conn, maxKept int, early int64) {
		cfg := DefaultConfig
		cfg.MaxLive = maxLive
		tab := NewTable(cfg, func(c *Conn) { out = append(out, c) })
		tab.SetFile("answers.pcap")
		for i := range n {
			payload := response(i, answers)
			p := pcapread.Packet{Timestamp: int64(i) * int64(time.Millisecond), Src: resolver, Dst: vm, Proto: ipproto.UDP,
				SrcPort: 53, DstPort: uint16(1024 + i), HasPorts: true, IPBytes: uint32(28 + len(payload)), PayloadLen: uint32(len(payload)), Payload: payload}
			tab.Add(&p)
			maxKept = max(maxKept, tab.kept)
		}
		early = tab.EndedEarly()
		tab.Flush()
		if tab.kept != 0 {
			t.Errorf("%d bytes kept once every conversation is finished", tab.kept)
		}
		return out, maxKept, early
	}
	out, kept, early := run(32)
	// Checked at checkpoints: the answers (4 KB a response) of as many
	// responses as the lag of the checkpoints, and one more, past it.
	if bound := maxLive*keptPerLive + (roomLag*int(roomEvery(maxLive))+1)*4<<10; kept > bound || early == 0 || len(out) != n {
		t.Errorf("%d bytes kept at most (bound %d), %d ended early, %d written", kept, bound, early, len(out))
	}
	again, _, _ := run(32)
	for i := range out {
		if out[i].UID != again[i].UID {
			t.Fatal("conversations ended early in another order on a second run")
		}
	}
	if _, kept, early := run(1); early != 0 {
		t.Errorf("responses of one answer: %d ended early (%d bytes kept at most)", early, kept)
	}
}

// TestStreamBytesCountAsKept: a flood of HTTP requests that the server never
// answers, each with 4 KB of headers, which the HTTP reader holds until an
// answer comes: the bytes held count among those kept, so MaxLive bounds
// them as it bounds names and answers; the longest idle conversations end
// early, and the count comes back to nothing at the end.
func TestStreamBytesCountAsKept(t *testing.T) {
	const n, maxLive = 2000, 4000
	server := netip.MustParseAddr("10.1.0.4")
	request := []byte("GET / HTTP/1.1\r\nHost: www.example.com\r\nCookie: " + strings.Repeat("c", 4096) + "\r\n\r\n")
	cfg := DefaultConfig
	cfg.MaxLive = maxLive
	written := 0
	tab := NewTable(cfg, func(*Conn) { written++ })
	tab.SetFile("get-flood.pcap")
	maxKept := 0
	for i := range n {
		client := netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)})
		for _, p := range connection(int64(i)*int64(time.Millisecond), client, server, 80, request) {
			tab.Add(&p)
		}
		maxKept = max(maxKept, tab.kept)
	}
	early := tab.EndedEarly()
	tab.Flush()
	if bound := maxLive*keptPerLive + (roomLag*int(roomEvery(maxLive))+1)*len(request)*2; maxKept > bound || early == 0 || written != n || tab.kept != 0 {
		t.Errorf("%d bytes kept at most (bound %d), %d ended early, %d written of %d, %d kept at the end", maxKept, bound, early, written, n, tab.kept)
	}
}

// TestSlotsGivenBack: once the conversations of a flood have ended, the
// table gives back the slots they held, full and lite, but for a chunk
// of each; the conversations after them are still all written.
func TestSlotsGivenBack(t *testing.T) {
	const n = 5 * slabChunk
	var written int
	tab := NewTable(DefaultConfig, func(*Conn) { written++ })
	tab.SetFile("flood.pcap")
	vm := netip.MustParseAddr("10.0.0.4")
	flood := func(start int64) {
		for i := range n {
			src := netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)})
			at := start + int64(i)*int64(time.Millisecond)
			syn := pcapread.Packet{Timestamp: at, Src: src, Dst: vm, Proto: ipproto.TCP, SrcPort: 40000, DstPort: 443, HasPorts: true,
				IPBytes: 40, TCPFlags: pcapread.FlagSYN}
			reply := pcapread.Packet{Timestamp: at, Src: vm, Dst: src, Proto: ipproto.TCP, SrcPort: 443, DstPort: 40000, HasPorts: true,
				IPBytes: 40, TCPFlags: pcapread.FlagSYN | pcapread.FlagACK, Ack: 1}
			udp := pcapread.Packet{Timestamp: at, Src: src, Dst: vm, Proto: ipproto.UDP, SrcPort: 40000, DstPort: 9999, HasPorts: true,
				IPBytes: 29, PayloadLen: 1}
			tab.Add(&syn)
			tab.Add(&reply)
			tab.Add(&udp)
		}
	}
	flood(0)
	if full, lite := tab.convs.len(), tab.lites.len(); full < n || lite < n {
		t.Fatalf("%d full and %d lite slots for %d conversations of each", full, lite, n)
	}
	late := int64(time.Hour) // past every timeout: the next sweep ends them all
	flood(late)
	if full, lite := tab.convs.len(), tab.lites.len(); full > n+2*slabChunk || lite > n+2*slabChunk {
		t.Errorf("after the first flood ended: %d full and %d lite slots for %d live of each", full, lite, n)
	}
	tab.sweep(2 * late)
	if full, lite := tab.convs.len(), tab.lites.len(); full > slabChunk || lite > slabChunk || tab.Live() != 0 ||
		len(tab.free) != int(full) || len(tab.liteFree) != int(lite) || len(tab.insp) != int(full) || len(tab.liteDeadlines) != int(lite) {
		t.Errorf("all ended: %d full slots (%d free, %d inspections), %d lite (%d free, %d deadlines), %d live",
			full, len(tab.free), len(tab.insp), lite, len(tab.liteFree), len(tab.liteDeadlines), tab.Live())
	}
	flood(3 * late)
	tab.Flush()
	if written != 6*n {
		t.Errorf("%d conversations written, want %d", written, 6*n)
	}
}

// TestMaxLive: a flood of one-packet flows keeps at most MaxLive
// conversations in progress, and those of the checkpoints' lag; the longest idle are ended early, counted,
// and still written, so no packet is lost; the choice is the same every
// run. Conversations that have expired are finished first, so a SYN
// flood whose attempts time out in time ends none early and gives the
// records a table without the limit gives.
func TestMaxLive(t *testing.T) {
	b := netip.MustParseAddr("10.0.0.4")
	udp := func(i int) pcapread.Packet {
		return pcapread.Packet{Timestamp: int64(i) * int64(time.Millisecond), Src: netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), Dst: b,
			Proto: ipproto.UDP, SrcPort: 40000, DstPort: 9999, HasPorts: true, IPBytes: 29, PayloadLen: 1}
	}
	syn := func(i int) pcapread.Packet { // every 100 ms; each attempt expires after 5 s
		return pcapread.Packet{Timestamp: int64(i) * int64(100*time.Millisecond), Src: netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), Dst: b,
			Proto: ipproto.TCP, SrcPort: 40000, DstPort: 443, HasPorts: true, IPBytes: 40, TCPFlags: pcapread.FlagSYN, Seq: uint32(i)}
	}
	run := func(packet func(int) pcapread.Packet, maxLive int) (out []*Conn, live int, early int64) {
		cfg := DefaultConfig
		cfg.MaxLive = maxLive
		tab := NewTable(cfg, func(c *Conn) { out = append(out, c) })
		tab.SetFile("flood.pcap")
		for i := range 1000 {
			p := packet(i)
			tab.Add(&p)
			live = max(live, tab.Live())
		}
		early = tab.EndedEarly()
		tab.Flush()
		slices.SortFunc(out, func(a, b *Conn) int { return strings.Compare(a.UID, b.UID) })
		return out, live, early
	}
	for _, tc := range []struct {
		name               string
		packet             func(int) pcapread.Packet
		minEarly, maxEarly int64
	}{
		{"udp flows, 1 ms apart", udp, 800, 1000},
		{"syn flood, expiring", syn, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, live, early := run(tc.packet, 100)
			if live > 100+roomLag*int(roomEvery(100)) || early < tc.minEarly || early > tc.maxEarly || len(out) != 1000 {
				t.Errorf("%d live at most, %d ended early, %d written", live, early, len(out))
			}
			again, _, _ := run(tc.packet, 100)
			for i := range out {
				if out[i].UID != again[i].UID {
					t.Fatal("conversations ended early in another order on a second run")
				}
			}
			if early > 0 {
				return
			}
			unlimited, _, _ := run(tc.packet, 1000)
			for i := range out {
				if !reflect.DeepEqual(out[i], unlimited[i]) {
					t.Fatalf("conversation %d: %+v, without the limit %+v", i, out[i], unlimited[i])
				}
			}
		})
	}
}

// TestSnapLengthCutIsMissed: payload the snap length cut is never had, so
// it counts as missed once the peer acknowledges it, as Zeek's
// reassembler counts it; payload captured whole does not.
func TestSnapLengthCutIsMissed(t *testing.T) {
	for _, cut := range []bool{false, true} {
		mk := func(fromOrig bool, flags uint8, seq, ack uint32, n, captured int, at time.Duration) pcapread.Packet {
			return pcapread.Packet{Timestamp: int64(at), Proto: ipproto.TCP, TCPFlags: flags, Seq: seq, Ack: ack, Window: 1000,
				PayloadLen: uint32(n), Payload: make([]byte, captured), IPBytes: uint32(40 + n), Truncated: captured < n}
		}
		captured := 100
		if cut {
			captured = 10
		}
		pkts := []pcapread.Packet{
			mk(true, S, 100, 0, 0, 0, 0), mk(false, S|A, 500, 101, 0, 0, time.Millisecond), mk(true, A, 101, 501, 0, 0, 2*time.Millisecond),
			mk(true, PA, 101, 501, 100, captured, 3*time.Millisecond), mk(false, A, 501, 201, 0, 0, 4*time.Millisecond),
		}
		conns := runCrafted(80, pkts, []bool{true, false, true, true, false})
		if len(conns) != 1 {
			t.Fatalf("%d conversations", len(conns))
		}
		want := uint64(0)
		if cut {
			want = 90
		}
		if c := conns[0]; c.MissedBytes != want || c.OrigBytes != 100 {
			t.Errorf("cut %v: missed %d, orig_bytes %d (history %s), want %d and 100", cut, c.MissedBytes, c.OrigBytes, c.History, want)
		}
	}
}

// TestGapAfterCloseIsMissed: bytes acknowledged but never captured count
// as missed after a side has closed too (Zeek), without a history letter.
func TestGapAfterCloseIsMissed(t *testing.T) {
	ms := time.Millisecond
	conns := runTCP(t, []seg{
		{true, S, 100, 0, 0, 0}, {false, S | A, 500, 101, 0, ms}, {true, A, 101, 501, 0, 2 * ms},
		{false, F | A, 501, 101, 0, 3 * ms}, // the server closes
		{true, PA, 101, 502, 10, 4 * ms},    // the client sends 10 bytes
		{false, A, 502, 161, 0, 5 * ms},     // the server acknowledges 60: 50 never captured
		{true, F | A, 161, 502, 0, 6 * ms}, {false, A, 502, 162, 0, 7 * ms},
	})
	if c := conns[0]; c.MissedBytes != 50 || strings.ContainsAny(c.History, "Gg") {
		t.Errorf("missed %d, history %s; want 50 and no gap letter", c.MissedBytes, c.History)
	}
}

// TestTunnelParents: a conversation that came out of a tunnel names its
// carriers' uids, and the carrier has the tunnel as its service; a Teredo
// carrier only once both sides used it (Zeek).
func TestTunnelParents(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	in1, in2 := netip.MustParseAddr("10.244.1.5"), netip.MustParseAddr("10.244.2.7")
	var out []*Conn
	tab := NewTable(DefaultConfig, func(c *Conn) { out = append(out, c) })
	tab.SetFile("vxlan.pcap")
	for i := range 3 {
		at := int64(i) * int64(time.Millisecond)
		tab.Add(&pcapread.Packet{Timestamp: at, Src: a, Dst: b, Proto: ipproto.UDP, SrcPort: 51000, DstPort: 4789, HasPorts: true,
			IPBytes: 100, PayloadLen: 72, Carries: pcapread.TunnelVXLAN, Record: int64(i + 1)})
		tab.Add(&pcapread.Packet{Timestamp: at, Src: in1, Dst: in2, Proto: ipproto.TCP, SrcPort: 40000, DstPort: 8080, HasPorts: true,
			IPBytes: 40, TCPFlags: pcapread.FlagSYN, Seq: 7, Tunnel: pcapread.TunnelVXLAN, Record: int64(i + 1)})
	}
	tab.Flush()
	var carrier, inner *Conn
	for _, c := range out {
		if c.Proto == ipproto.UDP {
			carrier = c
		} else {
			inner = c
		}
	}
	if carrier == nil || inner == nil || carrier.Service != "vxlan" || !slices.Equal(inner.TunnelParents, []string{carrier.UID}) || carrier.TunnelParents != nil {
		t.Fatalf("carrier %+v, inner %+v", carrier, inner)
	}
}

// TestUnidentifiedPayload: datagrams no protocol claims, captured whole,
// leave their bytes in the record's facts (whether through a lite slot or
// not); the same cut by the snap length leave nothing.
func TestUnidentifiedPayload(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for _, cut := range []bool{false, true} {
		payload := bytes.Repeat([]byte{0x17, 0x03, 0x99}, 40)
		var pkts []pcapread.Packet
		for i := range 3 {
			p := pcapread.Packet{Timestamp: base + int64(i)*int64(time.Second), Proto: ipproto.UDP, IPBytes: uint32(28 + 120), PayloadLen: 120, Payload: payload}
			if cut {
				p.Payload, p.Truncated = payload[:40], true
			}
			pkts = append(pkts, p)
		}
		c := runCraftedPorts(40000, 53, pkts, []bool{true, false, true})[0]
		got := int(c.Unidentified)
		if want := map[bool]int{false: 360, true: 0}[cut]; got != want || c.Service != "" {
			t.Errorf("cut %v: %d unidentified bytes, service %q; want %d", cut, got, c.Service, want)
		}
	}
}

// TestFTPData: the data connections an FTP control connection announces,
// passive (227, 229) or active (PORT), are ftp-data, as Zeek names them;
// one on another port, or after the announcement expired, is not.
func TestFTPData(t *testing.T) {
	client, server := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	run := func(reply, command string, data pcapread.Packet) string {
		var out []*Conn
		tab := NewTable(DefaultConfig, func(c *Conn) { out = append(out, c) })
		tab.SetFile("ftp.pcap")
		pkt := func(at time.Duration, src, dst netip.Addr, sport, dport uint16, flags uint8, seq, ack uint32, payload string) {
			p := pcapread.Packet{Timestamp: base + int64(at), Src: src, Dst: dst, SrcPort: sport, DstPort: dport, HasPorts: true,
				Proto: ipproto.TCP, TCPFlags: flags, Seq: seq, Ack: ack, PayloadLen: uint32(len(payload)), Payload: []byte(payload),
				IPBytes: uint32(40 + len(payload)), Window: 64240}
			tab.Add(&p)
		}
		ms := time.Millisecond
		pkt(0, client, server, 40000, 21, S, 100, 0, "")
		pkt(ms, server, client, 21, 40000, S|A, 500, 101, "")
		pkt(2*ms, client, server, 40000, 21, A, 101, 501, "")
		greeting := "220 FTP server ready\r\n"
		pkt(3*ms, server, client, 21, 40000, PA, 501, 101, greeting)
		pkt(4*ms, client, server, 40000, 21, PA, 101, 501+uint32(len(greeting)), command)
		pkt(5*ms, server, client, 21, 40000, PA, 501+uint32(len(greeting)), 101+uint32(len(command)), reply)
		data.Timestamp += base
		data.HasPorts, data.Proto, data.TCPFlags, data.IPBytes, data.Window = true, ipproto.TCP, S, 40, 64240
		tab.Add(&data)
		tab.Flush()
		for _, c := range out {
			if c.RespPort != 21 {
				return c.Service
			}
		}
		return "no data connection"
	}
	passive := pcapread.Packet{Timestamp: int64(time.Second), Src: client, Dst: server, SrcPort: 40001, DstPort: 5001}
	active := pcapread.Packet{Timestamp: int64(time.Second), Src: server, Dst: client, SrcPort: 20, DstPort: 6000}
	for _, tt := range []struct {
		name, reply, command string
		data                 pcapread.Packet
		want                 string
	}{
		{"PASV", "227 Entering Passive Mode (10,0,0,2,19,137).\r\n", "PASV\r\n", passive, "ftp-data"},
		{"EPSV", "229 Entering Extended Passive Mode (|||5001|)\r\n", "EPSV\r\n", passive, "ftp-data"},
		{"PORT", "200 PORT command successful\r\n", "PORT 10,0,0,1,23,112\r\n", active, "ftp-data"},
		{"EPRT", "200 EPRT command successful\r\n", "EPRT |1|10.0.0.1|6000|\r\n", active, "ftp-data"},
		{"another port", "227 Entering Passive Mode (10,0,0,2,19,138).\r\n", "PASV\r\n", passive, ""},
		{"too late", "227 Entering Passive Mode (10,0,0,2,19,137).\r\n", "PASV\r\n",
			pcapread.Packet{Timestamp: int64(6 * time.Minute), Src: client, Dst: server, SrcPort: 40001, DstPort: 5001}, ""},
	} {
		if got := run(tt.reply, tt.command, tt.data); got != tt.want {
			t.Errorf("%s: service %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestExpectedIsBounded: a control connection announcing data
// connections without end holds at most maxExpected of them.
func TestExpectedIsBounded(t *testing.T) {
	tab := NewTable(DefaultConfig, func(*Conn) {})
	c := &conv{key: key{proto: ipproto.TCP}}
	for i := range 3 * maxExpected {
		tab.expect(c, []appid.Expected{{Port: uint16(i + 1)}})
	}
	if len(tab.expected) != maxExpected {
		t.Errorf("%d announcements held, want %d", len(tab.expected), maxExpected)
	}
}

// TestLocalFastPath: the IPv4 fast path says what the list of Zeek's
// private address space says, at every block's edges.
func TestLocalFastPath(t *testing.T) {
	var addrs []netip.Addr
	for _, p := range localNets {
		if !p.Addr().Is4() {
			continue
		}
		first := p.Masked().Addr()
		b := first.As4()
		end := binary.BigEndian.Uint32(b[:]) + 1<<(32-p.Bits()) - 1
		last := netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, end)))
		addrs = append(addrs, first, first.Prev(), first.Next(), last, last.Prev(), last.Next())
	}
	addrs = append(addrs, netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("172.32.0.1"), netip.MustParseAddr("100.128.0.1"))
	for _, a := range addrs {
		if !a.IsValid() {
			continue
		}
		want := false
		for _, p := range localNets {
			want = want || p.Contains(a)
		}
		if got := Local(a); got != want {
			t.Errorf("Local(%v) = %v, want %v", a, got, want)
		}
	}
}

// TestSessionAcrossTimeout: an RPC connection idle past the inactivity
// timeout (or cut by the gap between two capture files) continues as a
// second conversation, whose request on the context the first bound is
// named; not after a close, nor once a new handshake opens the tuple.
func TestSessionAcrossTimeout(t *testing.T) {
	bind, first, later := demogen.RPCBind(demogen.SvcctlUUID), demogen.RPCRequest(15), demogen.RPCRequest(12)
	type sent struct {
		at       time.Duration
		fromOrig bool
		flags    uint8
		seq, ack uint32
		data     []byte
	}
	const A, S, F, PA = pcapread.FlagACK, pcapread.FlagSYN, pcapread.FlagFIN, pcapread.FlagPSH | pcapread.FlagACK
	next := uint32(101 + len(bind) + len(first))
	opening := []sent{
		{0, true, S, 100, 0, nil}, {time.Millisecond, false, S | A, 500, 101, nil}, {2 * time.Millisecond, true, A, 101, 501, nil},
		{3 * time.Millisecond, true, PA, 101, 501, bind}, {time.Second, true, PA, 101 + 72, 501, first},
	}
	tests := []struct {
		name string
		then []sent
		want []string // the second conversation's operations
	}{
		{"idle past the timeout", []sent{{10 * time.Minute, true, PA, next, 501, later}}, []string{"svcctl:CreateServiceW"}},
		{"closed first", []sent{{2 * time.Second, true, F | A, next, 501, nil}, {2 * time.Second, false, F | A, 501, next + 1, nil},
			{10 * time.Minute, true, PA, next + 1, 502, later}}, nil},
		{"a new handshake", []sent{{10 * time.Minute, true, S, 9000, 0, nil}, {10 * time.Minute, false, S | A, 7000, 9001, nil},
			{10 * time.Minute, true, PA, 9001, 7001, later}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pkts []pcapread.Packet
			var dirs []bool
			for _, s := range slices.Concat(opening, tt.then) {
				pkts = append(pkts, pcapread.Packet{Timestamp: int64(s.at), Proto: ipproto.TCP, TCPFlags: s.flags, Seq: s.seq, Ack: s.ack,
					PayloadLen: uint32(len(s.data)), Payload: s.data, IPBytes: uint32(40 + len(s.data)), Window: 1000})
				dirs = append(dirs, s.fromOrig)
			}
			out := runCraftedPorts(40000, 49670, pkts, dirs)
			if len(out) != 2 {
				t.Fatalf("%d conversations, want 2", len(out))
			}
			var ops []string
			if f := out[1].App; f != nil && f.DCERPC != nil {
				ops = f.DCERPC.Operations
			}
			if !slices.Equal(ops, tt.want) {
				t.Errorf("operations %v, want %v", ops, tt.want)
			}
		})
	}
}
