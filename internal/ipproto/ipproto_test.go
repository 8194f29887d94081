package ipproto

import "testing"

func TestNamesRoundTrip(t *testing.T) {
	for _, p := range []uint8{TCP, UDP, ICMP, SCTP} {
		if n, ok := Number(Name(p)); !ok || n != p {
			t.Errorf("Number(Name(%d)) = %d, %v", p, n, ok)
		}
	}
	if Name(ICMPv6) != "icmp" || Name(47) != "unknown_transport" {
		t.Errorf("ICMPv6 is %q, GRE %q", Name(ICMPv6), Name(47))
	}
	if _, ok := Number("gre"); ok {
		t.Error("gre has a number")
	}
	if !IsICMP(ICMPv6) || !IsICMP(ICMP) || IsICMP(TCP) {
		t.Error("IsICMP")
	}
}
