package pcapread

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
)

// ipv4 is an IPv4 header from src to dst carrying proto, and payload.
func ipv4(src, dst string, proto byte, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:4], uint16(20+len(payload)))
	b[8], b[9] = 64, proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	return append(b, payload...)
}

func udp(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	binary.BigEndian.PutUint16(b[4:6], uint16(8+len(payload)))
	return append(b, payload...)
}

func tcpSYN(sport, dport uint16) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	b[12], b[13] = 5<<4, FlagSYN
	return b
}

// TestTunnels: a tunnel's carrier is read, then the packet inside it,
// with the carrier named; Zeek's default tunnels all open.
func TestTunnels(t *testing.T) {
	inner := ipv4("10.244.1.5", "10.244.2.7", 6, tcpSYN(40000, 8080))
	innerEth := cat(ethernet(0x0800), inner)
	innerV6 := ipv6TCP(netip.MustParseAddr("2001:db8::1").As16())
	gtp := cat([]byte{0x30, 0xff}, binary.BigEndian.AppendUint16(nil, uint16(len(inner))), []byte{0, 0, 0, 1}, inner)
	ayiya := cat([]byte{0x41, 0x52, 0x11, 41}, make([]byte, 4), make([]byte, 16), make([]byte, 20), innerV6) // id 16 bytes, signature 20
	erspan3 := cat([]byte{0x10, 0x00, 0x22, 0xeb}, make([]byte, 4), make([]byte, 12), innerEth)              // sequence number, type III header
	for _, tt := range []struct {
		name  string
		frame []byte
		kind  uint8
		src   string
	}{
		{"VXLAN", cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 17, udp(51000, 4789, cat([]byte{0x08, 0, 0, 0, 0, 0, 0x2a, 0}, innerEth)))), TunnelVXLAN, "10.244.1.5"},
		{"Geneve", cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 17, udp(51000, 6081, cat([]byte{0x00, 0x00, 0x65, 0x58, 0, 0, 0x2a, 0}, innerEth)))), TunnelGeneve, "10.244.1.5"},
		{"GTPv1-U", cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 17, udp(2152, 2152, gtp))), TunnelGTPv1, "10.244.1.5"},
		{"Teredo on any port", cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 17, udp(3797, 32900, innerV6))), TunnelTeredo, "2001:db8::1"},
		{"AYIYA", cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 17, udp(5072, 5072, ayiya))), TunnelAYIYA, "2001:db8::1"},
		{"IP in IP", cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 4, inner)), TunnelIP, "10.244.1.5"},
		{"IPv6 in IPv4", cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 41, innerV6)), TunnelIP, "2001:db8::1"},
		{"GRE with IPv4", cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 47, cat([]byte{0, 0, 0x08, 0x00}, inner))), TunnelGRE, "10.244.1.5"},
		{"GRE transparent Ethernet, with a key", cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 47, cat([]byte{0x20, 0, 0x65, 0x58, 0, 0, 0, 7}, innerEth))), TunnelGRE, "10.244.1.5"},
		{"ERSPAN type III", cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 47, erspan3)), TunnelGRE, "10.244.1.5"},
		{"PPTP's enhanced GRE, with an acknowledgement", cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 47,
			cat([]byte{0x30, 0x81, 0x88, 0x0b, 0, byte(len(inner) + 4), 0, 9}, make([]byte, 8), []byte{0xff, 0x03, 0x00, 0x21}, inner))), TunnelGRE, "10.244.1.5"},
		{"MPLS in GRE", cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 47, cat([]byte{0, 0, 0x88, 0x47, 0, 0x01, 0x01, 0x40}, inner))), TunnelGRE, "10.244.1.5"},
	} {
		r, err := NewReader(bytes.NewReader(pcapFile(t, 1, tt.frame)), tt.name)
		if err != nil {
			t.Fatal(err)
		}
		var got []Packet
		for r.Next() {
			got = append(got, *r.Packet())
		}
		if len(got) != 2 {
			t.Errorf("%s: %d packets, want the carrier and the inner one", tt.name, len(got))
			continue
		}
		outer, in := got[0], got[1]
		if outer.Carries != tt.kind || outer.Tunnel != TunnelNone || in.Tunnel != tt.kind || in.Src.String() != tt.src ||
			in.Proto != 6 || in.TCPFlags != FlagSYN || outer.Src.String() != "192.0.2.1" || in.Record != outer.Record {
			t.Errorf("%s: carrier %+v, inner %+v", tt.name, outer, in)
		}
	}
	// Plain UDP on a tunnel's port that is not one, and DNS, carry nothing.
	for _, frame := range [][]byte{
		cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 17, udp(51000, 4789, []byte("hello, not vxlan")))),
		cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 17, udp(5353, 53, make([]byte, 40)))),
		cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 47, cat([]byte{0x40, 0, 0x08, 0x00}, make([]byte, 4), inner))),                              // GRE routing: deprecated, not read
		cat(ethernet(0x0800), ipv4("192.0.2.1", "192.0.2.2", 47, cat([]byte{0x30, 0x81, 0x88, 0x0b}, make([]byte, 12), []byte{0xff, 0x03, 0xc0, 0x21}))), // PPP's LCP, not IP
	} {
		r, _ := NewReader(bytes.NewReader(pcapFile(t, 1, frame)), "x")
		n := 0
		for r.Next() {
			n++
			if r.Packet().Carries != TunnelNone {
				t.Errorf("a carrier: %+v", r.Packet())
			}
		}
		if n != 1 {
			t.Errorf("%d packets, want 1", n)
		}
	}
}

