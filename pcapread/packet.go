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
//
// Its fields are laid out in 128 bytes, two cache lines: packets are
// handed from the reading goroutine to the flow table's by the million,
// and every line a packet takes is a line the table's core fetches from
// the reader's (docs/performance.md).
type Packet struct {
	Timestamp int64 // Unix nanoseconds
	Record    int64 // 1-based record number in the file (the last fragment's, for a reassembled datagram)

	Src, Dst netip.Addr

	// PayloadLen is the transport payload length the headers announce;
	// Payload holds the captured part of it. From a Reader that defers
	// checksums (DeferChecksums), Payload holds the whole TCP or UDP
	// segment, header first, until VerifyChecksum is called.
	Payload    []byte
	PayloadLen uint32

	// IPBytes is the packet's IP-level size as Zeek counts it: the IPv4
	// total length (the IP part of the frame when the header says 0, as
	// TSO and BIG TCP captures do), or the IPv6 payload length plus 40.
	IPBytes uint32

	// TCP fields, valid when Proto is ipproto.TCP.
	Seq, Ack uint32
	Window   uint16

	SrcPort uint16 // TCP, UDP and SCTP ports; for ICMP and ICMPv6, type
	DstPort uint16 // for ICMP and ICMPv6, code

	Interface uint16    // pcapng interface index (at most maxInterfaces), 0 for pcap
	VLANs     [2]uint16 // outermost and innermost 802.1Q/802.1ad IDs

	TCPFlags uint8 // valid when Proto is ipproto.TCP
	Proto    uint8 // IP protocol number of the transport (after IPv6 extension headers)
	HasPorts bool  // SrcPort and DstPort were decoded (TCP, UDP, SCTP, ICMP)
	NumVLANs uint8

	Fragment  bool // reassembled from IP fragments
	Truncated bool // captured bytes end before the payload the headers announce
	// BadChecksum says a TCP or UDP segment captured whole had a wrong
	// checksum: corrupted, or (on the sending host) left to the NIC.
	BadChecksum bool
	// HeaderCut says the capture cut the TCP header after the ports: the
	// flags, sequence numbers and window are unknown (zero).
	HeaderCut bool

	// Carries is the tunnel (TunnelVXLAN, ...) the packet carries, whose
	// inner packet comes next; Tunnel the one a packet came out of: the
	// packet just before it is its carrier.
	Carries uint8
	Tunnel  uint8

	// segmentHeader is, for a packet whose checksum a Reader left to
	// verify, the length of the TCP or UDP header that Payload starts
	// with; 0 otherwise.
	segmentHeader uint8
}

// VerifyChecksum sets BadChecksum for a packet whose checksum a Reader left
// to verify (DeferChecksums), and cuts the segment's header off its
// Payload; other packets it leaves.
func (p *Packet) VerifyChecksum() {
	if p.segmentHeader != 0 {
		p.BadChecksum = !checksumOK(p.Src, p.Dst, p.Proto, p.Payload)
		p.Payload, p.segmentHeader = p.Payload[p.segmentHeader:], 0
	}
}

// payload returns the packet's payload, whether or not its checksum is
// still to verify.
func (p *Packet) payload() []byte { return p.Payload[p.segmentHeader:] }
