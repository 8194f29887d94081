package flows

import "github.com/netfx/netfx/internal/ipproto"

// likelyServerPort reports whether a port is one Zeek takes for a server's
// (its likely_server_ports), which decides the originator of a
// conversation whose start the capture missed.
func likelyServerPort(proto uint8, port uint16) bool {
	switch proto {
	case ipproto.TCP:
		return likelyTCPServerPorts.has(port)
	case ipproto.UDP:
		return likelyUDPServerPorts.has(port)
	}
	return false
}

// The ports Zeek 8's default scripts register as server ports of their
// analyzers (Analyzer::register_for_ports adds them to likely_server_ports):
// base/protocols/* and base/packet-protocols/* (tunnels). Zeek does not
// take every port below 1024 for a server's, and neither does netfx.
var (
	likelyTCPServerPorts = newPortSet(
		21, 2811, // ftp
		22,      // ssh
		25, 587, // smtp
		53,                                        // dns
		79,                                        // finger
		80, 81, 631, 1080, 3128, 8000, 8080, 8888, // http (1080 also socks)
		88,       // krb_tcp
		139, 445, // smb
		143,       // imap
		389, 3268, // ldap_tcp
		443, 563, 585, 614, 636, 989, 990, 992, 993, 995, 5223, // ssl
		502,        // modbus
		1434, 3306, // mysql
		1883,       // mqtt
		3389,       // rdp
		5222, 5269, // xmpp
		5432,                   // postgresql
		6379,                   // redis
		6666, 6667, 6668, 6669, // irc
		20000, // dnp3
	)
	likelyUDPServerPorts = newPortSet(
		53, 137, 5353, 5355, // dns
		67, 68, // dhcp
		88,       // krb
		123,      // ntp
		161, 162, // snmp
		389,        // ldap_udp
		443,        // dtls, quic
		514,        // syslog
		1812,       // radius
		2123, 2152, // gtpv1
		3389,  // rdpeudp
		3544,  // teredo
		4789,  // vxlan
		5060,  // sip
		5072,  // ayiya
		6081,  // geneve
		20000, // dnp3
	)
)

// portSet is a set of ports, a bit each (8 KiB): asked of every new
// conversation, it answers without a map's hashing.
type portSet [1 << 16 / 64]uint64

func newPortSet(ports ...uint16) *portSet {
	var s portSet
	for _, p := range ports {
		s[p/64] |= 1 << (p % 64)
	}
	return &s
}

func (s *portSet) has(p uint16) bool { return s[p/64]&(1<<(p%64)) != 0 }
