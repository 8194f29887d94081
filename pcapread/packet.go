package pcapread

import "net/netip"

// TCP flag bits, as in the TCP header's flags byte.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
	FlagURG = 0x20
	FlagECE = 0x40
	FlagCWR = 0x80
)

// Packet is the decoded headers of one IP packet (or of one reassembled
// fragmented datagram). Payload points into the reader's buffer.
type Packet struct {
	Timestamp int64 // Unix nanoseconds
	Record    int64 // 1-based record number in the file (the last fragment's, for a reassembled datagram)
	Interface int   // pcapng interface index, 0 for pcap

	Src, Dst netip.Addr
	Proto    uint8  // IP protocol number of the transport (after IPv6 extension headers)
	SrcPort  uint16 // TCP, UDP and SCTP ports; for ICMP and ICMPv6, type
	DstPort  uint16 // for ICMP and ICMPv6, code
	HasPorts bool   // SrcPort and DstPort were decoded (TCP, UDP, SCTP, ICMP)

	// IPBytes is the packet's IP-level size as Zeek counts it: the IPv4
	// total length (the IP part of the frame when the header says 0, as
	// TSO and BIG TCP captures do), or the IPv6 payload length plus 40.
	IPBytes int

	// TCP fields, valid when Proto is ipproto.TCP.
	TCPFlags uint8
	Seq, Ack uint32
	Window   uint16

	// PayloadLen is the transport payload length the headers announce;
	// Payload holds the captured part of it.
	PayloadLen int
	Payload    []byte

	VLANs     [2]uint16 // outermost and innermost 802.1Q/802.1ad IDs
	NumVLANs  uint8
	Fragment  bool // reassembled from IP fragments
	Truncated bool // captured bytes end before the payload the headers announce
	// BadChecksum says a TCP or UDP segment captured whole had a wrong
	// checksum: corrupted, or (on the sending host) left to the NIC.
	BadChecksum bool
	// Segment is set instead of BadChecksum by a Reader that defers
	// checksums (DeferChecksums): the whole TCP or UDP segment, header and
	// payload (Payload ends it), whose checksum VerifyChecksum verifies.
	Segment []byte
	// HeaderCut says the capture cut the TCP header after the ports: the
	// flags, sequence numbers and window are unknown (zero).
	HeaderCut bool

	// Carries is the tunnel (TunnelVXLAN, ...) the packet carries, whose
	// inner packet comes next; Tunnel the one a packet came out of: the
	// packet just before it is its carrier.
	Carries uint8
	Tunnel  uint8
}

// VerifyChecksum sets BadChecksum for a packet whose checksum a Reader left
// to verify (Segment set), and clears Segment; other packets it leaves.
func (p *Packet) VerifyChecksum() {
	if p.Segment != nil {
		p.BadChecksum = !checksumOK(p.Src, p.Dst, p.Proto, p.Segment)
		p.Segment = nil
	}
}
