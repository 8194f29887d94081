// Package demogen writes the demo evidence in testdata/demo: consecutive
// packet captures of one Azure-like VM, and the NSG and VNet flow logs that
// cover the captures and the time around them, laid out as a download of
// the storage account. It is deterministic for a given seed. Run "go run
// ./internal/demogen/cmd" to regenerate it; a test checks that the
// committed files match.
package demogen

import (
	"encoding/binary"
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

// Seed is the seed of the committed demo evidence.
const Seed = 20260314

// The scenario: VM 10.1.0.4 in VNet 10.1.0.0/16 talks to a domain
// controller, a file server and a database in the VNet, to Azure's platform
// address 168.63.129.16, and to internet hosts in the documentation ranges;
// internet scanners knock on its ports and are denied by the NSG.
var (
	vm         = netip.MustParseAddr("10.1.0.4")
	dc         = netip.MustParseAddr("10.1.0.5")
	fileServer = netip.MustParseAddr("10.1.1.10")
	database   = netip.MustParseAddr("10.1.2.20")
	jumpHost   = netip.MustParseAddr("10.1.3.7")
	azureDNS   = netip.MustParseAddr("168.63.129.16")
	internet   = []netip.Addr{
		netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.25"),
		netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("198.51.100.80"),
		netip.MustParseAddr("192.0.2.44"),
	}
	scanners   = []netip.Addr{netip.MustParseAddr("192.0.2.200"), netip.MustParseAddr("198.51.100.201")}
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

// The flow logs cover a longer span than the captures: from half an hour
// before the first to twenty minutes after the last.
var (
	logStart = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	logEnd   = time.Date(2026, 3, 14, 11, 10, 0, 0, time.UTC)
)

// packet is one frame with its time.
type packet struct {
	ts   time.Time
	data []byte
}

// connection is one generated connection and its packets.
type connection struct {
	client, server netip.Addr
	cport, sport   uint16
	proto          uint8
	packets        []packet
	denied         bool        // dropped by the NSG: no packets, only flow-log tuples
	attempts       []time.Time // denied: when the client tried
	bulk           *bulk       // a transfer known only from flow logs, without packets
	rule           string
}

// bulk is a transfer the demo describes by its totals.
type bulk struct {
	start, end                         time.Time
	pktsOut, bytesOut, pktsIn, bytesIn int
}

// Write writes the demo evidence into dir.
func Write(dir string, seed uint64) error {
	g := &generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), port: 49152}
	for t := logStart; t.Before(logEnd); t = t.Add(10 * time.Minute) {
		g.traffic(t, t.Add(10*time.Minute))
	}
	g.longSession(Captures[1].End.Add(-3*time.Minute), Captures[2].Start.Add(2*time.Minute))
	g.plant()
	for _, c := range Captures {
		if err := g.writeCapture(filepath.Join(dir, c.Name), c); err != nil {
			return err
		}
	}
	if err := g.writeFlowLogs(dir); err != nil {
		return err
	}
	if err := g.writeAnalytics(dir); err != nil {
		return err
	}
	return writeInventory(dir)
}

type generator struct {
	rng   *rand.Rand
	conns []*connection
	port  uint16
}

func (g *generator) ephemeral() uint16 {
	g.port++
	if g.port == 0 {
		g.port = 49152
	}
	return g.port
}

// traffic generates ten minutes of the VM's ordinary traffic.
func (g *generator) traffic(from, to time.Time) {
	span := to.Sub(from)
	at := func() time.Time { return from.Add(time.Duration(g.rng.Int64N(int64(span - 30*time.Second)))) }
	vary := func(n int) int { return n/2 + g.rng.IntN(n) }
	for range 40 {
		g.dns(at())
	}
	for range 12 {
		g.tcp(at(), vm, g.ephemeral(), internet[g.rng.IntN(len(internet))], 443, vary(600), 4000+g.rng.IntN(40000), "DefaultRule_AllowInternetOutBound")
	}
	for range 6 {
		g.tcp(at(), vm, g.ephemeral(), dc, 389, vary(400), vary(3000), "DefaultRule_AllowVnetOutBound")
		g.tcp(at(), vm, g.ephemeral(), dc, 88, vary(1500), vary(1400), "DefaultRule_AllowVnetOutBound")
	}
	for range 4 {
		g.tcp(at(), vm, g.ephemeral(), fileServer, 445, vary(3000), vary(20000), "DefaultRule_AllowVnetOutBound")
		g.tcp(at(), vm, g.ephemeral(), database, 1433, vary(1200), vary(8000), "DefaultRule_AllowVnetOutBound")
	}
	for range 10 {
		// Load balancer health probes.
		g.tcp(at(), azureDNS, uint16(50000+g.rng.IntN(1000)), vm, 80, 0, 0, "DefaultRule_AllowAzureLoadBalancerInBound")
	}
	for range 5 {
		g.ping(at(), vm, internet[g.rng.IntN(len(internet))])
	}
	// Scanners try SQL Server, SMB and WinRM and are denied; one SSH
	// attempt reaches the VM, which refuses it.
	for range 3 {
		g.denied(at(), scanners[g.rng.IntN(len(scanners))], []uint16{1433, 445, 5985}[g.rng.IntN(3)])
	}
	g.refused(at(), internet[4], g.ephemeral(), vm, 22)
}

