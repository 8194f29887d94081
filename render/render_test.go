package render

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/benchdata"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func sampleConns(n int) []*flows.Conn {
	conns := make([]*flows.Conn, n)
	for i := range conns {
		conns[i] = &flows.Conn{
			TS: 1700000000_000000000 + int64(i)*1e6, Duration: int64(i%3) * 1500000, UID: fmt.Sprintf("C%017d", i),
			Orig: netip.MustParseAddr("10.0.0.1"), Resp: netip.MustParseAddr("2001:db8::1"), OrigPort: uint16(40000 + i), RespPort: 443,
			Proto: 6, ConnState: "SF", History: "ShADadFf", OrigPkts: 5, RespPkts: 4, OrigIPBytes: 400, RespIPBytes: 900,
			OrigBytes: 100, RespBytes: 600, CommunityID: "1:abc+/=", Files: []string{"a.pcap", "evil\x1b[31m\tname,;.pcap"},
			FirstRecord: int64(i + 1), NumVLANs: uint8(i % 3), VLAN: 10, InnerVLAN: 20,
		}
	}
	return conns
}

func encode(t *testing.T, format string, conns []*flows.Conn) string {
	t.Helper()
	return encodeWith(t, format, conns, sortMemory)
}

// encodeWith encodes with a sorter of memory bytes, four times that once
// it has spilled spilledToGrow runs.

func encodeWith(t *testing.T, format string, conns []*flows.Conn, memory int) string {
	t.Helper()
	return encodeOn(t, format, conns, memory, 1)
}

