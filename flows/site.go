package flows

import "net/netip"

// localNets is Zeek's Site::private_address_space, the IANA
// special-purpose blocks (base/utils/site.zeek), which Zeek takes as its
// Site::local_nets by default (Site::private_address_space_is_local): what
// conn.log's local_orig and local_resp say of an address.
var localNets = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
		"240.0.0.0/4", "255.255.255.255/32",
		// The same as 6to4 addresses.
		"2002::/24", "2002:a00::/24", "2002:6440::/26", "2002:7f00::/24", "2002:a9fe::/32", "2002:ac10::/28",
		"2002:c000::/40", "2002:c000:200::/40", "2002:c0a8::/32", "2002:c612::/31", "2002:c633:6400::/40",
		"2002:cb00:7100::/40", "2002:f000::/20", "2002:ffff:ffff::/48",
		"::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:2::/48", "2001:db8::/32",
		"fc00::/7", "fe80::/10",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Local reports whether an address is local as Zeek's default site
// configuration has it: in private or special-purpose address space.
// IPv4, every record's case, is decided by its first octets without
// walking the list.
func Local(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		switch {
		case b[0] == 0, b[0] == 10, b[0] == 127, b[0] >= 240,
			b[0] == 100 && b[1]&0xc0 == 64,
			b[0] == 169 && b[1] == 254,
			b[0] == 172 && b[1]&0xf0 == 16,
			b[0] == 192 && (b[1] == 168 || b[1] == 0 && (b[2] == 0 || b[2] == 2)),
			b[0] == 198 && (b[1]&0xfe == 18 || b[1] == 51 && b[2] == 100),
			b[0] == 203 && b[1] == 0 && b[2] == 113:
			return true
		}
		return false
	}
	for _, p := range localNets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
