package flows

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net/netip"

	"github.com/netfx/netfx/internal/ipproto"
)

// CommunityID computes the Community ID v1 of a flow
// (https://github.com/corelight/community-id-spec). For TCP, UDP and SCTP
// sport and dport are the ports; for ICMP and ICMPv6 they are the message
// type and code of a packet from src to dst, which are mapped to "ports" as
// the specification says. Other protocols hash addresses only.
func CommunityID(seed uint16, proto uint8, src, dst netip.Addr, sport, dport uint16) string {
	oneWay := false
	if ipproto.IsICMP(proto) {
		sport, dport, oneWay = icmpPorts(proto, uint8(sport), uint8(dport))
	}
	return communityID(seed, proto, src, dst, sport, dport, oneWay)
}

// communityID hashes a flow whose ICMP types are already mapped to ports.
func communityID(seed uint16, proto uint8, src, dst netip.Addr, sport, dport uint16, oneWay bool) string {
	var out [communityIDLen]byte
	return string(appendCommunityID(out[:0], seed, proto, src, dst, sport, dport, oneWay))
}

// communityIDLen is the length of a Community ID v1: "1:" and the base64 of
// a SHA-1 sum.
const communityIDLen = 2 + 28

// appendCommunityID appends communityID's text to b.
func appendCommunityID(b []byte, seed uint16, proto uint8, src, dst netip.Addr, sport, dport uint16, oneWay bool) []byte {
	hasPorts := protoHasPorts(proto)
	s, d := src.AsSlice(), dst.AsSlice()
	if !oneWay && !lessEndpoint(s, d, sport, dport, hasPorts) {
		s, d, sport, dport = d, s, dport, sport
	}
	var buf [2 + 16 + 16 + 2 + 4]byte
	h := binary.BigEndian.AppendUint16(buf[:0], seed)
	h = append(h, s...)
	h = append(h, d...)
	h = append(h, proto, 0)
	if hasPorts {
		h = binary.BigEndian.AppendUint16(h, sport)
		h = binary.BigEndian.AppendUint16(h, dport)
	}
	sum := sha1.Sum(h)
	return base64.StdEncoding.AppendEncode(append(b, '1', ':'), sum[:])
}

// protoHasPorts reports whether conversations of the IP protocol are keyed
// by ports: TCP, UDP and SCTP, and ICMP and ICMPv6 by their mapped types.
func protoHasPorts(proto uint8) bool {
	switch proto {
	case ipproto.ICMP, ipproto.TCP, ipproto.UDP, ipproto.ICMPv6, ipproto.SCTP:
		return true
	}
	return false
}

// lessEndpoint reports whether (s, sport) orders before or equal to
// (d, dport), the order in which the specification hashes them.
func lessEndpoint(s, d []byte, sport, dport uint16, hasPorts bool) bool {
	for i := range s {
		if s[i] != d[i] {
			return s[i] < d[i]
		}
	}
	return !hasPorts || sport <= dport
}

// icmpCounterparts maps ICMP and ICMPv6 request and reply types to each
// other, as Zeek's ICMP4_counterpart and ICMP6_counterpart do.
var icmpCounterparts = [2]map[uint8]uint8{
	{8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17},
	{128: 129, 129: 128, 130: 131, 131: 130, 133: 134, 134: 133, 135: 136, 136: 135, 139: 140, 140: 139, 144: 145, 145: 144},
}

// icmpPorts maps an ICMP message type and code to Zeek's and Community ID's
// "ports": the type, and the counterpart type for request/reply messages or
// the code for one-way messages.
func icmpPorts(proto, typ, code uint8) (sport, dport uint16, oneWay bool) {
	table := icmpCounterparts[0]
	if proto == ipproto.ICMPv6 {
		table = icmpCounterparts[1]
	}
	if c, ok := table[typ]; ok {
		return uint16(typ), uint16(c), false
	}
	return uint16(typ), uint16(code), true
}
