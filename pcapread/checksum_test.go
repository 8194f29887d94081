package pcapread

import (
	"bytes"
	"github.com/netfx/netfx/internal/ipproto"

	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestChecksum checks the checksum against gopacket's serializer, which
// computes it independently, for TCP and UDP over IPv4 and IPv6 with even
// and odd payload lengths, and that one flipped bit is caught.
func TestChecksum(t *testing.T) {
	for _, tt := range []struct {
		src, dst string
		udp      bool
		payload  int
	}{
		{"10.0.0.1", "192.0.2.7", false, 0},
		{"10.0.0.1", "192.0.2.7", false, 1461},
		{"10.0.0.1", "192.0.2.7", true, 7},
		{"2001:db8::1", "2001:db8::2:3", false, 1000},
		{"2001:db8::1", "2001:db8::2:3", true, 33},
	} {
		src, dst := netip.MustParseAddr(tt.src), netip.MustParseAddr(tt.dst)
		var ip gopacket.NetworkLayer
		var proto layers.IPProtocol = layers.IPProtocolTCP
		if tt.udp {
			proto = layers.IPProtocolUDP
		}
		if src.Is4() {
			ip = &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
		} else {
			ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
		}
		var l4 interface {
			gopacket.SerializableLayer
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}
		if tt.udp {
			l4 = &layers.UDP{SrcPort: 5353, DstPort: 53}
		} else {
			l4 = &layers.TCP{SrcPort: 50000, DstPort: 443, Seq: 12345, ACK: true, Window: 512}
		}
		if err := l4.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		payload := make([]byte, tt.payload)
		for i := range payload {
			payload[i] = byte(i*7 + 3)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, l4, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		seg := buf.Bytes()
		if !checksumOK(src, dst, uint8(proto), seg) {
			t.Errorf("%+v: right checksum taken for wrong", tt)
		}
		seg[len(seg)-1] ^= 0x10
		if checksumOK(src, dst, uint8(proto), seg) {
			t.Errorf("%+v: flipped bit not caught", tt)
		}
	}
}

func BenchmarkChecksum(b *testing.B) {
	seg := make([]byte, 1460)
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	b.SetBytes(int64(len(seg)))
	for b.Loop() {
		checksumOK(src, dst, ipproto.TCP, seg)
	}
}

// TestChecksumMatchesNaive compares the word-at-a-time sum with the
// textbook 16-bit one over every length up to 300 bytes (the longer ones
// summed with vector instructions where the processor has them).
func TestChecksumMatchesNaive(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("10.0.0.2")
	naive := func(seg []byte) uint64 {
		var sum uint64
		for _, b := range [][]byte{src.AsSlice(), dst.AsSlice()} {
			for i := 0; i < len(b); i += 2 {
				sum += uint64(b[i])<<8 | uint64(b[i+1])
			}
		}
		sum += uint64(ipproto.UDP) + uint64(len(seg))
		for i := 0; i < len(seg); i += 2 {
			w := uint64(seg[i]) << 8
			if i+1 < len(seg) {
				w |= uint64(seg[i+1])
			}
			sum += w
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		return sum
	}
	seg := make([]byte, 300)
	for n := range len(seg) + 1 {
		for i := range seg {
			seg[i] = byte(i*31 + n*7)
		}
		if got, want := onesSum(src, dst, ipproto.UDP, seg[:n]), naive(seg[:n]); got != want {
			t.Errorf("length %d: sum %#x, the naive sum %#x", n, got, want)
		}
	}
}

// TestWordSumFoldsAsSumWords checks that the sum wordSum makes (with
// vector instructions where the processor has them) folds to the ones'
// complement sum of sumWords's, for lengths around the vector code's
// bounds, with data of every byte and all ones, which fills its lanes
// fastest.
func TestWordSumFoldsAsSumWords(t *testing.T) {
	big := make([]byte, 3<<20+96)
	for i := range big {
		big[i] = byte(i*131 + i>>8)
	}
	ones := bytes.Repeat([]byte{0xff}, len(big))
	lengths := []int{0, 32, 64, 96, 128, 160, 192, 1024, 1440, 1 << 16, 1<<20 - 32, 1 << 20, 1<<20 + 64, len(big)}
	for _, data := range [][]byte{big, ones} {
		for _, n := range lengths {
			b := data[:n]
			if got, want := fold(wordSum(b)), fold(sumWords(b)); got != want {
				t.Errorf("%d bytes from %#x: wordSum folds to %#x, sumWords to %#x", n, b[:min(n, 1)], got, want)
			}
		}
	}
}
