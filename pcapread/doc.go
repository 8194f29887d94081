// Package pcapread turns capture files into decoded packet headers: the first
// stage of the netfx pipeline.
//
// It owns everything between the bytes of a capture and a [Packet]:
//
//   - format detection by content (pcap in either byte order with micro- or
//     nanosecond timestamps, pcapng with any number of sections and
//     interfaces, either one gzip- or zstd-compressed);
//   - validation of every length field before a record is read, so that a
//     damaged or hostile file ends with a [FormatError] naming the file, the
//     record and the byte offset, never with an allocation sized by the
//     file; gopacket's pcapgo reads pcapng blocks and the pcap file header,
//     and the records of a pcap file, checked already, are taken straight
//     from the read buffer;
//   - a hand-written header decoder for the link types an incident responder
//     meets (Ethernet with 802.1Q/802.1ad tags, MPLS and PPPoE, Linux SLL and
//     SLL2, raw IP, BSD loopback, FDDI) and for IPv4, IPv6 with extension
//     headers, TCP, UDP, SCTP, ICMP and ICMPv6;
//   - bounded reassembly of IPv4 and IPv6 fragments, so that a fragmented
//     datagram is one packet.
//
// A Reader works like bufio.Scanner:
//
//	r, err := pcapread.Open("capture.pcapng")
//	if err != nil { ... }
//	defer r.Close()
//	for r.Next() {
//		p := r.Packet() // valid until the next call to Next
//		...
//	}
//	if err := r.Err(); err != nil { ... } // often a *FormatError
//
// The hot path allocates nothing per packet.
package pcapread
