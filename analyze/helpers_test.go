package analyze

import (
	"testing"
	"time"

	"github.com/netfx/netfx/flowlog"
	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/conntest"
	"github.com/netfx/netfx/pcapread"
)

// conn and logConn make conversation records.
var conn, logConn = conntest.Capture, conntest.FlowLog

// findingsWhere returns the report's findings that keep accepts.
func findingsWhere(s *Summary, keep func(Finding) bool) []Finding {
	var out []Finding
	for _, f := range s.Report().Findings {
		if keep(f) {
			out = append(out, f)
		}
	}
	return out
}

// detectorOf returns the Summary's detector of type T, once the detectors
// have observed every conversation added.
func detectorOf[T detector](s *Summary) T {
	s.waitDetection()
	for _, d := range s.det.detectors {
		if t, ok := d.(T); ok {
			return t
		}
	}
	panic("no such detector")
}

func ofKind(kind string) func(Finding) bool { return func(f Finding) bool { return f.Kind == kind } }

func statsWindow(first, last time.Duration) pcapread.Stats {
	return pcapread.Stats{Records: 10, First: int64(first), Last: int64(last)}
}

func flowlogStats() flowlog.Stats {
	return flowlog.Stats{Kind: "nsg", Versions: []int{2}, Records: 1, Tuples: 3}
}

// detectorCase is crafted conversations that should, or should not, make
// a finding of one kind.
type detectorCase struct {
	name  string
	conns func() []*flows.Conn
	kind  string
	want  bool
}

// runDetectorCases feeds each case to a Summary of its own and checks
// whether a finding of its kind was made.
func runDetectorCases(t *testing.T, cases []detectorCase) {
	t.Helper()
	for _, tt := range cases {
		s := NewSummary(Options{})
		for _, c := range tt.conns() {
			s.AddConn(c)
		}
		got := len(findingsWhere(s, ofKind(tt.kind))) > 0
		if got != tt.want {
			t.Errorf("%s: %s found %v, want %v", tt.name, tt.kind, got, tt.want)
		}
	}
}
