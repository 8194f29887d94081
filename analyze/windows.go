package analyze

import "time"

// Detector state for time windows is dropped once the window ended
// sweepSlack before the latest conversation and nothing touched it for a
// sweep period. The slack covers conversations that arrive out of time
// order: the flow table hands them over as they finish.
const (
	sweepSlack = time.Hour
	sweepMin   = 1 << 12 // entries before the first sweep
)

// sweeper says when to sweep a detector's windowed state: when it has
// doubled since the last sweep left it (and holds at least sweepMin
// entries), so sweeping costs O(1) per update.
type sweeper struct {
	next, gen int
}

// due reports whether a sweep is due for state of that many entries; each
// sweep starts a new generation.
func (s *sweeper) due(entries int) bool {
	if entries < max(sweepMin, s.next) {
		return false
	}
	s.gen++
	return true
}

// swept records how many entries a sweep left.
func (s *sweeper) swept(entries int) { s.next = 2 * entries }

// stale reports whether an entry last touched in generation gen went
// untouched for a whole sweep period.
func (s *sweeper) stale(gen int) bool { return gen < s.gen-1 }

// windowFindings are findings of one time window each that count toward a
// threshold (brute force, fan-out); those still below it are dropped once
// their window is long past, as scan windows are.
type windowFindings[K comparable] struct {
	m      map[K]*Finding
	window time.Duration
	below  func(*Finding) bool // under the threshold: not a finding yet
	sweeps sweeper
}

func newWindowFindings[K comparable](window time.Duration, below func(*Finding) bool) windowFindings[K] {
	return windowFindings[K]{m: map[K]*Finding{}, window: window, below: below}
}

// get returns the finding of key k, made by start when there is none.
func (w *windowFindings[K]) get(d *detection, k K, start func() *Finding) *Finding {
	if w.sweeps.due(len(w.m)) {
		for k, f := range w.m {
			if w.sweeps.stale(f.gen) && f.last+int64(w.window+sweepSlack) < d.last && w.below(f) {
				delete(w.m, k)
			}
		}
		w.sweeps.swept(len(w.m))
	}
	f := w.m[k]
	if f == nil {
		f = start()
		w.m[k] = f
	}
	f.gen = w.sweeps.gen
	return f
}
