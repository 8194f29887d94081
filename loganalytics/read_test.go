package loganalytics

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Exports of each table in each form a responder gets them in.
const (
	// The portal's CSV of NTANetAnalytics: US-locale times, a byte-order
	// mark, an IntraVNet flow at both NICs, a public flow listing peers.
	ntaCSV = "\uFEFFTimeGenerated,SubType,FlowIntervalStartTime,FlowType,FlowStartTime,FlowEndTime,SrcIp,DestIp,DestPort,L4Protocol,FlowDirection,FlowStatus,AclRule,SrcVm,DestVm,Country,AllowedOutFlows,DeniedInFlows,PacketsDestToSrc,PacketsSrcToDest,BytesDestToSrc,BytesSrcToDest,SrcPublicIps,DestPublicIps\n" +
		`"8/25/2025 8:11:21.937 PM",FlowLog,"8/25/2025 7:00:00.000 PM",IntraVNet,"8/25/2025 7:00:07.000 PM","8/25/2025 7:59:40.000 PM",10.222.0.4,10.222.0.5,10249,TCP,Outbound,Allowed,allowvnetoutbound,rg/vm-a,rg/vm-b,,132,0,1981,1218,1941636,137978,,` + "\n" +
		`"8/25/2025 8:11:21.570 PM",FlowLog,"8/25/2025 7:00:00.000 PM",IntraVNet,"8/25/2025 7:00:05.000 PM","8/25/2025 7:59:15.000 PM",10.222.0.4,10.222.0.5,10249,TCP,Inbound,Allowed,allowvnetinbound,rg/vm-a,rg/vm-b,,0,0,1995,1226,1863061,193477,,` + "\n" +
		`"8/25/2025 8:11:21.937 PM",FlowLog,"8/25/2025 7:00:00.000 PM",ExternalPublic,"8/25/2025 7:09:38.731 PM","8/25/2025 7:39:45.014 PM",10.222.0.4,,443,TCP,Outbound,Allowed,allowinternetoutbound,rg/vm-a,,us,2,0,35,33,12374,3777,,23.39.174.184|1|1|16|18|1922|6187 23.48.104.147|1|1|15|17|1855|6073` + "\n" +
		`"8/25/2025 8:11:21.937 PM",FlowLog,"8/25/2025 7:00:00.000 PM",ExternalPublic,"8/25/2025 7:47:37.050 PM","8/25/2025 7:47:37.050 PM",,172.18.0.4,10002,TCP,Inbound,Denied,denyallinbound,,rg/vm-c,gb,0,1,0,0,0,0,35.203.210.116|1|0|0|0|0|0,` + "\n" +
		`"8/25/2025 8:11:21.937 PM",Topology,,,,,,,,,,,,,,,,,,,,,,` + "\n"
	// AzureNetworkAnalytics_CL from az: type suffixes, T/U, I/O, A/D,
	// decimals for numbers, ISO times.
	clJSON = `[{"SubType_s": "FlowLog", "FlowStartTime_t": "2026-03-14T10:02:00Z", "FlowEndTime_t": "2026-03-14T10:09:04Z",
  "SrcIP_s": "203.0.113.66", "DestIP_s": "10.1.0.4", "DestPort_d": "3389.0", "L4Protocol_s": "T", "FlowDirection_s": "I",
  "FlowStatus_s": "A", "FlowType_s": "ExternalPublic", "NSGRule_s": "UserRule_allow-rdp", "VM2_s": "demo-rg/vm-web-01",
  "Country_s": "us", "AllowedInFlows_d": 31, "OutboundPackets_d": 400, "InboundPackets_d": 500, "OutboundBytes_d": 40000, "InboundBytes_d": 250000}]`
	// VMConnection from az: every value a string.
	vmConnectionJSON = `[
  {"TimeGenerated": "2026-03-14T10:34:00.000Z", "Computer": "vm-web-01", "ProcessName": "powershell.exe", "Direction": "outbound",
   "SourceIp": "10.1.0.4", "DestinationIp": "10.1.2.20", "DestinationPort": "5985", "Protocol": "tcp",
   "LinksEstablished": "1", "BytesSent": "300", "BytesReceived": "120"},
  {"TimeGenerated": "2026-03-14T10:02:00.000Z", "Computer": "vm-web-01", "ProcessName": "svchost.exe", "Direction": "inbound",
   "SourceIp": "203.0.113.66", "DestinationIp": "10.1.0.4", "DestinationPort": "3389", "Protocol": "tcp",
   "LinksEstablished": "4", "BytesSent": "9000", "BytesReceived": "1500"}
]`
	// VMBoundPort from the query API.
	boundPortAPI = `{"tables":[{"name":"PrimaryResult","columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"Computer","type":"string"},
{"name":"ProcessName","type":"string"},{"name":"Ip","type":"string"},{"name":"Port","type":"int"},{"name":"Protocol","type":"string"}],
"rows":[["2026-03-14T10:00:00Z","vm-web-01","sshd.exe","0.0.0.0",22,"tcp"],["2026-03-14T10:00:00Z","vm-web-01","System","10.1.0.4",445,"tcp"]]}]}`
)

