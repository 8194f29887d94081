package flows

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netfx/netfx/internal/ipproto"
	"github.com/netfx/netfx/pcapread"
)

// input is one piece of an input: a capture's name and its packets.
type input struct {
	name    string
	packets []pcapread.Packet
}

// readInput reads capture files as one input.
func readInput(tb testing.TB, paths ...string) []input {
	tb.Helper()
	var in []input
	for _, path := range paths {
		r, err := pcapread.Open(path)
		if err != nil {
			tb.Fatal(err)
		}
		f := input{name: path}
		for r.Next() {
			p := *r.Packet()
			p.Payload = slices.Clone(p.Payload) // the reader reuses its buffer
			f.packets = append(f.packets, p)
		}
		r.Close() // a damaged capture gives what came before the damage

		in = append(in, f)
	}
	return in
}

// transcript runs an input through a Table (workers 0) or a Sharded one,
// in batches of batch packets (a Table packet by packet with Add, without
// looking ahead, for 0), and writes down everything handed on, in order:
// each conversation in full, and where each file ended.
func transcript(t *testing.T, cfg Config, in []input, workers, batch int) string {
	t.Helper()
	var out strings.Builder
	emit := func(c *Conn) {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	var tab Builder = NewTable(cfg, emit)
	if workers > 0 {
		tab = NewSharded(context.Background(), cfg, workers, emit)
	}
	for _, f := range in {
		tab.SetFile(f.name)
		for packets := f.packets; len(packets) > 0; {
			if batch == 0 {
				tab.(*Table).Add(&packets[0])
				packets = packets[1:]
				continue
			}
			n := min(batch, len(packets))
			tab.AddBatch(packets[:n], func() {})
			packets = packets[n:]
		}
		name := filepath.Base(f.name)
		tab.EndFile(func(early int64) { fmt.Fprintf(&out, "end of %s, %d ended early\n", name, early) })
	}
	tab.Flush()
	return out.String()
}

// TestShardedMatchesSerial: with any number of workers, and batches of
// any size, the conversations handed on and their order are those of a
// serial Table given one packet at a time (a batch's keys worked out
// ahead change nothing): on the demo's three captures read as one input, on a
// crafted input where conversations come out of tunnels between changing
// pairs of hosts (a Teredo client's server and relay, a GTP handover),
// and on every capture of the corpus (tunnels, FTP data, fragments, TCP
// reuse); on random packets between few hosts (reused tuples, stray
// flags, pauses past every timeout, tunnels in tunnels, payloads);
// and files that end with no packet between them end in order.
func TestShardedMatchesSerial(t *testing.T) {
	inputs := map[string][]input{
		"demo":      readInput(t, "../testdata/demo/vm1-capture-01.pcap", "../testdata/demo/vm1-capture-02.pcap", "../testdata/demo/vm1-capture-03.pcap"),
		"handovers": tunnelHandovers(t),
	}
	for seed := range uint64(3) {
		inputs[fmt.Sprintf("random %d", seed)] = randomInput(seed)
	}
	demo := inputs["demo"]
	inputs["files without packets"] = []input{{name: "empty-1.pcap"}, demo[0], {name: "empty-2.pcap"}, {name: "empty-3.pcap"}, demo[1], {name: "empty-4.pcap"}}
	corpus, _ := filepath.Glob("../../shared/corpus/pcap/*.pcap*")
	if len(corpus) == 0 {
		t.Log("corpus not found beside the project: the demo and crafted input only")
	}
	for _, path := range corpus {
		inputs[filepath.Base(path)] = readInput(t, path)
	}
	for _, name := range slices.Sorted(maps.Keys(inputs)) {
		want := transcript(t, DefaultConfig, inputs[name], 0, 0)
		if !strings.Contains(want, "end of") {
			t.Fatalf("%s: nothing read", name)
		}
		for _, run := range []struct{ workers, batch int }{{0, 256}, {0, 9}, {2, 256}, {3, 7}, {8, 1000}, {5, 1}} {
			if got := transcript(t, DefaultConfig, inputs[name], run.workers, run.batch); got != want {
				t.Errorf("%s, %d workers, batches of %d: differs from the serial table at line %d", name, run.workers, run.batch, firstDifference(got, want))
			}
		}
	}
}

// TestShardedMatchesSerialUnderBounds: when the conversations reach
// MaxLive, or the bytes their answers keep reach their bound, the
// workers end early the conversations a serial Table ends, in its order:
// on the random inputs, and on a flood of one-packet flows, SYNs and DNS
// responses of long answers from many hosts, which every worker gets a
// share of.
func TestShardedMatchesSerialUnderBounds(t *testing.T) {
	inputs := map[string][]input{"flood": floodInput()}
	maxLives := map[string][]int{"flood": {40, 300}}
	for seed := range uint64(2) {
		name := fmt.Sprintf("random %d", seed)
		inputs[name], maxLives[name] = randomInput(seed), []int{8}
	}
	for _, name := range slices.Sorted(maps.Keys(inputs)) {
		for _, maxLive := range maxLives[name] {
			cfg := DefaultConfig
			cfg.MaxLive = maxLive
			want := transcript(t, cfg, inputs[name], 0, 0)
			if !regexp.MustCompile(`[1-9][0-9]* ended early`).MatchString(want) {
				t.Fatalf("%s, MaxLive %d: none ended early, the input tests nothing", name, maxLive)
			}
			for _, run := range []struct{ workers, batch int }{{0, 256}, {2, 256}, {3, 7}, {8, 1000}} {
				if got := transcript(t, cfg, inputs[name], run.workers, run.batch); got != want {
					t.Errorf("%s, MaxLive %d, %d workers, batches of %d: differs from the serial table at line %d", name, maxLive, run.workers, run.batch, firstDifference(got, want))
				}
			}
		}
	}
}

// FuzzShardedMatchesSerial: whatever the packets, a Sharded table under
// a small MaxLive hands on what a serial Table does, in its order. Each
// four bytes of the input make a packet: its hosts (of 16, a few of them
// tunnel ends), protocol and flags, ports, and how far time moves on.
func FuzzShardedMatchesSerial(f *testing.F) {
	f.Add([]byte("\x01\x23\x45\x67\x89\xab\xcd\xef\x10\x32\x54\x76\x98\xba\xdc\xfe"))
	f.Add(slices.Repeat([]byte{0x12, 0x80, 0x07, 0x00, 0x21, 0x41, 0x07, 0x01}, 40))
	f.Add(slices.Repeat([]byte{0x3c, 0xf1, 0x22, 0x05, 0xc3, 0x12, 0x13, 0xff, 0x00, 0x00, 0x00, 0x00}, 30))
	many := make([]byte, 2400) // many hosts and ports at once: room is made often
	for i := range many {
		many[i] = byte(i*131 + i*i*7)
		if i%4 == 3 {
			many[i] = byte(i % 3) // a few milliseconds apart
		}
	}
	f.Add(many)
	f.Fuzz(func(t *testing.T, data []byte) {
		var packets []pcapread.Packet
		at := int64(1_700_000_000) * int64(time.Second)
		host := func(b byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, b & 15}) }
		for ; len(data) >= 4 && len(packets) < 4000; data = data[4:] {
			at += int64(data[3]) * int64(data[3]) * int64(time.Millisecond)
			record := int64(len(packets) + 1)
			p := pcapread.Packet{Timestamp: at, Record: record, Src: host(data[0]), Dst: host(data[0] >> 4), HasPorts: true,
				SrcPort: 40000 + uint16(data[2]&3), DstPort: []uint16{22, 53, 443, 3544}[data[2]>>2&3], IPBytes: 60}
			switch data[1] & 3 {
			case 0, 1:
				p.Proto, p.TCPFlags, p.Seq = ipproto.TCP, data[1]&^pcapread.FlagURG, uint32(data[2])*100
			case 2:
				p.Proto, p.PayloadLen = ipproto.UDP, 8
			default:
				p.Proto, p.SrcPort, p.DstPort = ipproto.ICMP, 8, 0
			}
			packets = append(packets, p)
			if p.Proto == ipproto.UDP && p.DstPort == 3544 && data[2]&0x40 != 0 { // a Teredo carrier, and what came out of it
				packets[len(packets)-1].Carries = pcapread.TunnelTeredo
				inner := pcapread.Packet{Timestamp: at, Record: record, Src: host(data[2]), Dst: host(data[1]), Proto: ipproto.TCP, HasPorts: true,
					SrcPort: 50000, DstPort: 443, IPBytes: 40, TCPFlags: pcapread.FlagSYN, Tunnel: pcapread.TunnelTeredo}
				packets = append(packets, inner)
			}
		}
		in := []input{{name: "fuzz.pcap", packets: packets}}
		cfg := DefaultConfig
		cfg.MaxLive = 6
		want := transcript(t, cfg, in, 0, 0)
		for _, workers := range []int{2, 5} {
			if got := transcript(t, cfg, in, workers, 16); got != want {
				t.Fatalf("%d workers: differs from the serial table at line %d", workers, firstDifference(got, want))
			}
		}
	})
}

