package pcapread

import (
	"encoding/binary"

	"github.com/netfx/netfx/internal/ipproto"
)

// Tunnels, as Zeek decapsulates them by default: the packet inside is read
// as a packet of its own, right after its carrier (Packet.Carries), with
// the kind of tunnel (Packet.Tunnel). Four levels are opened, as Zeek's
// Tunnel::max_depth: a packet out of a tunnel may carry more.
const (
	TunnelNone uint8 = iota
	TunnelVXLAN
	TunnelGeneve
	TunnelTeredo
	TunnelAYIYA
	TunnelGTPv1
	TunnelGRE
	TunnelIP // IP in IP: IPv4 or IPv6 in IPv4 or IPv6
)

// TunnelNames are the tunnels' names, as Zeek's service and tunnel_type
// write them.
var TunnelNames = [...]string{TunnelNone: "", TunnelVXLAN: "vxlan", TunnelGeneve: "geneve", TunnelTeredo: "teredo",
	TunnelAYIYA: "ayiya", TunnelGTPv1: "gtpv1", TunnelGRE: "gre", TunnelIP: "ip"}

// The UDP ports tunnels are registered on (Zeek's defaults).
const (
	portVXLAN  = 4789
	portGeneve = 6081
	portTeredo = 3544
	portAYIYA  = 5072
	portGTPU   = 2152
)

// carrier returns the kind of tunnel p carries and where in its payload
// the inner packet's link, or IP, header starts (ether says which:
// etherEthernet for an Ethernet frame, else etherIPv4 or etherIPv6), or
// TunnelNone.
func carrier(p *Packet) (kind uint8, off int, ether uint16) {
	b := p.payload()
	switch p.Proto {
	case ipproto.UDP:
		if p.Truncated || !p.HasPorts {
			return TunnelNone, 0, 0
		}
		switch port := udpTunnelPort(p.SrcPort, p.DstPort); port {
		case portVXLAN:
			// Flags with the I bit, 24 reserved bits, the VNI, a reserved byte.
			if len(b) >= 8+14 && b[0]&0x08 != 0 {
				return TunnelVXLAN, 8, etherEthernet
			}
		case portGeneve:
			// Version 0, options length in 4-byte words, protocol type.
			if len(b) >= 8 && b[0]>>6 == 0 {
				off := 8 + int(b[0]&0x3f)*4
				switch binary.BigEndian.Uint16(b[2:4]) {
				case 0x6558:
					return TunnelGeneve, off, etherEthernet
				case etherIPv4, etherIPv6:
					return TunnelGeneve, off, binary.BigEndian.Uint16(b[2:4])
				}
			}
		case 0, portTeredo:
			// Teredo on any port, as Zeek's signature finds it: an IPv6
			// packet that fills the datagram exactly.
			if off, ok := teredo(b); ok {
				return TunnelTeredo, off, etherIPv6
			}
		case portAYIYA:
			if len(b) >= 8 {
				off := 8 + 1<<(b[0]>>4) + int(b[1]>>4)*4
				switch b[3] {
				case 4:
					return TunnelAYIYA, off, etherIPv4
				case 41:
					return TunnelAYIYA, off, etherIPv6
				}
			}
		case portGTPU:
			// Version 1, protocol type GTP, a T-PDU (0xff) carrying user data.
			if len(b) >= 8 && b[0]>>5 == 1 && b[0]&0x10 != 0 && b[1] == 0xff {
				off := 8
				if b[0]&0x07 != 0 {
					off += 4 // sequence number, N-PDU number, next extension type
					for next := b[min(off-1, len(b)-1)]; next != 0 && off < len(b); {
						n := int(b[off]) * 4 // an extension header: its length in 4-byte units
						if n == 0 || off+n > len(b) {
							return TunnelNone, 0, 0
						}
						next = b[off+n-1]
						off += n
					}
				}
				if len(b) > off {
					return TunnelGTPv1, off, ipVersion(b[off:])
				}
			}
		}
	case ipproto.IPIP:
		return TunnelIP, 0, etherIPv4
	case ipproto.IPv6Encap:
		return TunnelIP, 0, etherIPv6
	case ipproto.GRE:
		return greCarrier(b)
	}
	return TunnelNone, 0, 0
}

