package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netfx/netfx/flowlog"
	"github.com/netfx/netfx/flows"
)

// TestJoinSpillsToDisk reads the demo evidence (captures and flow logs)
// with sorters that hold three records each, so every stage of the join
// spills to temporary files, and checks the records are the same, in the
// same order, as when everything fits in memory.
func TestJoinSpillsToDisk(t *testing.T) {
	read := func(mem int) []byte {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		opt := Options{Flows: flows.DefaultConfig, Tolerance: flowlog.DefaultTolerance, SortMemory: mem}
		sink := Sink{Conn: func(c *flows.Conn) { enc.Encode(c) }, Problem: func(p Problem) { t.Error(p.Err) }}
		if err := Read(context.Background(), []string{"../testdata/demo"}, opt, sink); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	inMemory, spilled := read(0), read(3)
	if n := bytes.Count(inMemory, []byte("\n")); n < 1000 || !bytes.Contains(inMemory, []byte(`"Source":"both"`)) {
		t.Fatalf("%d records, joined ones among them: %v", n, bytes.Contains(inMemory, []byte(`"Source":"both"`)))
	}
	if !bytes.Equal(inMemory, spilled) {
		t.Error("records differ when the sorters spill")
	}
}

// failingReader gives n bytes of data, then a read error.
type failingReader struct {
	data []byte
	n    int
}

func (f *failingReader) Read(b []byte) (int, error) {
	if f.n >= len(f.data) {
		return 0, errors.New("device error")
	}
	k := copy(b, f.data[f.n:])
	f.n += k
	return k, nil
}

// TestHashOfAFileReadInPart checks that a capture whose read fails gets
// no SHA-256 (the hash of a part would pass for the file's) and says why,
// while the packets before the failure are kept.
func TestHashOfAFileReadInPart(t *testing.T) {
	data, err := os.ReadFile("../testdata/demo/vm1-capture-01.pcap")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		stdin  io.Reader
		hashed bool
	}{
		{"whole", bytes.NewReader(data), true},
		{"read error half way", &failingReader{data: data[:len(data)/2]}, false},
	} {
		var res []CaptureResult
		conns := 0
		opt := Options{Flows: flows.DefaultConfig, Hash: true, Stdin: tt.stdin}
		err := Read(context.Background(), []string{"-"}, opt, Sink{
			Capture: func(r CaptureResult) { res = append(res, r) },
			Conn:    func(*flows.Conn) { conns++ },
		})
		if err != nil || len(res) != 1 {
			t.Fatalf("%s: %v, %d results", tt.name, err, len(res))
		}
		r := res[0]
		if tt.hashed {
			sum := sha256.Sum256(data)
			if r.SHA256 != hex.EncodeToString(sum[:]) || r.Err != nil {
				t.Errorf("%s: hash %q, error %v", tt.name, r.SHA256, r.Err)
			}
			continue
		}
		if r.SHA256 != "" || r.Err == nil || !strings.Contains(r.Err.Error(), "no SHA-256") || !strings.Contains(r.Err.Error(), "device error") {
			t.Errorf("%s: hash %q, error %v; want no hash and the read error", tt.name, r.SHA256, r.Err)
		}
		if r.Stats.Records == 0 || conns == 0 {
			t.Errorf("%s: %d packets, %d conversations kept from before the error", tt.name, r.Stats.Records, conns)
		}
	}
}