// floodInput crafts 6,000 packets a millisecond apart: one-packet UDP
// flows and SYNs from many sources to four hosts, and DNS responses of
// eight 60-byte names each to as many ports.
func floodInput() []input {
	rng := rand.New(rand.NewPCG(3, 4))
	vm := func() netip.Addr { return netip.AddrFrom4([4]byte{10, 1, 0, byte(4 + rng.IntN(4))}) }
	source := func() netip.Addr { return netip.AddrFrom4([4]byte{10, 9, byte(rng.IntN(256)), byte(rng.IntN(256))}) }
	resolver := netip.MustParseAddr("10.53.0.1")
	var packets []pcapread.Packet
	for i := range 6000 {
		p := pcapread.Packet{Timestamp: int64(i) * int64(time.Millisecond), Record: int64(i + 1), HasPorts: true, SrcPort: uint16(1024 + rng.IntN(60000))}
		switch rng.IntN(3) {
		case 0:
			p.Src, p.Dst, p.Proto, p.DstPort, p.IPBytes, p.PayloadLen = source(), vm(), ipproto.UDP, 9999, 29, 1
		case 1:
			p.Src, p.Dst, p.Proto, p.DstPort, p.IPBytes, p.TCPFlags, p.Seq = source(), vm(), ipproto.TCP, 443, 40, pcapread.FlagSYN, rng.Uint32()
		default:
			m := []byte{byte(i >> 8), byte(i), 0x81, 0x80, 0, 1, 0, 8, 0, 0, 0, 0, 3, 'c', 'd', 'n', 0, 0, 1, 0, 1}
			for j := range 8 {
				name := fmt.Sprintf("%060x", i*8+j)
				m = append(append(append(m, byte(len(name))), name...), 0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 2, byte(i), byte(j))
			}
			p.Src, p.Dst, p.Proto, p.SrcPort, p.DstPort = resolver, vm(), ipproto.UDP, 53, p.SrcPort
			p.Payload, p.PayloadLen, p.IPBytes = m, uint32(len(m)), uint32(28+len(m))
		}
		packets = append(packets, p)
	}
	return []input{{name: "flood.pcap", packets: packets}}
}

