package pcapread

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// slowDecode decodes a frame with gopacket's full layer decoding: slow, but
// written by others and obviously independent of the fast path. It reports
// false for frames it cannot decode to a transport.
func slowDecode(link layers.LinkType, frame []byte) (src, dst netip.Addr, proto uint8, sport, dport uint16, ok bool) {
	first := link.LayerType()
	if link == layers.LinkTypeEthernet {
		first = layers.LayerTypeEthernet
	}
	pkt := gopacket.NewPacket(frame, first, gopacket.DecodeOptions{Lazy: false, NoCopy: true})
	networks := 0
	for _, l := range pkt.Layers() {
		if _, ok := l.(gopacket.NetworkLayer); ok {
			networks++
		}
	}
	if networks != 1 {
		// IP in IP: netfx keys the outer header (tunnels are not decapsulated).
		return src, dst, 0, 0, 0, false
	}
	if ip4, isV4 := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); isV4 {
		if ip4.Flags&layers.IPv4MoreFragments != 0 || ip4.FragOffset != 0 {
			return src, dst, 0, 0, 0, false
		}
		src, _ = netip.AddrFromSlice(ip4.SrcIP)
		dst, _ = netip.AddrFromSlice(ip4.DstIP)
		proto = uint8(ip4.Protocol)
	} else if ip6, isV6 := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6); isV6 {
		if pkt.Layer(layers.LayerTypeIPv6Fragment) != nil {
			return src, dst, 0, 0, 0, false
		}
		src, _ = netip.AddrFromSlice(ip6.SrcIP)
		dst, _ = netip.AddrFromSlice(ip6.DstIP)
	} else {
		return src, dst, 0, 0, 0, false
	}
	switch l := pkt.TransportLayer().(type) {
	case *layers.TCP:
		return src, dst, 6, uint16(l.SrcPort), uint16(l.DstPort), true
	case *layers.UDP:
		return src, dst, 17, uint16(l.SrcPort), uint16(l.DstPort), true
	}
	return src, dst, 0, 0, 0, false
}

// TestDifferentialAgainstGopacket compares the fast decoder with gopacket's
// layers on every packet of the corpus that gopacket decodes to TCP or UDP.
func TestDifferentialAgainstGopacket(t *testing.T) {
	dir := corpus(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	compared := 0
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		var (
			next func() ([]byte, gopacket.CaptureInfo, error)
			link func(gopacket.CaptureInfo) layers.LinkType
		)
		if r, err := pcapgo.NewReader(f); err == nil {
			next, link = r.ReadPacketData, func(gopacket.CaptureInfo) layers.LinkType { return r.LinkType() }
		} else if _, err := f.Seek(0, 0); err == nil {
			ng, err := pcapgo.NewNgReader(f, pcapgo.NgReaderOptions{WantMixedLinkType: true})
			if err != nil {
				f.Close()
				continue
			}
			next, link = ng.ReadPacketData, func(ci gopacket.CaptureInfo) layers.LinkType { return ci.AncillaryData[0].(layers.LinkType) }
		}
		var d Decoder
		var p Packet
		for {
			data, ci, err := next()
			if err != nil {
				break
			}
			lt := link(ci)
			src, dst, proto, sport, dport, ok := slowDecode(lt, data)
			if !ok || (proto != 6 && proto != 17) {
				continue
			}
			if !d.Decode(&p, lt, data, ci.Length, 0, nil) {
				t.Errorf("%s: fast decoder rejected a packet gopacket decodes: %v %v:%d > %v:%d", filepath.Base(file), proto, src, sport, dst, dport)
				continue
			}
			if p.Src != src || p.Dst != dst || p.Proto != proto || p.SrcPort != sport || p.DstPort != dport {
				t.Errorf("%s: fast %v %v:%d > %v:%d, gopacket %v %v:%d > %v:%d", filepath.Base(file),
					p.Proto, p.Src, p.SrcPort, p.Dst, p.DstPort, proto, src, sport, dst, dport)
			}
			compared++
		}
		f.Close()
	}
	if compared < 10000 {
		t.Errorf("compared only %d packets", compared)
	}
	t.Logf("compared %d packets", compared)
}
