// Package floodgen writes the captures a VM exposed to the internet gets
// when it is attacked (issue "hostile traffic"), for measuring netfx's
// memory and time on them: deterministic raw-IP pcaps of
//
//   - synflood: SYNs from random sources to one port of the VM;
//   - udpflows: one-packet UDP flows between 64×64 hosts;
//   - dnsnames: DNS queries and answers, each for a new name;
//   - dnsanswers: DNS responses of 64 random A records each;
//   - udpflood: UDP datagrams from random sources to one port of the VM;
//   - dnsflood: DNS responses from random resolvers, to no query of the VM;
//   - tcpholes: connections to the VM whose data all comes after a hole
//     that is never filled (reassembly abuse, or capture loss);
//   - randomscan: SYNs from the VM to random ports of random hosts (a
//     compromised VM running masscan);
//   - dnslongnames: DNS responses of 64 AAAA records, each of a long
//     name of its own;
//   - pingflood: ICMP echo requests from random sources to the VM;
//   - fragflood: first fragments of UDP datagrams from random sources to
//     the VM, whose other fragments never come.
//
// bench/floodgen is its command; the flood tests write small ones.
package floodgen

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// Kinds are the captures Write makes.
var Kinds = []string{"synflood", "udpflows", "dnsnames", "dnsanswers", "udpflood", "dnsflood", "tcpholes", "randomscan", "dnslongnames", "pingflood", "fragflood"}

// Start is the time of every capture's first packet.
var Start = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)

// VM is the attacked VM's address.
var VM = [4]byte{10, 1, 0, 4}

// Write writes a capture of kind with n packets (query/answer pairs for
// dnsnames) spread evenly over span.
func Write(out io.Writer, kind string, n int, span time.Duration) error {
	w := &writer{w: bufio.NewWriterSize(out, 1<<20), rnd: rand.New(rand.NewPCG(1, 2))}
	w.w.Write(RawPcapHeader())
	step := span / time.Duration(max(n, 1))
	vm := VM
	for i := range n {
		at := Start.Add(time.Duration(i) * step)
		switch kind {
		case "synflood":
			w.tcpSYN(at, w.randomAddr(), vm, uint16(1024+w.rnd.IntN(60000)), 443)
		case "udpflood":
			w.udp(at, w.randomAddr(), vm, uint16(1024+w.rnd.IntN(60000)), 80, make([]byte, 512))
		case "dnsflood":
			a := dnsMessage(uint16(i), "example.org", true, 8, w.rnd)
			w.udp(at, w.randomAddr(), vm, 53, uint16(1024+w.rnd.IntN(60000)), a)
		case "udpflows":
			src := [4]byte{10, 2, 0, byte(i % 64)}
			dst := [4]byte{10, 3, 0, byte(i / 64 % 64)}
			w.udp(at, src, dst, uint16(1024+i/4096%60000), 9999, []byte("x"))
		case "dnsnames":
			name := fmt.Sprintf("h%08x.example.com", i)
			q := dnsMessage(uint16(i), name, false, 0, w.rnd)
			w.udp(at, vm, resolver(i), uint16(1024+i%60000), 53, q)
			a := dnsMessage(uint16(i), name, true, 1, w.rnd)
			w.udp(at.Add(time.Millisecond), resolver(i), vm, 53, uint16(1024+i%60000), a)
		case "tcpholes":
			w.holes(at, i/holesPerConn, i%holesPerConn)
		case "dnsanswers":
			a := dnsMessage(uint16(i), "cdn.example.com", true, 64, w.rnd)
			w.udp(at, resolver(i), vm, 53, uint16(1024+i%60000), a)
		case "randomscan":
			w.tcpSYN(at, vm, w.randomAddr(), uint16(1024+w.rnd.IntN(60000)), uint16(1+w.rnd.IntN(65535)))
		case "dnslongnames":
			w.udp(at, resolver(i), vm, 53, uint16(1024+i%60000), dnsLongNames(uint16(i), 64, w.rnd))
		case "pingflood":
			w.echoRequest(at, w.randomAddr(), vm, uint16(i))
		case "fragflood":
			w.firstFragment(at, w.randomAddr(), vm, uint16(i))
		default:
			return fmt.Errorf("floodgen: unknown kind %q", kind)
		}
	}
	return w.w.Flush()
}

type writer struct {
	w   *bufio.Writer
	rnd *rand.Rand
	buf []byte
}

// resolver is the DNS resolver of the VM's ith lookup: a new one each
// time the client's 60,000 ports come round, so that every lookup is a
// conversation of its own, as a client with many resolvers would make.
func resolver(i int) [4]byte {
	n := i / 60000
	return [4]byte{10, 53, byte(n >> 8), byte(n)}
}

// randomAddr is a random public-looking IPv4 address, as a spoofed
// source or an open resolver.
func (w *writer) randomAddr() [4]byte {
	return [4]byte{byte(1 + w.rnd.IntN(223)), byte(w.rnd.IntN(256)), byte(w.rnd.IntN(256)), byte(1 + w.rnd.IntN(254))}
}

// RawPcapHeader is the file header of a little-endian, microsecond pcap
// of raw IP packets (LINKTYPE_RAW), as Write's captures begin; tests that
// craft captures byte by byte start with it too.
func RawPcapHeader() []byte {
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 101) // LINKTYPE_RAW
	return hdr
}

// packet writes an IPv4 packet of proto carrying transport.
func (w *writer) packet(at time.Time, src, dst [4]byte, proto byte, transport []byte) {
	w.ipv4(at, src, dst, proto, 0, 0, transport)
}

