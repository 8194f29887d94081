package flowlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const corpusDir = "../../shared/corpus/azure"

// read reads one document and returns its stats, tuples and error.
func read(t testing.TB, doc string) (Stats, []Tuple, error) {
	t.Helper()
	var got []Tuple
	st, err := NewReader().Read(strings.NewReader(doc), "test.json", func(tp *Tuple) { got = append(got, *tp) })
	return st, got, err
}

func vnetRecord(tuples ...string) string {
	return `{"time":"2026-03-14T10:01:02.5000000Z","flowLogVersion":4,"flowLogGUID":"g","macAddress":"000d3a100004","category":"FlowLogFlowEvent",` +
		`"flowLogResourceID":"/subscriptions/s/flowLogs/fl","operationName":"FlowLogFlowEvent","flowRecords":{"flows":[{"aclID":"a","flowGroups":[{"rule":"R","flowTuples":["` +
		strings.Join(tuples, `","`) + `"]}]}]}}`
}

func nsgRecord(version int, tuples ...string) string {
	return fmt.Sprintf(`{"time":"2026-03-14T10:01:02Z","systemId":"x","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/S/NSG",`+
		`"operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":%d,"flows":[{"rule":"R","flows":[{"mac":"000D3A100004","flowTuples":["%s"]}]}]}}`,
		version, strings.Join(tuples, `","`))
}

