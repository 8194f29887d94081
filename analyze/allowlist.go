package analyze

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Allowlist suppresses findings on known-good hosts, pairs and ports.
type Allowlist struct {
	hosts []netip.Prefix
	pairs map[[2]netip.Addr]bool
	ports map[[2]uint16]bool // protocol number, port
}

// ParseAllowlist reads an allowlist: one entry a line, '#' starts a comment.
//
//	host 10.1.0.50          a host or a CIDR: nothing to or from it is flagged
//	pair 10.1.0.4 10.1.1.10 conversations between the two are not flagged
//	port tcp/8443           conversations to this port are not flagged
func ParseAllowlist(r io.Reader, name string) (*Allowlist, error) {
	a := &Allowlist{pairs: map[[2]netip.Addr]bool{}, ports: map[[2]uint16]bool{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(why string) error { return fmt.Errorf("%s:%d: %s", name, n, why) }
		switch {
		case f[0] == "host" && len(f) == 2:
			p, err := netip.ParsePrefix(f[1])
			if err != nil {
				addr, err2 := netip.ParseAddr(f[1])
				if err2 != nil {
					return nil, bad("not an address or CIDR: " + f[1])
				}
				p = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
			}
			a.hosts = append(a.hosts, p.Masked())
		case f[0] == "pair" && len(f) == 3:
			x, err1 := netip.ParseAddr(f[1])
			y, err2 := netip.ParseAddr(f[2])
			if err1 != nil || err2 != nil {
				return nil, bad("pair wants two addresses")
			}
			a.pairs[[2]netip.Addr{x.Unmap(), y.Unmap()}] = true
			a.pairs[[2]netip.Addr{y.Unmap(), x.Unmap()}] = true
		case f[0] == "port" && len(f) == 2:
			proto, num, ok := strings.Cut(f[1], "/")
			p, err := strconv.ParseUint(num, 10, 16)
			pn := map[string]uint16{"tcp": 6, "udp": 17, "sctp": 132}[strings.ToLower(proto)]
			if !ok || err != nil || pn == 0 {
				return nil, bad("port wants tcp/N, udp/N or sctp/N")
			}
			a.ports[[2]uint16{pn, uint16(p)}] = true
		default:
			return nil, bad("want host ADDR|CIDR, pair ADDR ADDR or port PROTO/N")
		}
	}
	return a, sc.Err()
}

func (a *Allowlist) allows(orig, resp netip.Addr, proto uint8, port uint16) bool {
	if a == nil {
		return false
	}
	for _, p := range a.hosts {
		if p.Contains(orig) || p.Contains(resp) {
			return true
		}
	}
	return a.pairs[[2]netip.Addr{orig, resp}] || a.ports[[2]uint16{uint16(proto), port}]
}
