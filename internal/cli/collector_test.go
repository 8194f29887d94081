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
	during := currentGCPercent()
	restore()
	if during < 200 || during > maxWritingPercent {
		t.Errorf("target %d while writing, want 200 to %d", during, maxWritingPercent)
	}
	if after := currentGCPercent(); after != 50 {
		t.Errorf("target %d after writing, want 50 restored", after)
	}

	t.Setenv("GOGC", "75")
	debug.SetGCPercent(75)
	collectLessWhileWriting()()
	if got := currentGCPercent(); got != 75 {
		t.Errorf("GOGC=75: target %d, want it left alone", got)
	}
}
