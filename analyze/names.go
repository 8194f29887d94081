package analyze

import (
	"cmp"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/timefmt"
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

// addrNames is one address's names. Nearly every address has one, held
// with it: no allocation an address, and reading them all (sets) goes
// through memory in order.
type addrNames struct {
	ip    netip.Addr
	first nameAcc
	more  []nameAcc // up to maxNamesPerAddr-1 others
}

// find returns the address's name from source, or nil.
func (a *addrNames) find(name, source string) *nameAcc {
	if a.first.name == name && a.first.source == source {
		return &a.first
	}
	for i := range a.more {
		if m := &a.more[i]; m.name == name && m.source == source {
			return m
		}
	}
	return nil
}

// names collects names for addresses from DNS answers, TLS server names
// and HTTP Host headers. Its memory is bounded: at most maxNamedAddrs
// addresses, each with at most maxNamesPerAddr names; names of addresses
// past them are counted in dropped.
type names struct {
	// named holds the addresses' names in the order they came; index
	// finds an address there by the hash of its 16 bytes (its zone is
	// told apart when the entries are compared).
	named   chunkList[addrNames]
	index   slotIndex
	count   int    // the names of every address
	kept    string // the name last added, as kept: the next is often the same
	dropped int
	// full is set once named holds maxNamedAddrs addresses: a Bloom filter of
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

// namesChunkShift makes the chunks of named addresses 1,024 (96 KiB).
const namesChunkShift = 10

func newNames() *names {
	return &names{index: newSlotIndex(), named: chunkList[addrNames]{shift: namesChunkShift}}
}

// of returns the names of ip, if it has any.
func (n *names) of(ip netip.Addr) (*addrNames, bool) {
	slot, ok := n.find(ip, hostHash(keyOf(ip)))
	if !ok {
		return nil, false
	}
	return n.named.at(n.index.id(slot)), true
}

// find returns the slot of the index that holds ip (h its hash), or the
// empty slot where it would go.
func (n *names) find(ip netip.Addr, h uint64) (slot int, found bool) {
	return n.index.find(h, func(id uint32) bool { return n.named.at(id).ip == ip })
}

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
	h := hostHash(keyOf(ip))
	slot, known := n.find(ip, h)
	if known {
		named := n.named.at(n.index.id(slot))
		if a := named.find(name, source); a != nil {
			a.count++
			a.first = min(a.first, ts)
		} else if 1+len(named.more) < maxNamesPerAddr {
			named.more = append(named.more, n.newName(name, source, ts))
		}
		return
	}
	if n.named.n >= maxNamedAddrs {
		n.dropped++
		return
	}
	n.index.add(slot, h, n.named.add(addrNames{ip: ip, first: n.newName(name, source, ts)}))
	if n.named.n == maxNamedAddrs {
		n.full = make([]uint64, fullBits/64)
		for _, chunk := range n.named.chunks {
			for _, a := range chunk {
				b1, b2 := fullBitsOf(a.ip)
				n.full[b1/64] |= 1 << (b1 % 64)
				n.full[b2/64] |= 1 << (b2 % 64)
			}
		}
	}
}

// newName returns a name seen once, at ts. Its text is kept as a copy
// (not part of a conversation's memory), shared with the name added
// before when it is the same: a DNS answer's addresses share their name.
func (n *names) newName(name, source string, ts int64) nameAcc {
	if name != n.kept {
		n.kept = strings.Clone(name)
	}
	n.count++
	return nameAcc{name: n.kept, source: source, count: 1, first: ts}
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
// busy is asked once, and the names share an allocation for each half of
// the addresses, which two goroutines list: a flood of answers leaves
// 131,072 addresses named, the longest part of such a report, so the
// order is found on keys without pointers too (which a sort moves
// without the collector's barriers). busy is called from both.
func (n *names) sets(busy func(netip.Addr) uint64) []NameSet {
	sets := make([]NameSet, n.named.n)
	keys := make([]sortKey, n.named.n)
	half := len(sets)
	if half >= minSetsApart && runtime.GOMAXPROCS(0) > 1 {
		half /= 2
	}
	var rest sync.WaitGroup
	if half < len(sets) {
		rest.Go(func() { n.fillSets(sets, keys, half, len(sets), busy) })
	}
	n.fillSets(sets, keys, 0, half, busy)
	rest.Wait()
	sortKeys(keys, func(at uint32) string { return sets[at].IP.Zone() })
	// Each set to its place: gathered, the reads of the sets do not wait
	// on each other as following the permutation's cycles in place does.
	ordered := make([]NameSet, len(sets))
	for i, k := range keys {
		ordered[i] = sets[k.at]
	}
	return ordered
}

// minSetsApart is how many addresses named make sets list them on two
// goroutines.
const minSetsApart = 4096

// fillSets lists the addresses named[from:to] into sets[from:to] and
// keys[from:to]: each address's names, most used first, in an allocation
// for all of them, and its busy and place.
func (n *names) fillSets(sets []NameSet, keys []sortKey, from, to int, busy func(netip.Addr) uint64) {
	count := to - from // about how many names they have
	if n.named.n > 0 {
		count = (n.count*(to-from) + n.named.n - 1) / n.named.n
	}
	all := make([]Name, 0, count)
	// The times as text are written into one buffer, made one string
	// and cut (131,072 strings are not made one by one); ends tells where
	// each name's ends. A name first seen when the one before was (the
	// answers of one response) shares its text.
	times := make([]byte, 0, count*len("2006-01-02T15:04:05.000000Z"))
	ends := make([]uint32, 0, count)
	var last int64
	named := func(a *nameAcc) Name {
		if len(times) == 0 || a.first != last {
			times, last = timefmt.AppendRFC3339Micro(times, a.first), a.first
		}
		ends = append(ends, uint32(len(times)))
		return Name{Name: a.name, Source: a.source, Count: a.count}
	}
	// Where each address's names start in all, which may grow.
	starts := make([]uint32, 0, to-from+1)
	for k := from; k < to; k++ {
		acc := n.named.at(uint32(k))
		ip := acc.ip
		starts = append(starts, uint32(len(all)))
		all = append(all, named(&acc.first))
		for i := range acc.more {
			all = append(all, named(&acc.more[i]))
		}
		b := ip.As16()
		keys[k] = sortKey{busy(ip), binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), uint32(ip.BitLen()), uint32(k)}
		sets[k].IP = ip
	}
	starts = append(starts, uint32(len(all)))
	text, start := string(times), uint32(0)
	for i, end := range ends {
		if end != start {
			all[i].First, start = text[start:end], end
		} else {
			all[i].First = all[i-1].First
		}
	}
	for k := from; k < to; k++ {
		at, end := starts[k-from], starts[k-from+1]
		names := all[at:end:end]
		if len(names) > 1 {
			slices.SortFunc(names, func(x, y Name) int {
				return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Name, y.Name), cmp.Compare(x.Source, y.Source))
			})
		}
		sets[k].Names = names
	}
}

