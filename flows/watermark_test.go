package flows

import (
	"context"
	"fmt"
	"math"
	"testing"
)

// told is what a table handed on, in order: conversations' starts and
// watermarks, each watermark with the time of the packet before which it
// was told (serial tables, batches of one packet).
type told struct {
	start     int64
	watermark bool
	now       int64
}

// watermarkRun runs an input through a Table (workers 0) or a Sharded one
// that tells its watermarks, in batches of batch packets, and after every
// every conversations handed on besides the sweeps.
func watermarkRun(in []input, workers, batch, every int) []told {
	var out []told
	var now int64
	emit := func(c *Conn) { out = append(out, told{start: c.TS}) }
	var tab Builder = NewTable(DefaultConfig, emit)
	if workers > 0 {
		tab = NewSharded(context.Background(), DefaultConfig, workers, emit)
	}
	tab.OnWatermark(func(ts int64) {
		o := told{start: ts, watermark: true}
		if workers == 0 { // told between the packets; a Sharded table tells on a goroutine of its own
			o.now = now
		}
		out = append(out, o)
	})
	if workers == 0 {
		tab.(*Table).watermarkEvery = every
	} else {
		for _, w := range tab.(*Sharded).workers {
			w.t.watermarkEvery = every
		}
	}
	for _, f := range in {
		tab.SetFile(f.name)
		for packets := f.packets; len(packets) > 0; {
			n := min(batch, len(packets))
			now = packets[0].Timestamp
			tab.AddBatch(packets[:n], func() {})
			packets = packets[n:]
		}
	}
	tab.Flush()
	return out
}

// TestWatermarksBoundLaterStarts: on inputs whose packet times never go
// back, no conversation handed on after a watermark starts below it; a
// serial table's watermark is exactly the earliest start of the
// conversations in progress (those handed on later that started before
// the sweep's packet), or that packet's time; a sharded table's
// watermarks rise, and reach the serial table's last. Watermarks come
// after sweeps and after every so many conversations handed on.
func TestWatermarksBoundLaterStarts(t *testing.T) {
	for seed := range uint64(3) {
		in := randomInput(seed)
		for _, run := range []struct{ workers, every int }{{0, watermarkEvery}, {0, 7}, {2, 5}, {3, watermarkEvery}, {8, 3}} {
			workers := run.workers
			name := fmt.Sprintf("random %d, %d workers, every %d", seed, workers, run.every)
			out := watermarkRun(in, workers, 1, run.every)
			// later[i] is the earliest start handed on after out[i].
			later := make([]int64, len(out)+1)
			later[len(out)] = math.MaxInt64
			for i := len(out) - 1; i >= 0; i-- {
				later[i] = later[i+1]
				if !out[i].watermark {
					later[i] = min(later[i], out[i].start)
				}
			}
			marks, last := 0, int64(math.MinInt64)
			for i, o := range out {
				if !o.watermark {
					continue
				}
				marks++
				if o.start < last {
					t.Errorf("%s: watermark %d falls below %d", name, o.start, last)
				}
				last = o.start
				if later[i+1] < o.start {
					t.Fatalf("%s: a conversation starting at %d handed on after watermark %d", name, later[i+1], o.start)
				}
				// Those handed on later that started before the packet
				// were in progress.
				if want := min(later[i+1], o.now); workers == 0 && o.start != want {
					t.Fatalf("%s: watermark %d, want %d: the earliest start in progress, or the time", name, o.start, want)
				}
			}
			if marks < 10 {
				t.Errorf("%s: %d watermarks", name, marks)
			}
			if serial := watermarkRun(in, 0, 1, run.every); workers > 0 && last != lastWatermark(serial) {
				t.Errorf("%s: last watermark %d, the serial table's %d", name, last, lastWatermark(serial))
			}
		}
	}
}

func lastWatermark(out []told) int64 {
	for i := len(out) - 1; i >= 0; i-- {
		if out[i].watermark {
			return out[i].start
		}
	}
	return math.MinInt64
}
