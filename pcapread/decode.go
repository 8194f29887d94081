package pcapread

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/gopacket/gopacket/layers"

	"github.com/netfx/netfx/internal/ipproto"
)

// Link types decoded here, by their LINKTYPE_ (and DLT_) numbers.
const (
	linkNull      = 0
	linkEthernet  = 1
	linkPPP       = 9
	linkFDDI      = 10
	linkRawBSD    = 12 // DLT_RAW on most BSDs
	linkRawBSD14  = 14 // DLT_RAW on OpenBSD
	linkPPPHDLC   = 50 // PPP in HDLC-like framing (DLT_PPP_SERIAL)
	linkRaw       = 101
	linkCHDLC     = 104 // Cisco HDLC
	link80211     = 105
	linkLoop      = 108
	linkLinuxSLL  = 113
	linkRadiotap  = 127 // 802.11 behind a radiotap header
	linkNFLOG     = 239 // Linux netfilter's log: TLVs, the packet in one
	linkIPv4      = 228
	linkIPv6      = 229
	linkLinuxSLL2 = 276
)

// Ethertypes.
const (
	etherIPv4   = 0x0800
	etherIPv6   = 0x86DD
	etherVLAN   = 0x8100
	etherQinQ   = 0x88A8
	etherQinQ2  = 0x9100
	etherMPLS   = 0x8847
	etherMPLSmc = 0x8848
	etherPPPoE  = 0x8864
	// Headers Zeek's Ethernet analyzer skips to reach the frame inside.
	etherPBB        = 0x88E7 // 802.1ah provider backbone bridging: an I-TAG, then a customer frame
	etherVNTag      = 0x8926 // Cisco VN-Tag: four bytes, then the ethertype
	etherFabricPath = 0x8903 // Cisco FabricPath: two bytes, then the original frame
)

// Decoder decodes link, network and transport headers. Its zero value is
// ready to use; it keeps the fragment reassembly state of one stream of
// packets. It allocates nothing for packets that are not fragments.
type Decoder struct {
	frags fragTable
	// deferChecksums leaves checksums to Packet.VerifyChecksum.
	deferChecksums bool
}

// Decode decodes one frame of the given link type into p. origLen is the
// frame's length on the wire. It reports whether p holds an IP packet with
// its transport header; stats (which may be nil) counts the rest.
func (d *Decoder) Decode(p *Packet, link layers.LinkType, frame []byte, origLen int, ts int64, stats *Stats) bool {
	if stats == nil {
		stats = new(Stats)
	}
	return d.decode(p, link, frame, origLen, ts, stats)
}

func (d *Decoder) decode(p *Packet, link layers.LinkType, frame []byte, origLen int, ts int64, stats *Stats) bool {
	*p = Packet{Timestamp: ts}
	ethertype, off := d.link(p, link, frame)
	// wire is the length of the IP packet on the wire, for TSO frames.
	wire := origLen - off
	ip := frame[off:]
	switch ethertype {
	case etherIPv4:
		return d.ipv4(p, ip, wire, stats)
	case etherIPv6:
		return d.ipv6(p, ip, wire, stats)
	case etherUnknownLink:
		if stats.UnknownLinks++; !slices.Contains(stats.UnknownLinkTypes, link) {
			stats.UnknownLinkTypes = append(stats.UnknownLinkTypes, link)
		}
	case etherShort:
		stats.Truncated++
	default:
		stats.NonIP++
	}
	return false
}

// link decodes the link-layer header and returns the ethertype of what
// follows (0 for an unknown link type) and its offset.
func (d *Decoder) link(p *Packet, link layers.LinkType, b []byte) (ethertype uint16, off int) {
	switch link {
	case linkEthernet:
		if len(b) < 14 {
			return etherShort, 0
		}
		return d.ether(p, b, 12)
	case linkLinuxSLL:
		if len(b) < 16 {
			return etherShort, 0
		}
		return d.ether(p, b, 14)
	case linkLinuxSLL2:
		if len(b) < 20 {
			return etherShort, 0
		}
		// SLL2 puts the protocol first; ether() wants it just before the payload.
		return d.etherAt(p, b, binary.BigEndian.Uint16(b[0:2]), 20)
	case linkRaw, linkRawBSD, linkRawBSD14:
		return ipVersion(b), 0
	case linkIPv4:
		return etherIPv4, 0
	case linkIPv6:
		return etherIPv6, 0
	case linkNull, linkLoop:
		if len(b) < 4 {
			return etherShort, 0
		}
		return nullFamily(b[:4]), 4
	case linkFDDI:
		// frame control, destination, source, then 802.2 LLC.
		if len(b) < 13 {
			return etherShort, 0
		}
		return d.llc(p, b, 13)
	case linkPPP, linkPPPHDLC:
		return ppp(b)
	case linkCHDLC:
		// address, control, then an ethertype.
		if len(b) < 4 {
			return etherShort, 0
		}
		return d.etherAt(p, b, binary.BigEndian.Uint16(b[2:4]), 4)
	case link80211:
		return d.ieee80211(p, b, 0)
	case linkRadiotap:
		if len(b) < 4 {
			return etherShort, 0
		}
		return d.ieee80211(p, b, int(binary.LittleEndian.Uint16(b[2:4])))
	case linkNFLOG:
		return nflog(b)
	}
	return etherUnknownLink, 0
}

