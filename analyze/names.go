package analyze

import (
	"cmp"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/netfx/netfx/flows"
)

// NameSet is the names one address went by in the evidence.
type NameSet struct {
	IP    netip.Addr `json:"ip"`
	Names []Name     `json:"names"`
}

// Name is one name for an address, with where it came from.
type Name struct {
	Name   string `json:"name"`
	Source string `json:"source"` // dns (an A or AAAA answer), tls_sni, http_host
	Count  int    `json:"count"`  // conversations that gave it
	First  string `json:"first_seen"`
}

// maxNamesPerAddr bounds the names kept for one address.
const maxNamesPerAddr = 8

type nameKey struct {
	name, source string
}

type nameAcc struct {
	count int
	first int64
}

// names collects names for addresses from DNS answers, TLS server names
// and HTTP Host headers.
type names map[netip.Addr]map[nameKey]*nameAcc

func (n names) add(ip netip.Addr, name, source string, ts int64) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if name == "" || !ip.IsValid() {
		return
	}
	ip = ip.Unmap()
	m := n[ip]
	if m == nil {
		m = make(map[nameKey]*nameAcc)
		n[ip] = m
	}
	k := nameKey{name, source}
	a := m[k]
	if a == nil {
		if len(m) >= maxNamesPerAddr {
			return
		}
		a = &nameAcc{first: ts}
		m[k] = a
	}
	a.count++
	a.first = min(a.first, ts)
}

// fromConn takes the names a conversation's payload gave.
func (n names) fromConn(c *flows.Conn) {
	f := c.App
	if f == nil {
		return
	}
	if f.DNS != nil {
		// Aliases: a CNAME's owner names the address its target resolves to.
		aliasOf := map[string][]string{}
		for _, a := range f.DNS.Answers {
			if a.Type == "CNAME" {
				aliasOf[a.Value] = append(aliasOf[a.Value], a.Name)
			}
		}
		for _, a := range f.DNS.Answers {
			if a.Type != "A" && a.Type != "AAAA" {
				continue
			}
			ip, err := netip.ParseAddr(a.Value)
			if err != nil {
				continue
			}
			for name, hops := []string{a.Name}, 0; len(name) > 0 && hops < 8; hops++ {
				var next []string
				for _, nm := range name {
					n.add(ip, nm, "dns", c.TS)
					next = append(next, aliasOf[nm]...)
				}
				name = next
			}
		}
	}
	if f.TLS != nil && f.TLS.ServerName != "" {
		n.add(c.Resp, f.TLS.ServerName, "tls_sni", c.TS)
	}
	if f.HTTP != nil && f.HTTP.Host != "" {
		host := f.HTTP.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if _, err := netip.ParseAddr(host); err != nil { // an address is not a name
			n.add(c.Resp, host, "http_host", c.TS)
		}
	}
}

// sets returns every address's names, most used first, ordered by address.
func (n names) sets() []NameSet {
	out := make([]NameSet, 0, len(n))
	for ip, m := range n {
		s := NameSet{IP: ip}
		for k, a := range m {
			s.Names = append(s.Names, Name{Name: k.name, Source: k.source, Count: a.count, First: FormatTime(a.first)})
		}
		slices.SortFunc(s.Names, func(x, y Name) int {
			return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Name, y.Name), cmp.Compare(x.Source, y.Source))
		})
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y NameSet) int { return x.IP.Compare(y.IP) })
	return out
}

// best returns the most used name of an address, or "".
func (n names) best(ip netip.Addr) string {
	m := n[ip.Unmap()]
	best, count := "", 0
	for k, a := range m {
		if a.count > count || (a.count == count && k.name < best) {
			best, count = k.name, a.count
		}
	}
	return best
}
