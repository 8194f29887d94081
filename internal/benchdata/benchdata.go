// Package benchdata loads the demo evidence's conversations for the
// benchmarks of the stages after the flow table (rendering, analysis).
package benchdata

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/netfx/netfx/flows"
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
	flows.ReadCaptures(files, flows.DefaultConfig, flows.ReadOptions{}, func(c *flows.Conn) { conns = append(conns, c) }, func(r flows.FileResult) {
		if r.Err != nil {
			tb.Fatal(r.Err)
		}
	})
	return conns
}
