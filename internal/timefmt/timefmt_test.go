package timefmt

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestRFC3339Micro compares the CSV's times with time.Time's Format over
// the whole range of int64 nanoseconds: its ends, days around leap years
// and the epoch, and random values.
func TestRFC3339Micro(t *testing.T) {
	values := []int64{math.MinInt64, math.MaxInt64, 0, -1, 1, 999, 1000, -1000, -1001, 86400e9 - 1, -86400e9}
	for _, day := range []string{"1900-02-28", "1900-03-01", "2000-02-29", "2000-03-01", "2100-02-28", "2100-03-01", "1969-12-31", "2262-04-11", "1677-09-22"} {
		d, err := time.Parse(time.DateOnly, day)
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, d.UnixNano(), d.UnixNano()-1, d.Add(86399*time.Second+999999999).UnixNano())
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		values = append(values, int64(r.Uint64()))
	}
	for _, ns := range values {
		if got, want := string(AppendRFC3339Micro(nil, ns)), time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000Z07:00"); got != want {
			t.Errorf("%d: %s, want %s", ns, got, want)
		}
	}
}

func BenchmarkAppendRFC3339Micro(b *testing.B) {
	buf := make([]byte, 0, 32)
	for i := 0; b.Loop(); i++ {
		buf = AppendRFC3339Micro(buf[:0], 1773482400123456789+int64(i)*1e9)
	}
}
