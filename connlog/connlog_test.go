package connlog

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flows"
)

func readAll(t *testing.T, data []byte) ([]*flows.Conn, Stats, error) {
	t.Helper()
	var got []*flows.Conn
	st, err := Read(bytes.NewReader(data), "test.log", func(c *flows.Conn) { got = append(got, c) })
	return got, st, err
}

// TestZeekLogs reads conn.log as Zeek writes it, in TSV and JSON, with
// Zeek's own columns (local_orig, tunnel_parents) that netfx ignores.
func TestZeekLogs(t *testing.T) {
	for _, tt := range []struct {
		file    string
		format  Format
		records int
	}{
		{"testdata/zeek-conn.log", ZeekTSV, 3},
		{"testdata/zeek-conn.json", JSON, 2},
	} {
		data, err := os.ReadFile(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		got, st, err := readAll(t, data)
		if err != nil || st.Format != tt.format || len(got) != tt.records || st.Records != int64(tt.records) {
			t.Fatalf("%s: %d records, %+v, %v", tt.file, len(got), st, err)
		}
		http := got[0]
		want := flows.Conn{
			TS: 1591367999_305988000, Duration: 254483000, UID: "CmES5u32sYpV7JYN",
			Orig: netip.MustParseAddr("192.168.4.76"), OrigPort: 46378, Resp: netip.MustParseAddr("31.3.245.133"), RespPort: 80,
			Proto: 6, Service: "http", OrigBytes: 77, RespBytes: 295, ConnState: "SF", History: "ShADadfF",
			OrigPkts: 6, OrigIPBytes: 397, RespPkts: 4, RespIPBytes: 511, Source: flows.SourceCapture,
		}
		if !equalConn(http, &want) {
			t.Errorf("%s: first record\n got %+v\nwant %+v", tt.file, *http, want)
		}
		icmp := got[1]
		if icmp.Proto != 58 || icmp.TS != 1591367999_430166000 || icmp.OrigPort != 135 || icmp.RespPort != 136 {
			t.Errorf("%s: ICMPv6 record %+v", tt.file, *icmp)
		}
		if st.First != 1591367999_305988000 {
			t.Errorf("%s: first %d", tt.file, st.First)
		}
	}
}

func equalConn(a, b *flows.Conn) bool {
	return a.TS == b.TS && a.Duration == b.Duration && a.UID == b.UID && a.Orig == b.Orig && a.Resp == b.Resp &&
		a.OrigPort == b.OrigPort && a.RespPort == b.RespPort && a.Proto == b.Proto && a.Service == b.Service &&
		a.OrigBytes == b.OrigBytes && a.RespBytes == b.RespBytes && a.ConnState == b.ConnState && a.History == b.History &&
		a.OrigPkts == b.OrigPkts && a.OrigIPBytes == b.OrigIPBytes && a.RespPkts == b.RespPkts && a.RespIPBytes == b.RespIPBytes &&
		a.Source == b.Source && a.App == nil && b.App == nil
}

// TestFacts checks that payload facts, flow-log fields and escapes are
// read into their places.
func TestFacts(t *testing.T) {
	line := `{"ts":1.5,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":445,"proto":"tcp","ip_proto":6,` +
		`"smb.trees":["\\\\h\\ADMIN$"],"smb.encrypted":true,"dce_rpc.operations":["svcctl:CreateServiceW"],"http.status_code":200,` +
		`"dns.answers":["a.example A 192.0.2.1"],"flowlog_decision":"deny","flowlog_orig_pkts":3,"vlan":7,"files":["x.pcap"],"source":"both"}`
	got, _, err := readAll(t, []byte(line+"\n"))
	if err != nil || len(got) != 1 {
		t.Fatal(err)
	}
	c := got[0]
	switch {
	case c.TS != 1_500_000_000, c.App == nil, c.App.SMB == nil || c.App.SMB.Trees[0] != `\\h\ADMIN$` || !c.App.SMB.Encrypted,
		c.App.DCERPC == nil || c.App.DCERPC.Operations[0] != "svcctl:CreateServiceW",
		c.App.HTTP == nil || c.App.HTTP.Status != 200,
		c.App.DNS == nil || !slices.Equal(slices.Collect(c.App.DNS.Answers.All()), []appid.DNSAnswer{{Name: "a.example", Type: "A", Addr: netip.MustParseAddr("192.0.2.1")}}),
		c.FlowLog == nil || c.FlowLog.Decision != "deny" || !c.FlowLog.Counted || c.FlowLog.OrigPkts != 3,
		c.VLAN != 7 || c.NumVLANs != 1, len(c.Files) != 1, c.Source != "both":
		t.Errorf("record %+v, app %+v, log %+v", *c, c.App, c.FlowLog)
	}
	if unescape(`a\x09b\x5cc\x2`) != "a\tb\\c\\x2" {
		t.Errorf("unescape: %q", unescape(`a\x09b\x5cc\x2`))
	}
}

// TestBadInput: damaged records are reported with the file, line and byte
// offset, skipped, and the records around them kept; a file with nothing
// readable is an error.
func TestBadInput(t *testing.T) {
	tsv, _ := os.ReadFile("testdata/zeek-conn.log")
	good := `{"ts":1,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":2,"proto":"udp"}` + "\n"
	second := fmt.Sprintf("line 2 (byte offset %d): ", len(good))
	firstRow := fmt.Sprintf("line 9 (byte offset %d): ", strings.Index(string(tsv), "1591367999.305988"))
	rows := strings.Count(string(tsv), "\n") - strings.Count(string(tsv), "\n#") - 1 // records in the log
	for _, tt := range []struct {
		name, input string
		kept        int
		want        string
	}{
		{"bad address", good + strings.Replace(good, "10.0.0.2", "10.0.0.256", 1) + good, 2, second + "field id.resp_h: bad address"},
		{"not JSON", good + "{oops\n" + good, 2, second + "not a JSON object"},
		{"no addresses", good + `{"ts":1,"id.orig_h":"10.0.0.1","id.resp_h":"x"}` + "\n", 1, "line 2"},
		{"bad time", strings.Replace(good, `"ts":1`, `"ts":"yesterday"`, 1), 0, "field ts: bad time"},
		{"too long", good + `{"id.orig_h":"` + strings.Repeat("a", 2*maxLine) + "\n" + good, 2, second + "record longer than"},
		{"short row", strings.Replace(string(tsv), "\tT\tF\t0\tShADadfF", "\tT\t0\tShADadfF", 1), rows - 1, firstRow + "20 columns, the #fields header names 21"},
		{"bad count", strings.Replace(string(tsv), "\t397\t", "\t-5\t", 1), rows - 1, "field orig_ip_bytes: bad count"},
		{"no header", "#separator \\x09\n1\t2\n", 0, "record before the #fields header"},
	} {
		got, st, err := readAll(t, []byte(tt.input))
		why := err
		if why == nil && len(st.Damage) > 0 {
			why = st.Damage[0]
		}
		if why == nil || !strings.Contains(why.Error(), tt.want) || !strings.HasPrefix(why.Error(), "test.log: ") {
			t.Errorf("%s: damage %v, want %q", tt.name, why, tt.want)
		}
		if (err != nil) != (tt.kept == 0) {
			t.Errorf("%s: error %v with %d records kept", tt.name, err, tt.kept)
		}
		if len(got) != tt.kept || st.Records != int64(tt.kept) {
			t.Errorf("%s: kept %d records, want %d", tt.name, len(got), tt.kept)
		}
		var fe *FormatError
		if !errors.As(why, &fe) || fe.Path != "test.log" || fe.Line < 1 {
			t.Errorf("%s: damage %T %v is no *FormatError with the file and line", tt.name, why, why)
		}
	}
}

func FuzzRead(f *testing.F) {
	for _, file := range []string{"testdata/zeek-conn.log", "testdata/zeek-conn.json"} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("#separator \\x\n#fields\tts\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var n int64
		st, _ := Read(bytes.NewReader(data), "fuzz", func(*flows.Conn) { n++ })
		if st.Records != n {
			t.Fatalf("stats say %d records, %d emitted", st.Records, n)
		}
	})
}
