package pcapread

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/netfx/netfx/internal/floodgen"
)

// corpusDir is the shared corpus of real captures, beside the project root.
const corpusDir = "../../shared/corpus/pcap"

func corpus(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("corpus not found at %s (it sits beside the project root); skipping", corpusDir)
	}
	return corpusDir
}

// readAll reads every packet of a capture held in memory.
func readAll(t testing.TB, data []byte) (n int, stats Stats, err error) {
	r, err := NewReader(bytes.NewReader(data), "test.pcap")
	if err != nil {
		return 0, Stats{}, err
	}
	for r.Next() {
		n++
	}
	return n, r.Stats(), r.Err()
}

// pcapFile builds a pcap file from frames.
func pcapFile(t testing.TB, link layers.LinkType, frames ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, link); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000+int64(i), 0), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// tcpFrame is an Ethernet/IPv4/TCP frame with n payload bytes.
func tcpFrame(n int) []byte {
	b := make([]byte, 14+20+20+n)
	binary.BigEndian.PutUint16(b[12:14], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(40+n))
	ip[9] = 6
	copy(ip[12:16], []byte{10, 0, 0, 1})
	copy(ip[16:20], []byte{10, 0, 0, 2})
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:2], 40000)
	binary.BigEndian.PutUint16(tcp[2:4], 443)
	tcp[12] = 5 << 4
	tcp[13] = FlagACK
	return b
}

func TestDamagedCorpusCaptures(t *testing.T) {
	dir := corpus(t)
	tests := []struct {
		file    string
		packets int64
		want    string
	}{
		{"suricata__bug-1450-04_tls_DER-incomplete-header.pcap", 6, "record 7 at offset 5035: record claims 4325376"},
		{"suricata__pgsql-5000-query-results_input.pcap", 785, "record 786 at offset 3276005: file is cut short"},
		{"gopacket__le_test901.pcapng", 1, "unsupported pcapng section version 2.0"},
		{"ndpi__fuzz-2021-10-13.pcap", 0, "record 1 at offset 24"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r, err := Open(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for r.Next() {
			}
			var fe *FormatError
			if !errors.As(r.Err(), &fe) {
				t.Fatalf("Err() = %v, want a *FormatError", r.Err())
			}
			if !strings.Contains(fe.Error(), tt.file) || !strings.Contains(fe.Error(), tt.want) {
				t.Errorf("error %q does not name the file and say %q", fe, tt.want)
			}
			if got := r.Stats().Records; got != tt.packets {
				t.Errorf("read %d records before the damage, want %d", got, tt.packets)
			}
		})
	}
}

// TestReadAheadOnCorpus: every corpus capture, damaged ones included,
// reads the same with ReadAhead as without.
func TestReadAheadOnCorpus(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpus(t), "*.pcap*"))
	if len(files) == 0 {
		t.Skip("no captures in the corpus")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) { checkReadAhead(t, data) })
	}
}

// TestReadAheadStopsOnClose: closing a Reader that reads (or loads) ahead
// before its end stops its goroutines, which give the read buffer back.
func TestReadAheadStopsOnClose(t *testing.T) {
	frames := make([][]byte, 20000)
	for i := range frames {
		frames[i] = tcpFrame(i % 1000)
	}
	data := pcapFile(t, layers.LinkTypeEthernet, frames...)
	before := runtime.NumGoroutine()
	for i := range 10 {
		r, err := NewReader(bytes.NewReader(data), "test.pcap")
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			r.ReadAhead(context.Background())
		} else {
			r.LoadAhead(context.Background())
		}
		r.Next()
		r.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left running after Close", n-before)
	}
}

