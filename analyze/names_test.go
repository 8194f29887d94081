package analyze

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
)

// TestNameSetsOrder: sets gives every address's names in the order a
// plain sort of whole sets gives (busiest first, then netip's order of
// addresses, zones included; names most used first), with their times.
func TestNameSetsOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := newNames()
	busy := map[netip.Addr]uint64{}
	for i := range 5000 {
		var ip netip.Addr
		switch rng.IntN(4) {
		case 0:
			ip = netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(4)), byte(rng.IntN(256))})
		case 1:
			ip = netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(rng.IntN(256))})
		case 2:
			ip = netip.AddrFrom16([16]byte{0xfe, 0x80, 15: byte(rng.IntN(8))}).WithZone([]string{"", "eth0", "eth1"}[rng.IntN(3)])
		default:
			ip = netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(256))})
		}
		busy[ip] = uint64(rng.IntN(3)) << (8 * rng.IntN(8))
		name := fmt.Sprintf("host%d.example", rng.IntN(12))
		n.addNormal(ip, name, []string{"dns", "tls_sni"}[rng.IntN(2)], int64(i)*1_000_001)
	}
	got := n.sets(func(ip netip.Addr) uint64 { return busy[ip] })

	var want []NameSet
	for i := range int32(n.named.n) {
		named := n.named.at(i)
		set := NameSet{IP: named.ip}
		for _, a := range append([]nameAcc{named.first}, named.more...) {
			set.Names = append(set.Names, Name{Name: a.name, Source: a.source, Count: a.count, First: FormatTime(a.first)})
		}
		slices.SortFunc(set.Names, func(x, y Name) int {
			return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Name, y.Name), cmp.Compare(x.Source, y.Source))
		})
		want = append(want, set)
	}
	slices.SortFunc(want, func(x, y NameSet) int { return cmp.Or(cmp.Compare(busy[y.IP], busy[x.IP]), x.IP.Compare(y.IP)) })
	if len(want) < 1000 {
		t.Fatalf("only %d addresses named", len(want))
	}
	if !reflect.DeepEqual(got, want) {
		for i := range min(len(got), len(want)) {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("set %d of %d: %+v, want %+v", i, len(want), got[i], want[i])
			}
		}
		t.Fatalf("%d sets, want %d", len(got), len(want))
	}
}

// BenchmarkNameSets measures the names of a flood of DNS answers, the
// table full: 131,072 addresses, 64 named in each response.
func BenchmarkNameSets(b *testing.B) {
	n := newNames()
	for i := range maxNamedAddrs {
		x := uint32(i) * 2654435761
		n.addNormal(netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}), fmt.Sprintf("r%d.example", i/64), "dns", int64(i/64)*300_000)
	}
	for b.Loop() {
		n.sets(func(netip.Addr) uint64 { return 0 })
	}
}
