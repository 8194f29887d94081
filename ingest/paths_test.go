package ingest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestExpand walks folders in lexical order, skips hidden entries, follows
// links to files and folders, and takes each file and folder once.
func TestExpand(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	write := func(path string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, path string) {
		if err := os.Symlink(target, path); err != nil {
			t.Skip("no symbolic links here:", err)
		}
	}
	write(filepath.Join(dir, "b.pcap"))
	write(filepath.Join(dir, "a", "1.pcap"))
	write(filepath.Join(dir, ".hidden", "2.pcap"))
	write(filepath.Join(dir, ".x.pcap"))
	write(filepath.Join(outside, "linked", "3.pcap"))
	write(filepath.Join(outside, "4.pcap"))
	link(filepath.Join(outside, "linked"), filepath.Join(dir, "c"))      // a folder elsewhere
	link(filepath.Join(outside, "4.pcap"), filepath.Join(dir, "d.pcap")) // a file elsewhere
	link(filepath.Join(dir, "b.pcap"), filepath.Join(dir, "e.pcap"))     // b again
	link(dir, filepath.Join(dir, "a", "loop"))                           // back to the top
	link(filepath.Join(dir, "missing"), filepath.Join(dir, "f.pcap"))    // dangling

	got, err := Expand([]string{dir, filepath.Join(dir, "b.pcap"), "-"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(dir, "a", "1.pcap"),
		filepath.Join(dir, "b.pcap"),
		filepath.Join(dir, "c", "3.pcap"),
		filepath.Join(dir, "d.pcap"),
		"-",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Expand gave\n%q\nwant\n%q", got, want)
	}
}

// TestExpandSkipsWhatItCannotRead lists the readable inputs and names the
// others in its error.
func TestExpandSkipsWhatItCannotRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.pcap")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pcap")
	got, err := Expand([]string{missing, dir})
	if !slices.Equal(got, []string{file}) || err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Expand gave %q, %v; want %q and an error naming %s", got, err, []string{file}, missing)
	}
}
