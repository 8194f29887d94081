package cli

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/netfx/netfx/internal/floodgen"
)

// hostile is what an attacker puts into the strings a VM's traffic and
// logs carry: terminal escapes (colour, OSC 52 to write the clipboard, a
// bell), line breaks, and bidi controls that reorder what a terminal
// shows.
const hostile = "evil\x1b[31m\x1b]52;c;cm0gLXJmIC8=\x07\r\n\u202e\u2066\u0085"

// TestHostileStringsAreEscapedEverywhere feeds hostile strings through
// every reader (a capture's DNS query, a flow log's rule name, the text
// fields of a conversation log, and a conversation log's fixed-alphabet
// fields, which are refused) and scans every output format for a raw
// control or bidi character.
func TestHostileStringsAreEscapedEverywhere(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("dns.pcap", dnsQueryCapture("a"+hostile+"b.example"))
	b, _ := json.Marshal(hostile)
	quoted := string(b)
	write("PT1H.json", []byte(`{"records":[{"time":"2026-03-14T10:01:02Z","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/S/NSG",`+
		`"operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":2,"flows":[{"rule":`+quoted+`,"flows":[{"mac":"000D3A100004","flowTuples":["1773482400,10.1.0.4,203.0.113.10,50000,443,T,O,A,B,,,,"]}]}]}}]}`))
	write("conn.log", []byte(
		`{"ts":1773482400,"uid":"CgoodUID1","id.orig_h":"10.0.0.1","id.orig_p":1000,"id.resp_h":"10.0.0.2","id.resp_p":443,"proto":"tcp","ssl.server_name":`+quoted+`,"files":[`+quoted+`]}`+"\n"+
			`{"ts":1773482401,"uid":`+quoted+`,"id.orig_h":"10.0.0.1","id.orig_p":1001,"id.resp_h":"10.0.0.2","id.resp_p":443,"proto":"tcp"}`+"\n"+
			`{"ts":1773482402,"uid":"CgoodUID2","id.orig_h":"10.0.0.1","id.orig_p":1002,"id.resp_h":"10.0.0.2","id.resp_p":443,"proto":"tcp","history":`+quoted+`}`+"\n"))
	for _, args := range [][]string{
		{"conns", "--format", "ndjson", dir},
		{"conns", "--format", "zeek", dir},
		{"conns", "--format", "csv", dir},
		{"report", "--json", dir},
		{"report", "--details", "--color", "never", dir},
	} {
		out, stderr, _ := run(args...)
		if !strings.Contains(out, "evil") {
			t.Errorf("netfx %s: the hostile strings are missing from the output", strings.Join(args, " "))
		}
		for name, text := range map[string]string{"stdout": out, "stderr": stderr} {
			if i, r := rawControl(text, args[len(args)-2] == "zeek"); i >= 0 {
				t.Errorf("netfx %s: %s holds %U raw at byte %d: %q", strings.Join(args, " "), name, r, i, text[max(0, i-40):min(len(text), i+40)])
			}
		}
		if args[0] == "conns" && (!strings.Contains(out, "CgoodUID1") || strings.Contains(out, "CgoodUID2") ||
			!strings.Contains(stderr, "field uid") || !strings.Contains(stderr, "field history")) {
			t.Errorf("netfx %s: records with a hostile uid or history were not refused: stderr %q", strings.Join(args, " "), stderr)
		}
	}
}

// rawControl returns where text holds a control or bidi character other
// than the line ends (and the tabs of Zeek's TSV) the formats use, or -1.
func rawControl(text string, tabs bool) (int, rune) {
	for i, r := range text {
		switch {
		case r == '\n', r == '\t' && tabs:
		case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0, r == 0x061c, r == 0x200e, r == 0x200f,
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == utf8.RuneError:
			return i, r
		}
	}
	return -1, 0
}

// dnsQueryCapture is a raw-IP capture of one DNS query for name, whose
// labels may hold any bytes.
func dnsQueryCapture(name string) []byte {
	var q bytes.Buffer
	q.Write([]byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0})
	for _, label := range strings.Split(name, ".") {
		q.WriteByte(byte(len(label)))
		q.WriteString(label)
	}
	q.Write([]byte{0, 0, 1, 0, 1})
	udp := make([]byte, 8+q.Len())
	binary.BigEndian.PutUint16(udp[0:], 53000)
	binary.BigEndian.PutUint16(udp[2:], 53)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], q.Bytes())
	ip := make([]byte, 20+len(udp))
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	copy(ip[12:], []byte{10, 1, 0, 4, 10, 1, 0, 53})
	copy(ip[20:], udp)
	var f bytes.Buffer
	f.Write(floodgen.RawPcapHeader())
	rec := make([]byte, 16)
	binary.LittleEndian.PutUint32(rec[0:], 1773482400)
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(ip)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(ip)))
	f.Write(rec)
	f.Write(ip)
	return f.Bytes()
}