// ipv4 writes an IPv4 packet of proto carrying transport, with
// identification id and frag, the flags and fragment offset field.
func (w *writer) ipv4(at time.Time, src, dst [4]byte, proto byte, id, frag uint16, transport []byte) {
	ip := append(w.buf[:0], make([]byte, 20)...)
	ip[0], ip[8], ip[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(transport)))
	binary.BigEndian.PutUint16(ip[4:], id)
	binary.BigEndian.PutUint16(ip[6:], frag)
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	ip = append(ip, transport...)
	w.buf = ip
	rec := make([]byte, 16)
	binary.LittleEndian.PutUint32(rec[0:], uint32(at.Unix()))
	binary.LittleEndian.PutUint32(rec[4:], uint32(at.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(ip)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(ip)))
	w.w.Write(rec)
	w.w.Write(ip)
}

func (w *writer) tcpSYN(at time.Time, src, dst [4]byte, sport, dport uint16) {
	w.tcp(at, src, dst, sport, dport, w.rnd.Uint32(), 0, 0x02, nil)
}

// tcp writes a TCP segment with flags (0x02 SYN, 0x10 ACK).
func (w *writer) tcp(at time.Time, src, dst [4]byte, sport, dport uint16, seq, ack uint32, flags byte, payload []byte) {
	tcp := make([]byte, 20+len(payload))
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12], tcp[13] = 5<<4, flags
	binary.BigEndian.PutUint16(tcp[14:], 64240)
	copy(tcp[20:], payload)
	w.packet(at, src, dst, 6, tcp)
}

// holes writes the kth packet of connection j of the tcpholes kind: a
// handshake, then segments of 1,400 bytes that all come after a hole the
// client never fills, which payload inspection would hold, waiting.
func (w *writer) holes(at time.Time, j, k int) {
	client := [4]byte{10, 4, byte(j >> 8), byte(j)}
	port := uint16(40000 + j%20000)
	const isn, serverISN = 1000, 5000
	switch k {
	case 0:
		w.tcp(at, client, VM, port, 443, isn, 0, 0x02, nil)
	case 1:
		w.tcp(at, VM, client, 443, port, serverISN, isn+1, 0x12, nil)
	case 2:
		w.tcp(at, client, VM, port, 443, isn+1, serverISN+1, 0x10, nil)
	default:
		w.tcp(at, client, VM, port, 443, uint32(isn+1+1400*(k-2)), serverISN+1, 0x10, holeSegment[:])
	}
}

// holesPerConn is the packets of each tcpholes connection: the handshake
// and 16 segments, as many as inspection holds out of order.
const holesPerConn = 19

var holeSegment [1400]byte

// echoRequest writes an ICMP echo request of 56 bytes of data, as ping
// sends; the checksum is left zero, as a flood's sender may.
func (w *writer) echoRequest(at time.Time, src, dst [4]byte, seq uint16) {
	icmp := make([]byte, 8+56)
	icmp[0] = 8
	binary.BigEndian.PutUint16(icmp[6:], seq)
	w.packet(at, src, dst, 1, icmp)
}

// firstFragment writes the first 1,480 bytes of a UDP datagram of 3,000,
// as the first fragment of datagram id.
func (w *writer) firstFragment(at time.Time, src, dst [4]byte, id uint16) {
	udp := make([]byte, 1480)
	binary.BigEndian.PutUint16(udp[0:], uint16(1024+w.rnd.IntN(60000)))
	binary.BigEndian.PutUint16(udp[2:], 53)
	binary.BigEndian.PutUint16(udp[4:], 3000)
	w.ipv4(at, src, dst, 17, id, 0x2000, udp) // more fragments, offset 0
}

func (w *writer) udp(at time.Time, src, dst [4]byte, sport, dport uint16, payload []byte) {
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	w.packet(at, src, dst, 17, udp)
}

// dnsLongNames is a response to a query for cdn.example whose answers are
// AAAA records of names of their own, 48 random hex digits under .example.
func dnsLongNames(id uint16, answers int, rnd *rand.Rand) []byte {
	m := []byte{byte(id >> 8), byte(id), 0x81, 0x80, 0, 1, 0, byte(answers), 0, 0, 0, 0}
	m = append(m, 3, 'c', 'd', 'n', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 28, 0, 1)
	for range answers {
		name := fmt.Sprintf("%016x%016x%016x", rnd.Uint64(), rnd.Uint64(), rnd.Uint64())
		m = append(append(append(m, byte(len(name))), name...), 0xc0, 16) // under example., after cdn
		m = append(m, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16, 0x20, 0x01, 0x0d, 0xb8)
		for range 12 {
			m = append(m, byte(rnd.IntN(256)))
		}
	}
	return m
}

// dnsMessage is a query for name, or a response with answers random A
// records.
func dnsMessage(id uint16, name string, response bool, answers int, rnd *rand.Rand) []byte {
	m := make([]byte, 12)
	binary.BigEndian.PutUint16(m[0:], id)
	if response {
		m[2], m[3] = 0x81, 0x80
		binary.BigEndian.PutUint16(m[6:], uint16(answers))
	} else {
		m[2] = 0x01
	}
	binary.BigEndian.PutUint16(m[4:], 1)
	start := len(m)
	for i := 0; i < len(name); {
		j := i
		for j < len(name) && name[j] != '.' {
			j++
		}
		m = append(m, byte(j-i))
		m = append(m, name[i:j]...)
		i = j + 1
	}
	m = append(m, 0, 0, 1, 0, 1)
	for range answers {
		m = append(m, 0xc0, byte(start), 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
		m = append(m, byte(1+rnd.IntN(223)), byte(rnd.IntN(256)), byte(rnd.IntN(256)), byte(1+rnd.IntN(254)))
	}
	return m
}