func TestCraftedFiles(t *testing.T) {
	good := pcapFile(t, layers.LinkTypeEthernet, tcpFrame(10), tcpFrame(20))
	huge := bytes.Clone(good)
	binary.LittleEndian.PutUint32(huge[24+8:], 0xffffffff) // first record claims 4 GiB
	cut := good[:len(good)-5]
	shortLength := bytes.Clone(good)
	binary.LittleEndian.PutUint32(shortLength[24+12:], 10) // original length 10, below the captured one
	second := 24 + 16 + len(tcpFrame(10))                  // where the second record starts
	ng := []byte{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1c, 0, 0, 0}
	ngHuge := append(bytes.Clone(ng), 0x06, 0, 0, 0, 0xf0, 0xff, 0xff, 0x7f) // a 2 GiB block
	ngBadTrailer := bytes.Clone(ng)
	ngBadTrailer[24] = 0x20
	tests := []struct {
		name    string
		data    []byte
		packets int
		wantErr error
	}{
		{"clean", good, 2, nil},
		{"empty", nil, 0, ErrEmpty},
		{"random bytes", []byte("this is not a capture at all"), 0, ErrUnsupported},
		{"netmon", []byte("GMBU\x00\x02rest"), 0, ErrUnsupported},
		{"4 GiB record", huge, 0, nil},
		{"original length below the captured one", shortLength, 2, nil},
		{"cut in a packet", cut, 1, ErrTruncated},
		{"cut after a record's header", good[:second+16], 1, ErrTruncated},
		{"cut in a record's header", good[:second+5], 1, ErrTruncated},
		{"header only", good[:24], 0, nil},
		{"pcapng section only", ng, 0, nil},
		{"pcapng 2 GiB block", ngHuge, 0, nil},
		{"pcapng bad trailer", ngBadTrailer, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, _, err := readAll(t, tt.data)
			if n != tt.packets {
				t.Errorf("read %d packets, want %d", n, tt.packets)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			var fe *FormatError
			if err != nil && !errors.As(err, &fe) {
				t.Errorf("error %v is not a *FormatError", err)
			}
			if strings.Contains(tt.name, "GiB") || strings.Contains(tt.name, "trailer") {
				if err == nil {
					t.Errorf("no error for %s", tt.name)
				}
			}
		})
	}
}

// TestNoAllocationsPerPacket checks the header path allocates nothing per
// packet once the reader is warm.
func TestNoAllocationsPerPacket(t *testing.T) {
	frames := make([][]byte, 2000)
	for i := range frames {
		frames[i] = tcpFrame(i % 1400)
	}
	data := pcapFile(t, layers.LinkTypeEthernet, frames...)
	r, err := NewReader(bytes.NewReader(data), "allocs.pcap")
	if err != nil {
		t.Fatal(err)
	}
	r.Next()
	allocs := testing.AllocsPerRun(1000, func() {
		if !r.Next() {
			t.Fatal("ran out of packets")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per packet, want 0", allocs)
	}
}

// tcpCapture is a pcap file of n Ethernet TCP frames whose payloads grow
// from 0 to below size bytes, over and over.
func tcpCapture(tb testing.TB, n, size int) []byte {
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = tcpFrame(i % size)
	}
	return pcapFile(tb, layers.LinkTypeEthernet, frames...)
}

func BenchmarkReader(b *testing.B) {
	data := tcpCapture(b, 10000, 1460)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		n, _, err := readAll(b, data)
		if err != nil || n != 10000 {
			b.Fatal(n, err)
		}
	}
}

// TestFirstAndLastAreEarliestAndLatest: a capture need not be in time
// order; its first and last timestamps are the earliest and latest, as
// capinfos gives them.
func TestFirstAndLastAreEarliestAndLatest(t *testing.T) {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	frame := tcpFrame(10)
	for _, s := range []int64{5, 1, 9, 3} {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000+s, 0), CaptureLength: len(frame), Length: len(frame)}
		if err := w.WritePacket(ci, frame); err != nil {
			t.Fatal(err)
		}
	}
	_, st, err := readAll(t, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(1700000001e9); st.First != want {
		t.Errorf("first %d, want %d", st.First, want)
	}
	if want := int64(1700000009e9); st.Last != want {
		t.Errorf("last %d, want %d", st.Last, want)
	}
}