// add appends a connection and returns it.
func (g *generator) add(client netip.Addr, cport uint16, server netip.Addr, sport uint16, proto uint8, rule string) *connection {
	c := &connection{client: client, cport: cport, server: server, sport: sport, proto: proto, rule: rule}
	g.conns = append(g.conns, c)
	return c
}

// tcp adds a connection: handshake, request and response data in MSS-sized
// segments, and a FIN close.
func (g *generator) tcp(t time.Time, client netip.Addr, cport uint16, server netip.Addr, sport uint16, up, down int, rule string) {
	var msgs []message
	if up > 0 {
		msgs = append(msgs, message{true, make([]byte, up)})
	}
	if down > 0 {
		msgs = append(msgs, message{false, make([]byte, down)})
	}
	g.exchange(t, client, cport, server, sport, rule, msgs...)
}

// message is one application message of an exchange.
type message struct {
	fromClient bool
	data       []byte
}

// exchange adds a TCP connection carrying the messages in order, each
// acknowledged, then closed with FINs; it returns when the connection ended.
func (g *generator) exchange(t time.Time, client netip.Addr, cport uint16, server netip.Addr, sport uint16, rule string, msgs ...message) time.Time {
	c := g.add(client, cport, server, sport, 6, rule)
	cseq, sseq := g.rng.Uint32(), g.rng.Uint32()
	rtt := time.Duration(1+g.rng.IntN(40)) * time.Millisecond
	send := func(fromClient bool, seq, ackNum uint32, flags uint8, payload []byte) {
		if fromClient {
			c.packets = append(c.packets, packet{t, frame(client, cport, server, sport, seq, ackNum, flags, payload)})
		} else {
			c.packets = append(c.packets, packet{t, frame(server, sport, client, cport, seq, ackNum, flags, payload)})
		}
		t = t.Add(rtt / 2)
	}
	send(true, cseq, 0, syn, nil)
	send(false, sseq, cseq+1, syn|ack, nil)
	cseq++
	sseq++
	send(true, cseq, sseq, ack, nil)
	for _, m := range msgs {
		for data := m.data; len(data) > 0; {
			seg := data[:min(len(data), 1460)]
			data = data[len(seg):]
			if m.fromClient {
				send(true, cseq, sseq, ack|psh, seg)
				cseq += uint32(len(seg))
			} else {
				send(false, sseq, cseq, ack|psh, seg)
				sseq += uint32(len(seg))
			}
		}
		if m.fromClient {
			send(false, sseq, cseq, ack, nil)
		} else {
			send(true, cseq, sseq, ack, nil)
		}
	}
	send(true, cseq, sseq, fin|ack, nil)
	send(false, sseq, cseq+1, fin|ack, nil)
	send(true, cseq+1, sseq+1, ack, nil)
	return t
}

