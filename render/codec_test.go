package render

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"testing/iotest"
)

// TestEncodedCodecRoundTrip writes records of every size a run holds
// (empty, small, past a quarter of a chunk, across the end of the buffer a
// run is read through, longer than it) and
// reads them back, whole and through a reader that gives a few bytes at a
// time: the same records, none written over by a later one; every cut of
// the run is io.ErrUnexpectedEOF after the records before it, and a
// length no record has an error, never a panic.
func TestEncodedCodecRoundTrip(t *testing.T) {
	var want []encodedConn
	for i, size := range []int{0, 1, 700, chunk/4 + 1, 2700, chunk / 4, runBuffer - 40, 5, runBuffer, 3*runBuffer + 7} {
		for j := range 4 {
			text := bytes.Repeat([]byte{byte('a' + (i+j)%26)}, size)
			want = append(want, encodedConn{TS: int64(i*1000 - j), UID: fmt.Sprintf("C%017d", i*100+j), Text: text})
		}
	}
	var run bytes.Buffer
	w := bufio.NewWriter(&run)
	enc := &encodedCodec{}
	var ends []int // where each record ends in the run
	for _, e := range want {
		if err := enc.Encode(w, e); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		ends = append(ends, run.Len())
	}

	read := func(r io.Reader) ([]encodedConn, error) {
		records := (&encodedCodec{}).ReadRun(r)
		var got []encodedConn
		for {
			e, ok, err := records.Next()
			if err != nil || !ok {
				return got, err
			}
			got = append(got, e)
		}
	}
	same := func(a, b encodedConn) bool { return a.TS == b.TS && a.UID == b.UID && bytes.Equal(a.Text, b.Text) }
	for _, r := range []io.Reader{bytes.NewReader(run.Bytes()), iotest.HalfReader(bytes.NewReader(run.Bytes()))} {
		got, err := read(r)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, same) {
			t.Fatalf("read back %d records, not the %d written", len(got), len(want))
		}
	}
	start := 0
	for i, end := range ends {
		for _, cut := range []int{start + 1, (start + end) / 2, end - 1} {
			if cut <= start {
				continue
			}
			got, err := read(bytes.NewReader(run.Bytes()[:cut]))
			if !errors.Is(err, io.ErrUnexpectedEOF) || !slices.EqualFunc(got, want[:i], same) {
				t.Fatalf("a run cut at %d, in record %d: %d records and %v; want the %d before it and %v", cut, i, len(got), err, i, io.ErrUnexpectedEOF)
			}
		}
		start = end
	}
	for _, damaged := range [][]byte{
		{2, 1, 'C', 0xff, 0xff, 0xff, 0xff, 0x0f},                       // a text of 4 GiB
		{2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, // a uid's length past 64 bits
	} {
		if _, err := read(bytes.NewReader(damaged)); err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("% x read back with %v, want an error of its own", damaged, err)
		}
	}
}

// FuzzEncodedRun: any bytes read back as a run give records or an error,
// never a panic, and a record's uid and text lie within the bytes.
func FuzzEncodedRun(f *testing.F) {
	var run bytes.Buffer
	w := bufio.NewWriter(&run)
	(&encodedCodec{}).Encode(w, encodedConn{TS: -5, UID: "C1", Text: []byte(`{"a":1}`)})
	(&encodedCodec{}).Encode(w, encodedConn{TS: 1 << 40, UID: "", Text: nil})
	w.Flush()
	f.Add(run.Bytes())
	f.Add([]byte{2, 1, 'C', 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		records := (&encodedCodec{}).ReadRun(iotest.HalfReader(bytes.NewReader(b)))
		total := 0
		for {
			e, ok, err := records.Next()
			if err != nil || !ok {
				return
			}
			if total += len(e.UID) + len(e.Text); total > len(b) {
				t.Fatalf("records of %d bytes from %d", total, len(b))
			}
		}
	})
}
