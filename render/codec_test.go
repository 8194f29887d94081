package render

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
)

// TestEncodedCodecRoundTrip writes records of every size a run holds
// (empty, small, past a quarter of a decoding chunk, more than a chunk
// in all) and reads them back: the same records, none written over by a
// later one; and every cut of the run is an error, not a panic.
func TestEncodedCodecRoundTrip(t *testing.T) {
	var want []encodedConn
	for i, size := range []int{0, 1, 700, decodeChunk/4 + 1, 2700, decodeChunk / 4, 5, decodeChunk} {
		for j := range 4 {
			text := bytes.Repeat([]byte{byte('a' + (i+j)%26)}, size)
			want = append(want, encodedConn{TS: int64(i*1000 - j), UID: fmt.Sprintf("C%017d", i*100+j), Text: text})
		}
	}
	var run bytes.Buffer
	w := bufio.NewWriter(&run)
	enc := (&encodedCodec{}).ForRun()
	var ends []int // where each record ends in the run
	for _, e := range want {
		if err := enc.Encode(w, e); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		ends = append(ends, run.Len())
	}

	read := func(b []byte) ([]encodedConn, error) {
		dec := (&encodedCodec{}).ForRun()
		r := bufio.NewReader(bytes.NewReader(b))
		var got []encodedConn
		for {
			e, err := dec.Decode(r)
			if err == io.EOF {
				return got, nil
			}
			if err != nil {
				return got, err
			}
			got = append(got, e)
		}
	}
	got, err := read(run.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b encodedConn) bool { return a.TS == b.TS && a.UID == b.UID && bytes.Equal(a.Text, b.Text) }
	if !slices.EqualFunc(got, want, same) {
		t.Fatalf("read back %d records, not the %d written", len(got), len(want))
	}
	start := 0
	for i, end := range ends {
		for _, cut := range []int{start + 1, (start + end) / 2, end - 1} {
			if cut <= start {
				continue
			}
			got, err := read(run.Bytes()[:cut])
			if !errors.Is(err, io.ErrUnexpectedEOF) || !slices.EqualFunc(got, want[:i], same) {
				t.Fatalf("a run cut at %d, in record %d: %d records and %v; want the %d before it and %v", cut, i, len(got), err, i, io.ErrUnexpectedEOF)
			}
		}
		start = end
	}
	huge := []byte{2, 1, 'C', 0xff, 0xff, 0xff, 0xff, 0x0f}
	if _, err := read(huge); err == nil {
		t.Error("a record of 4 GiB read back without an error")
	}
}