// sortKey is what sets orders an address by, without pointers (which a
// sort would move with the collector's barriers).
type sortKey struct {
	busy, hi, lo uint64
	bits, at     uint32 // the address's BitLen; where its set is
}

// sortKeys orders the keys of sets: the busiest first, then the addresses
// as netip.Addr.Compare orders them (by BitLen, bytes, zone; zone tells
// a set's zone). Those of busy 0 and IPv4, most of a flood's, come between
// the busy ones and IPv6 ones, and sort as one word each: address, place.
func sortKeys(keys []sortKey, zone func(at uint32) string) {
	compare := func(x, y sortKey) int {
		switch {
		case x.busy != y.busy:
			return cmp.Compare(y.busy, x.busy)
		case x.bits != y.bits:
			return cmp.Compare(x.bits, y.bits)
		case x.hi != y.hi:
			return cmp.Compare(x.hi, y.hi)
		case x.lo != y.lo:
			return cmp.Compare(x.lo, y.lo)
		}
		return strings.Compare(zone(x.at), zone(y.at))
	}
	busy := partition(keys, func(k sortKey) bool { return k.busy > 0 })
	v4 := busy + partition(keys[busy:], func(k sortKey) bool { return k.bits == 32 })
	slices.SortFunc(keys[:busy], compare)
	slices.SortFunc(keys[v4:], compare)
	words := make([]uint64, v4-busy)
	for i, k := range keys[busy:v4] {
		words[i] = k.lo<<32 | uint64(k.at)
	}
	words = sortWords(words)
	for i, w := range words {
		keys[busy+i] = sortKey{lo: 0xffff<<32 | w>>32, bits: 32, at: uint32(w)}
	}
}

// sortWords returns words in order: past minSetsApart, each half sorted
// on a goroutine of its own and the two merged into a new slice.
func sortWords(words []uint64) []uint64 {
	if len(words) < minSetsApart || runtime.GOMAXPROCS(0) < 2 {
		slices.Sort(words)
		return words
	}
	lo, hi := words[:len(words)/2], words[len(words)/2:]
	var sorting sync.WaitGroup
	sorting.Go(func() { slices.Sort(hi) })
	slices.Sort(lo)
	sorting.Wait()
	merged := make([]uint64, 0, len(words))
	for len(lo) > 0 && len(hi) > 0 {
		if hi[0] < lo[0] {
			merged, hi = append(merged, hi[0]), hi[1:]
		} else {
			merged, lo = append(merged, lo[0]), lo[1:]
		}
	}
	return append(append(merged, lo...), hi...)
}

// partition moves the keys first reports true for to the front, and
// returns how many there are.
func partition(keys []sortKey, first func(sortKey) bool) int {
	n := 0
	for i, k := range keys {
		if first(k) {
			keys[n], keys[i] = keys[i], keys[n]
			n++
		}
	}
	return n
}

// best returns the name of an address: the Azure inventory's, else the
// most used one the payload gave, else "".
func (n *names) best(ip netip.Addr) string {
	if h, ok := n.azure.Host(ip); ok {
		return h.Label()
	}
	named, ok := n.of(ip)
	if !ok {
		return ""
	}
	best := &named.first
	for i := range named.more {
		if a := &named.more[i]; a.count > best.count || (a.count == best.count && a.name < best.name) {
			best = a
		}
	}
	return best.name
}
