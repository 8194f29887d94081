package cli

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

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
	return func() { debug.SetGCPercent(old) }
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
