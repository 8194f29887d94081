package demogen

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedDemoIsCurrent regenerates the demo evidence and compares it,
// file by file, with testdata/demo, so the two cannot drift apart.
func TestCommittedDemoIsCurrent(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, Seed); err != nil {
		t.Fatal(err)
	}
	const committed = "../../testdata/demo"
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		rel, _ := filepath.Rel(dir, path)
		got, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		want, err := os.ReadFile(filepath.Join(committed, rel))
		if err != nil {
			t.Errorf("%s is not committed: run go run ./internal/demogen/cmd", rel)
			return nil
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output: run go run ./internal/demogen/cmd", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 17 {
		t.Errorf("the generator wrote %d files, want 3 captures, 6 flow-log blobs, 3 Log Analytics exports and 5 inventory files", files)
	}
}