// TestDamagedFlowLogRecordsAreReported reads a flow-log blob whose middle
// record is damaged: the damage is a Problem naming the file, the record
// and the offset, and the records on either side of it are read.
func TestDamagedFlowLogRecordsAreReported(t *testing.T) {
	record := func(version int, tuple string) string {
		return fmt.Sprintf(`{"time":"2026-03-14T10:01:02Z","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/S/NSG",`+
			`"operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":%d,"flows":[{"rule":"R","flows":[{"mac":"000D3A100004","flowTuples":["%s"]}]}]}}`, version, tuple)
	}
	doc := `{"records":[` + record(2, "1773482400,10.1.0.4,203.0.113.10,50000,443,T,O,A,B,,,,") + "," +
		record(2, "1773482430,10.1.0.4,203.0.113.10,50001,443,T,O,A,B,,,,,extra") + "," +
		record(2, "1773482460,10.1.0.4,203.0.113.10,50002,443,T,O,A,B,,,,") + `]}`
	path := filepath.Join(t.TempDir(), "PT1H.json")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	var problems []Problem
	var ports []uint16
	err := Read(context.Background(), []string{path}, Options{Flows: flows.DefaultConfig, Tolerance: flowlog.DefaultTolerance}, Sink{
		Conn:    func(c *flows.Conn) { ports = append(ports, c.OrigPort) },
		Problem: func(p Problem) { problems = append(problems, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ports)
	if !slices.Equal(ports, []uint16{50000, 50002}) {
		t.Errorf("connections from ports %v, want 50000 and 50002", ports)
	}
	if len(problems) != 1 || !problems[0].Damaged() || !strings.Contains(problems[0].Err.Error(), path+": records[1] (offset ") {
		t.Fatalf("problems %v, want one naming the file, records[1] and its offset", problems)
	}
}

// TestScope keeps the conversations with a host of the scope at either
// end that overlap its time, and drops the rest.
func TestScope(t *testing.T) {
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	s := &Scope{Hosts: []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("203.0.113.66/32")},
		From: at("2026-03-14T10:00:00Z"), To: at("2026-03-14T10:30:00Z")}
	ns := func(t string) int64 { return at(t).UnixNano() }
	for _, tt := range []struct {
		a, b        string
		first, last string
		want        bool
	}{
		{"10.1.2.20", "10.1.0.4", "2026-03-14T10:05:00Z", "2026-03-14T10:06:00Z", true},
		{"10.1.0.4", "203.0.113.66", "2026-03-14T10:05:00Z", "2026-03-14T10:06:00Z", true},
		{"10.1.0.4", "10.1.0.5", "2026-03-14T10:05:00Z", "2026-03-14T10:06:00Z", false},      // no host of the scope
		{"10.1.2.20", "10.1.0.4", "2026-03-14T09:00:00Z", "2026-03-14T09:59:59Z", false},     // before
		{"10.1.2.20", "10.1.0.4", "2026-03-14T09:00:00Z", "2026-03-14T10:00:00Z", true},      // ends as it begins
		{"10.1.2.20", "10.1.0.4", "2026-03-14T10:30:00.001Z", "2026-03-14T11:00:00Z", false}, // after
	} {
		if got := s.takes(netip.MustParseAddr(tt.a), netip.MustParseAddr(tt.b), ns(tt.first), ns(tt.last)); got != tt.want {
			t.Errorf("%s-%s %s..%s: %v, want %v", tt.a, tt.b, tt.first, tt.last, got, tt.want)
		}
	}
}

// TestInventoryInputs: Azure inventory is found among the evidence by
// content (compressed too) or named with Options.Inventory, reaches the
// sink before any record, and a damaged file is reported with its path
// and offset while the rest of it is kept.
func TestInventoryInputs(t *testing.T) {
	dir := t.TempDir()
	nic := `[{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/web-nic", "name": "web-nic",
  "type": "Microsoft.Network/networkInterfaces", "ipConfigurations": [{"privateIPAddress": "10.1.0.4"}]}]`
	damaged := `[{"id": "/subscriptions/s/providers/Microsoft.Network/networkInterfaces/a", "ipConfigurations": [{"privateIPAddress": "10.1.0.5"}]},
 {"id": "/subscriptions/s/providers/Microsoft.Network/networkInterfaces/b", "ipConfigurations": [{"privateIPAddress": "nonsense"}]}]`
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(nic))
	zw.Close()
	files := map[string][]byte{"nics.json": []byte(nic), "nics.json.gz": gz.Bytes(), "damaged.json": []byte(damaged),
		"notes.json": []byte(`{"case": "42"}`)}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	named := filepath.Join(t.TempDir(), "named.txt") // any name: given as inventory
	os.WriteFile(named, []byte(nic), 0o644)

	var got []string
	var problems []Problem
	conns := 0
	sink := Sink{
		Inventory: func(r InventoryResult) {
			if conns > 0 {
				t.Error("inventory after a record")
			}
			got = append(got, fmt.Sprintf("%s %d", filepath.Base(r.Path), len(r.Inventory.NICs)))
		},
		Conn:    func(*flows.Conn) { conns++ },
		Problem: func(p Problem) { problems = append(problems, p) },
	}
	opt := Options{Flows: flows.DefaultConfig, Inventory: []string{named}}
	if err := Read(context.Background(), []string{dir, "../testdata/demo/vm1-capture-01.pcap"}, opt, sink); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"damaged.json 2", "named.txt 1", "nics.json 1", "nics.json.gz 1"}; !slices.Equal(got, want) {
		t.Errorf("inventory read: %q, want %q", got, want)
	}
	var damage, skipped []string
	for _, p := range problems {
		if p.Skipped {
			skipped = append(skipped, filepath.Base(p.Path))
		} else {
			damage = append(damage, p.Err.Error())
		}
	}
	if len(damage) != 1 || !strings.Contains(damage[0], fmt.Sprintf("damaged.json: offset %d: microsoft.network/networkinterfaces \"b\"", strings.Index(damaged, "\n")+2)) || !strings.Contains(damage[0], `"nonsense"`) {
		t.Errorf("damage reported: %q", damage)
	}
	if !slices.Equal(skipped, []string{"notes.json"}) {
		t.Errorf("skipped: %q", skipped)
	}
	if conns == 0 {
		t.Error("no records from the capture")
	}
}

