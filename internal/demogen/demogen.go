// Package demogen writes the demo evidence in testdata/demo: consecutive
// packet captures of one Azure-like VM, deterministic for a given seed. Run
// "go run ./internal/demogen/cmd" to regenerate it; a test checks that the
// committed files match.
package demogen

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The scenario: VM 10.1.0.4 in VNet 10.1.0.0/16 talks to a domain
// controller, a file server and a database in the VNet, to Azure's platform
// address 168.63.129.16, and to internet hosts in the documentation ranges.
var (
	vm         = netip.MustParseAddr("10.1.0.4")
	dc         = netip.MustParseAddr("10.1.0.5")
	fileServer = netip.MustParseAddr("10.1.1.10")
	database   = netip.MustParseAddr("10.1.2.20")
	azureDNS   = netip.MustParseAddr("168.63.129.16")
	internet   = []netip.Addr{
		netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.25"),
		netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("198.51.100.80"),
		netip.MustParseAddr("192.0.2.44"),
	}
	vmMAC      = []byte{0x00, 0x0d, 0x3a, 0x10, 0x00, 0x04}
	gatewayMAC = []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc}
)

// Capture is one capture file of the scenario.
type Capture struct {
	Name       string
	Start, End time.Time
}

// Captures are the three consecutive captures: the first two with a
// 20-minute gap, the last starting 90 seconds after the second ended, so a
// long SSH session runs from one file into the next.
var Captures = []Capture{
	{"vm1-capture-01.pcap", time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC), time.Date(2026, 3, 14, 10, 10, 0, 0, time.UTC)},
	{"vm1-capture-02.pcap", time.Date(2026, 3, 14, 10, 30, 0, 0, time.UTC), time.Date(2026, 3, 14, 10, 40, 0, 0, time.UTC)},
	{"vm1-capture-03.pcap", time.Date(2026, 3, 14, 10, 41, 30, 0, time.UTC), time.Date(2026, 3, 14, 10, 50, 0, 0, time.UTC)},
}

// packet is one frame with its time.
type packet struct {
	ts   time.Time
	data []byte
}

// Write writes the demo captures into dir.
func Write(dir string, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	g := &generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), port: 49152}
	for i, c := range Captures {
		g.packets = g.packets[:0]
		g.scenario(c, i)
		if err := g.write(filepath.Join(dir, c.Name), c); err != nil {
			return err
		}
	}
	return nil
}

type generator struct {
	rng     *rand.Rand
	packets []packet
	port    uint16
	carry   []packet // packets of the long session that fall into the next capture
}

func (g *generator) ephemeral() uint16 {
	g.port++
	if g.port == 0 {
		g.port = 49152
	}
	return g.port
}

// scenario generates the traffic of one capture window.
func (g *generator) scenario(c Capture, index int) {
	span := c.End.Sub(c.Start)
	at := func() time.Time { return c.Start.Add(time.Duration(g.rng.Int64N(int64(span - 30*time.Second)))) }
	for range 40 {
		g.dns(at())
	}
	for range 12 {
		g.tcp(at(), vm, g.ephemeral(), internet[g.rng.IntN(len(internet))], 443, 600, 4000+g.rng.IntN(40000), true)
	}
	for range 6 {
		g.tcp(at(), vm, g.ephemeral(), dc, 389, 400, 3000, true)
		g.tcp(at(), vm, g.ephemeral(), dc, 88, 1500, 1400, true)
	}
	for range 4 {
		g.tcp(at(), vm, g.ephemeral(), fileServer, 445, 3000, 20000, true)
		g.tcp(at(), vm, g.ephemeral(), database, 1433, 1200, 8000, true)
	}
	for range 10 {
		g.tcp(at(), azureDNS, uint16(50000+g.rng.IntN(1000)), vm, 80, 0, 0, true) // load balancer health probes
	}
	for range 5 {
		g.ping(at(), vm, internet[g.rng.IntN(len(internet))])
	}
	// An internet host tries the VM's SSH port and is refused.
	g.refused(at(), internet[4], g.ephemeral(), vm, 22)
	g.packets = append(g.packets, g.carry...)
	g.carry = nil
	if index == 1 {
		// A long administrative SSH session that outlives this capture.
		g.longSession(c.End.Add(-3*time.Minute), Captures[2].Start.Add(2*time.Minute), c.End)
	}
}

