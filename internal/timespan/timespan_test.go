package timespan

import (
	"testing"
	"time"
)

// TestSpanLeavesOutliersOut: a few records with a wrong clock do not
// stretch the span, and are counted; records over days are one span.
func TestSpanLeavesOutliersOut(t *testing.T) {
	at := func(s string) int64 { v, _ := time.Parse(time.RFC3339, s); return v.UnixNano() }
	many := func(at string, n int, others ...string) []string { // n records at one time, then the others
		out := make([]string, n)
		for i := range out {
			out[i] = at
		}
		return append(out, others...)
	}
	for _, tt := range []struct {
		name        string
		times       []string
		first, last string
		outliers    int64
		example     string
	}{
		{"clean", []string{"2026-03-14T10:00:00Z", "2026-03-14T11:00:00Z"}, "2026-03-14T10:00:00Z", "2026-03-14T11:00:00Z", 0, ""},
		{"the epoch first", append([]string{"1970-01-01T00:00:00Z"}, many("2026-03-14T10:00:00Z", 99, "2026-03-14T10:30:00Z")...), "2026-03-14T10:00:00Z", "2026-03-14T10:30:00Z", 1, "1970-01-01T00:00:00Z"},
		{"far future", many("2026-03-14T10:00:00Z", 99, "2262-04-11T23:47:16Z", "2026-03-14T10:30:00Z"), "2026-03-14T10:00:00Z", "2026-03-14T10:30:00Z", 1, "2262-04-11T23:47:16Z"},
		{"a year off", many("2026-03-14T10:00:00Z", 99, "2025-03-14T10:00:00Z", "2026-03-14T10:30:00Z"), "2026-03-14T10:00:00Z", "2026-03-14T10:30:00Z", 1, "2025-03-14T10:00:00Z"},
		{"a week of logs", many("2026-03-01T00:00:00Z", 30, "2026-03-04T00:00:00Z", "2026-03-08T23:00:00Z"), "2026-03-01T00:00:00Z", "2026-03-08T23:00:00Z", 0, ""},
		{"before 1970", many("2026-03-14T10:00:00Z", 99, "1969-12-31T23:00:00Z", "2026-03-14T10:01:00Z"), "2026-03-14T10:00:00Z", "2026-03-14T10:01:00Z", 1, "1969-12-31T23:00:00Z"},
		{"merged captures", many("2011-12-16T21:35:33Z", 90, many("2015-01-12T05:45:28Z", 10)...), "2011-12-16T21:35:33Z", "2015-01-12T05:45:28Z", 0, ""},
		{"impossible however few", []string{"2014-12-09T17:16:09Z", "2014-12-09T17:16:10Z", "2262-04-11T23:47:16Z"}, "2014-12-09T17:16:09Z", "2014-12-09T17:16:10Z", 1, "2262-04-11T23:47:16Z"},
		{"too few to tell", []string{"2013-02-14T15:07:37Z", "2013-02-14T15:07:38Z", "2014-10-11T19:35:23Z"}, "2013-02-14T15:07:37Z", "2014-10-11T19:35:23Z", 0, ""},
	} {
		var tr Tracker
		for _, s := range tt.times {
			tr.Add(at(s))
		}
		first, last, outliers, example, ok := tr.Span()
		if !ok || first != at(tt.first) || last != at(tt.last) || outliers != tt.outliers || tt.example != "" && example != at(tt.example) {
			t.Errorf("%s: span %v..%v, %d outliers (%v)", tt.name, time.Unix(0, first).UTC(), time.Unix(0, last).UTC(), outliers, time.Unix(0, example).UTC())
		}
	}
	var empty Tracker
	if _, _, _, _, ok := empty.Span(); ok {
		t.Error("an empty tracker has a span")
	}
	var epoch Tracker
	epoch.Add(0)
	if _, _, n, at, ok := epoch.Span(); ok || n != 1 || at != 0 {
		t.Errorf("a file of one record at the epoch: span %v, %d outliers", ok, n)
	}
}

// TestTrackerIsBounded: ever new days cost no more than maxDays entries.
func TestTrackerIsBounded(t *testing.T) {
	var tr Tracker
	for i := range 3 * maxDays {
		tr.Add(earliest + int64(i)*dayNS)
	}
	if len(tr.days) > maxDays || tr.untracked != 2*maxDays {
		t.Errorf("%d days tracked, %d untracked", len(tr.days), tr.untracked)
	}
}
