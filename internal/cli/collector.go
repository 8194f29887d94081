package cli

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// While the live heap is smaller than smallHeap, the collector's target
// is smallHeapPercent rather than main's. Main's target (50) would
// collect each time the heap grows by half of what is live, from 2 MiB
// on: eight collections in the first quarter second of a gigabyte's
// conns, each paying its fixed costs (the stacks, and the globals, among
// them 5 MB of gopacket's tables) to free little. A heap that stays small
// costs little memory at any target; one that grows past smallHeap gets
// main's target before it is larger than main's would have let it be
// (docs/performance.md).
const (
	smallHeap        = 16 << 20
	smallHeapPercent = 200
)

// collector guards changes to the collector's target: growing is true
// while the target is smallHeapPercent, until the heap is no longer small
// or the records are written.
var collector struct {
	sync.Mutex
	growing bool
}

// CollectLessWhileSmall sets the collector's target to smallHeapPercent
// until a collection finds smallHeap or more live, then to percent. A
// GOGC set by the user is left as it is.
func CollectLessWhileSmall(percent int) {
	if os.Getenv("GOGC") != "" {
		return
	}
	collector.Lock()
	defer collector.Unlock()
	debug.SetGCPercent(smallHeapPercent)
	collector.growing = true
	afterCollections(func() bool {
		collector.Lock()
		defer collector.Unlock()
		if !collector.growing {
			return false
		}
		if heapStat("/gc/heap/live:bytes") < smallHeap {
			return true
		}
		debug.SetGCPercent(percent)
		collector.growing = false
		return false
	})
}

// afterCollections calls f after each collection, on a goroutine of the
// runtime's, for as long as f returns true.
func afterCollections(f func() bool) {
	type sentinel struct{ _ *byte } // a pointer: never a tiny allocation, whose cleanup may not run
	runtime.AddCleanup(&sentinel{}, func(f func() bool) {
		if f() {
			afterCollections(f)
		}
	}, f)
}

// maxWritingPercent bounds the collector's target while the records are
// written (collectLessWhileWriting).
const maxWritingPercent = 800

// collectLessWhileWriting lets the collector run less while the sorted
// records are written out, and returns what restores its target. By then
// the flow table is garbage and little stays live, so main's target (50:
// a collection for every half of the live heap allocated) would collect
// every few MiB of records read back: twenty times at the end of a flood
// of DNS answers. After one collection, the target is set so that the
// heap may grow back to the goal it had while reading, memory the
// process already has, at most maxWritingPercent. A GOGC set by the user
// is left as it is.
func collectLessWhileWriting() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	collector.Lock()
	defer collector.Unlock()
	collector.growing = false
	goal := heapStat("/gc/heap/goal:bytes")
	runtime.GC()
	// The target applies to the live heap, the stacks and the globals.
	live := heapStat("/gc/heap/live:bytes")
	roots := max(live+heapStat("/gc/scan/stack:bytes")+heapStat("/gc/scan/globals:bytes"), 1)
	percent := int(min(100*(goal-min(goal, live))/roots, maxWritingPercent))
	old := debug.SetGCPercent(percent)
	if old > percent {
		debug.SetGCPercent(old) // never a lower target than main's
	}
	return func() {
		collector.Lock()
		defer collector.Unlock()
		debug.SetGCPercent(old)
	}
}

// heapStat reads one of the runtime's heap metrics, in bytes.
func heapStat(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
