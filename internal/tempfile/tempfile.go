// Package tempfile makes netfx's temporary files: in the system's
// temporary directory (TMPDIR), never next to the evidence, and nameless
// from the start, so that nothing is left behind however a run ends; or,
// when TMPDIR cannot be written, in memory, where what the callers spill
// stays as compact as it would be on disk, up to a bound (budget.go).
package tempfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"
)

// File is a temporary file, on disk or in memory.
type File interface {
	io.ReadWriteSeeker
	io.ReaderAt
	io.WriterAt
}

// failure is the first failure to make a temporary file.
var failure atomic.Pointer[error]

// Failed returns why a temporary file could not be made on disk, the first
// time one could not, or nil: the files were then kept in memory, and the
// command line says so once.
func Failed() error {
	if err := failure.Load(); err != nil {
		return *err
	}
	return nil
}

// New creates a temporary file named after pattern (as os.CreateTemp) and
// removes its name at once: on Unix the open file outlives its name and
// its space is freed when it is closed, so an interrupted or killed run
// leaves nothing in TMPDIR. Where a name cannot be removed while its file
// is open (Windows), Close removes it. When no file can be made in TMPDIR,
// New returns one in memory, and Failed says why.
func New(pattern string) File {
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		err = fmt.Errorf("cannot make a temporary file in %s (TMPDIR): %w", os.TempDir(), err)
		failure.CompareAndSwap(nil, &err)
		return newMemFile()
	}
	os.Remove(f.Name())
	return f
}

// Close closes a file made by New: it removes the name of a file on disk
// if it is still there, and releases the memory of one in memory.
func Close(f File) {
	switch f := f.(type) {
	case *os.File:
		f.Close()
		os.Remove(f.Name())
	case *memFile:
		f.store.free()
		f.size, f.off = 0, 0
	}
}

// InMemory reports whether f is kept in memory, for a caller that would
// compress what it writes there harder than what goes to disk.
func InMemory(f File) bool {
	_, ok := f.(*memFile)
	return ok
}

// memFile is a temporary file in memory. It grows in chunks, so that
// growing never copies what it holds. Where the system allows, the chunks
// are mapped outside Go's heap (chunk_unix.go): the garbage collector then
// neither scans them nor lets the heap grow by half their size again before
// it collects (GOGC), and Close gives them back to the system at once.
type memFile struct {
	store *memStore
	size  int64
	off   int64 // where Read and Write start
}

// memStore holds a memFile's chunks, memChunk bytes each. It is apart from
// the memFile so that a memFile dropped without Close still frees them
// when it is collected.
type memStore struct {
	chunks [][]byte
}

const memChunk = 256 << 10

func newMemFile() *memFile {
	m := &memFile{store: &memStore{}}
	runtime.AddCleanup(m, (*memStore).free, m.store)
	return m
}

// free gives the chunks back; the store may be used again after.
func (s *memStore) free() {
	for _, c := range s.chunks {
		freeChunk(c)
	}
	inMemory.Add(-int64(len(s.chunks)) * memChunk)
	s.chunks = nil
}

var errNegativeOffset = errors.New("negative offset")

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegativeOffset
	}
	end := off + int64(len(p))
	chunks := m.store.chunks
	if grow := (end+memChunk-1)/memChunk - int64(len(chunks)); grow > 0 && !reserve(grow*memChunk) {
		return 0, errOverBudget()
	}
	for int64(len(chunks))*memChunk < end {
		chunks = append(chunks, newChunk())
	}
	m.store.chunks = chunks
	for n := 0; n < len(p); {
		at := off + int64(n)
		n += copy(chunks[at/memChunk][at%memChunk:], p[n:])
	}
	m.size = max(m.size, end)
	return len(p), nil
}

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegativeOffset
	}
	want := int(min(int64(len(p)), max(m.size-off, 0)))
	for n := 0; n < want; {
		at := off + int64(n)
		n += copy(p[n:want], m.store.chunks[at/memChunk][at%memChunk:])
	}
	if want < len(p) {
		return want, io.EOF
	}
	return want, nil
}

func (m *memFile) Read(p []byte) (int, error) {
	n, err := m.ReadAt(p, m.off)
	m.off += int64(n)
	if n > 0 && err == io.EOF {
		err = nil // as an os.File's Read: io.EOF comes with the read after the last byte
	}
	return n, err
}

func (m *memFile) Write(p []byte) (int, error) {
	n, err := m.WriteAt(p, m.off)
	m.off += int64(n)
	return n, err
}

func (m *memFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += m.off
	case io.SeekEnd:
		offset += m.size
	default:
		return 0, errors.New("invalid whence")
	}
	if offset < 0 {
		return 0, errNegativeOffset
	}
	m.off = offset
	return offset, nil
}