// tunnelHandovers crafts conversations out of UDP tunnels whose carriers
// change hosts mid-conversation, and pause past the UDP timeout so that a
// carrier restarts, among plain conversations between many hosts; at
// least one packet out of a tunnel goes to another worker than its
// carrier with 8 workers.
func tunnelHandovers(t *testing.T) []input {
	t.Helper()
	host := func(net, i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(net), byte(i >> 8), byte(i)}) }
	rng := rand.New(rand.NewPCG(1, 2))
	var packets []pcapread.Packet
	var crossed bool
	at := int64(0)
	for i := range 4000 {
		at += rng.Int64N(int64(time.Second))
		if i%1000 == 999 {
			at += int64(2 * time.Minute) // every carrier and plain UDP conversation times out
		}
		record := int64(len(packets) + 1)
		client, server := host(1, rng.IntN(30)), host(2, rng.IntN(30))
		if rng.IntN(3) > 0 {
			packets = append(packets, pcapread.Packet{Timestamp: at, Src: client, Dst: server, Proto: ipproto.UDP,
				SrcPort: uint16(40000 + rng.IntN(4)), DstPort: 53, HasPorts: true, IPBytes: 60, PayloadLen: 32, Record: record})
			continue
		}
		// A tunnel from one of eight relays to one of four tunnel ends,
		// carrying one of a few TCP conversations either way.
		relay, end := host(3, rng.IntN(8)), host(4, rng.IntN(4))
		inner, peer := host(5, rng.IntN(3)), host(6, 0)
		src, dst, isrc, idst, sport, dport := relay, end, inner, peer, uint16(3544), uint16(50000)
		flags := uint8(pcapread.FlagSYN)
		if rng.IntN(2) == 0 {
			src, dst, isrc, idst, sport, dport = end, relay, peer, inner, 50000, 3544
			flags = pcapread.FlagSYN | pcapread.FlagACK
		}
		carrier := pcapread.Packet{Timestamp: at, Src: src, Dst: dst, Proto: ipproto.UDP, SrcPort: sport, DstPort: dport, HasPorts: true,
			IPBytes: 100, PayloadLen: 72, Carries: pcapread.TunnelTeredo, Record: record}
		out := pcapread.Packet{Timestamp: at, Src: isrc, Dst: idst, Proto: ipproto.TCP, SrcPort: 443, DstPort: 443, HasPorts: true,
			IPBytes: 40, TCPFlags: flags, Seq: 7, Tunnel: pcapread.TunnelTeredo, Record: record}
		if isrc == inner {
			out.SrcPort = 40000
		} else {
			out.DstPort = 40000
		}
		crossed = crossed || pairWorker(&carrier, 8) != pairWorker(&out, 8)
		packets = append(packets, carrier, out)
	}
	if !crossed {
		t.Fatal("no packet out of a tunnel goes to another worker than its carrier: the input tests nothing")
	}
	return []input{{name: "handovers.pcap", packets: packets}}
}