// encodeOn encodes as encodeWith does, on encoders of the writer's own.
func encodeOn(t *testing.T, format string, conns []*flows.Conn, memory, encoders int) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := newConnWriter(&buf, format, memory, 4*memory)
	if err != nil {
		t.Fatal(err)
	}
	w.Encoders(encoders)
	for _, c := range conns {
		w.Add(c)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestConnWriterOrders checks that records added in any order come out by
// ts then uid, the same whether they fit in memory or spill to temporary
// files (in small runs, then larger ones) and whether the caller or
// encoders encode them, in every format.
func TestConnWriterOrders(t *testing.T) {
	conns := sampleConns(1000)
	shuffled := slices.Clone(conns)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, format := range ConnFormats {
		want := encode(t, format, conns)
		if got := encode(t, format, shuffled); got != want {
			t.Errorf("%s: shuffled records not put in order", format)
		}
		if got := encodeWith(t, format, shuffled, 7000); got != want {
			t.Errorf("%s: output differs when the records spill", format)
		}
		for _, encoders := range []int{2, 5} {
			if got := encodeOn(t, format, shuffled, 7000, encoders); got != want {
				t.Errorf("%s: output differs with %d encoders", format, encoders)
			}
		}
	}
	// Records alike in time and uid (a conversation log read twice, or
	// edited) come out in one order whatever order the encoders add them.
	twins := sampleConns(600)
	for i, c := range twins {
		c.UID, c.TS = twins[0].UID, twins[0].TS+int64(i%3)
	}
	want := encodeWith(t, "ndjson", twins, 7000)
	for range 5 {
		if got := encodeOn(t, "ndjson", twins, 7000, 4); got != want {
			t.Fatal("records alike in ts and uid came out in another order")
		}
	}
	if strings.Index(encode(t, "ndjson", shuffled), conns[0].UID) > 100 {
		t.Error("the earliest record is not first")
	}
}

// TestArenaChunksAreFilledAgain: once the sorter has written the runs of
// a chunk's records, the chunk is filled with new records, and every
// record still comes out as it was encoded, with encoders too.
func TestArenaChunksAreFilledAgain(t *testing.T) {
	conns := sampleConns(24000) // 6–8 MB in each format: several chunks
	shuffled := slices.Clone(conns)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, format := range ConnFormats {
		want := encode(t, format, conns)
		var buf bytes.Buffer
		w, err := newConnWriter(&buf, format, 64<<10, 64<<10)
		if err != nil {
			t.Fatal(err)
		}
		chunks, filled := map[*byte]bool{}, 0
		var last *byte
		for _, c := range shuffled {
			w.Add(c)
			if chunk := unsafe.SliceData(w.arena.chunk); chunk != last {
				chunks[chunk], last = true, chunk
				filled++
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if buf.String() != want {
			t.Errorf("%s: records changed when their chunks were filled again", format)
		}
		if len(chunks) >= filled || filled < 4 {
			t.Errorf("%s: %d chunks filled, %d of them new: none was filled again", format, filled, len(chunks))
		}
		if got := encodeOn(t, format, shuffled, 64<<10, 3); got != want {
			t.Errorf("%s: records changed with encoders", format)
		}
	}
}

// TestNDJSONRoundTrip decodes every line with encoding/json.
func TestNDJSONRoundTrip(t *testing.T) {
	conns := sampleConns(5)
	out := encode(t, "ndjson", conns)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(conns) {
		t.Fatalf("%d lines for %d records", len(lines), len(conns))
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, line)
		}
		c := conns[i]
		if m["uid"] != c.UID || m["id.resp_h"] != "2001:db8::1" || m["proto"] != "tcp" || m["history"] != "ShADadFf" {
			t.Errorf("line %d: %v", i, m)
		}
		if _, has := m["duration"]; has != (c.Duration > 0) {
			t.Errorf("line %d: duration present %v, want %v (Zeek leaves it out when 0)", i, has, c.Duration > 0)
		}
		if files := m["files"].([]any); files[1] != c.Files[1] {
			t.Errorf("file name %q did not survive JSON: %q", c.Files[1], files[1])
		}
		if strings.ContainsAny(line, "\x1b\t") {
			t.Errorf("control characters reached the output: %q", line)
		}
	}
}

// TestCSVRoundTrip reads the CSV back with encoding/csv.
func TestCSVRoundTrip(t *testing.T) {
	conns := sampleConns(3)
	rows, err := csv.NewReader(strings.NewReader(encode(t, "csv", conns))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || strings.Join(rows[0], ",") != strings.Join(FieldNames(), ",") {
		t.Fatalf("header %v, %d rows", rows[0], len(rows))
	}
	col := map[string]int{}
	for i, n := range rows[0] {
		col[n] = i
	}
	if rows[1][col["uid"]] != conns[0].UID || rows[1][col["duration"]] != "" || rows[2][col["duration"]] != "0.001500" {
		t.Errorf("rows %v", rows[1:])
	}
}

func TestZeekEscapes(t *testing.T) {
	out := encode(t, "zeek", sampleConns(1))
	if !strings.Contains(out, `evil\x1b[31m\x09name\x2c;.pcap`) {
		t.Errorf("file name not escaped as Zeek does:\n%s", out)
	}
}

// TestEscapesPrintable checks the escapes of strings whose every byte is
// printable ASCII, which take a shorter path than the others, as texts
// and as list items.
func TestEscapesPrintable(t *testing.T) {
	shown := plainText{func(s string) string { return text(s, 0) }, ""}
	for _, c := range []struct {
		esc     plainText
		in, out string
	}{
		{zeekText, "cdn.example.com A 10.0.0.1", "cdn.example.com A 10.0.0.1"},
		{zeekText, `a,b\c`, `a\x2cb\x5cc`},
		{zeekText, "a;b", "a;b"},
		{csvText, "a;b,c", `a\x3bb,c`},
		{csvText, `C:\Windows`, `C:\Windows`},
		{shown, "~ ok", "~ ok"},
		{shown, "\x7f", `\x7f`},
		{zeekText, "", ""},
	} {
		if got := c.esc.escape(c.in); got != c.out {
			t.Errorf("escape(%q) = %q, want %q", c.in, got, c.out)
		}
		if got := string(c.esc.appendItem([]byte("x"), c.in)); got != "x"+c.out {
			t.Errorf("appendItem(%q) = %q, want x%q", c.in, got, c.out)
		}
	}
}

func TestAppendTime(t *testing.T) {
	for ns, want := range map[int64]string{0: "0.000000", 1500000: "0.001500", -1500000: "-0.001500", 1700000000123456789: "1700000000.123456"} {
		if got := string(appendTime(nil, ns)); got != want {
			t.Errorf("appendTime(%d) = %s, want %s", ns, got, want)
		}
	}
}

// BenchmarkConnWriter measures encoding and ordering the demo evidence's
// conversations in each format, in ns per record.
func BenchmarkConnWriter(b *testing.B) {
	conns := benchdata.DemoConns(b)
	for _, format := range ConnFormats {
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w, err := NewConnWriter(io.Discard, format)
				if err != nil {
					b.Fatal(err)
				}
				for _, c := range conns {
					w.Add(c)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(conns)), "ns/record")
		})
	}
}

