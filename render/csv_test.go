package render

import (
	"bytes"
	"encoding/csv"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/benchdata"
)

// csvByEncodingCSV is a record as the CSV format wrote it before it had an
// appender of its own: a row of strings through encoding/csv.
func csvByEncodingCSV(t *testing.T, c *flows.Conn) []byte {
	t.Helper()
	var row []string
	var items listItems
	for i := range connFields {
		f := &connFields[i]
		if f.name == "ts" {
			row = append(row, time.Unix(0, c.TS).UTC().Format(rfc3339Micro))
			continue
		}
		val, ok := appendPlain(nil, f, c, csvText, ";", &items)
		if !ok {
			val = nil
		}
		row = append(row, string(val))
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(row); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return buf.Bytes()
}

// TestCSVMatchesEncodingCSV compares the CSV appender's records with
// encoding/csv's, on the demo evidence and on conversations whose texts
// need quoting.
func TestCSVMatchesEncodingCSV(t *testing.T) {
	conns := benchdata.DemoConns(t)
	for _, service := range []string{`say "hi"`, "a,b", " lead", "\u00a0nbsp", `\.`, "", "x\ry"} {
		c := *conns[0]
		c.Service, c.History = service, service
		conns = append(conns, &c)
	}
	f := newCSVFormat()
	for _, c := range conns {
		if got, want := f.appendRecord(nil, c), csvByEncodingCSV(t, c); !bytes.Equal(got, want) {
			t.Errorf("uid %s:\n got %q\nwant %q", c.UID, got, want)
		}
	}
}

// FuzzCSVField compares one field's bytes with encoding/csv's.
func FuzzCSVField(f *testing.F) {
	for _, s := range []string{"", "plain", `"`, `a"b""c`, ",", "\r\n", " x", "\tx", `\.`, `\.x`, "\u2028", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, field string) {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Write([]string{field, "end"})
		w.Flush()
		want := buf.Bytes()
		got := append(append(appendCSVField(nil, []byte(field)), ",end"...), '\n')
		if !bytes.Equal(got, want) {
			t.Errorf("%q:\n got %q\nwant %q", field, got, want)
		}
	})
}

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
		if got, want := string(appendRFC3339Micro(nil, ns)), time.Unix(0, ns).UTC().Format(rfc3339Micro); got != want {
			t.Errorf("%d: %s, want %s", ns, got, want)
		}
	}
}
