package analyze

import "net/netip"

// defaultInternal are the address ranges netfx treats as internal: RFC 1918
// private IPv4, RFC 6598 shared address space (carrier-grade NAT, used by
// some Azure services) and IPv6 unique local addresses.
var defaultInternal = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

// Network says which addresses are internal.
type Network struct {
	prefixes []netip.Prefix
	learned  map[netip.Addr]bool // NIC addresses the flow logs showed
}

// NewNetwork returns the default internal ranges plus extra.
func NewNetwork(extra []netip.Prefix) *Network {
	n := &Network{prefixes: append([]netip.Prefix(nil), defaultInternal...)}
	for _, p := range extra {
		n.prefixes = append(n.prefixes, p.Masked())
	}
	return n
}

// Internal reports whether a is inside one of the internal ranges.
func (n *Network) Internal(a netip.Addr) bool {
	if n.learned[a] {
		return true
	}
	for _, p := range n.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// learn adds an address the flow logs showed to be a VNet NIC's.
func (n *Network) learn(a netip.Addr) {
	if n.learned == nil {
		n.learned = make(map[netip.Addr]bool)
	}
	if len(n.learned) < 1<<16 {
		n.learned[a] = true
	}
}
