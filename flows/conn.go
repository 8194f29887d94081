package flows

import "net/netip"

// Conn is one finished conversation: a connection as Zeek's conn.log
// describes it, with netfx's provenance fields. Times are Unix nanoseconds.
type Conn struct {
	TS       int64 // first packet
	Duration int64 // from the first to the last packet that counts (Zeek excludes packets after both sides closed)
	UID      string

	Orig, Resp         netip.Addr
	OrigPort, RespPort uint16 // for ICMP: the type, and the counterpart type or code
	Proto              uint8  // IP protocol number

	Service     string
	OrigBytes   uint64 // payload bytes; for TCP from sequence numbers, as Zeek
	RespBytes   uint64
	ConnState   string
	MissedBytes uint64
	History     string
	OrigPkts    uint64
	RespPkts    uint64
	OrigIPBytes uint64
	RespIPBytes uint64
	CommunityID string

	VLAN, InnerVLAN uint16 // outermost and innermost 802.1Q IDs of the first packet
	NumVLANs        uint8

	Files       []string // capture files with packets of this conversation, in input order
	FirstRecord int64    // record number of the first packet in Files[0]
}

// ProtoName returns Zeek's name for the transport: tcp, udp, icmp (ICMP and
// ICMPv6), sctp or unknown_transport.
func (c *Conn) ProtoName() string { return ProtoName(c.Proto) }

// ProtoName returns Zeek's transport name for an IP protocol number.
func ProtoName(proto uint8) string {
	switch proto {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1, 58:
		return "icmp"
	case 132:
		return "sctp"
	}
	return "unknown_transport"
}