// TestCSVForSpreadsheets: ts is an RFC 3339 time and strings read as
// text, backslashes included, with control characters and the list
// separator escaped.
func TestCSVForSpreadsheets(t *testing.T) {
	c := sampleConns(1)
	c[0].Files = []string{`\\10.1.1.10\ADMIN$`, "evil\x1b[31m;name.pcap"}
	rows, err := csv.NewReader(strings.NewReader(encode(t, "csv", c))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rec := map[string]string{}
	for i, name := range rows[0] {
		rec[name] = rows[1][i]
	}
	if rec["ts"] != "2023-11-14T22:13:20.000000Z" {
		t.Errorf("ts %q, want RFC 3339", rec["ts"])
	}
	if rec["files"] != `\\10.1.1.10\ADMIN$;evil\x1b[31m\x3bname.pcap` {
		t.Errorf("files %q", rec["files"])
	}
}

// TestAppendAddr: addresses are written as netip writes them.
func TestAppendAddr(t *testing.T) {
	addrs := []netip.Addr{{}, netip.MustParseAddr("::ffff:192.0.2.1"), netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("2001:db8::")}
	for i := range 256 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{byte(i), byte(255 - i), byte(i * 7), byte(i / 3)}))
	}
	// Every pattern of zero and non-zero groups, the non-zero ones of
	// one to four hex digits, places each run of zeros everywhere.
	for zeros := range 256 {
		var ip [16]byte
		for g := range 8 {
			if zeros&(1<<g) == 0 {
				v := uint16(0xabcd) >> (4 * ((zeros + g) % 4))
				binary.BigEndian.PutUint16(ip[2*g:], v)
			}
		}
		addrs = append(addrs, netip.AddrFrom16(ip))
	}
	for _, a := range addrs {
		checkAppendAddr(t, a)
	}
}

func checkAppendAddr(t *testing.T, a netip.Addr) {
	t.Helper()
	if got, want := string(appendAddr([]byte("x"), a)), "x"+a.String(); got != want && !(want == "xinvalid IP" && got == "x") {
		t.Errorf("%v: %q, want %q", a, got, want)
	}
}

// FuzzAppendAddr: any IPv6 address is written as netip writes it.
func FuzzAppendAddr(f *testing.F) {
	f.Add(make([]byte, 16))
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 16 {
			checkAppendAddr(t, netip.AddrFrom16([16]byte(b)))
		}
	})
}

// BenchmarkAppendRecord measures encoding alone: the demo evidence's
// conversations appended to one buffer, in ns per record.
func BenchmarkAppendRecord(b *testing.B) {
	conns := benchdata.DemoConns(b)
	formats := map[string]connFormat{"ndjson": &ndjsonFormat{}, "zeek": &zeekFormat{}, "csv": newCSVFormat()}
	for _, name := range ConnFormats {
		b.Run(name, func(b *testing.B) {
			f := formats[name]
			var buf []byte
			for b.Loop() {
				for _, c := range conns {
					buf = f.appendRecord(buf[:0], c, nil)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(conns)), "ns/record")
		})
	}
}

// withAnswers gives some of conns DNS answers: none, one short of
// minHeldAnswers, minHeldAnswers, and 64 of names that need escaping in
// every format, so that records are held with their answers apart or not.
func withAnswers(conns []*flows.Conn) {
	names := []string{"cdn.example", "a,b;c\"d\x1b]52;c;ZQ==\x07", "rtl\u202egnp.exe", "tab\tnl\n"}
	for i, c := range conns {
		n := []int{0, minHeldAnswers - 1, minHeldAnswers, 64}[i%4]
		var list []appid.DNSAnswer
		for j := range n {
			name := names[(i/4+j/16)%len(names)]
			switch j % 8 {
			case 7:
				list = append(list, appid.DNSAnswer{Name: name, Type: "CNAME", Value: names[(j+1)%len(names)]})
			case 6:
				list = append(list, appid.DNSAnswer{Name: name, Type: "AAAA", Addr: netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(j)})})
			default:
				list = append(list, appid.DNSAnswer{Name: name, Type: "A", Addr: netip.AddrFrom4([4]byte{192, 0, byte(i), byte(j)})})
			}
		}
		c.App = &appid.Facts{DNS: &appid.DNSFacts{Answers: appid.NewDNSAnswers(list...)}}
	}
}

