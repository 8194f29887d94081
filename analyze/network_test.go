package analyze

import (
	"net/netip"
	"testing"
)

// TestClassify: every address gets a class, and internal ones the reason.
func TestClassify(t *testing.T) {
	n := NewNetwork([]netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")})
	n.learn(netip.MustParseAddr("20.1.2.3"))
	for _, tt := range []struct{ addr, class, reason string }{
		{"10.1.0.4", ClassInternal, "RFC 1918"},
		{"100.64.1.1", ClassInternal, "RFC 6598 shared address space"},
		{"fd00::4", ClassInternal, "IPv6 unique local (RFC 4193)"},
		{"198.18.5.5", ClassInternal, "--internal 198.18.0.0/15"},
		{"20.1.2.3", ClassInternal, "VNet NIC in the flow logs"},
		{"168.63.129.16", ClassAzure, "Azure wireserver: DNS, DHCP, health probes"},
		{"169.254.169.254", ClassAzure, "Azure Instance Metadata Service"},
		{"127.0.0.1", ClassLoopback, "loopback"},
		{"::1", ClassLoopback, "loopback"},
		{"169.254.10.1", ClassLinkLocal, "link-local"},
		{"fe80::1", ClassLinkLocal, "link-local"},
		{"224.0.0.251", ClassMulticast, "multicast or broadcast"},
		{"255.255.255.255", ClassMulticast, "multicast or broadcast"},
		{"203.0.113.66", ClassExternal, ""},
	} {
		class, reason := n.Classify(netip.MustParseAddr(tt.addr))
		if class != tt.class || reason != tt.reason {
			t.Errorf("%s: %s (%s), want %s (%s)", tt.addr, class, reason, tt.class, tt.reason)
		}
		if n.Internal(netip.MustParseAddr(tt.addr)) != (tt.class == ClassInternal) {
			t.Errorf("%s: Internal disagrees with its class", tt.addr)
		}
	}
}
