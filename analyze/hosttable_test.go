package analyze

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flows"
)

// testAddrs returns n distinct addresses of the shapes floods bring: IPv4
// sharing their first bytes, IPv4 at random, and IPv6.
func testAddrs(n int, seed uint64) []netip.Addr {
	rnd := rand.New(rand.NewPCG(seed, 1))
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for len(out) < n {
		var a netip.Addr
		switch len(out) % 3 {
		case 0:
			i := rnd.Uint32N(1 << 24)
			a = netip.AddrFrom4([4]byte{45, byte(i >> 16), byte(i >> 8), byte(i)})
		case 1:
			a = netip.AddrFrom4([4]byte{byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32()), byte(rnd.Uint32())})
		default:
			var b [16]byte
			b[0], b[1] = 0x20, 0x01
			for i := 8; i < 16; i++ {
				b[i] = byte(rnd.Uint32())
			}
			a = netip.AddrFrom16(b)
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// TestHostTableNumbersLikeAMap: the host table numbers addresses in the
// order they come, finds each again by its address across the index's
// growth, and past its bound adds only the admitted.
func TestHostTableNumbersLikeAMap(t *testing.T) {
	addrs := testAddrs(300_000, 1)
	tab := newHostTable()
	tab.max = 200_000
	want := map[netip.Addr]uint32{}
	for i, a := range addrs {
		admit := i%2 == 0
		id, ok := tab.lookup(a, admit)
		if len(want) >= tab.max && !admit {
			if ok {
				t.Fatalf("%v added past the bound without being admitted", a)
			}
			continue
		}
		if !ok || id != uint32(len(want)) {
			t.Fatalf("%v: number %d, %v; want %d", a, id, ok, len(want))
		}
		want[a] = id
		if again, _ := tab.lookup(a, false); again != id {
			t.Fatalf("%v: numbered %d, then found as %d", a, id, again)
		}
	}
	for _, a := range addrs {
		id, ok := tab.has(a)
		wantID, wantOK := want[a]
		if ok != wantOK || ok && id != wantID {
			t.Fatalf("%v: has gives %d, %v; want %d, %v", a, id, ok, wantID, wantOK)
		}
		if ok && tab.addr(id) != a {
			t.Fatalf("host %d is %v, want %v", id, tab.addr(id), a)
		}
	}
	if tab.n != len(want) || tab.index.n != tab.n || len(tab.index.slots) > 4*tab.n {
		t.Errorf("%d hosts, want %d; an index of %d slots", tab.n, len(want), len(tab.index.slots))
	}
}

// TestFullNamesFilter: the filter of a full names table lets every
// address of the table through and few others (one in 70 by design),
// whatever their shape.
func TestFullNamesFilter(t *testing.T) {
	addrs := testAddrs(maxNamedAddrs+100_000, 2)
	n := newNames()
	for _, a := range addrs[:maxNamedAddrs] {
		n.addNormal(a, "host.example", "dns", 0)
	}
	if n.full == nil {
		t.Fatal("the table is full and has no filter")
	}
	for _, a := range addrs[:maxNamedAddrs] {
		if !n.inFilter(a) {
			t.Fatalf("%v is in the table and not in its filter", a)
		}
	}
	passed := 0
	for _, a := range addrs[maxNamedAddrs:] {
		if n.inFilter(a) {
			passed++
		}
	}
	if rate := float64(passed) / 100_000; rate > 0.03 {
		t.Errorf("%.1f %% of the addresses not in the table pass its filter", 100*rate)
	}
}

// BenchmarkNamesFlood measures learning names from a flood of DNS
// responses of 64 answers each (new addresses, a third of them IPv6)
// once the names table is full, in ns per answer.
func BenchmarkNamesFlood(b *testing.B) {
	addrs := testAddrs(maxNamedAddrs+64*1024, 3)
	n := newNames()
	for _, a := range addrs[:maxNamedAddrs] {
		n.addNormal(a, "host.example", "dns", 0)
	}
	var conns []*flows.Conn
	flood := addrs[maxNamedAddrs:]
	for i := 0; i+64 <= len(flood); i += 64 {
		answers := make([]appid.DNSAnswer, 64)
		for j := range answers {
			answers[j] = appid.DNSAnswer{Name: "cdn.example.com", Type: "A", Addr: flood[i+j]}
		}
		c := conn("10.0.0.4", "10.0.0.53", 40000, 53, 0, 0)
		c.App = &appid.Facts{DNS: &appid.DNSFacts{Answers: appid.NewDNSAnswers(answers...)}}
		conns = append(conns, c)
	}
	for b.Loop() {
		for _, c := range conns {
			n.fromConn(c)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64*len(conns)), "ns/answer")
}