func TestReadLayoutsAndTuples(t *testing.T) {
	vnet := vnetRecord(
		"1773482400123,10.1.0.4,203.0.113.10,50000,443,6,O,B,NX,0,0,0,0",
		"1773482700123,10.1.0.4,203.0.113.10,50000,443,6,O,C,X,10,1000,12,9000",
		"1773482760123,10.1.0.4,203.0.113.10,50000,443,6,O,E,NX_LOCAL_DST,1,40,1,40",
		"1773482401000,192.0.2.9,10.1.0.4,40000,3389,6,I,D,NX,0,0,0,0",
		"1773482402000,10.1.0.4,10.1.0.53,5353,53,17,O,B,NX_FALLBACK,,,,",
		"1773482403000,2001:db8::1,fd00::4,1234,22,6,I,B,NX,0,0,0,0",
		"1773482404,10.1.0.4,10.1.0.5,0,0,1,O,E,NX,1,84,1,84",
	)
	nsg2 := nsgRecord(2, "1773482400,10.1.0.4,203.0.113.10,50000,443,T,O,A,B,,,,", "1773482460,10.1.0.4,203.0.113.10,50000,443,T,O,A,E,3,300,4,4000",
		"1773482401,192.0.2.9,10.1.0.4,40000,3389,T,I,D,B,,,,", "1773482402,10.1.0.4,10.1.0.53,5353,53,U,O,A,C,1,99,1,167")
	nsg1 := nsgRecord(1, "1773482400,10.1.0.4,203.0.113.10,50000,443,T,O,A", "1773482401,192.0.2.9,10.1.0.4,40000,3389,T,I,D")
	bom := "\xEF\xBB\xBF"
	tests := []struct {
		name    string
		doc     string
		records int
		tuples  int
		kind    string
		wantErr error
	}{
		{"VNet document", `{"records":[` + vnet + `]}`, 1, 7, "vnet", nil},
		{"NSG v2 document with BOM, pretty", bom + "{\n  \"records\": [\n    " + nsg2 + "\n  ]\n}\n", 1, 4, "nsg", nil},
		{"NSG v1", `{"records":[` + nsg1 + `]}`, 1, 2, "nsg", nil},
		{"JSON lines", nsg2 + "\n" + nsg1 + "\n", 2, 6, "nsg", nil},
		{"raw appended block", bom + "," + nsg2 + "," + nsg1, 2, 6, "nsg", nil},
		{"whole blob of blocks", `{"records":[` + nsg2 + `,` + nsg1 + `]}`, 2, 6, "nsg", nil},
		{"trailing commas", `{"records":[` + strings.Replace(vnet, `,0,0,0,0"]`, `,0,0,0,0",]`, 1) + `,]}`, 1, 7, "vnet", nil},
		{"blob cut mid-record", `{"records":[` + nsg1 + `,` + nsg2[:len(nsg2)/2], 1, 2, "nsg", ErrTruncated},
		{"empty flows array", `{"records":[{"time":"t","category":"NetworkSecurityGroupFlowEvent","resourceId":"r","properties":{"Version":2,"flows":[{"rule":"DefaultRule_DenyAllInBound","flows":[]}]}}]}`, 1, 0, "nsg", nil},
		{"NSG diagnostic log", `{"records":[{"time":"t","category":"NetworkSecurityGroupEvent","properties":{"ruleName":"x"}}]}`, 0, 0, "", ErrNotFlowLog},
		{"VNet document with NSG tuples", `{"records":[` + strings.Replace(vnet, ",6,O,B,NX,0,0,0,0", ",T,O,A,B,,,,", 1) + `]}`, 1, 6, "vnet", nil},
		{"not JSON at all", "hello", 0, 0, "", nil},
		{"JSON without flow logs", `{"input":{"message":"x"},"expected":{}}`, 0, 0, "", ErrNotFlowLog},
		{"empty", "", 0, 0, "", ErrNotFlowLog},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, tuples, err := read(t, tt.doc)
			if st.Records != tt.records || len(tuples) != tt.tuples || st.Tuples != tt.tuples || st.Kind != tt.kind {
				t.Errorf("records %d tuples %d kind %q, want %d %d %q (err %v)", st.Records, len(tuples), st.Kind, tt.records, tt.tuples, tt.kind, err)
			}
			wantErr := tt.wantErr != nil || tt.name == "not JSON at all"
			if (err != nil) != wantErr || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			var fe *FormatError
			if err != nil && !errors.As(err, &fe) {
				t.Errorf("error %T is not a *FormatError", err)
			}
			if err != nil && !strings.Contains(err.Error(), "test.json") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// TestDamagedRecordsAreSkipped checks that a record or tuple that cannot
// be parsed is reported with its file, record and offset, and that every
// good record after it is still read, in every layout.
func TestDamagedRecordsAreSkipped(t *testing.T) {
	good := nsgRecord(2, "1773482400,10.1.0.4,203.0.113.10,50000,443,T,O,A,B,,,,")
	good2 := nsgRecord(2, "1773482460,10.1.0.4,203.0.113.10,50001,443,T,O,A,B,,,,")
	fourteen := nsgRecord(2, "1773482400,10.1.0.4,203.0.113.10,50002,443,T,O,A,B,,,,,x", "1773482401,10.1.0.4,203.0.113.10,50003,443,T,O,A,B,,,,")
	version3 := strings.Replace(good, `"Version":2`, `"Version":3`, 1)
	nonString := strings.Replace(good, `"flowTuples":["`, `"flowTuples":[42,"`, 1)
	notArray := strings.Replace(good, `"flowTuples":[`, `"flowTuples":{"x":[1]},"other":[`, 1)
	tests := []struct {
		name            string
		doc             string
		records, tuples int
		skipped         int
		damagedRecord   int    // records[N-1] in the first damage
		damaged         string // the damaged record or tuple, which the offset points at
	}{
		{"14-field tuple in the first record", `{"records":[` + fourteen + `,` + good + `]}`, 2, 2, 1, 1, fourteen},
		{"unknown version between good records", `{"records":[` + good + `,` + version3 + `,` + good2 + `]}`, 2, 2, 1, 2, version3},
		{"non-string tuple", `{"records":[` + nonString + `,` + good2 + `]}`, 2, 2, 1, 1, "42,"},
		{"tuples not an array", `{"records":[` + notArray + `,` + good2 + `]}`, 1, 1, 1, 1, notArray},
		{"JSON lines", version3 + "\n" + good + "\n" + good2 + "\n", 2, 2, 1, 1, version3},
		{"raw blocks", "," + good + "," + version3 + "," + good2, 2, 2, 1, 2, version3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, tuples, err := read(t, tt.doc)
			if err != nil {
				t.Fatalf("error %v: the good records should have been read", err)
			}
			if st.Records != tt.records || len(tuples) != tt.tuples || st.Skipped != tt.skipped || len(st.Damage) != tt.skipped {
				t.Fatalf("records %d tuples %d skipped %d (%d reasons), want %d %d %d", st.Records, len(tuples), st.Skipped, len(st.Damage), tt.records, tt.tuples, tt.skipped)
			}
			d := st.Damage[0]
			if want := int64(strings.Index(tt.doc, tt.damaged)); d.Path != "test.json" || d.Record != tt.damagedRecord || d.Offset != want || !strings.Contains(d.Error(), "test.json: records[") {
				t.Errorf("damage %q: want file, record %d and offset %d", d, tt.damagedRecord, want)
			}
		})
	}
}

func TestTupleSemantics(t *testing.T) {
	_, vnet, err := read(t, vnetRecord(
		"1773482700123,10.1.0.4,203.0.113.10,50000,443,6,O,C,X,10,1000,12,9000",
		"1773482401000,192.0.2.9,10.1.0.4,40000,3389,6,I,D,NX,0,0,0,0",
		"1773482402000,10.1.0.4,10.1.0.53,5353,53,17,O,B,NX_FALLBACK,,,,",
		"1773482403000,2001:db8::1,fd00::4,1234,22,6,I,B,NX,0,0,0,0",
		"1773482404,10.1.0.4,10.1.0.5,0,0,1,O,E,NX,1,84,1,84"))
	if err != nil {
		t.Fatal(err)
	}
	c, d, udp, v6, secs := vnet[0], vnet[1], vnet[2], vnet[3], vnet[4]
	if c.State != 'C' || !c.Counted || c.PktsSent != 10 || c.BytesRecv != 9000 || c.Encryption != "X" || c.Time != 1773482700123*1e6 {
		t.Errorf("C tuple %+v", c)
	}
	if !d.Denied || d.State != 'D' || d.Counted || !d.Inbound {
		t.Errorf("D tuple %+v", d)
	}
	if udp.Proto != 17 || udp.Counted || udp.Encryption != "NX_FALLBACK" {
		t.Errorf("UDP B tuple %+v", udp)
	}
	if v6.Src.String() != "2001:db8::1" || v6.Dst.String() != "fd00::4" {
		t.Errorf("IPv6 tuple %+v", v6)
	}
	if secs.Time != 1773482404*1e9 || secs.Proto != 1 {
		t.Errorf("seconds timestamp read as %d", secs.Time)
	}
	if c.Log.MAC != "000D3A100004" || c.Log.Kind != "vnet" || c.Rule != "R" {
		t.Errorf("log %+v rule %q", c.Log, c.Rule)
	}
	_, nsg, err := read(t, nsgRecord(2, "1773482401,192.0.2.9,10.1.0.4,40000,3389,T,I,D,B,,,,", "1773482402,10.1.0.4,10.1.0.53,5353,53,U,O,A,C,1,99,1,167"))
	if err != nil {
		t.Fatal(err)
	}
	if !nsg[0].Denied || nsg[0].Counted || nsg[1].Proto != 17 || nsg[1].BytesRecv != 167 || nsg[1].Denied {
		t.Errorf("NSG tuples %+v", nsg)
	}
}

// TestSameBlobTwice reads a blob downloaded mid-hour and the whole blob:
// every record is counted once.
func TestSameBlobTwice(t *testing.T) {
	r1 := nsgRecord(2, "1773482400,10.1.0.4,203.0.113.10,50000,443,T,O,A,B,,,,")
	r2 := nsgRecord(2, "1773482460,10.1.0.4,203.0.113.10,50000,443,T,O,A,E,3,300,4,4000")
	r2 = strings.Replace(r2, "10:01:02Z", "10:02:02Z", 1)
	rd := NewReader()
	var n int
	count := func(*Tuple) { n++ }
	if _, err := rd.Read(strings.NewReader(`{"records":[`+r1+`]}`), "early/PT1H.json", count); err != nil {
		t.Fatal(err)
	}
	st, err := rd.Read(strings.NewReader(`{"records":[`+r1+`,`+r2+`]}`), "late/PT1H.json", count)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || st.Records != 1 || st.Duplicates != 1 {
		t.Errorf("%d tuples, %d new records, %d duplicates; want 2, 1, 1", n, st.Records, st.Duplicates)
	}
}

// TestCorpusSamples reads every sample of the shared corpus: each is read
// with the counts its manifest gives, or rejected with a specific error.
func TestCorpusSamples(t *testing.T) {
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("corpus not found at %s; skipping", corpusDir)
	}
	tests := []struct {
		file            string
		kind            string
		version         int
		records, tuples int
		errText         string
	}{
		{"dimitertodorov-nsg-parser__testdata_nsg_flow_events.json", "nsg", 1, 40, 4334, ""},
		{"microsoft-AzureNetworkWatcherNSGFlowLogsConnector__sampleOfInputV1.json", "nsg", 1, 24, 1187, ""},
		{"microsoft-AzureNetworkWatcherNSGFlowLogsConnector__sampleJsonInput.json", "nsg", 1, 3, 38, ""},
		{"microsoft-AzureNetworkWatcherNSGFlowLogsConnector__sampleStage3Input.txt", "nsg", 1, 1, 85, ""},
		{"microsoft-AzureNetworkWatcherNSGFlowLogsConnector__Tests_AzureNSGFlowLogsv1.json", "nsg", 2, 1, 8, ""},
		{"elastic-integrations__azure_network_watcher_nsg__sample_logs_testdata.log", "nsg", 2, 2, 11, ""},
		{"elastic-integrations__azure_network_watcher_nsg__test-nsg.log", "nsg", 2, 1, 1, ""},
		{"jagilber-powershellScripts__azure-az-vnet-flow-log.ps1__example-excerpt.json", "vnet", 4, 1, 7, ""},
		{"elastic-integrations__azure_network_watcher_vnet__sample_logs_testdata.log", "vnet", 4, 1, 19, ""},
		{"elastic-integrations__azure_network_watcher_vnet__test-vnet.log", "vnet", 4, 1, 2, ""},
		{"dimitertodorov-nsg-parser__testdata_nsg_events_NOT-flowlog.json", "", 0, 0, 0, "NSG diagnostic log"},
		{"jusso-dev-Azure-flowlog-parser__sample-flowlog.json", "", 0, 0, 0, "VNet flow log record with NSG flow log fields"},
		{"microsoft-AzureNetworkWatcherNSGFlowLogsConnector__sampleOutputOfConvertToSplunk.json", "", 0, 0, 0, "converted event"},
		{"microsoft-AzureNetworkWatcherNSGFlowLogsConnector__sampleCefV1Output.txt", "", 0, 0, 0, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(corpusDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			st, err := NewReader().Read(bytes.NewReader(data), tt.file, func(*Tuple) {})
			if tt.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("error %v, want one saying %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Kind != tt.kind || len(st.Versions) != 1 || st.Versions[0] != tt.version || st.Records != tt.records || st.Tuples != tt.tuples {
				t.Errorf("kind %s versions %v records %d tuples %d, want %s %d %d %d", st.Kind, st.Versions, st.Records, st.Tuples, tt.kind, tt.version, tt.records, tt.tuples)
			}
		})
	}
	fixtures, _ := filepath.Glob(filepath.Join(corpusDir, "sekoia-intake-formats", "*.json"))
	for _, f := range fixtures {
		data, _ := os.ReadFile(f)
		if _, err := NewReader().Read(bytes.NewReader(data), f, func(*Tuple) {}); !errors.Is(err, ErrNotFlowLog) {
			t.Errorf("%s: %v, want a not-a-flow-log error", filepath.Base(f), err)
		}
	}
}

