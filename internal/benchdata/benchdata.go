// Package benchdata loads the demo evidence's conversations for the
// benchmarks of the stages after the flow table (rendering, analysis).
package benchdata

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/ingest"
)

// DemoConns returns the conversations of the demo evidence's captures
// (testdata/demo), skipping tb when they are missing.
func DemoConns(tb testing.TB) []*flows.Conn {
	_, self, _, _ := runtime.Caller(0)
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(self), "..", "..", "testdata", "demo", "*.pcap"))
	if len(files) == 0 {
		tb.Skip("no demo captures in testdata/demo")
	}
	var conns []*flows.Conn
	err := ingest.Read(context.Background(), files, ingest.Options{Flows: flows.DefaultConfig}, ingest.Sink{
		Conn:    func(c *flows.Conn) { conns = append(conns, c) },
		Problem: func(p ingest.Problem) { tb.Fatal(p.Err) },
	})
	if err != nil {
		tb.Fatal(err)
	}
	return conns
}