// firstDifference returns the first line (from 1) at which a and b differ.
func firstDifference(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}

// TestShardedStopsWhenCancelled: once its context is done, a Sharded
// table takes batches and flushes without blocking, whether its workers
// were busy or not, or making room together, and hands nothing on after
// Flush returns.
func TestShardedStopsWhenCancelled(t *testing.T) {
	flood := DefaultConfig
	flood.MaxLive = 40 // room is made every few packets, the workers waiting for each other
	for _, in := range []struct {
		name    string
		cfg     Config
		packets []pcapread.Packet
	}{
		{"demo", DefaultConfig, readInput(t, "../testdata/demo/vm1-capture-01.pcap")[0].packets},
		{"flood", flood, floodInput()[0].packets},
	} {
		for _, after := range []int{0, 1, 5} {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var handedOn atomic.Int64
			tab := NewSharded(ctx, in.cfg, 3, func(*Conn) { handedOn.Add(1) })
			tab.SetFile(in.name + ".pcap")
			packets := in.packets
			for i := 0; len(packets) > 0 && i < 2*eventsAhead+after; i++ {
				if i == after {
					cancel()
				}
				n := min(len(packets), 64)
				tab.AddBatch(packets[:n], func() {})
				packets = packets[n:]
			}
			done := make(chan struct{})
			go func() {
				tab.Flush()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s, cancelled after %d batches: Flush still blocked after 10 s", in.name, after)
			}
			n := handedOn.Load()
			time.Sleep(10 * time.Millisecond)
			if handedOn.Load() != n {
				t.Errorf("%s, cancelled after %d batches: conversations handed on after Flush returned", in.name, after)
			}
		}
	}
}

// randomInput makes two files of random packets between a few hosts, so
// that tuples are reused and conversations time out, split and resume:
// TCP with any flags and sequence numbers, UDP (DNS and other ports),
// ICMP, payloads from the demo's protocols, and frames carrying one or
// two tunnels.
func randomInput(seed uint64) []input {
	rng := rand.New(rand.NewPCG(seed, 7))
	host := func() netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + rng.IntN(12))}) }
	payloads := [][]byte{nil, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []byte("SSH-2.0-OpenSSH_9.6\r\n"),
		{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0, 0, 1, 0}, []byte("HTTP/1.1 200 OK\r\n\r\n"), {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}}
	pauses := []int64{int64(time.Millisecond), int64(time.Second), int64(6 * time.Second), int64(11 * time.Second), int64(90 * time.Second), int64(6 * time.Minute)}
	var files []input
	at := int64(1_700_000_000) * int64(time.Second)
	for f := range 2 {
		in := input{name: fmt.Sprintf("random-%d-%d.pcap", seed, f)}
		for range 6000 {
			at += pauses[min(rng.IntN(40), len(pauses)-1)] * int64(rng.IntN(2))
			record := int64(len(in.packets) + 1)
			var frame []pcapread.Packet
			for depth := range 1 + rng.IntN(3)*rng.IntN(2) {
				p := pcapread.Packet{Timestamp: at, Record: record, Src: host(), Dst: host(), HasPorts: true, IPBytes: uint32(40 + rng.IntN(1400))}
				switch rng.IntN(4) {
				case 0, 1:
					p.Proto, p.SrcPort, p.DstPort = ipproto.TCP, uint16(40000+rng.IntN(3)), []uint16{22, 80, 443, 445}[rng.IntN(4)]
					p.TCPFlags, p.Seq, p.Ack = uint8(rng.IntN(256))&^pcapread.FlagURG, uint32(rng.IntN(4))*1000, uint32(rng.IntN(4))*1000
				case 2:
					p.Proto, p.SrcPort, p.DstPort = ipproto.UDP, uint16(50000+rng.IntN(3)), []uint16{53, 123, 3544, 9999}[rng.IntN(4)]
				default:
					p.Proto, p.SrcPort, p.DstPort = ipproto.ICMP, uint16(rng.IntN(2)*8), 0
				}
				if rng.IntN(2) == 0 {
					p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
				}
				if p.Proto != ipproto.ICMP {
					p.Payload = payloads[rng.IntN(len(payloads))]
					p.PayloadLen = uint32(len(p.Payload))
				}
				if depth > 0 {
					p.Tunnel = pcapread.TunnelTeredo
				}
				frame = append(frame, p)
			}
			for i := range len(frame) - 1 {
				frame[i].Carries = pcapread.TunnelTeredo
			}
			in.packets = append(in.packets, frame...)
		}
		files = append(files, in)
	}
	return files
}
