package analyze

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"testing"
)

// TestNameSetsOrder: sets gives every address's names in the order a
// plain sort of whole sets gives (busiest first, then netip's order of
// addresses, zones included; names most used first), with their times.
func TestNameSetsOrder(t *testing.T) {
	// Past minSetsApart addresses, and as many IPv4 ones of busy 0 (about
	// 8,000 of the 25,000 named in the larger case), two goroutines list
	// them and sort them.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	for _, size := range []struct{ adds, subnets int }{{5000, 4}, {120000, 256}} {
		checkNameSetsOrder(t, size.adds, size.subnets)
	}
}

func checkNameSetsOrder(t *testing.T, adds, subnets int) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := newNames()
	busy := map[netip.Addr]uint64{}
	for i := range adds {
		var ip netip.Addr
		switch rng.IntN(4) {
		case 0:
			ip = netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(subnets)), byte(rng.IntN(256))})
		case 1:
			ip = netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(rng.IntN(256))})
		case 2:
			ip = netip.AddrFrom16([16]byte{0xfe, 0x80, 15: byte(rng.IntN(8))}).WithZone([]string{"", "eth0", "eth1"}[rng.IntN(3)])
		default:
			ip = netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(256))})
		}
		busy[ip] = uint64(rng.IntN(3)) << (8 * rng.IntN(8))
		name := fmt.Sprintf("host%d.example", rng.IntN(12))
		n.addNormal(ip, name, []string{"dns", "tls_sni"}[rng.IntN(2)], int64(i/4)*1_000_001) // four adds a time, as a response's answers
	}
	got := n.sets(func(ip netip.Addr) uint64 { return busy[ip] })

	var want []NameSet
	for i := range uint32(n.named.n) {
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
	if len(want) < adds/5 {
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

// BenchmarkNamesFill measures filling the names table from nothing to
// its bound, as the first responses of a flood of answers do, in ns an
// address.
func BenchmarkNamesFill(b *testing.B) {
	addrs := testAddrs(maxNamedAddrs, 3)
	for b.Loop() {
		n := newNames()
		for _, a := range addrs {
			n.addNormal(a, "cdn.example.com", "dns", 0)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(addrs)), "ns/address")
}

// TestNamesKeepAddressesApart: addresses that differ only in their zone,
// or as an IPv4 address and its IPv6-mapped form (the same 16 bytes for
// the index's hash), keep names of their own.
func TestNamesKeepAddressesApart(t *testing.T) {
	n := newNames()
	named := map[string]string{
		"fe80::1%eth0": "a.example", "fe80::1%eth1": "b.example", "fe80::1": "c.example",
		"192.0.2.1": "d.example", "::ffff:192.0.2.1": "e.example",
	}
	for addr, name := range named {
		n.addNormal(netip.MustParseAddr(addr), name, "dns", 0)
	}
	for addr, name := range named {
		if got := n.best(netip.MustParseAddr(addr)); got != name {
			t.Errorf("%s: named %q, want %q", addr, got, name)
		}
	}
	if got := n.best(netip.MustParseAddr("fe80::1%eth2")); got != "" {
		t.Errorf("fe80::1%%eth2: named %q, want none", got)
	}
}
