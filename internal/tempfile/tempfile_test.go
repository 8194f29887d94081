package tempfile

import (
	"os"
	"runtime"
	"testing"
)

// TestNewLeavesNoName checks that a temporary file has no name in TMPDIR
// while it is in use, and can still be written and read.
func TestNewLeavesNoName(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("open files keep their names on Windows")
	}
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	f, err := New("netfx-test-*")
	if err != nil {
		t.Fatal(err)
	}
	defer Close(f)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("TMPDIR holds %d entries while the file is open", len(entries))
	}
	if _, err := f.WriteString("run"); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	if _, err := f.ReadAt(b, 0); err != nil || string(b) != "run" {
		t.Fatalf("read back %q, %v", b, err)
	}
}