// TestHeldAnswers: records whose DNS answers are held apart come out as
// the format writes them whole, in memory, spilled, from encoders and
// streamed.
func TestHeldAnswers(t *testing.T) {
	conns := sampleConns(2000)
	withAnswers(conns)
	order, marks := finishing(conns, 50, 7)
	for _, format := range ConnFormats {
		w, err := NewConnWriter(io.Discard, format)
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		for _, c := range conns {
			want = w.format.appendRecord(want, c, nil)
		}
		held := 0
		for _, c := range conns {
			if heldAnswers(c).Len() > 0 {
				held++
			}
		}
		if held != len(conns)/2 {
			t.Fatalf("%d records held with their answers apart, want %d", held, len(conns)/2)
		}
		outs := map[string]string{
			"in memory":     encode(t, format, order),
			"spilled":       encodeWith(t, format, order, 7000),
			"with encoders": encodeOn(t, format, order, 7000, 3),
		}
		for _, writers := range []int{1, 2, 5} {
			outs[fmt.Sprintf("streamed, %d writers", writers)], _ = streamedWith(t, format, order, marks, 100, 1, heapLimit, writers)
			var buf bytes.Buffer
			w, err := newConnWriter(&buf, format, 7000, 28000)
			if err != nil {
				t.Fatal(err)
			}
			w.writers = writers
			for _, c := range order {
				w.Add(c)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			outs[fmt.Sprintf("%d writers", writers)] = buf.String()
		}
		for name, got := range outs {
			if !strings.Contains(got, string(want)) {
				t.Errorf("%s, %s: the records differ from the format's own", format, name)
			}
		}
	}
}

// FuzzHeldText: whatever bytes come back from a temporary file as a
// record held with its answers apart, writing them out gives the record
// or an error, never a panic, in every format.
func FuzzHeldText(f *testing.F) {
	conns := sampleConns(1)
	conns[0].App = &appid.Facts{DNS: &appid.DNSFacts{Answers: appid.NewDNSAnswers(
		slices.Repeat([]appid.DNSAnswer{{Name: "x.example", Type: "A", Addr: netip.MustParseAddr("192.0.2.1")},
			{Name: "y\x1b", Type: "TXT", Value: "v,\""}}, minHeldAnswers)...)}}
	for _, format := range ConnFormats {
		w, err := NewConnWriter(io.Discard, format)
		if err != nil {
			f.Fatal(err)
		}
		var a arena
		f.Add(w.encodeConn(w.format, &a, conns[0]).Text)
	}
	f.Add([]byte{heldMark})
	f.Fuzz(func(t *testing.T, text []byte) {
		for _, format := range ConnFormats {
			w, err := NewConnWriter(io.Discard, format)
			if err != nil {
				t.Fatal(err)
			}
			if out, err := appendText(w.format, nil, text); err == nil && len(text) > 0 && text[0] == heldMark && len(out) < len(text)-heldHeader-binary.MaxVarintLen64 {
				t.Errorf("%s: %d bytes written out of a held record of %d", format, len(out), len(text))
			}
		}
	})
}

// placeless is a format that leaves no place for DNS answers held apart.
type placeless struct{ connFormat }

func (p placeless) appendRecord(b []byte, c *flows.Conn, _ *int) []byte {
	return p.connFormat.appendRecord(b, c, nil)
}

// TestHeldWithoutPlace: a record whose format left no place for its
// answers is written whole.
func TestHeldWithoutPlace(t *testing.T) {
	conns := sampleConns(4)
	withAnswers(conns)
	c := conns[3] // 64 answers
	w, err := NewConnWriter(io.Discard, "ndjson")
	if err != nil {
		t.Fatal(err)
	}
	var hole int
	got := appendHeld(placeless{w.format}, []byte("x"), c, heldAnswers(c), &hole)
	if want := w.format.appendRecord([]byte("x"), c, nil); !bytes.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestHeldAnswersDamaged: a held record that comes back damaged from a
// temporary file is an error, not a panic.
func TestHeldAnswersDamaged(t *testing.T) {
	conns := sampleConns(1)
	withAnswers(conns)
	conns[0].App.DNS.Answers = appid.NewDNSAnswers(slices.Repeat([]appid.DNSAnswer{{Name: "x.example", Type: "A", Addr: netip.MustParseAddr("192.0.2.1")}}, minHeldAnswers)...)
	w, err := NewConnWriter(io.Discard, "ndjson")
	if err != nil {
		t.Fatal(err)
	}
	var a arena
	text := w.encodeConn(w.format, &a, conns[0]).Text
	if text[0] != heldMark {
		t.Fatal("the record was not held with its answers apart")
	}
	if err := w.writeText(text); err != nil {
		t.Fatalf("whole record: %v", err)
	}
	for cut := range len(text) {
		if err := w.writeText(text[:cut]); err == nil && cut > 0 {
			t.Errorf("record cut to %d of %d bytes: no error", cut, len(text))
		}
	}
	// The high bytes of where the answers go and of the text's length
	// put them past the record; other damage changes the text, without a
	// panic.
	for _, at := range []int{1, 4, 5, 8, heldHeader + 2, len(text) - 3} {
		damaged := slices.Clone(text)
		damaged[at] ^= 0xa5
		if err := w.writeText(damaged); err == nil && (at == 4 || at == 8) {
			t.Errorf("byte %d damaged: no error", at)
		}
	}
}