// longSession adds an SSH session from the jump host to the VM from start
// to end, with a keystroke exchange every few seconds.
func (g *generator) longSession(start, end time.Time) {
	c := g.add(jumpHost, 51022, vm, 22, 6, "UserRule_allow-ssh-from-jumphost")
	cseq, sseq := uint32(1000), uint32(5000)
	add := func(t time.Time, fromClient bool, seq, ackNum uint32, flags uint8, payload []byte) {
		if fromClient {
			c.packets = append(c.packets, packet{t, frame(jumpHost, 51022, vm, 22, seq, ackNum, flags, payload)})
		} else {
			c.packets = append(c.packets, packet{t, frame(vm, 22, jumpHost, 51022, seq, ackNum, flags, payload)})
		}
	}
	add(start, true, cseq, 0, syn, nil)
	add(start.Add(time.Millisecond), false, sseq, cseq+1, syn|ack, nil)
	add(start.Add(2*time.Millisecond), true, cseq+1, sseq+1, ack, nil)
	cseq++
	sseq++
	server, client := []byte("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n"), []byte("SSH-2.0-PuTTY_Release_0.81\r\n")
	add(start.Add(3*time.Millisecond), false, sseq, cseq, ack|psh, server)
	sseq += uint32(len(server))
	add(start.Add(4*time.Millisecond), true, cseq, sseq, ack|psh, client)
	cseq += uint32(len(client))
	for t := start.Add(time.Second); t.Before(end); t = t.Add(time.Duration(2+g.rng.IntN(8)) * time.Second) {
		add(t, true, cseq, sseq, ack|psh, make([]byte, 36))
		add(t.Add(time.Millisecond), false, sseq, cseq+36, ack|psh, make([]byte, 52))
		add(t.Add(2*time.Millisecond), true, cseq+36, sseq+52, ack, nil)
		cseq += 36
		sseq += 52
	}
	add(end, true, cseq, sseq, fin|ack, nil)
	add(end.Add(time.Millisecond), false, sseq, cseq+1, fin|ack, nil)
	add(end.Add(2*time.Millisecond), true, cseq+1, sseq+1, ack, nil)
}

// refused adds a SYN answered by a RST.
func (g *generator) refused(t time.Time, client netip.Addr, cport uint16, server netip.Addr, sport uint16) {
	c := g.add(client, cport, server, sport, 6, "UserRule_allow-ssh")
	seq := g.rng.Uint32()
	c.packets = append(c.packets,
		packet{t, frame(client, cport, server, sport, seq, 0, syn, nil)},
		packet{t.Add(30 * time.Millisecond), frame(server, sport, client, cport, 0, seq+1, rst|ack, nil)})
}

// denied adds a connection attempt the NSG drops: the client sends its SYN
// three times, at 0, 3 and 9 seconds, and no packet reaches the VM.
func (g *generator) denied(t time.Time, client netip.Addr, port uint16) {
	c := g.add(client, g.ephemeral(), vm, port, 6, "DefaultRule_DenyAllInBound")
	c.denied = true
	c.attempts = []time.Time{t, t.Add(3 * time.Second), t.Add(9 * time.Second)}
}

// dns adds a query to Azure's resolver and its answer.
func (g *generator) dns(t time.Time) {
	port := g.ephemeral()
	c := g.add(vm, port, azureDNS, 53, 17, "DefaultRule_AllowVnetOutBound")
	c.packets = append(c.packets,
		packet{t, udpFrame(vm, port, azureDNS, 53, 40)},
		packet{t.Add(2 * time.Millisecond), udpFrame(azureDNS, 53, vm, port, 90)})
}

// ping adds an ICMP echo request and reply.
func (g *generator) ping(t time.Time, from, to netip.Addr) {
	id := uint16(g.rng.IntN(65536))
	c := g.add(from, 0, to, 0, 1, "DefaultRule_AllowInternetOutBound")
	c.packets = append(c.packets,
		packet{t, icmpFrame(from, to, 8, id)},
		packet{t.Add(20 * time.Millisecond), icmpFrame(to, from, 0, id)})
}

// writeCapture writes the packets inside a capture's window as a pcap file.
func (g *generator) writeCapture(path string, c Capture) error {
	var pkts []packet
	for _, conn := range g.conns {
		for _, p := range conn.packets {
			if !p.ts.Before(c.Start) && p.ts.Before(c.End) {
				pkts = append(pkts, p)
			}
		}
	}
	slices.SortStableFunc(pkts, func(a, b packet) int { return a.ts.Compare(b.ts) })
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return err
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: len(p.data)}
		if err := w.WritePacket(ci, p.data); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
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

func frame(from netip.Addr, fp uint16, to netip.Addr, tp uint16, seq, ackNum uint32, flags uint8, payload []byte) []byte {
	b := ipv4(ether(from), from, to, 6, 20+len(payload))
	t := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(t[0:2], fp)
	binary.BigEndian.PutUint16(t[2:4], tp)
	binary.BigEndian.PutUint32(t[4:8], seq)
	binary.BigEndian.PutUint32(t[8:12], ackNum)
	t[12] = 5 << 4
	t[13] = flags
	binary.BigEndian.PutUint16(t[14:16], 64240)
	return append(append(b, t...), payload...)
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
