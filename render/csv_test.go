package render

import (
	"bytes"
	"encoding/csv"
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
	for i := range connFields {
		f := &connFields[i]
		if f.name == "ts" {
			row = append(row, time.Unix(0, c.TS).UTC().Format(rfc3339Micro))
			continue
		}
		val, ok := appendPlain(nil, f, c, csvText, ";")
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
		if got, want := f.appendRecord(nil, c, nil), csvByEncodingCSV(t, c); !bytes.Equal(got, want) {
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
