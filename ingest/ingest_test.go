package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/netfx/netfx/flowlog"
	"github.com/netfx/netfx/flows"
)

// TestJoinSpillsToDisk reads the demo evidence (captures and flow logs)
// with sorters that hold three records each, so every stage of the join
// spills to temporary files, and checks the records are the same, in the
// same order, as when everything fits in memory.
func TestJoinSpillsToDisk(t *testing.T) {
	read := func(mem int) []byte {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		opt := Options{Flows: flows.DefaultConfig, Tolerance: flowlog.DefaultTolerance, SortMemory: mem}
		sink := Sink{Conn: func(c *flows.Conn) { enc.Encode(c) }, Problem: func(p Problem) { t.Error(p.Err) }}
		if err := Read(context.Background(), []string{"../testdata/demo"}, opt, sink); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	inMemory, spilled := read(0), read(3)
	if n := bytes.Count(inMemory, []byte("\n")); n < 1000 || !bytes.Contains(inMemory, []byte(`"Source":"both"`)) {
		t.Fatalf("%d records, joined ones among them: %v", n, bytes.Contains(inMemory, []byte(`"Source":"both"`)))
	}
	if !bytes.Equal(inMemory, spilled) {
		t.Error("records differ when the sorters spill")
	}
}
