package cli

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestCollectLessWhileSmall: the collector's target is smallHeapPercent
// while the live heap is small, the one given once a collection finds it
// large, and is left alone when the user set GOGC.
func TestCollectLessWhileSmall(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(50))
	t.Setenv("GOGC", "")
	CollectLessWhileSmall(60)
	runtime.GC()
	time.Sleep(10 * time.Millisecond) // for the cleanup to run
	if got := gcPercent(); got != smallHeapPercent {
		t.Errorf("small heap: target %d, want %d", got, smallHeapPercent)
	}
	big := make([]byte, 2*smallHeap)
	for deadline := time.Now().Add(5 * time.Second); gcPercent() != 60 && time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	runtime.KeepAlive(big)
	if got := gcPercent(); got != 60 {
		t.Errorf("large heap: target %d, want 60", got)
	}

	t.Setenv("GOGC", "75")
	debug.SetGCPercent(75)
	CollectLessWhileSmall(60)
	if got := gcPercent(); got != 75 {
		t.Errorf("GOGC=75: target %d, want it left alone", got)
	}
}

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
