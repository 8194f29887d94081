// Package tempfile makes netfx's temporary files: in the system's
// temporary directory (TMPDIR), never next to the evidence, and nameless
// from the start, so that nothing is left behind however a run ends.
package tempfile

import (
	"fmt"
	"os"
	"sync/atomic"
)

// failure is the first failure to make a temporary file.
var failure atomic.Pointer[error]

// Failed returns why a temporary file could not be made, the first time
// one could not, or nil: the callers then keep their data in memory, and
// the command line says so once.
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
// is open (Windows), Close removes it.
func New(pattern string) (*os.File, error) {
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		err = fmt.Errorf("cannot make a temporary file in %s (TMPDIR): %w", os.TempDir(), err)
		failure.CompareAndSwap(nil, &err)
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

// Close closes a file made by New, removing its name if it is still there.
func Close(f *os.File) {
	if f != nil {
		f.Close()
		os.Remove(f.Name())
	}
}
