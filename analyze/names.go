package analyze

import (
	"cmp"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/inventory"
)

// NameSet is the names one address went by in the evidence.
type NameSet struct {
	IP    netip.Addr `json:"ip"`
	Names []Name     `json:"names"`
}

// Name is one name for an address, with where it came from.
type Name struct {
	Name   string `json:"name"`
	Source string `json:"source"` // dns (an A or AAAA answer), tls_sni, http_host, traffic_analytics (a flow's VM)
	Count  int    `json:"count"`  // conversations that gave it
	First  string `json:"first_seen"`
}

// maxNamesPerAddr bounds the names kept for one address.
const maxNamesPerAddr = 8

// nameAcc is one name of an address. An address has a few at most, so
// they are kept in a short list rather than a map of their own.
type nameAcc struct {
	name, source string
	count        int
	first        int64
}

// names collects names for addresses from DNS answers, TLS server names
// and HTTP Host headers. Its memory is bounded: at most maxNamedAddrs
// addresses, each with at most maxNamesPerAddr names; names of addresses
// past them are counted in dropped.
type names struct {
	m       map[netip.Addr][]nameAcc
	dropped int
	// full is set once m holds maxNamedAddrs addresses: a Bloom filter of
	// the addresses in it, so that nearly all of a flood's new addresses
	// are counted as dropped without a lookup in m.
	full []uint64
	// azure names the addresses of the Azure inventory, first.
	azure *inventory.Index
}

// fullBits is the size of the filter of a full table: 2^21 bits (256 KiB,
// which stays in cache), 16 for each address. With two bits an address,
// one in 70 addresses not in the table passes it (a lookup in m that a
// cache miss makes costly); with one, one in eight.
const fullBits = 1 << 21

// fullBitsOf returns an address's two bits in the filter: the top bits of
// two multiplicative hashes of its bytes (an IPv6 address's 16 folded
// into one word), which take a flood's every answer through the filter in
// a third of the time of hostHash's two mixes. An IPv4 address is taken
// as its 4 bytes, not their 16-byte form: putting that together costs as
// much again.
func fullBitsOf(ip netip.Addr) (uint64, uint64) {
	var x uint64
	if ip.Is4() {
		v := ip.As4()
		x = uint64(binary.BigEndian.Uint32(v[:]))
	} else {
		k := ip.As16()
		x = binary.BigEndian.Uint64(k[8:]) ^ binary.BigEndian.Uint64(k[:8])*0x9e3779b97f4a7c15
	}
	return (x * 0xbf58476d1ce4e5b9) >> (64 - 21), (x * 0x94d049bb133111eb) >> (64 - 21)
}

// inFilter reports whether the filter of a full table may hold ip.
func (n *names) inFilter(ip netip.Addr) bool {
	b1, b2 := fullBitsOf(ip)
	return n.full[b1/64]&(1<<(b1%64)) != 0 && n.full[b2/64]&(1<<(b2%64)) != 0
}

// maxNamedAddrs bounds the addresses names are kept for: a flood of DNS
// answers with random addresses must not hold gigabytes of names.
const maxNamedAddrs = 1 << 17

// maxAliases bounds the names one DNS answer gives an address through
// CNAME chains.
const maxAliases = 16

func newNames() *names { return &names{m: map[netip.Addr][]nameAcc{}} }

func (n *names) add(ip netip.Addr, name, source string, ts int64) {
	n.addNormal(ip, normalName(name), source, ts)
}

