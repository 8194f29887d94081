package flows

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"testing"
)

// connUIDBytes is what connUID hashes, as appendConnUID's doc says.
func connUIDBytes(k *key, start, firstRecord int64, file string) []byte {
	b := append(k.lo[:], k.hi[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(start))
	b = binary.BigEndian.AppendUint64(b, uint64(firstRecord))
	b = binary.BigEndian.AppendUint16(b, k.loPort)
	b = binary.BigEndian.AppendUint16(b, k.hiPort)
	b = append(b, k.proto)
	return append(b, filepath.Base(file)...)
}

// TestConnUIDHashesItsBytes checks that appendConnUID, which hashes runs
// of zero bytes at once, gives UID of the bytes it stands for, for IPv4,
// IPv6 and addresses that start like IPv4 ones, and times and records of
// every size.
func TestConnUIDHashesItsBytes(t *testing.T) {
	addrs := []string{"10.1.0.4", "0.0.0.0", "255.255.255.255", "2001:db8::1", "::", "::1", "::ffff:0:1", "0:0:0:0:1::", "::ff:1.2.3.4", "fe80::1"}
	words := []int64{0, 1, 255, 256, 1 << 20, 1<<55 - 1, 1 << 56, 1773482400123456789, -1}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var k key
		k.lo = netip.MustParseAddr(addrs[rng.IntN(len(addrs))]).As16()
		k.hi = netip.MustParseAddr(addrs[rng.IntN(len(addrs))]).As16()
		if i%3 == 0 {
			binary.LittleEndian.PutUint64(k.hi[rng.IntN(9):], rng.Uint64())
		}
		k.loPort, k.hiPort, k.proto = uint16(rng.Uint32()), uint16(rng.Uint32()), uint8(rng.Uint32())
		start, record := words[rng.IntN(len(words))], words[rng.IntN(len(words))]
		if i%2 == 0 {
			start, record = rng.Int64(), rng.Int64N(1<<uint(rng.IntN(63)))
		}
		file := []string{"", "a.pcap", "/evidence/vm1/packetcapture_12_00_00_123.cap"}[i%3]
		got := string(appendConnUID(nil, &k, start, record, file))
		want := UID(connUIDBytes(&k, start, record, file))
		if got != want {
			t.Fatalf("%v %d %d %q: uid %s, want %s", k, start, record, file, got, want)
		}
	}
}

// TestUIDText checks uid texts two digits at a time against one at a time.
func TestUIDText(t *testing.T) {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 10000 {
		h := uidHash{rng.Uint64(), rng.Uint64()}
		switch i {
		case 0:
			h = uidHash{0, 0}
		case 1:
			h = uidHash{^uint64(0), ^uint64(0)}
		}
		want := []byte{'C'}
		h1, h2 := h.h1, h.h2>>29
		for range 11 {
			want, h1 = append(want, digits[h1%62]), h1/62
		}
		for range 6 {
			want, h2 = append(want, digits[h2%62]), h2/62
		}
		if got := h.appendTo(nil); string(got) != string(want) {
			t.Fatalf("%x %x: %s, want %s", h.h1, h.h2, got, want)
		}
	}
}

func BenchmarkConnUID(b *testing.B) {
	k := key{lo: netip.MustParseAddr("10.1.0.4").As16(), hi: netip.MustParseAddr("10.53.0.9").As16(), loPort: 1024, hiPort: 53, proto: 17}
	var out []byte
	for b.Loop() {
		out = appendConnUID(out[:0], &k, 1773482400123456789, 123456, "/evidence/dnsanswers.pcap")
	}
}