// nflog reads Linux NFLOG's header (address family, version, resource id)
// and its TLVs (length and type in host order, little-endian on the
// machines that write them, each padded to four bytes) to the payload's,
// type 9, which holds the IP packet.
func nflog(b []byte) (ethertype uint16, off int) {
	if len(b) < 4 {
		return etherShort, 0
	}
	ethertype = etherIPv4
	switch b[0] {
	case 2: // AF_INET
	case 10: // AF_INET6
		ethertype = etherIPv6
	default:
		return etherNone, 0
	}
	for off = 4; off+4 <= len(b); {
		n, typ := int(binary.LittleEndian.Uint16(b[off:])), binary.LittleEndian.Uint16(b[off+2:])
		if typ == 9 { // the snap length may have cut it: IP decoding says so
			return ethertype, off + 4
		}
		if n < 4 || off+n > len(b) {
			return etherShort, 0
		}
		off += (n + 3) &^ 3
	}
	return etherShort, 0
}

// ppp reads a PPP header, with or without HDLC-like framing (address
// 0xff, control 0x03) and with a one- or two-byte protocol.
func ppp(b []byte) (uint16, int) {
	off := 0
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
		off = 2
	}
	if len(b) < off+1 {
		return etherShort, 0
	}
	proto, n := uint16(b[off]), 1
	if b[off]&1 == 0 { // not compressed: two bytes
		if len(b) < off+2 {
			return etherShort, 0
		}
		proto, n = binary.BigEndian.Uint16(b[off:off+2]), 2
	}
	switch proto {
	case 0x0021:
		return etherIPv4, off + n
	case 0x0057:
		return etherIPv6, off + n
	}
	return etherNone, 0
}

// ieee80211 reads an 802.11 frame at b[off:]: a data frame carries an
// LLC/SNAP header; management, control, null and protected frames carry
// no IP netfx can read.
func (d *Decoder) ieee80211(p *Packet, b []byte, off int) (uint16, int) {
	if off < 0 || len(b) < off+24 {
		return etherShort, 0
	}
	fc, flags := b[off], b[off+1]
	if (fc>>2)&3 != 2 || fc&0x40 != 0 || flags&0x40 != 0 {
		return etherNone, 0 // not data, a null function, or protected
	}
	hdr := 24
	if flags&3 == 3 {
		hdr += 6 // a fourth address: to and from the distribution system
	}
	if fc&0x80 != 0 {
		hdr += 2 // QoS control
		if flags&0x80 != 0 {
			hdr += 4 // HT control
		}
	}
	return d.llc(p, b, off+hdr)
}

// Pseudo-ethertypes for frames that do not lead to IP.
const (
	etherUnknownLink = 0 // a link type netfx cannot decode
	etherNone        = 1 // no IP inside (ARP, STP, an LLC frame, ...)
	etherShort       = 2 // the link header is cut short
)

// ether reads the ethertype or 802.3 length at b[at:] and what it leads to.
func (d *Decoder) ether(p *Packet, b []byte, at int) (uint16, int) {
	return d.etherAt(p, b, binary.BigEndian.Uint16(b[at:at+2]), at+2)
}

