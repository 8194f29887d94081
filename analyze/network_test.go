package analyze

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/netfx/netfx/flows"
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

// askInternal is a detector that notes what the detection says of each
// conversation's addresses, asking twice.
type askInternal struct{ said []bool }

func (a *askInternal) observe(d *detection, c *flows.Conn) {
	for range 2 {
		a.said = append(a.said, d.internal(c.Orig), d.internal(c.Resp))
	}
}

func (*askInternal) findings(*detection) []*Finding { return nil }

// TestDetectionInternal checks that what the detection remembers of the
// addresses of the conversation being observed never answers for
// another: the same addresses, swapped, and an address a flow log made
// internal meanwhile.
func TestDetectionInternal(t *testing.T) {
	in, out, nic := netip.MustParseAddr("10.1.0.4"), netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("20.1.2.3")
	ask := &askInternal{}
	d := newDetection(DetectOptions{}, NewNetwork(nil), newNames(), newHostTable())
	d.detectors = []detector{ask}
	conn := func(orig, resp netip.Addr) *flows.Conn {
		return &flows.Conn{TS: 1, Orig: orig, Resp: resp, Proto: 6, RespPort: 443}
	}
	d.observe(conn(in, out))
	d.observe(conn(out, in))
	d.observe(conn(nic, in))
	logged := conn(nic, out)
	logged.FlowLog = &flows.FlowLogView{Direction: flows.Outbound}
	d.observe(logged)
	want := []bool{true, false, true, false, false, true, false, true, false, true, false, true, true, false, true, false}
	if !slices.Equal(ask.said, want) {
		t.Errorf("internal said %v\nwant          %v", ask.said, want)
	}
}
