package flowlog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead feeds arbitrary bytes to the reader: it must not panic, every
// error must be a *FormatError at an offset inside the input, and tuples
// must only come from records it counts.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"records":[` + vnetRecord("1773482400123,10.1.0.4,203.0.113.10,50000,443,6,O,B,NX,0,0,0,0") + `]}`))
	f.Add([]byte(nsgRecord(2, "1773482401,192.0.2.9,10.1.0.4,40000,3389,T,I,D,B,,,,") + "\n" + nsgRecord(1, "1,1.2.3.4,5.6.7.8,1,2,U,O,A")))
	f.Add([]byte(",{\"time\":\"t\",\"category\":\"NetworkSecurityGroupFlowEvent\"}]}"))
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil && len(data) < 32<<10 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var n int
		st, err := NewReader().Read(bytes.NewReader(data), "fuzz.json", func(*Tuple) { n++ })
		if n != st.Tuples {
			t.Fatalf("emitted %d tuples, counted %d", n, st.Tuples)
		}
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FormatError", err, err)
			}
			if fe.Offset < 0 || fe.Offset > int64(len(data)) {
				t.Fatalf("offset %d outside the %d-byte input", fe.Offset, len(data))
			}
		}
	})
}

// FuzzTuple parses arbitrary tuple text for every log kind.
func FuzzTuple(f *testing.F) {
	f.Add("1773482400123,10.1.0.4,203.0.113.10,50000,443,6,O,E,NX,1,2,3,4")
	f.Add("1773482401,192.0.2.9,10.1.0.4,40000,3389,T,I,D,B,,,,")
	f.Add("1,::1,::2,1,2,U,O,A")
	logs := []*Log{{Kind: "nsg", Version: 1}, {Kind: "nsg", Version: 2}, {Kind: "vnet", Version: 4}}
	f.Fuzz(func(t *testing.T, s string) {
		for _, l := range logs {
			var tp Tuple
			if err := parseTuple([]byte(s), l, &tp); err == nil && (!tp.Src.IsValid() || !tp.Dst.IsValid()) {
				t.Fatalf("accepted %q with invalid addresses", s)
			}
		}
	})
}

// FuzzSplitFields checks the word-at-a-time comma search against
// bytes.Split.
func FuzzSplitFields(f *testing.F) {
	for _, s := range []string{"", ",", "a", "a,b", ",,,,", "1773482401,192.0.2.9,10.1.0.4,40000,3389,T,I,D,B,,,,",
		"1773482400123,10.1.0.4,203.0.113.10,50000,443,6,O,E,NX,1,2,3,4", "a,b,c,d,e,f,g,h,i,j,k,l,m,n", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,",
		",,,,,,,,,,,,,,,,,,,,", "\xac,-,\x00\x2c\x2d", "12345678,", "1234567,8"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got [14][]byte
		n := splitFields(b, &got)
		want := bytes.Split(b, []byte(","))
		if len(want) > len(got) {
			if n != len(got)+1 {
				t.Fatalf("%q: %d fields, want %d (more than fit)", b, n, len(got)+1)
			}
			want = want[:len(got)]
		} else if n != len(want) {
			t.Fatalf("%q: %d fields, want %d", b, n, len(want))
		}
		for i, w := range want {
			if !bytes.Equal(got[i], w) {
				t.Fatalf("%q: field %d is %q, want %q", b, i, got[i], w)
			}
		}
	})
}