func read(t *testing.T, doc string) ([]Flow, []BoundPort, Stats) {
	t.Helper()
	var flows []Flow
	var bound []BoundPort
	st, err := Read(strings.NewReader(doc), "export", func(f Flow) { flows = append(flows, f) }, func(b BoundPort) { bound = append(bound, b) })
	if err != nil {
		t.Fatal(err)
	}
	return flows, bound, st
}

func TestTrafficAnalyticsCSV(t *testing.T) {
	flows, _, st := read(t, ntaCSV)
	if st.Table != TableTrafficAnalytics || st.Rows != 5 || st.Ignored != 1 || st.Skipped != 0 {
		t.Fatalf("%+v", st)
	}
	// The IntraVNet flow once; the public flow once per peer; the scan.
	if len(flows) != 4 {
		t.Fatalf("%d flows: %+v", len(flows), flows)
	}
	intra := flows[0]
	if intra.Src.String() != "10.222.0.4" || intra.Dst.String() != "10.222.0.5" || intra.DstPort != 10249 || intra.Proto != 6 ||
		intra.Connections != 132 || intra.PktsSent != 1218 || intra.BytesRecv != 1941636 || intra.SrcVM != "vm-a" || intra.DstVM != "vm-b" ||
		intra.Start != time.Date(2025, 8, 25, 19, 0, 7, 0, time.UTC).UnixNano() || intra.Rule != "allowvnetoutbound" {
		t.Errorf("IntraVNet: %+v", intra)
	}
	peer := flows[2]
	if peer.Src.String() != "10.222.0.4" || peer.Dst.String() != "23.48.104.147" || peer.BytesSent != 1855 || peer.BytesRecv != 6073 ||
		peer.Country != "us" || peer.FlowType != "ExternalPublic" {
		t.Errorf("a public peer: %+v", peer)
	}
	scan := flows[3]
	if scan.Src.String() != "35.203.210.116" || scan.Dst.String() != "172.18.0.4" || !scan.Denied || !scan.Inbound || scan.Counted {
		t.Errorf("a denied scan: %+v", scan)
	}
}

func TestCustomLogJSON(t *testing.T) {
	flows, _, st := read(t, clJSON)
	if st.Table != TableTrafficAnalytics || len(flows) != 1 {
		t.Fatalf("%+v %+v", st, flows)
	}
	f := flows[0]
	if f.DstPort != 3389 || !f.Inbound || f.Denied || f.Rule != "UserRule_allow-rdp" || f.DstVM != "vm-web-01" || f.Connections != 31 ||
		f.PktsSent != 400 || f.PktsRecv != 500 || f.BytesSent != 40000 {
		t.Errorf("%+v", f)
	}
}

func TestVMInsights(t *testing.T) {
	flows, _, st := read(t, vmConnectionJSON)
	if st.Table != TableVMConnection || len(flows) != 2 {
		t.Fatalf("%+v", st)
	}
	if f := flows[0]; f.Process != "powershell.exe" || f.Computer != "vm-web-01" || f.DstPort != 5985 || f.BytesSent != 300 ||
		f.End-f.Start != int64(time.Minute) {
		t.Errorf("outbound: %+v", f)
	}
	if f := flows[1]; !f.Inbound || f.BytesSent != 1500 || f.BytesRecv != 9000 || f.Connections != 4 {
		t.Errorf("inbound: the client's bytes are the machine's received: %+v", f)
	}
	_, bound, st := read(t, boundPortAPI)
	if st.Table != TableVMBoundPort || len(bound) != 2 || bound[0].Process != "sshd.exe" || !bound[0].IP.IsUnspecified() || bound[1].Port != 445 {
		t.Errorf("%+v %+v", st, bound)
	}
}

