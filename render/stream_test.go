package render

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/netfx/netfx/flows"
)

// streamed encodes conns, added in the order given, telling the writer
// after each record i in marks that no later record starts below
// marks[i]; pressure comes once pressAfter records are added.
func streamed(t *testing.T, format string, conns []*flows.Conn, marks map[int]int64, pressAfter, encoders int) (string, *ConnWriter) {
	t.Helper()
	return streamedWith(t, format, conns, marks, pressAfter, encoders, heapLimit, 1)
}

// streamedWith streams as streamed does, with a heap of at most heap
// bytes and writers goroutines to write held answers out.
func streamedWith(t *testing.T, format string, conns []*flows.Conn, marks map[int]int64, pressAfter, encoders, heap, writers int) (string, *ConnWriter) {
	t.Helper()
	var buf bytes.Buffer
	w, err := newConnWriter(&buf, format, 7000, 28000)
	if err != nil {
		t.Fatal(err)
	}
	w.heapLimit, w.writers = heap, writers
	var added atomic.Int64
	w.pressure = func() bool { return added.Load() >= int64(pressAfter) }
	w.Encoders(encoders)
	for i, c := range conns {
		added.Add(1)
		w.Add(c)
		if ts, ok := marks[i]; ok {
			w.Watermark(ts)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String(), w
}

// finishing returns conns in an order a flow table could finish them in
// (each no later than its start plus up to lag records), and watermarks
// that hold: after each record, the earliest start among those still to
// come.
func finishing(conns []*flows.Conn, lag int, seed uint64) ([]*flows.Conn, map[int]int64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	type pending struct {
		c   *flows.Conn
		due int
	}
	var live []pending
	var out []*flows.Conn
	for i, c := range conns {
		live = append(live, pending{c, i + rng.IntN(lag+1)})
		for j := 0; j < len(live); {
			if live[j].due <= i {
				out = append(out, live[j].c)
				live = slices.Delete(live, j, j+1)
				continue
			}
			j++
		}
	}
	for _, p := range live {
		out = append(out, p.c)
	}
	return out, watermarks(out, rng)
}

// watermarks returns watermarks that hold for conns added in order:
// after about one record in ten, the earliest start among those to come.
func watermarks(conns []*flows.Conn, rng *rand.Rand) map[int]int64 {
	marks := map[int]int64{}
	earliest := int64(1 << 62)
	for i := len(conns) - 1; i > 0; i-- {
		earliest = min(earliest, conns[i].TS)
		if rng.IntN(10) == 0 {
			marks[i-1] = earliest
		}
	}
	return marks
}

// TestStreamingMatchesSorted: a writer that streams under pressure, at
// watermarks that hold, writes the same bytes as one that sorts at the
// end, in every format, whether pressure comes at once or late, with or
// without encoders; and when a record comes below a watermark (packet
// times that went back), it is written, late, and counted.
func TestStreamingMatchesSorted(t *testing.T) {
	conns := sampleConns(3000)
	order, marks := finishing(conns, 200, 1)
	if len(marks) < 100 {
		t.Fatalf("only %d watermarks", len(marks))
	}
	for _, format := range ConnFormats {
		want := encode(t, format, conns)
		for _, run := range []struct{ pressAfter, encoders int }{{0, 1}, {1500, 1}, {700, 3}, {len(order) + 1, 2}} {
			got, w := streamed(t, format, order, marks, run.pressAfter, run.encoders)
			if got != want {
				t.Errorf("%s, pressure after %d records, %d encoders: differs from the sorted output at byte %d", format, run.pressAfter, run.encoders, firstDiff(got, want))
			}
			if streams := w.stream != nil; streams != (run.pressAfter < len(order)) {
				t.Errorf("%s, pressure after %d records: streams %v", format, run.pressAfter, streams)
			}
			if n := w.OutOfOrder(); n != 0 {
				t.Errorf("%s: %d records out of order", format, n)
			}
		}
	}

	// The earliest record comes last, after watermarks above it.
	late := slices.DeleteFunc(slices.Clone(order), func(c *flows.Conn) bool { return c == conns[0] })
	lateMarks := watermarks(late, rand.New(rand.NewPCG(2, 3)))
	late = append(late, conns[0])
	got, w := streamed(t, "ndjson", late, lateMarks, 0, 1)
	if n := w.OutOfOrder(); n != 1 {
		t.Errorf("%d records counted out of order, want 1", n)
	}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	at := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, conns[0].UID) })
	if len(lines) != len(conns) || at < len(lines)/2 {
		t.Errorf("%d lines, the late record at line %d: want %d, it among the last", len(lines), at, len(conns))
	}
}

