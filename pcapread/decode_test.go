package pcapread

import (
	"github.com/netfx/netfx/internal/ipproto"
	"unsafe"

	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// ipv4UDP is an IPv4/UDP packet 192.0.2.1:5353 > 198.51.100.2:53 with n payload bytes.
func ipv4UDP(n int) []byte {
	b := make([]byte, 28+n)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:4], uint16(28+n))
	b[8], b[9] = 64, 17
	copy(b[12:16], []byte{192, 0, 2, 1})
	copy(b[16:20], []byte{198, 51, 100, 2})
	binary.BigEndian.PutUint16(b[20:22], 5353)
	binary.BigEndian.PutUint16(b[22:24], 53)
	binary.BigEndian.PutUint16(b[24:26], uint16(8+n))
	return b
}

// ipv6TCP is an IPv6 packet 2001:db8::1 > 2001:db8::2 whose payload starts
// with the given extension headers and ends with a TCP header (port 1234 > 22).
func ipv6TCP(src [16]byte, exts ...[]byte) []byte {
	next := byte(6)
	var payload []byte
	for i := len(exts) - 1; i >= 0; i-- {
		e := append([]byte(nil), exts[i]...)
		e[0] = next
		next = exts[i][0] // the header's own type is passed in its first byte
		payload = append(e, payload...)
	}
	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp[0:2], 1234)
	binary.BigEndian.PutUint16(tcp[2:4], 22)
	tcp[12] = 5 << 4
	tcp[13] = FlagSYN
	payload = append(payload, tcp...)
	b := make([]byte, 40, 40+len(payload))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:6], uint16(len(payload)))
	b[6], b[7] = next, 64
	copy(b[8:24], src[:])
	dst := netip.MustParseAddr("2001:db8::2").As16()
	copy(b[24:40], dst[:])
	return append(b, payload...)
}