// etherAt follows VLAN tags, MPLS labels, PPPoE and LLC/SNAP from an
// ethertype found just before b[off:].
func (d *Decoder) etherAt(p *Packet, b []byte, et uint16, off int) (uint16, int) {
	for {
		switch {
		case et == etherIPv4 || et == etherIPv6:
			return et, off // the common case first
		case et == etherVLAN || et == etherQinQ || et == etherQinQ2:
			if len(b) < off+4 {
				return etherNone, 0
			}
			id := binary.BigEndian.Uint16(b[off:off+2]) & 0x0fff
			if p.NumVLANs == 0 {
				p.VLANs[0] = id
			}
			p.VLANs[1] = id
			if p.NumVLANs < 255 {
				p.NumVLANs++
			}
			et = binary.BigEndian.Uint16(b[off+2 : off+4])
			off += 4
		case et == etherMPLS || et == etherMPLSmc:
			for {
				if len(b) < off+4 {
					return etherNone, 0
				}
				bottom := b[off+2]&1 == 1
				off += 4
				if bottom {
					break
				}
			}
			return ipVersion(b[off:]), off
		case et == etherPPPoE:
			if len(b) < off+8 {
				return etherNone, 0
			}
			switch binary.BigEndian.Uint16(b[off+6 : off+8]) {
			case 0x0021:
				return etherIPv4, off + 8
			case 0x0057:
				return etherIPv6, off + 8
			}
			return etherNone, 0
		case et == etherPBB:
			// The I-TAG, then the customer frame's addresses and ethertype.
			if len(b) < off+18 {
				return etherNone, 0
			}
			et, off = binary.BigEndian.Uint16(b[off+16:off+18]), off+18
		case et == etherVNTag:
			if len(b) < off+6 {
				return etherNone, 0
			}
			et, off = binary.BigEndian.Uint16(b[off+4:off+6]), off+6
		case et == etherFabricPath:
			// The FTag and TTL, then the original frame's addresses and
			// ethertype.
			if len(b) < off+16 {
				return etherNone, 0
			}
			et, off = binary.BigEndian.Uint16(b[off+14:off+16]), off+16
		case et < 0x0600:
			// An 802.3 length field: LLC follows.
			return d.llc(p, b, off)
		default:
			return et, off
		}
	}
}

// llc reads an 802.2 LLC header at b[off:]; only SNAP carries IP.
func (d *Decoder) llc(p *Packet, b []byte, off int) (uint16, int) {
	if len(b) >= off+8 && b[off] == 0xAA && b[off+1] == 0xAA && b[off+2] == 0x03 {
		return d.etherAt(p, b, binary.BigEndian.Uint16(b[off+6:off+8]), off+8)
	}
	return etherNone, 0
}

// ipVersion guesses IPv4 or IPv6 from the version nibble, for raw IP links.
func ipVersion(b []byte) uint16 {
	if len(b) == 0 {
		return etherNone
	}
	switch b[0] >> 4 {
	case 4:
		return etherIPv4
	case 6:
		return etherIPv6
	}
	return etherNone
}

// nullFamily reads the BSD loopback header: an address family in the
// writer's byte order (AF_INET is 2 everywhere; AF_INET6 is 10, 24, 28 or
// 30 depending on the OS). Some writers put an ethertype in one half of it
// instead, as Wireshark also accepts.
func nullFamily(b []byte) uint16 {
	for _, v := range [4]uint32{
		binary.LittleEndian.Uint32(b), binary.BigEndian.Uint32(b),
		uint32(binary.BigEndian.Uint16(b[2:4])), uint32(binary.BigEndian.Uint16(b[0:2])),
	} {
		switch v {
		case 2, etherIPv4:
			return etherIPv4
		case 10, 24, 28, 30, etherIPv6:
			return etherIPv6
		}
	}
	return etherNone
}