// tcp appends a connection: handshake, request and response data in
// MSS-sized segments, and a FIN close.
func (g *generator) tcp(t time.Time, client netip.Addr, cport uint16, server netip.Addr, sport uint16, up, down int, closeIt bool) {
	cseq, sseq := g.rng.Uint32(), g.rng.Uint32()
	rtt := time.Duration(1+g.rng.IntN(40)) * time.Millisecond
	add := func(from netip.Addr, fp uint16, to netip.Addr, tp uint16, seq, ack uint32, flags uint8, n int) {
		g.packets = append(g.packets, packet{t, frame(from, fp, to, tp, seq, ack, flags, n)})
		t = t.Add(rtt / 2)
	}
	add(client, cport, server, sport, cseq, 0, syn, 0)
	add(server, sport, client, cport, sseq, cseq+1, syn|ack, 0)
	cseq++
	sseq++
	add(client, cport, server, sport, cseq, sseq, ack, 0)
	for _, dir := range [2]struct {
		n       int
		fromSrv bool
	}{{up, false}, {down, true}} {
		for left := dir.n; left > 0; {
			n := min(left, 1460)
			if dir.fromSrv {
				add(server, sport, client, cport, sseq, cseq, ack|psh, n)
				sseq += uint32(n)
			} else {
				add(client, cport, server, sport, cseq, sseq, ack|psh, n)
				cseq += uint32(n)
			}
			left -= n
		}
		if dir.n > 0 {
			if dir.fromSrv {
				add(client, cport, server, sport, cseq, sseq, ack, 0)
			} else {
				add(server, sport, client, cport, sseq, cseq, ack, 0)
			}
		}
	}
	if closeIt {
		add(client, cport, server, sport, cseq, sseq, fin|ack, 0)
		add(server, sport, client, cport, sseq, cseq+1, fin|ack, 0)
		add(client, cport, server, sport, cseq+1, sseq+1, ack, 0)
	}
}

// longSession appends an SSH session from start to end with a keystroke
// exchange every few seconds; packets after cut go into the next capture.
func (g *generator) longSession(start, end, cut time.Time) {
	client, cport := netip.MustParseAddr("10.1.3.7"), uint16(51022)
	cseq, sseq := uint32(1000), uint32(5000)
	n := len(g.packets)
	g.packets = append(g.packets,
		packet{start, frame(client, cport, vm, 22, cseq, 0, syn, 0)},
		packet{start.Add(time.Millisecond), frame(vm, 22, client, cport, sseq, cseq+1, syn|ack, 0)},
		packet{start.Add(2 * time.Millisecond), frame(client, cport, vm, 22, cseq+1, sseq+1, ack, 0)})
	cseq++
	sseq++
	for t := start.Add(time.Second); t.Before(end); t = t.Add(time.Duration(2+g.rng.IntN(8)) * time.Second) {
		g.packets = append(g.packets,
			packet{t, frame(client, cport, vm, 22, cseq, sseq, ack|psh, 36)},
			packet{t.Add(time.Millisecond), frame(vm, 22, client, cport, sseq, cseq+36, ack|psh, 52)},
			packet{t.Add(2 * time.Millisecond), frame(client, cport, vm, 22, cseq+36, sseq+52, ack, 0)})
		cseq += 36
		sseq += 52
	}
	g.packets = append(g.packets,
		packet{end, frame(client, cport, vm, 22, cseq, sseq, fin|ack, 0)},
		packet{end.Add(time.Millisecond), frame(vm, 22, client, cport, sseq, cseq+1, fin|ack, 0)},
		packet{end.Add(2 * time.Millisecond), frame(client, cport, vm, 22, cseq+1, sseq+1, ack, 0)})
	session := g.packets[n:]
	i := slices.IndexFunc(session, func(p packet) bool { return !p.ts.Before(cut) })
	if i >= 0 {
		g.carry = append(g.carry, session[i:]...)
		g.packets = g.packets[:n+i]
	}
}

