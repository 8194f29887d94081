package flowlog

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// benchBlob is an hour of busy VNet flow log: 60 records of 2000 tuples,
// each connection a B tuple and an E tuple, as real logs have them.
func benchBlob() []byte {
	var b bytes.Buffer
	b.WriteString(`{"records":[`)
	for r := range 60 {
		if r > 0 {
			b.WriteByte(',')
		}
		tuples := make([]string, 2000)
		for i := range tuples {
			c := r*1000 + i/2 // the connection
			if i%2 == 0 {
				tuples[i] = fmt.Sprintf("%d,10.1.%d.%d,203.0.113.%d,%d,443,6,O,B,NX,0,0,0,0",
					1773482400000+int64(r*60000+i), c%200, c%250, c%250, 1024+c)
			} else {
				tuples[i] = fmt.Sprintf("%d,10.1.%d.%d,203.0.113.%d,%d,443,6,O,E,NX,%d,%d,%d,%d",
					1773482400000+int64(r*60000+i), c%200, c%250, c%250, 1024+c, i%50, i*100, i%40, i*900)
			}
		}
		rec := vnetRecord(tuples...)
		b.WriteString(strings.Replace(rec, "10:01:02", fmt.Sprintf("10:%02d:02", r), 1))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkRead measures flow-log JSON throughput on one core (MB/s), from
// bytes to tuples, without building flows.
func BenchmarkRead(b *testing.B) {
	data := benchBlob()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if _, err := NewReader().Read(bytes.NewReader(data), "bench.json", func(*Tuple) { n++ }); err != nil || n != 120000 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkReadAndBuild adds joining the tuples into flows.
func BenchmarkReadAndBuild(b *testing.B) {
	data := benchBlob()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		bld := NewBuilder(func(*Flow) { n++ })
		if _, err := NewReader().Read(bytes.NewReader(data), "bench.json", bld.Add); err != nil {
			b.Fatal(err)
		}
		bld.Flush()
		if n == 0 {
			b.Fatal("no flows")
		}
	}
}