// ethernet is an Ethernet header with 802.1Q tags carrying the VLAN IDs.
func ethernet(ethertype uint16, vlans ...uint16) []byte {
	b := make([]byte, 12, 64)
	for _, id := range vlans {
		b = binary.BigEndian.AppendUint16(b, 0x8100)
		b = binary.BigEndian.AppendUint16(b, id)
	}
	return binary.BigEndian.AppendUint16(b, ethertype)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestDecodeLinkAndNetworkLayers(t *testing.T) {
	v4 := ipv4UDP(10)
	hopByHop := []byte{0, 0, 1, 4, 0, 0, 0, 0} // type 0, length 0 (8 bytes), PadN
	routing := []byte{43, 0, 0, 0, 0, 0, 0, 0}
	destOpts := []byte{60, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	atomicFrag := []byte{44, 0, 0, 0, 0, 0, 0, 1}
	qinq := cat(make([]byte, 12), []byte{0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00})
	mpls := cat(make([]byte, 12), []byte{0x88, 0x47, 0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40})
	pppoe := cat(make([]byte, 12), []byte{0x88, 0x64, 0x11, 0x00, 0x00, 0x01, 0x00, 0x2a, 0x00, 0x21})
	snap := cat(make([]byte, 12), []byte{0x00, 0x40, 0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00})
	sll := cat(make([]byte, 14), []byte{0x08, 0x00})
	sll2 := cat([]byte{0x08, 0x00}, make([]byte, 18))
	fddi := cat(make([]byte, 13), []byte{0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00})
	llcIPv4 := []byte{0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00}
	wifiData := cat([]byte{0x08, 0x01}, make([]byte, 22), llcIPv4)                      // data, to the DS
	wifiQoS := cat([]byte{0x88, 0x02}, make([]byte, 24), llcIPv4)                       // QoS data, from the DS
	wifiWDS := cat([]byte{0x08, 0x03}, make([]byte, 28), llcIPv4)                       // four addresses
	wifiProtected := cat([]byte{0x08, 0x41}, make([]byte, 22), llcIPv4)                 // encrypted: unreadable
	radiotap := cat([]byte{0, 0, 12, 0}, make([]byte, 8))                               // version, pad, length 12
	pbb := cat(ethernet(0x88e7), make([]byte, 4), make([]byte, 12), []byte{0x08, 0x00}) // I-TAG, customer addresses
	vntag := cat(ethernet(0x8926), make([]byte, 4), []byte{0x08, 0x00})
	fabricPath := cat(ethernet(0x8903), make([]byte, 2), make([]byte, 12), []byte{0x08, 0x00})
	nflogPrefix := []byte{8, 0, 10, 0, 'd', 'r', 'p', 0}                                          // a TLV before the payload: the rule's prefix
	nflogPayload := func(ip []byte) []byte { return cat([]byte{byte(4 + len(ip)), 0, 9, 0}, ip) } // length, type 9
	mapped := netip.MustParseAddr("::ffff:192.0.2.9").As16()
	plain6 := netip.MustParseAddr("2001:db8::1").As16()
	tests := []struct {
		name       string
		link       layers.LinkType
		frame      []byte
		src        string
		proto      uint8
		dport      uint16
		vlans      []uint16
		ipBytes    uint32
		wantDecode bool
	}{
		{"ethernet", 1, cat(ethernet(0x0800), v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"802.1Q", 1, cat(ethernet(0x0800, 42), v4), "192.0.2.1", 17, 53, []uint16{42}, 38, true},
		{"stacked 802.1Q", 1, cat(ethernet(0x0800, 7, 8, 9), v4), "192.0.2.1", 17, 53, []uint16{7, 8, 9}, 38, true},
		{"802.1ad QinQ", 1, cat(qinq, v4), "192.0.2.1", 17, 53, []uint16{100, 200}, 38, true},
		{"MPLS two labels", 1, cat(mpls, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"PPPoE session", 1, cat(pppoe, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"802.3 LLC/SNAP", 1, cat(snap, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"Ethernet padding ignored", 1, cat(ethernet(0x0800), v4, make([]byte, 12)), "192.0.2.1", 17, 53, nil, 38, true},
		{"Linux SLL", 113, cat(sll, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"Linux SLL2", 276, cat(sll2, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"raw IP 101", 101, v4, "192.0.2.1", 17, 53, nil, 38, true},
		{"raw IP 12", 12, v4, "192.0.2.1", 17, 53, nil, 38, true},
		{"LINKTYPE_IPV4", 228, v4, "192.0.2.1", 17, 53, nil, 38, true},
		{"LINKTYPE_IPV6", 229, ipv6TCP(plain6), "2001:db8::1", 6, 22, nil, 60, true},
		{"null AF_INET", 0, cat([]byte{2, 0, 0, 0}, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"null AF_INET6 (BSD 24)", 0, cat([]byte{0, 0, 0, 24}, ipv6TCP(plain6)), "2001:db8::1", 6, 22, nil, 60, true},
		{"null holding an ethertype", 0, cat([]byte{0, 0, 0x08, 0x00}, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"FDDI", 10, cat(fddi, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"PPP", 9, cat([]byte{0x00, 0x21}, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"PPP in HDLC framing", 50, cat([]byte{0xff, 0x03, 0x00, 0x21}, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"PPP IPv6, compressed protocol field", 9, cat([]byte{0x57}, ipv6TCP(plain6)), "2001:db8::1", 6, 22, nil, 60, true},
		{"PPP LCP is not IP", 9, cat([]byte{0xff, 0x03, 0xc0, 0x21}, make([]byte, 20)), "", 0, 0, nil, 0, false},
		{"Cisco HDLC", 104, cat([]byte{0x0f, 0x00, 0x08, 0x00}, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"802.11 data", 105, cat(wifiData, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"802.11 QoS data behind radiotap", 127, cat(radiotap, wifiQoS, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"802.11 four addresses", 105, cat(wifiWDS, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"802.11 protected data is not readable", 105, cat(wifiProtected, v4), "", 0, 0, nil, 0, false},
		{"802.11 beacon is not IP", 127, cat(radiotap, []byte{0x80, 0x00}, make([]byte, 40)), "", 0, 0, nil, 0, false},
		{"NFLOG", 239, cat([]byte{2, 0, 0, 0}, nflogPrefix, nflogPayload(v4)), "192.0.2.1", 17, 53, nil, 38, true},
		{"NFLOG IPv6", 239, cat([]byte{10, 0, 0, 0}, nflogPayload(ipv6TCP(plain6))), "2001:db8::1", 6, 22, nil, 60, true},
		{"NFLOG without a payload is not IP", 239, cat([]byte{2, 0, 0, 0}, nflogPrefix), "", 0, 0, nil, 0, false},
		{"NFLOG TLV longer than the frame", 239, cat([]byte{2, 0, 0, 0}, []byte{200, 0, 10, 0}, v4), "", 0, 0, nil, 0, false},
		{"NFLOG payload cut by the snap length", 239, cat([]byte{2, 0, 0, 0}, nflogPayload(v4)[:4+25]), "192.0.2.1", 17, 53, nil, 38, true},
		{"802.1ah PBB", 1, cat(pbb, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"Cisco VN-Tag", 1, cat(vntag, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"Cisco FabricPath", 1, cat(fabricPath, v4), "192.0.2.1", 17, 53, nil, 38, true},
		{"IPv6 extension headers", 229, ipv6TCP(plain6, hopByHop, routing, destOpts), "2001:db8::1", 6, 22, nil, 92, true},
		{"IPv6 atomic fragment", 229, ipv6TCP(plain6, atomicFrag), "2001:db8::1", 6, 22, nil, 68, true},
		{"IPv4-mapped IPv6 source", 229, ipv6TCP(mapped), "::ffff:192.0.2.9", 6, 22, nil, 60, true},
		{"ARP is not IP", 1, cat(ethernet(0x0806), make([]byte, 28)), "", 0, 0, nil, 0, false},
		{"IPv4 header cut", 1, cat(ethernet(0x0800), v4[:12]), "", 0, 0, nil, 0, false},
		{"TCP header cut before the ports", 229, ipv6TCP(plain6)[:42], "", 0, 0, nil, 0, false},
		{"TCP header cut after the ports", 229, ipv6TCP(plain6)[:50], "2001:db8::1", 6, 22, nil, 60, true},
		{"UDP header cut after the ports", 228, v4[:25], "192.0.2.1", 17, 53, nil, 38, true},
		{"unknown link type", 147, v4, "", 0, 0, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			var p Packet
			var stats Stats
			ok := d.Decode(&p, tt.link, tt.frame, len(tt.frame), 0, &stats)
			if ok != tt.wantDecode {
				t.Fatalf("decoded %v, want %v (stats %+v)", ok, tt.wantDecode, stats)
			}
			if !ok {
				if stats.NonIP+stats.Truncated+stats.UnknownLinks != 1 {
					t.Errorf("frame not counted: %+v", stats)
				}
				return
			}
			if p.Src.String() != tt.src || p.Proto != tt.proto || p.DstPort != tt.dport || p.IPBytes != tt.ipBytes {
				t.Errorf("got %v proto %d dport %d ip bytes %d", p.Src, p.Proto, p.DstPort, p.IPBytes)
			}
			if cut := strings.Contains(tt.name, "cut"); p.Truncated != cut || stats.Truncated != map[bool]int64{true: 1}[cut] {
				t.Errorf("truncated %v, %d counted; want %v", p.Truncated, stats.Truncated, cut)
			}
			if p.HeaderCut != (tt.proto == 6 && strings.Contains(tt.name, "cut")) {
				t.Errorf("HeaderCut %v", p.HeaderCut)
			}
			if int(p.NumVLANs) != len(tt.vlans) || (len(tt.vlans) > 0 && (p.VLANs[0] != tt.vlans[0] || p.VLANs[1] != tt.vlans[len(tt.vlans)-1])) {
				t.Errorf("VLANs %v (%d), want %v", p.VLANs, p.NumVLANs, tt.vlans)
			}
		})
	}
}

func TestDecodeICMPErrorQuotingUDP(t *testing.T) {
	quoted := ipv4UDP(0)
	icmp := make([]byte, 28, 28+len(quoted))
	icmp[0] = 0x45
	binary.BigEndian.PutUint16(icmp[2:4], uint16(28+len(quoted)))
	icmp[9] = 1
	copy(icmp[12:16], []byte{198, 51, 100, 2})
	copy(icmp[16:20], []byte{192, 0, 2, 1})
	icmp[20], icmp[21] = 3, 3 // port unreachable
	icmp = append(icmp, quoted...)
	var d Decoder
	var p Packet
	if !d.Decode(&p, 228, icmp, len(icmp), 0, nil) {
		t.Fatal("not decoded")
	}
	// The error is an ICMP conversation of its own, not the quoted UDP flow.
	if p.Proto != ipproto.ICMP || p.SrcPort != 3 || p.DstPort != 3 || p.Src.String() != "198.51.100.2" {
		t.Errorf("got proto %d type %d code %d from %v", p.Proto, p.SrcPort, p.DstPort, p.Src)
	}
}

func TestDecodeGREIsOneConversation(t *testing.T) {
	gre := ipv4UDP(0)[:20]
	gre[9] = 47
	binary.BigEndian.PutUint16(gre[2:4], uint16(20+4+len(ipv4UDP(0))))
	frame := cat(gre, []byte{0, 0, 0x08, 0x00}, ipv4UDP(0))
	var d Decoder
	var p Packet
	if !d.Decode(&p, 228, frame, len(frame), 0, nil) {
		t.Fatal("not decoded")
	}
	if p.Proto != 47 || p.HasPorts || int(p.IPBytes) != len(frame) {
		t.Errorf("GRE packet: proto %d ports %v ip bytes %d", p.Proto, p.HasPorts, p.IPBytes)
	}
}

// ipv4Fragment is bytes [off, off+n) of the payload of whole, an IPv4
// packet, as a fragment of datagram id.
func ipv4Fragment(whole []byte, id uint16, off, n int, more bool) []byte {
	f := cat(whole[:20], whole[20+off:20+off+n])
	binary.BigEndian.PutUint16(f[2:4], uint16(20+n))
	binary.BigEndian.PutUint16(f[4:6], id)
	v := uint16(off / 8)
	if more {
		v |= 0x2000
	}
	binary.BigEndian.PutUint16(f[6:8], v)
	return f
}

func TestFragmentReassembly(t *testing.T) {
	whole := ipv4UDP(100) // 128 bytes: 20 header + 108 payload
	frag := func(off, n int, more bool) []byte { return ipv4Fragment(whole, 77, off, n, more) }
	tests := []struct {
		name  string
		frags [][]byte
		want  int
	}{
		{"in order", [][]byte{frag(0, 48, true), frag(48, 48, true), frag(96, 12, false)}, 1},
		{"reversed", [][]byte{frag(96, 12, false), frag(48, 48, true), frag(0, 48, true)}, 1},
		{"overlapping duplicate", [][]byte{frag(0, 48, true), frag(0, 56, true), frag(48, 60, false)}, 1},
		{"missing middle", [][]byte{frag(0, 48, true), frag(96, 12, false)}, 0},
	}
	for _, tt := range tests {
		var d Decoder
		var p Packet
		var stats Stats
		got := 0
		for _, f := range tt.frags {
			if d.Decode(&p, 228, f, len(f), 0, &stats) {
				got++
				if p.IPBytes != 128 || p.DstPort != 53 || !p.Fragment || p.PayloadLen != 100 {
					t.Errorf("%s: reassembled %+v", tt.name, p)
				}
			}
		}
		if got != tt.want {
			t.Errorf("%s: %d datagrams, want %d", tt.name, got, tt.want)
		}
		if stats.Fragments != int64(len(tt.frags)) {
			t.Errorf("%s: counted %d fragments", tt.name, stats.Fragments)
		}
	}
}

// TestFragmentFlood: first fragments of datagrams that never complete,
// more than the table holds, cost no more a fragment than the first ones
// (the oldest pending datagram makes room: an O(1) step), and a datagram
// whose fragments come amid them is still reassembled. The table's note of
// the order its entries were made stays bounded however many complete.
func TestFragmentFlood(t *testing.T) {
	whole := ipv4UDP(100)
	var d Decoder
	var p Packet
	var stats Stats
	const flood = 20 * maxPendingDatagrams
	for i := range flood {
		f := ipv4Fragment(whole, uint16(i), 0, 48, true)
		if d.Decode(&p, 228, f, len(f), int64(i), &stats) {
			t.Fatalf("fragment %d of a flood completed a datagram", i)
		}
	}
	if stats.FragDropped != flood-maxPendingDatagrams || len(d.frags.index) != maxPendingDatagrams {
		t.Errorf("after %d first fragments: %d dropped, %d pending; want %d and %d", flood, stats.FragDropped, len(d.frags.index), flood-maxPendingDatagrams, maxPendingDatagrams)
	}
	got := 0
	for i, f := range [][]byte{ipv4Fragment(whole, 60000, 0, 48, true), ipv4Fragment(whole, 60000, 48, 60, false)} {
		if d.Decode(&p, 228, f, len(f), int64(flood+i), &stats) {
			got++
		}
	}
	if got != 1 {
		t.Errorf("a datagram amid the flood: %d reassembled, want 1", got)
	}
	for i := range flood {
		for j, f := range [][]byte{ipv4Fragment(whole, uint16(i), 0, 48, true), ipv4Fragment(whole, uint16(i), 48, 60, false)} {
			d.Decode(&p, 228, f, len(f), int64(2*flood+2*i+j), &stats)
		}
	}
	if n := len(d.frags.made) - d.frags.head; n > 4*maxPendingDatagrams+1 {
		t.Errorf("%d entries noted in order after %d datagrams completed, want at most %d", n, flood, 4*maxPendingDatagrams+1)
	}
}

// TestAddRange: the covered ranges are the union of those added, sorted,
// disjoint and not touching, whatever order they come in.
func TestAddRange(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		var rs [][2]int
		var covered [64]bool
		for range 1 + rnd.IntN(12) {
			lo := rnd.IntN(64)
			hi := lo + rnd.IntN(64-lo+1)
			rs = addRange(rs, lo, hi)
			for b := lo; b < hi; b++ {
				covered[b] = true
			}
		}
		var want [][2]int
		for b := 0; b < 64; b++ {
			if covered[b] && (b == 0 || !covered[b-1]) {
				want = append(want, [2]int{b, b})
			}
			if covered[b] {
				want[len(want)-1][1] = b + 1
			}
		}
		if !slices.Equal(rs, want) {
			t.Fatalf("ranges %v, want %v", rs, want)
		}
	}
}

// TestPacketSize keeps Packet in two cache lines: each line more is a line
// the flow table's core fetches from the reader's for every packet (4–6 %
// more CPU for 48 bytes more on pcapgen's gigabyte).
func TestPacketSize(t *testing.T) {
	if size := unsafe.Sizeof(Packet{}); size > 128 {
		t.Errorf("Packet takes %d bytes, more than two cache lines", size)
	}
}