// normalName returns a name in lower case without its trailing dot.
func normalName(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") }

// addNormal adds a name already made normal.
func (n *names) addNormal(ip netip.Addr, name, source string, ts int64) {
	if name == "" || !ip.IsValid() {
		return
	}
	if n.full != nil {
		if !n.inFilter(ip) {
			n.dropped++
			return
		}
	}
	list, known := n.m[ip]
	if !known && len(n.m) >= maxNamedAddrs {
		n.dropped++
		return
	}
	for i := range list {
		if a := &list[i]; a.name == name && a.source == source {
			a.count++
			a.first = min(a.first, ts)
			return
		}
	}
	if len(list) < maxNamesPerAddr {
		n.m[ip] = append(list, nameAcc{name: strings.Clone(name), source: source, count: 1, first: ts})
	}
	if !known && len(n.m) == maxNamedAddrs {
		n.full = make([]uint64, fullBits/64)
		for a := range n.m {
			b1, b2 := fullBitsOf(a)
			n.full[b1/64] |= 1 << (b1 % 64)
			n.full[b2/64] |= 1 << (b2 % 64)
		}
	}
}

// fromConn takes the names a conversation's payload gave.
func (n *names) fromConn(c *flows.Conn) {
	f := c.App
	if f == nil {
		return
	}
	if f.DNS != nil {
		// Aliases: a CNAME's owner names the address its target resolves
		// to. Answers that are all addresses (a flood's) have none.
		var aliasOf map[string][]string
		if f.DNS.Answers.HasText() {
			for a := range f.DNS.Answers.All() {
				if a.Type == "CNAME" {
					if aliasOf == nil {
						aliasOf = map[string][]string{}
					}
					aliasOf[a.Value] = append(aliasOf[a.Value], a.Name)
				}
			}
		}
		var raw, name string // the last answer's name, and made normal: answers share names
		for owner, ip := range f.DNS.Answers.Addrs() {
			if aliasOf == nil {
				// As addNormal would, without the call or making the name
				// normal (empty only for "" and "."): a flood's every answer.
				if n.full != nil && owner != "" && owner != "." && !n.inFilter(ip) {
					n.dropped++
					continue
				}
				if owner != raw {
					raw, name = owner, normalName(owner)
				}
				n.addNormal(ip, name, "dns", c.TS)
				continue
			}
			given := 0 // names given through aliases, at most maxAliases
			for name, hops := []string{owner}, 0; len(name) > 0 && hops < 8 && given < maxAliases; hops++ {
				var next []string
				for _, nm := range name {
					if given++; given > maxAliases {
						break
					}
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

// sets returns every address's names, most used first; the addresses
// ordered by busy, the largest first, then by address. Each address's
// busy is asked once, and the names share one allocation: a flood of
// answers leaves 131,072 addresses named.
func (n *names) sets(busy func(netip.Addr) uint64) []NameSet {
	type keyed struct {
		ip   netip.Addr
		busy uint64
		list []nameAcc
	}
	keys := make([]keyed, 0, len(n.m))
	total := 0
	for ip, list := range n.m {
		keys = append(keys, keyed{ip, busy(ip), list})
		total += len(list)
	}
	slices.SortFunc(keys, func(x, y keyed) int { return cmp.Or(cmp.Compare(y.busy, x.busy), x.ip.Compare(y.ip)) })
	all := make([]Name, 0, total)
	out := make([]NameSet, len(keys))
	for i, k := range keys {
		start := len(all)
		for _, a := range k.list {
			all = append(all, Name{Name: a.name, Source: a.source, Count: a.count, First: FormatTime(a.first)})
		}
		names := all[start:len(all):len(all)]
		slices.SortFunc(names, func(x, y Name) int {
			return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Name, y.Name), cmp.Compare(x.Source, y.Source))
		})
		out[i] = NameSet{IP: k.ip, Names: names}
	}
	return out
}

// best returns the name of an address: the Azure inventory's, else the
// most used one the payload gave, else "".
func (n *names) best(ip netip.Addr) string {
	if h, ok := n.azure.Host(ip); ok {
		return h.Label()
	}
	best, count := "", 0
	for _, a := range n.m[ip] {
		if a.count > count || (a.count == count && a.name < best) {
			best, count = a.name, a.count
		}
	}
	return best
}
