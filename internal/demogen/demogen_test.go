package demogen

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedDemoIsCurrent regenerates the demo evidence and compares it
// with the files in testdata/demo, so the two cannot drift apart.
func TestCommittedDemoIsCurrent(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, Seed); err != nil {
		t.Fatal(err)
	}
	for _, c := range Captures {
		got, err := os.ReadFile(filepath.Join(dir, c.Name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("../../testdata/demo", c.Name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output: run go run ./internal/demogen/cmd", c.Name)
		}
	}
}
