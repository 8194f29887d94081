// Package timespan finds the time span of a file's records robustly: a
// clock that was wrong for a few records (the epoch, a year off, the far
// future) would otherwise stretch a five-hour capture over centuries.
// Records are counted by day; the span is that of the days that lie near
// the busiest one, and records on days far from them are outliers, if
// they are few: at most one in a hundred. Records before 1980 or from
// 2100 on are outliers however many they are: no capture or log of the
// evidence was written then (the epoch, 32-bit nanoseconds read wrong,
// the end of int64 time).
package timespan

import (
	"maps"
	"slices"
	"time"
)

// day is the records of one day (UTC).
type day struct {
	n           int64
	first, last int64
}

// Tracker follows the times of one file's records. Its memory is bounded:
// it counts at most maxDays distinct days; records on days past them count
// as outliers.
type Tracker struct {
	days      map[int64]*day
	untracked int64
	firstSeen int64 // the time of the first record on an untracked day
	cur       *day  // the day of the last record: most records share it
	curKey    int64
	// impossible counts the records at implausible times, the earliest
	// at impossibleAt.
	impossible, impossibleAt int64
}

const (
	dayNS = 24 * 3600 * 1e9
	// maxGap is how far apart in time two days of records may lie and
	// still be one span: a capture, a blob or a conversation log covers
	// hours to days; a clock that is wrong is off by years.
	maxGap = 30 * dayNS
	// maxDays bounds the days a Tracker counts.
	maxDays = 4096
	// Records far off the others are outliers only when they are at most
	// one in a hundred (or one), and the others are at least minRecords.
	minRecords = 20
)

// The times a record can plausibly have.
var (
	earliest = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	latest   = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
)

// Add counts a record at ns (Unix nanoseconds).
func (t *Tracker) Add(ns int64) {
	if ns < earliest || ns >= latest {
		if t.impossible == 0 || ns < t.impossibleAt {
			t.impossibleAt = ns
		}
		t.impossible++
		return
	}
	k := ns / dayNS
	if ns < 0 {
		k-- // floor division: before 1970 is another day
	}
	if t.cur != nil && k == t.curKey {
		t.cur.n++
		t.cur.first, t.cur.last = min(t.cur.first, ns), max(t.cur.last, ns)
		return
	}
	d := t.days[k]
	if d == nil {
		if len(t.days) >= maxDays {
			if t.untracked == 0 {
				t.firstSeen = ns
			}
			t.untracked++
			return
		}
		if t.days == nil {
			t.days = map[int64]*day{}
		}
		d = &day{first: ns, last: ns}
		t.days[k] = d
	}
	d.n++
	d.first, d.last = min(d.first, ns), max(d.last, ns)
	t.cur, t.curKey = d, k
}

// Span returns the span of the records (first and last, Unix ns), the
// number of outliers left out of it, and the time of one of them; ok is
// false when no record was counted.
func (t *Tracker) Span() (first, last, outliers, example int64, ok bool) {
	first, last, outliers, example, ok = t.span()
	if t.impossible > 0 {
		if outliers == 0 || t.impossibleAt < example {
			example = t.impossibleAt
		}
		outliers += t.impossible
	}
	return first, last, outliers, example, ok
}

// span is Span of the plausible records.
func (t *Tracker) span() (first, last, outliers, example int64, ok bool) {
	if len(t.days) == 0 {
		return 0, 0, t.untracked, t.firstSeen, false
	}
	keys := slices.Sorted(maps.Keys(t.days))
	busiest := 0 // the busiest day, the earliest of equals
	for i, k := range keys {
		if t.days[k].n > t.days[keys[busiest]].n {
			busiest = i
		}
	}
	// Grow the span from it while the next day with records lies within
	// maxGap.
	lo, hi := busiest, busiest
	for lo > 0 && t.days[keys[lo]].first-t.days[keys[lo-1]].last <= maxGap {
		lo--
	}
	for hi < len(keys)-1 && t.days[keys[hi+1]].first-t.days[keys[hi]].last <= maxGap {
		hi++
	}
	first, last = t.days[keys[lo]].first, t.days[keys[hi]].last
	var in, out int64 // records in the span's days and outside them
	for i, k := range keys {
		if i < lo || i > hi {
			out += t.days[k].n
		} else {
			in += t.days[k].n
		}
	}
	if in < minRecords || out+t.untracked > max(1, (in+out+t.untracked)/100) {
		// Too few records to tell, or too many far off to be a clock
		// gone wrong: a capture merged from several, say. The span is
		// all of it.
		first, last = t.days[keys[0]].first, t.days[keys[len(keys)-1]].last
		return first, last, 0, 0, true
	}
	outliers, example = t.untracked, t.firstSeen
	for i, k := range keys {
		if d := t.days[k]; i < lo || i > hi {
			if outliers == 0 || d.first < example {
				example = d.first
			}
			outliers += d.n
		}
	}
	return first, last, outliers, example, true
}