// TestStreamingStalls: a conversation that lasts holds the watermarks at
// its start; the records behind it collect in sorters again, each
// becoming a source once the watermark passes it, and the output is
// still the sorted one, in every format.
func TestStreamingStalls(t *testing.T) {
	conns := sampleConns(4000)
	for _, format := range ConnFormats {
		want := encode(t, format, conns)
		// Records 100, 1500 and 2500 finish late: each after the
		// records of the next 1000.
		var order []*flows.Conn
		late := map[int]int{100: 1100, 1500: 2500, 2500: 3500}
		for i, c := range conns {
			if _, ok := late[i]; !ok {
				order = append(order, c)
			}
			for l, at := range late {
				if at == i {
					order = append(order, conns[l])
				}
			}
		}
		marks := watermarks(order, rand.New(rand.NewPCG(4, 5)))
		got, w := streamedWith(t, format, order, marks, 0, 1, 20000, 2)
		if got != want {
			t.Errorf("%s: differs from the sorted output at byte %d", format, firstDiff(got, want))
		}
		if n := w.stream.collections; n < 3 {
			t.Errorf("%s: %d collections, want one a stall at least", format, n)
		}
		if n := w.OutOfOrder(); n != 0 {
			t.Errorf("%s: %d records out of order", format, n)
		}
	}
}

// TestStreamingManySources: twenty long conversations, started first and
// ended one after another, each stall the watermarks in turn; the
// collections behind them become as many sources as are merged at once,
// and past that records collect until the end. The output is still the
// sorted one.
func TestStreamingManySources(t *testing.T) {
	conns := sampleConns(3000)
	const long, between = 20, 120
	var order []*flows.Conn
	for i, c := range conns[long:] {
		order = append(order, c)
		if k := i / between; i%between == between-1 && k < long {
			order = append(order, conns[k])
		}
	}
	for _, c := range conns[:long] {
		if !slices.Contains(order, c) {
			order = append(order, c)
		}
	}
	marks := watermarks(order, rand.New(rand.NewPCG(6, 7)))
	want := encode(t, "ndjson", conns)
	got, w := streamedWith(t, "ndjson", order, marks, 0, 1, 20000, 2)
	if got != want {
		t.Errorf("differs from the sorted output at byte %d", firstDiff(got, want))
	}
	// The main sorter and fifteen collections make sixteen sources: the
	// sixteenth collection takes the records of the last five stalls.
	if n := w.stream.collections; n != maxSources {
		t.Errorf("%d collections, want %d: the stalls past the bound in the last", n, maxSources)
	}
}

// TestStreamingCompacts: records left behind a watermark do not keep the
// arena chunks of the records written around them, and their texts
// survive being moved.
func TestStreamingCompacts(t *testing.T) {
	conns := sampleConns(60000) // about 30 MB of NDJSON: past the compaction's slack
	stragglers := map[int]bool{}
	for i := 5; i < len(conns); i += 7919 {
		stragglers[i] = true
	}
	var order []*flows.Conn
	marks := map[int]int64{}
	for i, c := range conns {
		if !stragglers[i] {
			order = append(order, c)
			marks[len(order)-1] = c.TS - 1 // the stragglers hold nothing back: they break the watermarks
		}
	}
	// Stragglers are written late, with their texts intact.
	var late []string
	for i := range stragglers {
		order = append(order, conns[i])
		late = append(late, conns[i].UID)
	}
	got, w := streamed(t, "ndjson", order, marks, 0, 1)
	if w.arena.chunk == nil || cap(w.arena.chunk) > 8<<20 {
		t.Errorf("arena chunk of %d bytes", cap(w.arena.chunk))
	}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != len(conns) {
		t.Fatalf("%d lines for %d records", len(lines), len(conns))
	}
	if int(w.OutOfOrder()) != len(stragglers) {
		t.Errorf("%d out of order, want %d", w.OutOfOrder(), len(stragglers))
	}
	for _, uid := range late {
		if !strings.Contains(got, fmt.Sprintf(`"uid":"%s"`, uid)) {
			t.Errorf("straggler %s lost", uid)
		}
	}
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
