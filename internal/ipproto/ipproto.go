// Package ipproto names the IP protocol numbers netfx treats specially,
// in one place for every stage: the packet decoder, the flow table, the
// log readers and the analyses.
package ipproto

// IP protocol numbers (IANA).
const (
	ICMP      = 1
	IPIP      = 4 // IPv4 in IP
	TCP       = 6
	UDP       = 17
	IPv6Encap = 41 // IPv6 in IP
	GRE       = 47
	ICMPv6    = 58
	SCTP      = 132
)

// IsICMP reports whether p is ICMP or ICMPv6, whose conversations Zeek
// keys by type and code instead of ports.
func IsICMP(p uint8) bool { return p == ICMP || p == ICMPv6 }

// Name returns Zeek's name for a transport: tcp, udp, icmp (ICMP and
// ICMPv6), sctp or unknown_transport.
func Name(p uint8) string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case ICMP, ICMPv6:
		return "icmp"
	case SCTP:
		return "sctp"
	}
	return "unknown_transport"
}

// Number returns the protocol number of a Zeek transport name (tcp, udp,
// icmp, sctp), and false for other names.
func Number(name string) (uint8, bool) {
	switch name {
	case "tcp":
		return TCP, true
	case "udp":
		return UDP, true
	case "icmp":
		return ICMP, true
	case "sctp":
		return SCTP, true
	}
	return 0, false
}
