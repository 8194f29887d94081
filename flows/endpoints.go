package flows

import (
	"cmp"
	"net/netip"

	"github.com/netfx/netfx/internal/ipproto"
)

// Endpoints is a direction-free 5-tuple: what a capture conversation and
// the flow logs' view of the same connection have in common. Addresses
// are unmapped; ICMP has no ports, since flow logs carry no type or code.
type Endpoints struct {
	A, B         netip.Addr
	APort, BPort uint16
	Proto        uint8
}

// EndpointsOf returns the Endpoints of a connection between src and dst,
// the same whichever side is given first.
func EndpointsOf(src, dst netip.Addr, sp, dp uint16, proto uint8) Endpoints {
	if ipproto.IsICMP(proto) {
		sp, dp = 0, 0
	}
	if x := src.Compare(dst); x > 0 || (x == 0 && sp > dp) {
		src, dst, sp, dp = dst, src, dp, sp
	}
	return Endpoints{src, dst, sp, dp, proto}
}

// Endpoints returns the conversation's Endpoints.
func (c *Conn) Endpoints() Endpoints {
	return EndpointsOf(c.Orig, c.Resp, c.OrigPort, c.RespPort, c.Proto)
}

// Compare orders Endpoints by address, port and protocol.
func (e Endpoints) Compare(o Endpoints) int {
	if c := e.A.Compare(o.A); c != 0 { // most differ here: the rest only when not
		return c
	}
	return cmp.Or(e.B.Compare(o.B), cmp.Compare(e.APort, o.APort), cmp.Compare(e.BPort, o.BPort), cmp.Compare(e.Proto, o.Proto))
}
