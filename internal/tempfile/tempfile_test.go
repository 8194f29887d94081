package tempfile

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
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
	f := New("netfx-test-*")
	defer Close(f)
	if _, ok := f.(*os.File); !ok {
		t.Fatalf("a %T in a writable TMPDIR, want a file on disk", f)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("TMPDIR holds %d entries while the file is open", len(entries))
	}
	if _, err := f.Write([]byte("run")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	if _, err := f.ReadAt(b, 0); err != nil || string(b) != "run" {
		t.Fatalf("read back %q, %v", b, err)
	}
}

// TestNewFallsBackToMemory: without a writable TMPDIR, New gives a file in
// memory and Failed names TMPDIR.
func TestNewFallsBackToMemory(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	f := New("netfx-test-*")
	defer Close(f)
	if _, ok := f.(*memFile); !ok {
		t.Fatalf("a %T without TMPDIR, want one in memory", f)
	}
	if err := Failed(); err == nil || !strings.Contains(err.Error(), "TMPDIR") {
		t.Errorf("Failed() = %v", err)
	}
}

// TestMemoryFileActsAsAFile applies the same writes, seeks and reads to
// a file on disk and to one in memory, across the memory file's chunk
// boundaries, and compares every result.
func TestMemoryFileActsAsAFile(t *testing.T) {
	disk, err := os.CreateTemp(t.TempDir(), "disk-*")
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	mem := newMemFile()
	defer Close(mem)
	pattern := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i*7)
		}
		return b
	}
	type op struct {
		name string
		do   func(f File) (string, error)
	}
	read := func(n int) func(f File) (string, error) {
		return func(f File) (string, error) {
			b := make([]byte, n)
			got, err := f.Read(b)
			return string(b[:got]), err
		}
	}
	readAt := func(n int, off int64) func(f File) (string, error) {
		return func(f File) (string, error) {
			b := make([]byte, n)
			got, err := f.ReadAt(b, off)
			return string(b[:got]), err
		}
	}
	write := func(b []byte) func(f File) (string, error) {
		return func(f File) (string, error) {
			n, err := f.Write(b)
			return string(rune('0' + n%10)), err
		}
	}
	writeAt := func(b []byte, off int64) func(f File) (string, error) {
		return func(f File) (string, error) {
			n, err := f.WriteAt(b, off)
			return string(rune('0' + n%10)), err
		}
	}
	seek := func(off int64, whence int) func(f File) (string, error) {
		return func(f File) (string, error) {
			pos, err := f.Seek(off, whence)
			return string(rune('0' + pos%10)), err
		}
	}
	ops := []op{
		{"read empty", read(10)},
		{"readAt empty", readAt(10, 0)},
		{"write across a chunk", write(pattern(memChunk+100, 1))},
		{"read at the end", read(10)},
		{"seek to start", seek(0, io.SeekStart)},
		{"read a chunk and more", read(memChunk + 50)},
		{"read the rest and past it", read(100)},
		{"read after the end", read(1)},
		{"writeAt past the end, leaving a hole", writeAt(pattern(3*memChunk, 9), 2*memChunk-10)},
		{"readAt the hole", readAt(2*memChunk, memChunk)},
		{"readAt across the end", readAt(100, 5*memChunk-40)},
		{"readAt past the end", readAt(5, 6*memChunk)},
		{"seek from the end", seek(-20, io.SeekEnd)},
		{"read to the end", read(30)},
		{"seek back", seek(-memChunk, io.SeekCurrent)},
		{"overwrite", write(pattern(40, 3))},
		{"readAt all", readAt(6*memChunk, 0)},
		{"seek before the start", seek(-1, io.SeekStart)},
	}
	for _, o := range ops {
		want, wantErr := o.do(disk)
		got, gotErr := o.do(mem)
		if got != want || (gotErr == nil) != (wantErr == nil) || errors.Is(wantErr, io.EOF) != errors.Is(gotErr, io.EOF) {
			t.Errorf("%s: memory gave %d bytes (%v), disk %d (%v); equal %v", o.name, len(got), gotErr, len(want), wantErr, bytes.Equal([]byte(got), []byte(want)))
		}
	}
}