// refused appends a SYN answered by a RST.
func (g *generator) refused(t time.Time, client netip.Addr, cport uint16, server netip.Addr, sport uint16) {
	seq := g.rng.Uint32()
	g.packets = append(g.packets,
		packet{t, frame(client, cport, server, sport, seq, 0, syn, 0)},
		packet{t.Add(30 * time.Millisecond), frame(server, sport, client, cport, 0, seq+1, rst|ack, 0)})
}

// dns appends a query to Azure's resolver and its answer.
func (g *generator) dns(t time.Time) {
	port := g.ephemeral()
	g.packets = append(g.packets,
		packet{t, udpFrame(vm, port, azureDNS, 53, 40)},
		packet{t.Add(2 * time.Millisecond), udpFrame(azureDNS, 53, vm, port, 90)})
}

// ping appends an ICMP echo request and reply.
func (g *generator) ping(t time.Time, from, to netip.Addr) {
	id := uint16(g.rng.IntN(65536))
	g.packets = append(g.packets,
		packet{t, icmpFrame(from, to, 8, id)},
		packet{t.Add(20 * time.Millisecond), icmpFrame(to, from, 0, id)})
}

// write sorts the window's packets by time and writes them as a pcap file.
func (g *generator) write(path string, c Capture) error {
	slices.SortStableFunc(g.packets, func(a, b packet) int { return a.ts.Compare(b.ts) })
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return err
	}
	for _, p := range g.packets {
		if p.ts.Before(c.Start) || !p.ts.Before(c.End.Add(time.Minute)) {
			continue
		}
		ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: len(p.data)}
		if err := w.WritePacket(ci, p.data); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("demogen: %w", err)
	}
	return nil
}

const (
	fin = 0x01
	syn = 0x02
	rst = 0x04
	psh = 0x08
	ack = 0x10
)

// ether returns an Ethernet header for an IPv4 packet from or to the VM.
func ether(from netip.Addr) []byte {
	b := make([]byte, 14, 14+20+20+1460)
	if from == vm {
		copy(b[0:6], gatewayMAC)
		copy(b[6:12], vmMAC)
	} else {
		copy(b[0:6], vmMAC)
		copy(b[6:12], gatewayMAC)
	}
	binary.BigEndian.PutUint16(b[12:14], 0x0800)
	return b
}

// ipv4 appends an IPv4 header with a correct checksum.
func ipv4(b []byte, from, to netip.Addr, proto uint8, payload int) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:4], uint16(20+payload))
	h[6] = 0x40 // don't fragment
	h[8] = 64
	h[9] = proto
	f4, t4 := from.As4(), to.As4()
	copy(h[12:16], f4[:])
	copy(h[16:20], t4[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i : i+2]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(h[10:12], ^uint16(sum))
	return append(b, h...)
}

func frame(from netip.Addr, fp uint16, to netip.Addr, tp uint16, seq, ackNum uint32, flags uint8, n int) []byte {
	b := ipv4(ether(from), from, to, 6, 20+n)
	t := make([]byte, 20+n)
	binary.BigEndian.PutUint16(t[0:2], fp)
	binary.BigEndian.PutUint16(t[2:4], tp)
	binary.BigEndian.PutUint32(t[4:8], seq)
	binary.BigEndian.PutUint32(t[8:12], ackNum)
	t[12] = 5 << 4
	t[13] = flags
	binary.BigEndian.PutUint16(t[14:16], 64240)
	return append(b, t...)
}

func udpFrame(from netip.Addr, fp uint16, to netip.Addr, tp uint16, n int) []byte {
	b := ipv4(ether(from), from, to, 17, 8+n)
	u := make([]byte, 8+n)
	binary.BigEndian.PutUint16(u[0:2], fp)
	binary.BigEndian.PutUint16(u[2:4], tp)
	binary.BigEndian.PutUint16(u[4:6], uint16(8+n))
	return append(b, u...)
}

func icmpFrame(from, to netip.Addr, typ uint8, id uint16) []byte {
	b := ipv4(ether(from), from, to, 1, 8+32)
	m := make([]byte, 8+32)
	m[0] = typ
	binary.BigEndian.PutUint16(m[4:6], id)
	return append(b, m...)
}

// Seed is the seed of the committed demo evidence.
const Seed = 20260314
