package flows

import (
	"github.com/netfx/netfx/internal/ipproto"

	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/netfx/netfx/pcapread"
)

// FuzzReassembly drives TCP conversations between two hosts through a
// Table from fuzzed segments: any direction, flags, sequence and
// acknowledgement jumps (wrap-around included), overlaps, gaps and
// payloads, with a TLS, HTTP or SMB start in the seeds so identification
// runs too. A record must come out for every conversation, with only
// Zeek's history letters and byte counts the sequence space can hold,
// and none may start below a watermark told before it (time only goes
// forward here).
func FuzzReassembly(f *testing.F) {
	hello := []byte("\x16\x03\x01\x00\x2e\x01\x00\x00\x2a\x03\x03")
	f.Add(append([]byte{0x02, 0, 0, 0, 0, 0x12, 0, 0, 0, 0, 0x10, 0, 1, 0, 0, 0x18, 0, 11}, hello...))
	f.Add([]byte("\x02\x00\x00\x00\x00\x12\xff\xff\x00\x00\x10\x80\x00\x00\x10GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("\x18\x7f\xff\xff\xf0\x20\x00\x00\x00\x40\x18\x00\x00\x00\x40\x11\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out []*Conn
		watermark := int64(0)
		tab := NewTable(DefaultConfig, func(c *Conn) {
			if c.TS < watermark {
				t.Errorf("a conversation starting at %d after watermark %d", c.TS, watermark)
			}
			out = append(out, c)
		})
		tab.OnWatermark(func(ts int64) { watermark = ts })
		tab.watermarkEvery = 1
		tab.SetFile("fuzz.pcap")
		client, server := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
		var seq, ack [2]uint32
		at := int64(1_700_000_000) * 1e9
		packets := 0
		// Each segment: a byte of direction and flags, a 32-bit
		// sequence step (big-endian, so it wraps), a payload length.
		for len(data) >= 6 {
			head, step, n := data[0], binary.BigEndian.Uint32(data[1:5]), int(data[5])
			data = data[6:]
			n = min(n, len(data))
			payload := data[:n]
			data = data[n:]
			dir := int(head >> 7)
			seq[dir] += step
			p := pcapread.Packet{Timestamp: at, Record: int64(packets + 1), Proto: ipproto.TCP, HasPorts: true,
				TCPFlags: head & 0x3f, Seq: seq[dir], Ack: ack[dir], Window: uint16(step), IPBytes: uint32(40 + n),
				PayloadLen: uint32(n), Payload: payload}
			if dir == 0 {
				p.Src, p.Dst, p.SrcPort, p.DstPort = client, server, 40000, 443
			} else {
				p.Src, p.Dst, p.SrcPort, p.DstPort = server, client, 443, 40000
			}
			ack[1-dir] = seq[dir] + uint32(n)
			at += int64(step % 1000 * 1e6)
			tab.Add(&p)
			packets++
		}
		tab.Flush()
		if packets > 0 && len(out) == 0 {
			t.Fatalf("%d packets, no conversation", packets)
		}
		for _, c := range out {
			if strings.Trim(c.History, "SsHhAaDdFfRrTtGgWwCcIiQq^") != "" {
				t.Errorf("history %q has letters Zeek does not use", c.History)
			}
			if limit := uint64(packets+1) << 32; c.OrigBytes > limit || c.RespBytes > limit || c.MissedBytes > 2*limit {
				t.Errorf("bytes %d/%d missed %d beyond what %d packets can cover", c.OrigBytes, c.RespBytes, c.MissedBytes, packets)
			}
		}
	})
}