// TestAnalyticsJoin: the rows of Log Analytics exports enrich the
// conversations they match on addresses, responder port, protocol and
// time, with flow logs or without; a row no conversation matches is a
// record of its own, in time order.
func TestAnalyticsJoin(t *testing.T) {
	dir := t.TempDir()
	export := `[{"TimeGenerated": "2026-03-14T10:34:00Z", "Computer": "vm-web-01", "ProcessName": "powershell.exe", "Direction": "outbound",
  "SourceIp": "10.1.0.4", "DestinationIp": "10.1.2.20", "DestinationPort": "5985", "Protocol": "tcp", "LinksEstablished": "1"},
 {"TimeGenerated": "2026-03-14T10:35:00Z", "Computer": "vm-web-01", "ProcessName": "nc.exe", "Direction": "outbound",
  "SourceIp": "10.1.0.4", "DestinationIp": "10.1.9.9", "DestinationPort": "4444", "Protocol": "tcp", "LinksEstablished": "1",
  "BytesSent": "100", "BytesReceived": "50"}]`
	if err := os.WriteFile(filepath.Join(dir, "vmconnection.json"), []byte(export), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, withLogs := range []bool{false, true} {
		inputs := []string{dir, "../testdata/demo/vm1-capture-02.pcap"}
		if withLogs {
			inputs = append(inputs, "../testdata/demo/insights-logs-flowlogflowevent")
		}
		var results []AnalyticsResult
		var winrm, own []*flows.Conn
		last := int64(0)
		sink := Sink{
			Analytics: func(r AnalyticsResult) { results = append(results, r) },
			Conn: func(c *flows.Conn) {
				if withLogs && c.TS < last {
					t.Errorf("records out of time order")
				}
				last = c.TS
				switch {
				case c.RespPort == 5985 && c.Resp.String() == "10.1.2.20":
					winrm = append(winrm, c)
				case c.Source == flows.SourceVMConnection:
					own = append(own, c)
				}
			},
			Problem: func(p Problem) {
				if p.Damaged() {
					t.Error(p.Err)
				}
			},
		}
		opt := Options{Flows: flows.DefaultConfig, Tolerance: flowlog.DefaultTolerance}
		if err := Read(context.Background(), inputs, opt, sink); err != nil {
			t.Fatal(err)
		}
		if len(results) != 1 || results[0].Stats.Table != "vmconnection" || results[0].Stats.Flows != 2 {
			t.Fatalf("exports read: %+v", results)
		}
		if len(winrm) != 1 || winrm[0].Analytics == nil || winrm[0].Analytics.Process != "powershell.exe" || winrm[0].Analytics.Computer != "vm-web-01" {
			t.Errorf("logs %v: the WinRM connection did not take its process: %+v", withLogs, winrm)
		}
		if len(own) != 1 || own[0].Resp.String() != "10.1.9.9" || own[0].OrigPort != 0 || own[0].OrigIPBytes != 100 ||
			own[0].Analytics.Process != "nc.exe" || own[0].UID == "" {
			t.Errorf("logs %v: the row no conversation took: %+v", withLogs, *own[0])
		}
	}
}

// TestWorkersGiveTheSameOutput reads the demo captures with damaged and
// empty captures among them through one flow table, serially and framed
// ahead, and through sharded ones: the records, the captures' results and the problems come in the
// same order with the same content.
func TestWorkersGiveTheSameOutput(t *testing.T) {
	dir := t.TempDir()
	first, err := os.ReadFile("../testdata/demo/vm1-capture-01.pcap")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"a-header-only.pcap": first[:24],
		"c-truncated.pcap":   first[:len(first)/2+7],
		"e-empty.pcap":       nil,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inputs := []string{filepath.Join(dir, "a-header-only.pcap"), "../testdata/demo/vm1-capture-01.pcap", filepath.Join(dir, "c-truncated.pcap"),
		"../testdata/demo/vm1-capture-02.pcap", filepath.Join(dir, "e-empty.pcap"), "../testdata/demo/vm1-capture-03.pcap"}
	read := func(workers int) string {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		opt := Options{Flows: flows.DefaultConfig, Workers: workers}
		sink := Sink{
			Conn: func(c *flows.Conn) { enc.Encode(c) },
			Capture: func(r CaptureResult) {
				fmt.Fprintf(&b, "capture %s: %d packets, %d ended early, %v\n", r.Path, r.Stats.Records, r.EndedEarly, r.Err)
			},
			Problem: func(p Problem) { fmt.Fprintf(&b, "problem %s: %v\n", p.Path, p.Err) },
		}
		if err := Read(context.Background(), inputs, opt, sink); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	// On one core the files are read serially; on more, framed ahead.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	want := read(1)
	if strings.Count(want, "capture ") != len(inputs) || !strings.Contains(want, "problem") || strings.Count(want, "\n") < 300 {
		t.Fatalf("one table: %d captures, %d lines: %q", strings.Count(want, "capture "), strings.Count(want, "\n"), regexp.MustCompile(`(?m)^(capture|problem).*$`).FindAllString(want, -1))
	}
	runtime.GOMAXPROCS(2)
	for _, workers := range []int{1, 2, 5} {
		if got := read(workers); got != want {
			t.Errorf("%d workers on 2 cores: differs from one table on one core", workers)
		}
	}
}

// TestCancelStopsReading: a read cancelled while conversations come
// returns promptly, with one flow table and with sharded ones, and hands
// nothing on after it returns.
func TestCancelStopsReading(t *testing.T) {
	inputs := []string{"../testdata/demo/vm1-capture-01.pcap", "../testdata/demo/vm1-capture-02.pcap", "../testdata/demo/vm1-capture-03.pcap"}
	for _, workers := range []int{1, 3} {
		for _, after := range []int64{1, 50} {
			ctx, cancel := context.WithCancel(context.Background())
			var handedOn atomic.Int64
			sink := Sink{Conn: func(*flows.Conn) {
				if handedOn.Add(1) == after {
					cancel()
				}
			}}
			done := make(chan error, 1)
			go func() { done <- Read(ctx, inputs, Options{Flows: flows.DefaultConfig, Workers: workers}, sink) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("%d workers, cancelled after %d conversations: still reading after 10 s", workers, after)
			}
			n := handedOn.Load()
			time.Sleep(20 * time.Millisecond)
			if handedOn.Load() != n {
				t.Errorf("%d workers, cancelled after %d conversations: conversations handed on after Read returned", workers, after)
			}
			cancel()
		}
	}
}

// TestWatermarks: records from captures alone come with watermarks, with
// one flow table or several, and no record that follows one starts below
// it (the demo's packet times never go back); with flow logs or a Log
// Analytics export among the inputs, whose records come in other orders,
// none are told.
func TestWatermarks(t *testing.T) {
	captures := []string{"../testdata/demo/vm1-capture-01.pcap", "../testdata/demo/vm1-capture-02.pcap", "../testdata/demo/vm1-capture-03.pcap"}
	for _, run := range []struct {
		inputs  []string
		workers int
		told    bool
	}{
		{captures, 1, true},
		{captures, 3, true},
		{append(slices.Clone(captures), "../testdata/demo/log-analytics"), 1, false},
		{[]string{"../testdata/demo"}, 1, false},
	} {
		var marks, records, below int
		mark := int64(math.MinInt64)
		sink := Sink{
			Conn: func(c *flows.Conn) {
				records++
				if c.TS < mark {
					below++
				}
			},
			Watermark: func(ts int64) { marks++; mark = ts },
			AnyOrder:  true,
		}
		if err := Read(context.Background(), run.inputs, Options{Flows: flows.DefaultConfig, Workers: run.workers, Tolerance: flowlog.DefaultTolerance}, sink); err != nil {
			t.Fatal(err)
		}
		if (marks > 0) != run.told || records < 100 || below > 0 {
			t.Errorf("%v, %d workers: %d watermarks, %d records, %d below a watermark; want watermarks %v", run.inputs, run.workers, marks, records, below, run.told)
		}
	}
}