// teredo reads a Teredo datagram: its optional authentication and origin
// indications, then an IPv6 header whose payload length accounts for
// every byte left.
func teredo(b []byte) (off int, ok bool) {
	if len(b) >= 4 && b[0] == 0 && b[1] == 1 { // authentication: id and value lengths, nonce, confirmation
		off = 4 + int(b[2]) + int(b[3]) + 8 + 1
	}
	if len(b) >= off+8 && b[off] == 0 && b[off+1] == 0 { // origin indication
		off += 8
	}
	if len(b) < off+40 || b[off]>>4 != 6 {
		return 0, false
	}
	return off, 40+int(binary.BigEndian.Uint16(b[off+4:off+6])) == len(b)-off
}

// udpTunnelPort returns the tunnel port at either end, or 0.
func udpTunnelPort(sport, dport uint16) uint16 {
	for _, port := range [2]uint16{dport, sport} {
		switch port {
		case portVXLAN, portGeneve, portTeredo, portAYIYA, portGTPU:
			return port
		}
	}
	return 0
}

// greCarrier reads a GRE header as Zeek does: version 0 with its optional
// checksum, key and sequence number, carrying IP, MPLS, Ethernet
// (transparent Ethernet bridging), or ERSPAN types I, II and III; and
// version 1, PPTP's, carrying PPP.
func greCarrier(b []byte) (uint8, int, uint16) {
	// Zeek takes versions 0 and 1, and neither the deprecated routing
	// field nor the reserved flags.
	if len(b) < 4 || b[1]&0x07 > 1 || b[0]&0x40 != 0 || b[1]&0x78 != 0 {
		return TunnelNone, 0, 0
	}
	flags, proto := b[0], binary.BigEndian.Uint16(b[2:4])
	off := 4
	for _, bit := range [3]byte{0x80, 0x20, 0x10} { // checksum, key, sequence number
		if flags&bit != 0 {
			off += 4
		}
	}
	if b[1]&0x07 == 1 {
		// PPTP's enhanced GRE: an acknowledgement number may follow, then
		// PPP (address, control, protocol) carrying IPv4 or IPv6.
		if b[1]&0x80 != 0 {
			off += 4
		}
		if proto != 0x880b || len(b) < off+4 {
			return TunnelNone, 0, 0
		}
		switch binary.BigEndian.Uint16(b[off+2:]) {
		case 0x0021:
			return TunnelGRE, off + 4, etherIPv4
		case 0x0057:
			return TunnelGRE, off + 4, etherIPv6
		}
		return TunnelNone, 0, 0
	}
	switch proto {
	case etherIPv4, etherIPv6, etherMPLS, etherMPLSmc:
		return TunnelGRE, off, proto
	case 0x6558:
		return TunnelGRE, off, etherEthernet
	case 0x88BE: // ERSPAN: type II has a sequence number and an 8-byte header, type I neither
		if flags&0x10 != 0 {
			off += 8
		}
		return TunnelGRE, off, etherEthernet
	case 0x22EB: // ERSPAN type III: a 12-byte header, and an 8-byte subheader when O is set
		if len(b) < off+12 {
			return TunnelNone, 0, 0
		}
		o := b[off+11]&0x01 != 0
		off += 12
		if o {
			off += 8
		}
		return TunnelGRE, off, etherEthernet
	}
	return TunnelNone, 0, 0
}

// etherEthernet marks an inner Ethernet frame, for carrier.
const etherEthernet = 0x6558

// inner decodes the packet a carrier holds, from the carrier's payload at
// off, into p.
func (d *Decoder) inner(p *Packet, outer *Packet, kind uint8, payload []byte, off int, ether uint16, stats *Stats) bool {
	if off < 0 || off > len(payload) {
		stats.Truncated++
		return false
	}
	b := payload[off:]
	*p = Packet{Timestamp: outer.Timestamp, Record: outer.Record, Interface: outer.Interface}
	if ether == etherEthernet {
		if len(b) < 14 {
			stats.Truncated++
			return false
		}
		ether, off = d.ether(p, b, 12)
		b = b[off:]
	}
	if ether == etherMPLS || ether == etherMPLSmc { // MPLS in GRE: the labels, then IP
		ether, off = d.etherAt(p, b, ether, 0)
		if ether == etherNone {
			stats.Truncated++
			return false
		}
		b = b[off:]
	}
	p.Tunnel = kind
	// The inner packet's length on the wire: what the carrier's payload
	// announced beyond the inner headers.
	wire := int(outer.PayloadLen) - (len(payload) - len(b))
	switch ether {
	case etherIPv4:
		return d.ipv4(p, b, wire, stats)
	case etherIPv6:
		return d.ipv6(p, b, wire, stats)
	}
	stats.NonIP++
	return false
}