// TestMemoryFileLeavesTheHeap: on Unix a file in memory takes its chunks
// from outside Go's heap, so that the garbage collector's target does not
// grow with it, and Close gives them back.
func TestMemoryFileLeavesTheHeap(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("chunks come from the heap here")
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	f := newMemFile()
	block := bytes.Repeat([]byte("spilled run "), 1<<10)
	size := 0
	for size < 32<<20 {
		n, err := f.Write(block)
		if err != nil {
			t.Fatal(err)
		}
		size += n
	}
	if grew := int64(heap()) - int64(before); grew > 1<<20 {
		t.Errorf("the heap grew by %d bytes for a %d-byte file in memory", grew, size)
	}
	got := make([]byte, len(block))
	if _, err := f.ReadAt(got, int64(size-len(block))); err != nil || !bytes.Equal(got, block) {
		t.Fatalf("read back %q…, %v", got[:12], err)
	}
	Close(f)
	if n, err := f.ReadAt(got, 0); n != 0 || err != io.EOF {
		t.Errorf("after Close, ReadAt gave %d bytes, %v; want 0, EOF", n, err)
	}
}

// TestMemoryFilesHaveABudget: files in memory share a budget; a write past
// it fails, writes nothing, and says why and what to do; Close gives the
// budget back.
func TestMemoryFilesHaveABudget(t *testing.T) {
	defer func(budget func() int64) { memoryBudget = budget }(memoryBudget)
	memoryBudget = func() int64 { return 4 * memChunk }
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	a, b := New("netfx-test-*"), New("netfx-test-*")
	defer Close(b)
	chunks := func(n int) []byte { return bytes.Repeat([]byte{'x'}, n*memChunk) }
	if _, err := a.Write(chunks(3)); err != nil {
		t.Fatalf("3 chunks of a budget of 4: %v", err)
	}
	n, err := b.Write(chunks(2))
	if err == nil || n != 0 || !strings.Contains(err.Error(), "TMPDIR") || !strings.Contains(err.Error(), "set TMPDIR to a writable folder") {
		t.Fatalf("5 chunks of a budget of 4: wrote %d bytes, error %v; want none written and an error naming TMPDIR", n, err)
	}
	if size, _ := b.Seek(0, io.SeekEnd); size != 0 {
		t.Errorf("the refused write left %d bytes", size)
	}
	if _, err := b.Write(chunks(1)); err != nil {
		t.Fatalf("4 chunks of a budget of 4: %v", err)
	}
	Close(a)
	if _, err := b.Write(chunks(3)); err != nil {
		t.Errorf("4 chunks of a budget of 4 after Close gave 3 back: %v", err)
	}
}

// TestHalfOf: the budget is half of the memory, or none when it is not
// known.
func TestHalfOf(t *testing.T) {
	if got := halfOf(8 << 30); got != 4<<30 {
		t.Errorf("halfOf(8 GiB) = %d", got)
	}
	if got := halfOf(0); got != math.MaxInt64 {
		t.Errorf("halfOf(0) = %d, want no bound", got)
	}
	if runtime.GOOS == "linux" {
		if m := MachineMemory(); m < 64<<20 {
			t.Errorf("MachineMemory() = %d on Linux", m)
		}
	}
}

// TestFree: a file on disk tells its file system's free space on Linux;
// one in memory tells none.
func TestFree(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	f := New("netfx-test-*")
	defer Close(f)
	if n := Free(f); runtime.GOOS == "linux" && n <= 0 {
		t.Errorf("Free of a file in TMPDIR = %d on Linux", n)
	}
	m := newMemFile()
	defer Close(m)
	if n := Free(m); n != 0 {
		t.Errorf("Free of a file in memory = %d, want 0", n)
	}
}