func (d *Decoder) ipv4(p *Packet, b []byte, wire int, stats *Stats) bool {
	if len(b) < 20 || b[0]>>4 != 4 {
		stats.Truncated++
		return false
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	offloaded := total == 0
	if offloaded {
		// TSO and BIG TCP: the length is the frame's, and the checksums
		// are left to the NIC.
		total = wire
	}
	if ihl < 20 || len(b) < ihl || total < ihl {
		stats.Truncated++
		return false
	}
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	p.Proto = b[9]
	p.IPBytes = uint32(total)
	payload := b[ihl:min(len(b), total)]
	payloadLen := total - ihl
	flagsFrag := binary.BigEndian.Uint16(b[6:8])
	if flagsFrag&0x3fff != 0 { // more fragments, or an offset
		stats.Fragments++
		key := fragKey{id: uint32(binary.BigEndian.Uint16(b[4:6])), proto: p.Proto}
		key.src, key.dst = p.Src.As16(), p.Dst.As16()
		offset := int(flagsFrag&0x1fff) * 8
		return d.fragment(p, key, ihl, offset, flagsFrag&0x2000 != 0, payload, payloadLen, stats)
	}
	return d.transport(p, payload, payloadLen, !offloaded, stats)
}

// IPv6 extension headers that netfx walks past.
const (
	ip6HopByHop = 0
	ip6Routing  = 43
	ip6Fragment = 44
	ip6AH       = 51
	ip6NoNext   = 59
	ip6DestOpts = 60
	ip6Mobility = 135
	ip6HIP      = 139
	ip6Shim6    = 140
)

func (d *Decoder) ipv6(p *Packet, b []byte, wire int, stats *Stats) bool {
	if len(b) < 40 || b[0]>>4 != 6 {
		stats.Truncated++
		return false
	}
	payloadLen := int(binary.BigEndian.Uint16(b[4:6]))
	offloaded := payloadLen == 0
	if offloaded {
		// A jumbogram, or a TSO frame: the length is the frame's.
		payloadLen = max(wire-40, 0)
	}
	p.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	p.IPBytes = uint32(payloadLen + 40)
	next := b[6]
	rest := b[40:min(len(b), 40+payloadLen)]
	hdrLen := 40
	for {
		var n int
		switch next {
		case ip6HopByHop, ip6Routing, ip6DestOpts, ip6Mobility, ip6HIP, ip6Shim6:
			if len(rest) < 8 {
				stats.Truncated++
				return false
			}
			n = (int(rest[1]) + 1) * 8
		case ip6AH:
			if len(rest) < 8 {
				stats.Truncated++
				return false
			}
			n = (int(rest[1]) + 2) * 4
		case ip6Fragment:
			if len(rest) < 8 {
				stats.Truncated++
				return false
			}
			offFlags := binary.BigEndian.Uint16(rest[2:4])
			offset, more := int(offFlags>>3)*8, offFlags&1 == 1
			if offset == 0 && !more {
				// An atomic fragment (RFC 6946): a whole packet.
				n = 8
				break
			}
			stats.Fragments++
			p.Proto = rest[0]
			key := fragKey{id: binary.BigEndian.Uint32(rest[4:8]), proto: p.Proto, v6: true}
			key.src, key.dst = p.Src.As16(), p.Dst.As16()
			return d.fragment(p, key, hdrLen, offset, more, rest[8:], payloadLen+40-hdrLen-8, stats)
		default:
			p.Proto = next
			return d.transport(p, rest, payloadLen+40-hdrLen, !offloaded, stats)
		}
		if n > len(rest) || hdrLen+n > payloadLen+40 {
			stats.Truncated++
			return false
		}
		next = rest[0]
		rest = rest[n:]
		hdrLen += n
	}
}

// transport decodes the transport header at b, the captured part of a
// payload of payloadLen bytes. When checkable, and the whole TCP or UDP
// segment was captured, its checksum is verified.
func (d *Decoder) transport(p *Packet, b []byte, payloadLen int, checkable bool, stats *Stats) bool {
	hdr := 0
	switch p.Proto {
	case ipproto.TCP:
		if len(b) < 4 || payloadLen < 20 {
			stats.Truncated++
			return false
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:2])
		p.DstPort = binary.BigEndian.Uint16(b[2:4])
		p.HasPorts = true
		if len(b) < 16 {
			// A snap length that cuts the TCP header (IPv6 at 64 bytes, stacked
			// VLAN tags): the packet counts in its conversation, as tshark
			// counts it, but its flags and sequence numbers are unknown.
			stats.Truncated++
			p.HeaderCut, p.Truncated = true, true
			p.PayloadLen = uint32(payloadLen - 20)
			return true
		}
		hdr = int(b[12]>>4) * 4
		if hdr < 20 || hdr > payloadLen {
			stats.Truncated++
			return false
		}
		p.Seq = binary.BigEndian.Uint32(b[4:8])
		p.Ack = binary.BigEndian.Uint32(b[8:12])
		p.TCPFlags = b[13]
		p.Window = binary.BigEndian.Uint16(b[14:16])
	case ipproto.UDP, ipproto.SCTP:
		hdr = 8
		if p.Proto == ipproto.SCTP {
			hdr = 12
		}
		// The ports are enough: the payload's length comes from the IP header.
		if len(b) < 4 || payloadLen < hdr {
			stats.Truncated++
			return false
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:2])
		p.DstPort = binary.BigEndian.Uint16(b[2:4])
		p.HasPorts = true
		if len(b) < hdr {
			stats.Truncated++
			p.Truncated = true
		}
	case ipproto.ICMP, ipproto.ICMPv6:
		hdr = 8
		if len(b) < 2 {
			stats.Truncated++
			return false
		}
		hdr = min(hdr, payloadLen)
		p.SrcPort, p.DstPort = uint16(b[0]), uint16(b[1])
		p.HasPorts = true
	}
	p.PayloadLen = uint32(payloadLen - hdr)
	if hdr <= len(b) {
		p.Payload = b[hdr:min(len(b), payloadLen)]
	}
	p.Truncated = p.Truncated || len(p.Payload) < payloadLen-hdr
	if checkable && !p.Truncated && len(b) >= payloadLen && (p.Proto == ipproto.TCP || p.Proto == ipproto.UDP && binary.BigEndian.Uint16(b[6:8]) != 0) {
		if d.deferChecksums {
			p.Payload, p.segmentHeader = b[:payloadLen], uint8(hdr)
		} else {
			p.BadChecksum = !checksumOK(p.Src, p.Dst, p.Proto, b[:payloadLen])
		}
	}
	return true
}