func TestBlobPath(t *testing.T) {
	tests := []struct{ path, resource, mac string }{
		{"ev/insights-logs-networksecuritygroupflowevent/resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1/y=2026/m=03/d=14/h=10/m=00/macAddress=000D3A100004/PT1H.json",
			"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1", "000D3A100004"},
		{"insights-logs-flowlogflowevent/flowLogResourceID=/S_NETWORKWATCHERRG/NETWORKWATCHER_EASTUS_FL/y=2026/m=07/d=07/h=15/m=00/macAddress=00-22-48-7b-c2-05/PT1H.json",
			"/S_NETWORKWATCHERRG/NETWORKWATCHER_EASTUS_FL", "0022487BC205"},
		{"old/resourceId%3D/subscriptions/s/nsg/y=2017/PT1H.json", "/SUBSCRIPTIONS/S/NSG", ""},
		{"PT1H.json", "", ""},
	}
	for _, tt := range tests {
		if r, m := blobPath(tt.path); r != tt.resource || m != tt.mac {
			t.Errorf("%s: %q %q, want %q %q", tt.path, r, m, tt.resource, tt.mac)
		}
	}
}

// TestDuplicatesNeedSameTuples: two records whose tuples join into the same
// text, split differently, are two records, not a duplicate.
func TestDuplicatesNeedSameTuples(t *testing.T) {
	a := vnetRecord("1773482400123,10.1.0.4,203.0.113.10,50000,443,6,O,E,NX,1,2,3,4", "1773482400124,10.1.0.4,203.0.113.10,50000,443,6,O,E,NX,1,2,3,4")
	b := vnetRecord("1773482400123,10.1.0.4,203.0.113.10,50000,443,6,O,E,NX,1,2,3,41", "773482400124,10.1.0.4,203.0.113.10,50000,443,6,O,E,NX,1,2,3,4")
	st, err := NewReader().Read(strings.NewReader(`{"records":[`+a+`,`+b+`,`+a+`]}`), "PT1H.json", func(*Tuple) {})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 2 || st.Duplicates != 1 {
		t.Errorf("%d records, %d duplicates; want 2, 1", st.Records, st.Duplicates)
	}
}
