package inventory

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
)

// ServiceTag is one entry of the Azure IP Ranges and Service Tags file:
// AzureCloud.westeurope, Storage, Storage.EastUS, ...
type ServiceTag struct {
	Name     string
	Region   string // lower case; "" for a global tag
	Service  string // systemService; may be ""
	Prefixes []netip.Prefix
}

// tagTable finds the service tags of an address: for each address family
// and prefix length present, the masked prefixes of that length and the
// tags they belong to.
type tagTable struct {
	prefixes prefixIndex
	tags     []ServiceTag
}

// prefixIndex finds the longest prefixes holding an address, IPv4 and
// IPv6 apart: a lookup is one map probe for each prefix length present.
type prefixIndex struct{ v4, v6 prefixLengths }

func (x *prefixIndex) add(p netip.Prefix, i int32) {
	if p.Addr().Is4() {
		x.v4.add(p, i)
	} else {
		x.v6.add(p, i)
	}
}

// longest returns what was added under the longest prefix holding a, in
// the order added.
func (x *prefixIndex) longest(a netip.Addr) []int32 {
	if a.Is4() {
		return x.v4.longest(a)
	}
	return x.v6.longest(a)
}

type prefixLengths struct {
	byLen map[int]map[prefixKey][]int32 // masked prefix -> what was added under it
	lens  []int                         // the lengths present, longest first
}

// prefixKey is a masked prefix's address as two words: a map key that
// hashes fast and holds no pointer, as a netip.Prefix does.
type prefixKey [2]uint64

func keyOf(p netip.Prefix) prefixKey {
	b := p.Masked().Addr().As16()
	return prefixKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (pl *prefixLengths) add(p netip.Prefix, i int32) {
	if pl.byLen == nil {
		pl.byLen = map[int]map[prefixKey][]int32{}
	}
	m := pl.byLen[p.Bits()]
	if m == nil {
		m = map[prefixKey][]int32{}
		pl.byLen[p.Bits()] = m
		pl.lens = append(pl.lens, p.Bits())
		slices.SortFunc(pl.lens, func(a, b int) int { return cmp.Compare(b, a) })
	}
	k := keyOf(p)
	if list := m[k]; len(list) == 0 || list[len(list)-1] != i {
		m[k] = append(list, i)
	}
}

// longest returns what was added under the longest prefix holding a.
func (pl *prefixLengths) longest(a netip.Addr) []int32 {
	for _, bits := range pl.lens {
		if p, err := a.Prefix(bits); err == nil {
			if idx := pl.byLen[bits][keyOf(p)]; len(idx) > 0 {
				return idx
			}
		}
	}
	return nil
}

func newTagTable(tags []ServiceTag) *tagTable {
	t := &tagTable{tags: tags}
	for i, tag := range tags {
		for _, p := range tag.Prefixes {
			t.prefixes.add(p, int32(i))
		}
	}
	return t
}

// lookup returns the most specific tag of a: the one with the longest
// prefix holding it; of several with that prefix, a regional one of a
// service (Storage.EastUS) before a global one (Storage), and the
// AzureCloud tags last.
func (t *tagTable) lookup(a netip.Addr) (ServiceTag, bool) {
	if t == nil {
		return ServiceTag{}, false
	}
	idx := t.prefixes.longest(a.Unmap())
	if len(idx) == 0 {
		return ServiceTag{}, false
	}
	best := idx[0]
	for _, i := range idx[1:] {
		if r, rb := tagRank(t.tags[i]), tagRank(t.tags[best]); r < rb || r == rb && t.tags[i].Name < t.tags[best].Name {
			best = i
		}
	}
	return t.tags[best], true
}

// tagRank orders the tags of one prefix: a service's regional tag, then
// its global tag, then AzureCloud's regional and global tags.
func tagRank(t ServiceTag) int {
	rank := 0
	if strings.HasPrefix(strings.ToLower(t.Name), "azurecloud") {
		rank += 2
	}
	if !strings.Contains(t.Name, ".") {
		rank++
	}
	return rank
}