// TestNestedTunnels: tunnels inside tunnels open too (IP in IP inside
// VXLAN, as on a Kubernetes node behind another overlay; VXLAN in VXLAN
// in VXLAN), up to Zeek's Tunnel::max_depth of four; a fifth is read as a
// packet.
func TestNestedTunnels(t *testing.T) {
	pod := ipv4("10.244.1.5", "10.244.2.7", 6, tcpSYN(40000, 8080))
	ipip := func(inner []byte) []byte { return ipv4("10.0.0.4", "10.0.0.5", 4, inner) }
	vxlan := func(inner []byte) []byte {
		return ipv4("192.0.2.1", "192.0.2.2", 17, udp(51000, 4789, cat([]byte{0x08, 0, 0, 0, 0, 0, 0x2a, 0}, ethernet(0x0800), inner)))
	}
	for _, tt := range []struct {
		name  string
		frame []byte
		want  []string // each packet: source, carries, tunnel
	}{
		{"IP in IP in VXLAN", cat(ethernet(0x0800), vxlan(ipip(pod))),
			[]string{"192.0.2.1 vxlan -", "10.0.0.4 ip vxlan", "10.244.1.5 - ip"}},
		{"VXLAN three deep", cat(ethernet(0x0800), vxlan(vxlan(vxlan(pod)))),
			[]string{"192.0.2.1 vxlan -", "192.0.2.1 vxlan vxlan", "192.0.2.1 vxlan vxlan", "10.244.1.5 - vxlan"}},
		{"five deep: the fifth is a packet", cat(ethernet(0x0800), vxlan(ipip(ipip(ipip(ipip(pod)))))),
			[]string{"192.0.2.1 vxlan -", "10.0.0.4 ip vxlan", "10.0.0.4 ip ip", "10.0.0.4 ip ip", "10.0.0.4 - ip"}},
	} {
		r, err := NewReader(bytes.NewReader(pcapFile(t, 1, tt.frame)), tt.name)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for r.Next() {
			p := r.Packet()
			name := func(k uint8) string { return cmp.Or(TunnelNames[k], "-") }
			got = append(got, p.Src.String()+" "+name(p.Carries)+" "+name(p.Tunnel))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