// TestCraftedTimesAndInterfaces: a pcap record whose microseconds are a
// second or more is counted; a pcapng section with more interfaces than
// any capture has ends with a FormatError, the packets before it kept.
func TestCraftedTimesAndInterfaces(t *testing.T) {
	var b bytes.Buffer
	b.Write(floodgen.RawPcapHeader())
	for _, usec := range []uint32{999_999, 1_000_000, 4_000_000_000} {
		rec := make([]byte, 16+20)
		binary.LittleEndian.PutUint32(rec[0:], 1773482400)
		binary.LittleEndian.PutUint32(rec[4:], usec)
		binary.LittleEndian.PutUint32(rec[8:], 20)
		binary.LittleEndian.PutUint32(rec[12:], 20)
		rec[16] = 0x45
		b.Write(rec)
	}
	r, err := NewReader(&b, "usec.pcap")
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
	}
	if st := r.Stats(); r.Err() != nil || st.Records != 3 || st.BadFractions != 2 {
		t.Errorf("%d records, %d bad fractions, %v", st.Records, st.BadFractions, r.Err())
	}

	var ng bytes.Buffer
	block := func(typ uint32, body []byte) {
		n := uint32(12 + len(body))
		binary.Write(&ng, binary.LittleEndian, typ)
		binary.Write(&ng, binary.LittleEndian, n)
		ng.Write(body)
		binary.Write(&ng, binary.LittleEndian, n)
	}
	shb := make([]byte, 16)
	binary.LittleEndian.PutUint32(shb[0:], 0x1A2B3C4D)
	binary.LittleEndian.PutUint16(shb[4:], 1)
	binary.LittleEndian.PutUint64(shb[8:], ^uint64(0))
	block(0x0A0D0D0A, shb)
	idb := make([]byte, 8)
	binary.LittleEndian.PutUint16(idb[0:], 101)
	binary.LittleEndian.PutUint32(idb[4:], 65535)
	for range maxInterfaces + 1 {
		block(1, idb)
	}
	r, err = NewReader(&ng, "idb.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
	}
	var fe *FormatError
	if !errors.As(r.Err(), &fe) || !strings.Contains(r.Err().Error(), "interfaces") {
		t.Errorf("a section of %d interfaces: %v", maxInterfaces+1, r.Err())
	}
}

// BenchmarkFramerWalk checks the record headers of a classic pcap file of
// small records, as the framer does ahead of decoding.
func BenchmarkFramerWalk(b *testing.B) {
	data := tcpCapture(b, 10000, 200)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		f := newPcapFramer(nil, "bench.pcap")
		for p := data; len(p) > 0; {
			chunk := p[:min(len(p), 4096)]
			if f.walk(chunk) != len(chunk) {
				b.Fatal(f.err)
			}
			f.off += int64(len(chunk))
			p = p[len(chunk):]
		}
		if f.record != 10000 {
			b.Fatal(f.record)
		}
	}
}

// TestBigEndianPcap: a classic pcap file written big-endian (by a
// big-endian host) reads as the same file written little-endian, with
// its bad sub-second fields and its damage counted alike, serially and
// ahead.
func TestBigEndianPcap(t *testing.T) {
	sizes := make([]int, 3000)
	for i := range sizes {
		sizes[i] = 54 + i%700
	}
	little, offsets := pcapRecords(sizes, nil)
	binary.LittleEndian.PutUint32(little[offsets[7]+4:], 1_000_000) // a second or more of microseconds
	damaged := bytes.Clone(little)
	binary.LittleEndian.PutUint32(damaged[offsets[2500]+8:], maxCaptureLength+1)
	for name, le := range map[string][]byte{"whole": little, "damaged": damaged} {
		be := bytes.Clone(le)
		swap32 := func(at int) { binary.BigEndian.PutUint32(be[at:], binary.LittleEndian.Uint32(le[at:])) }
		swap16 := func(at int) { binary.BigEndian.PutUint16(be[at:], binary.LittleEndian.Uint16(le[at:])) }
		swap32(0)
		swap16(4)
		swap16(6)
		for _, at := range []int{8, 12, 16, 20} {
			swap32(at)
		}
		for _, off := range offsets {
			for at := off; at < off+16; at += 4 {
				swap32(at)
			}
		}
		for _, how := range []readMode{serially, framedAhead} {
			want, got := readDigest(le, how, false), readDigest(be, how, false)
			if got != want {
				t.Errorf("%s, read %s: big-endian\n%s\nlittle-endian\n%s", name, how, got, want)
			}
			if !strings.Contains(want, "BadFractions:1 ") {
				t.Errorf("%s, read %s: the bad sub-second field was not counted:\n%s", name, how, want)
			}
		}
	}
}
