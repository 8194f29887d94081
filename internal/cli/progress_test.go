package cli

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func TestProgress(t *testing.T) {
	input := strings.Repeat("x", 1<<16)
	for _, tt := range []struct {
		name    string
		p       *progress
		wantBar bool
	}{
		{"not a terminal", newProgress(&bytes.Buffer{}, false), false},
		{"short run", &progress{enabled: true, total: int64(len(input)), start: time.Now()}, false},
		{"long run", &progress{enabled: true, total: int64(len(input)), start: time.Now().Add(-2 * progressDelay)}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			tt.p.stderr = &stderr
			if _, err := io.Copy(io.Discard, tt.p.Wrap(strings.NewReader(input))); err != nil {
				t.Fatal(err)
			}
			tt.p.finish()
			if got := strings.Contains(stderr.String(), "reading"); got != tt.wantBar {
				t.Errorf("bar shown %v, want %v: %q", got, tt.wantBar, stderr.String())
			}
			if _, err := io.WriteString(tt.p, "netfx: message\n"); err != nil || !strings.HasSuffix(stderr.String(), "netfx: message\n") {
				t.Errorf("message not passed on: %q", stderr.String())
			}
		})
	}
}
