package cli

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestCollectLessWhileWriting: once what made the heap large is garbage,
// the collector's target rises so that the heap may grow back to the
// goal it had (about 96 MiB here, twice what stays live and more), is
// restored afterwards, and is left alone when the user set GOGC.
func TestCollectLessWhileWriting(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(50))
	t.Setenv("GOGC", "")
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = 1
	}
	runtime.GC()
	runtime.KeepAlive(big)
	big = nil
	restore := collectLessWhileWriting()
	during := gcPercent()
	restore()
	if during < 200 || during > maxWritingPercent {
		t.Errorf("target %d while writing, want 200 to %d", during, maxWritingPercent)
	}
	if after := gcPercent(); after != 50 {
		t.Errorf("target %d after writing, want 50 restored", after)
	}

	t.Setenv("GOGC", "75")
	debug.SetGCPercent(75)
	collectLessWhileWriting()()
	if got := gcPercent(); got != 75 {
		t.Errorf("GOGC=75: target %d, want it left alone", got)
	}
}

// gcPercent returns the collector's target.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}
