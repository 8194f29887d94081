package analyze

import (
	"net/netip"

	"github.com/netfx/netfx/inventory"
)

// rangeOf is a range of addresses and why it is internal.
type rangeOf struct {
	prefix netip.Prefix
	reason string
}

// defaultInternal are the address ranges netfx treats as internal: RFC 1918
// private IPv4, RFC 6598 shared address space (carrier-grade NAT, used by
// some Azure services) and IPv6 unique local addresses.
var defaultInternal = []rangeOf{
	{netip.MustParsePrefix("10.0.0.0/8"), "RFC 1918"},
	{netip.MustParsePrefix("172.16.0.0/12"), "RFC 1918"},
	{netip.MustParsePrefix("192.168.0.0/16"), "RFC 1918"},
	{netip.MustParsePrefix("100.64.0.0/10"), "RFC 6598 shared address space"},
	{netip.MustParsePrefix("fc00::/7"), "IPv6 unique local (RFC 4193)"},
}

// Address classes (HostStat.Class), docs/report-json.md.
const (
	ClassInternal  = "internal"   // inside the network under investigation
	ClassExternal  = "external"   // anything else: the internet
	ClassAzure     = "azure"      // Azure's platform addresses, and public addresses in an Azure service tag
	ClassLoopback  = "loopback"   // the host itself
	ClassLinkLocal = "link_local" // the local link only
	ClassMulticast = "multicast"  // multicast and broadcast
)

// Azure's platform addresses are its own services: shown, never flagged.
var (
	wireserver = netip.MustParseAddr("168.63.129.16")
	imds       = netip.MustParseAddr("169.254.169.254")
)

// platform names the Azure service at a, if a is a platform address. It
// is asked of both ends of every conversation, so it compares rather than
// looks up.
func platform(a netip.Addr) (string, bool) {
	switch a {
	case wireserver:
		return "Azure wireserver: DNS, DHCP, health probes", true
	case imds:
		return "Azure Instance Metadata Service", true
	}
	return "", false
}

// Network says which addresses are internal, and what the others are.
type Network struct {
	ranges  []rangeOf
	learned map[netip.Addr]bool // NIC addresses the flow logs showed
	azure   *inventory.Index    // the Azure inventory, if any
}

// NewNetwork returns the default internal ranges plus extra (--internal).
func NewNetwork(extra []netip.Prefix) *Network {
	n := &Network{ranges: append([]rangeOf(nil), defaultInternal...)}
	for _, p := range extra {
		n.ranges = append(n.ranges, rangeOf{p.Masked(), "--internal " + p.Masked().String()})
	}
	return n
}

// Internal reports whether a is inside one of the internal ranges, or a
// NIC the flow logs showed.
func (n *Network) Internal(a netip.Addr) bool {
	class, _ := n.classify(a, false)
	return class == ClassInternal
}

// Classify says what kind of address a is, and why: for internal
// addresses the range or the evidence that makes them so.
func (n *Network) Classify(a netip.Addr) (class, reason string) { return n.classify(a, true) }

// classify is Classify; without why, it leaves out the reasons an
// inventory spells out, and tells public addresses apart no further than
// not internal: what the detectors ask of every conversation.
func (n *Network) classify(a netip.Addr, why bool) (class, reason string) {
	if what, ok := platform(a); ok {
		return ClassAzure, what
	}
	switch {
	case a.IsLoopback():
		return ClassLoopback, "loopback"
	case a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return ClassMulticast, "multicast or broadcast"
	case a.IsLinkLocalUnicast():
		return ClassLinkLocal, "link-local"
	}
	if h, ok := n.azure.Host(a); ok {
		if why {
			reason = h.Describe()
		}
		return ClassInternal, reason
	}
	if n.learned[a] {
		return ClassInternal, "VNet NIC in the flow logs"
	}
	if r, ok := n.azure.Range(a); ok {
		if why {
			reason = r.Describe()
		}
		return ClassInternal, reason
	}
	for _, r := range n.ranges {
		if r.prefix.Contains(a) {
			return ClassInternal, r.reason
		}
	}
	if why {
		if t, ok := n.azure.ServiceTag(a); ok {
			return ClassAzure, "service tag " + t.Name
		}
	}
	return ClassExternal, ""
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
