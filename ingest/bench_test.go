package ingest

import (
	"context"
	"os"
	"testing"

	"github.com/netfx/netfx/flows"
)

// BenchmarkReadCaptures reads the capture named by NETFX_BENCH_PCAP (for
// example one made by ../shared/tools/pcapgen, or by bench/run.sh into
// bench/data) into conversations.
func BenchmarkReadCaptures(b *testing.B) {
	path := os.Getenv("NETFX_BENCH_PCAP")
	if path == "" {
		b.Skip("set NETFX_BENCH_PCAP to a capture file")
	}
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(info.Size())
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := Read(context.Background(), []string{path}, Options{Flows: flows.DefaultConfig}, Sink{
			Conn:    func(*flows.Conn) { n++ },
			Problem: func(p Problem) { b.Fatal(p.Err) },
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
