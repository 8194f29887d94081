package flows

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/netfx/netfx/pcapread"
)

// demoPackets decodes the demo evidence's captures into memory, payload
// included, for the benchmarks of the stages after reading.
func demoPackets(tb testing.TB) []pcapread.Packet {
	files, _ := filepath.Glob("../testdata/demo/*.pcap")
	if len(files) == 0 {
		tb.Skip("no demo captures in ../testdata/demo")
	}
	var out []pcapread.Packet
	for _, f := range readInput(tb, files...) {
		out = append(out, f.packets...)
	}
	return out
}

// BenchmarkTable measures the flow table with identification, from decoded
// packets to finished conversations, in ns per packet (the demo evidence,
// over and over; making the table is not timed).
func BenchmarkTable(b *testing.B) {
	packets := demoPackets(b)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		n := 0
		tab := NewTable(DefaultConfig, func(*Conn) { n++ })
		tab.SetFile("demo.pcap")
		b.StartTimer()
		for i := range packets {
			tab.Add(&packets[i])
		}
		tab.Flush()
		if n == 0 {
			b.Fatal("no conversations")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(packets)), "ns/packet")
}

// BenchmarkSharded measures the same with the table split across workers
// (2 and 4), in batches of 1,024 packets as package ingest hands them on:
// wall ns per packet, which falls with the workers only on as many cores.
func BenchmarkSharded(b *testing.B) {
	packets := demoPackets(b)
	for _, workers := range []int{2, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				n := 0
				tab := NewSharded(context.Background(), DefaultConfig, workers, func(*Conn) { n++ })
				tab.SetFile("demo.pcap")
				b.StartTimer()
				for batch := packets; len(batch) > 0; {
					k := min(len(batch), 1024)
					tab.AddBatch(batch[:k], func() {})
					batch = batch[k:]
				}
				tab.Flush()
				if n == 0 {
					b.Fatal("no conversations")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(packets)), "ns/packet")
		})
	}
}

func BenchmarkCommunityID(b *testing.B) {
	src, dst := netip.MustParseAddr("10.1.0.4"), netip.MustParseAddr("10.53.0.9")
	var out []byte
	for b.Loop() {
		out = appendCommunityID(out[:0], 0, 17, src, dst, 1024, 53, false)
	}
}