// TestDamage: a bad row is skipped and named by its line (CSV) or offset
// (JSON), the rest read; a file that is no export says so.
func TestDamage(t *testing.T) {
	lines := strings.Split(ntaCSV, "\n")
	bad := strings.Join([]string{lines[0], strings.Replace(lines[1], "10.222.0.5", "10.222.0.999", 1), "1,2,3", lines[3]}, "\n")
	var n int
	st, err := Read(strings.NewReader(bad), "nta.csv", func(Flow) { n++ }, nil)
	if err != nil || st.Skipped != 2 || n != 2 {
		t.Fatalf("%v %+v, %d flows", err, st, n)
	}
	if got := st.Damage[0].Error(); !strings.HasPrefix(got, "nta.csv: line 2: DestIp \"10.222.0.999\" is not an address") {
		t.Errorf("damage: %s", got)
	}
	if got := st.Damage[1].Error(); !strings.HasPrefix(got, "nta.csv: line 3: 3 fields") {
		t.Errorf("damage: %s", got)
	}
	badJSON := strings.Replace(vmConnectionJSON, `"5985"`, `"http"`, 1)
	st, _ = Read(strings.NewReader(badJSON), "vmc.json", nil, nil)
	if st.Skipped != 1 || st.Flows != 1 || !strings.Contains(st.Damage[0].Error(), "vmc.json: offset 4: port \"http\"") {
		t.Errorf("%+v %v", st, st.Damage)
	}
	cut := vmConnectionJSON[:len(vmConnectionJSON)/2]
	st, err = Read(strings.NewReader(cut), "cut.json", nil, nil)
	var e *Error
	if !errors.As(err, &e) || st.Flows != 1 || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("cut short: %v %+v", err, st)
	}
	for _, doc := range []string{"a,b,c\n1,2,3\n", `[{"a": 1}]`, `{"records": []}`, ""} {
		if _, err := Read(strings.NewReader(doc), "x", nil, nil); !errors.Is(err, ErrNotExport) {
			t.Errorf("%q: %v, want ErrNotExport", doc, err)
		}
	}
}

func TestDetect(t *testing.T) {
	for _, tt := range []struct {
		doc  string
		want bool
	}{
		{ntaCSV, true}, {clJSON, true}, {vmConnectionJSON, true}, {boundPortAPI, true},
		{"TimeGenerated [UTC],SrcIp,DestIp,DestPort,L4Protocol\n", true},
		{`{"records": [{"time": "x"}]}`, false}, {"#separator \\x09\n", false}, {"ts,uid,id.orig_h\n", false},
		{`[{"id": "/subscriptions/s/providers/Microsoft.Network/networkInterfaces/n"}]`, false},
	} {
		if got := Detect([]byte(tt.doc)); got != tt.want {
			t.Errorf("Detect(%.50q) = %v, want %v", tt.doc, got, tt.want)
		}
	}
}

// TestCorpusExport reads the real NTANetAnalytics export of
// ../shared/corpus/azure-context: nothing skipped, the IntraVNet flow
// logged at both NICs counted once.
func TestCorpusExport(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "corpus", "azure-context", "*NTANetAnalytics*.csv"))
	if len(files) == 0 {
		t.Skip("no corpus: the real Traffic Analytics export is not here")
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var flows []Flow
	st, err := Read(f, files[0], func(fl Flow) { flows = append(flows, fl) }, nil)
	if err != nil || st.Skipped > 0 || st.Rows != 26 {
		t.Fatalf("%v %+v", err, st)
	}
	n := 0
	for _, fl := range flows {
		if fl.Src.String() == "10.222.0.4" && fl.Dst.String() == "10.222.0.5" && fl.DstPort == 10249 {
			n++
		}
	}
	if n != 1 {
		t.Errorf("10.222.0.4 -> 10.222.0.5:10249 is %d flows, want 1 (logged at both NICs)", n)
	}
}

// FuzzRead: hostile exports must not panic, and every flow has both
// addresses.
func FuzzRead(f *testing.F) {
	for _, d := range []string{ntaCSV, clJSON, vmConnectionJSON, boundPortAPI, "SrcIp,DestPort,L4Protocol\n\"a\nb\",1,T\n"} {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		Detect(doc)
		Read(strings.NewReader(string(doc)), "fuzz", func(fl Flow) {
			if !fl.Src.IsValid() || !fl.Dst.IsValid() || fl.End < fl.Start {
				t.Fatalf("a flow without its addresses or times: %+v", fl)
			}
		}, nil)
	})
}

// TestLongLine: a CSV line past 1 MiB stops reading with its line, and
// the rows before it are kept.
func TestLongLine(t *testing.T) {
	lines := strings.Split(ntaCSV, "\n")
	doc := strings.Join(lines[:2], "\n") + "\n" + strings.Repeat("x", maxLine+10) + "\n" + lines[3] + "\n"
	n := 0
	st, err := Read(strings.NewReader(doc), "long.csv", func(Flow) { n++ }, nil)
	if err == nil || !strings.Contains(err.Error(), "long.csv: line 3: a line longer than 1024 KiB") || n != 1 || st.Rows != 1 {
		t.Errorf("%v, %d flows, %+v", err, n, st)
	}
}
