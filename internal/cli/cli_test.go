package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/netfx/netfx/internal/floodgen"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const sharedDir = "../../../shared/corpus"

// run runs netfx in-process and returns its stdout, stderr and exit code.
func run(args ...string) (string, string, int) {
	return runWithStdin(nil, args...)
}

// runWithStdin runs netfx with stdin as its standard input.
func runWithStdin(stdin []byte, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, bytes.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func needCorpus(t *testing.T, sub string) string {
	t.Helper()
	dir := filepath.Join(sharedDir, sub)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus not found at %s (it sits beside the project root); skipping", dir)
	}
	return dir
}

// record is the part of a conns record the tests read.
type record struct {
	Proto       string `json:"proto"`
	OrigH       string `json:"id.orig_h"`
	OrigP       int    `json:"id.orig_p"`
	RespH       string `json:"id.resp_h"`
	RespP       int    `json:"id.resp_p"`
	OrigPkts    int    `json:"orig_pkts"`
	RespPkts    int    `json:"resp_pkts"`
	OrigIP      int    `json:"orig_ip_bytes"`
	RespIP      int    `json:"resp_ip_bytes"`
	TS          float64
	UID         string
	CommunityID string `json:"community_id"`
}

func parseRecords(t *testing.T, out string) []record {
	t.Helper()
	var recs []record
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad NDJSON line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

func endpoint(addr string, port int) string {
	if strings.Contains(addr, ":") {
		return fmt.Sprintf("[%s]:%d", addr, port)
	}
	return fmt.Sprintf("%s:%d", addr, port)
}

// TestExactAgainstTshark checks every TCP and UDP conversation of the corpus
// against tshark's packet and IP byte totals, as ../shared/tools/conv-check
// does, and the exit status on clean and damaged captures.
func TestExactAgainstTshark(t *testing.T) {
	dir := needCorpus(t, "pcap")
	truths, _ := filepath.Glob(filepath.Join(dir, "truth", "*.json"))
	if len(truths) == 0 {
		t.Skip("no truth files")
	}
	for _, tf := range truths {
		data, err := os.ReadFile(tf)
		if err != nil {
			t.Fatal(err)
		}
		var truth struct {
			File          string `json:"file"`
			TsharkExit    int    `json:"tshark_exit"`
			Conversations []struct {
				Proto, A, B string
				Packets     int
				IPBytes     int `json:"ip_bytes"`
			} `json:"conversations"`
		}
		if err := json.Unmarshal(data, &truth); err != nil {
			t.Fatal(err)
		}
		t.Run(truth.File, func(t *testing.T) {
			out, stderr, code := run("conns", filepath.Join(dir, truth.File))
			if truth.TsharkExit == 0 && code != ExitOK {
				t.Errorf("exit %d on a clean capture: %s", code, stderr)
			}
			if truth.TsharkExit != 0 && (code != ExitDamaged || !strings.Contains(stderr, truth.File)) {
				t.Errorf("damaged capture: exit %d, stderr %q", code, stderr)
			}
			got := map[string][2]int{}
			for _, r := range parseRecords(t, out) {
				if r.Proto != "tcp" && r.Proto != "udp" {
					continue
				}
				ends := []string{endpoint(r.OrigH, r.OrigP), endpoint(r.RespH, r.RespP)}
				sort.Strings(ends)
				k := r.Proto + " " + ends[0] + " " + ends[1]
				v := got[k]
				got[k] = [2]int{v[0] + r.OrigPkts + r.RespPkts, v[1] + r.OrigIP + r.RespIP}
			}
			for _, c := range truth.Conversations {
				ends := []string{c.A, c.B}
				sort.Strings(ends)
				k := c.Proto + " " + ends[0] + " " + ends[1]
				if got[k] != [2]int{c.Packets, c.IPBytes} {
					t.Errorf("%s: packets, IP bytes %v, tshark says %d, %d", k, got[k], c.Packets, c.IPBytes)
				}
			}
		})
	}
}

// TestCommunityIDCorpus checks that every Community ID in the reference
// captures appears on a conversation.
func TestCommunityIDCorpus(t *testing.T) {
	dir := needCorpus(t, "communityid")
	expected, _ := filepath.Glob(filepath.Join(dir, "expected", "*.expected.txt"))
	for _, ef := range expected {
		capture := strings.TrimSuffix(filepath.Base(ef), ".expected.txt")
		data, err := os.ReadFile(ef)
		if err != nil {
			t.Fatal(err)
		}
		out, stderr, code := run("conns", filepath.Join(dir, "pcaps", capture))
		if code != ExitOK {
			t.Errorf("%s: exit %d: %s", capture, code, stderr)
		}
		have := map[string]bool{}
		for _, r := range parseRecords(t, out) {
			have[r.CommunityID] = true
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			fields := strings.Split(line, " | ")
			if len(fields) < 2 || !strings.HasPrefix(fields[1], "1:") {
				continue
			}
			if !have[fields[1]] {
				t.Errorf("%s: no conversation has Community ID %s (%s)", capture, fields[1], line)
			}
		}
	}
}

func TestConnsOrderAndDeterminism(t *testing.T) {
	out1, _, code := run("conns", "../../testdata/demo")
	out2, _, _ := run("conns", "../../testdata/demo")
	if code != ExitOK || out1 != out2 {
		t.Fatalf("exit %d; identical output: %v", code, out1 == out2)
	}
	recs := parseRecords(t, out1)
	if len(recs) < 100 {
		t.Fatalf("only %d records from the demo", len(recs))
	}
	for i := 1; i < len(recs); i++ {
		a, b := recs[i-1], recs[i]
		if a.TS > b.TS || (a.TS == b.TS && a.UID >= b.UID) {
			t.Fatalf("records %d and %d out of order: %v %s, %v %s", i-1, i, a.TS, a.UID, b.TS, b.UID)
		}
	}
}

func TestZeekFormat(t *testing.T) {
	out, _, code := run("conns", "--format", "zeek", "../../testdata/demo/vm1-capture-01.pcap")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != `#separator \x09` || !strings.HasPrefix(lines[6], "#fields\tts\tuid\tid.orig_h") || !strings.HasPrefix(lines[7], "#types\ttime\tstring\taddr") {
		t.Fatalf("bad header:\n%s", strings.Join(lines[:8], "\n"))
	}
	nfields := len(strings.Split(lines[6], "\t")) - 1 // less "#fields"
	for _, l := range lines[8 : len(lines)-1] {
		if n := len(strings.Split(l, "\t")); n != nfields {
			t.Fatalf("row with %d fields, header has %d: %q", n, nfields, l)
		}
	}
	if !strings.HasPrefix(lines[len(lines)-1], "#close\t") {
		t.Errorf("no #close line")
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"conns", "../../testdata/demo"}, ExitOK},
		{[]string{"conns"}, ExitUsage},
		{[]string{"conns", "--format", "xml", "../../testdata/demo"}, ExitUsage},
		{[]string{"conns", "--no-such-flag", "x"}, ExitUsage},
		{[]string{"frobnicate"}, ExitUsage},
		{[]string{"conns", "does-not-exist.pcap"}, ExitDamaged},
		{[]string{"report", "--internal", "not-a-cidr", "../../testdata/demo"}, ExitUsage},
		{[]string{"report", "--top", "-1", "../../testdata/demo"}, ExitUsage},
		{[]string{"report", "--findings", "-3", "../../testdata/demo"}, ExitUsage},
		{[]string{"report", "--scan-window", "0s", "../../testdata/demo"}, ExitUsage},
		{[]string{"conns", "--tcp-timeout", "-1s", "../../testdata/demo"}, ExitUsage},
	}
	for _, tt := range tests {
		if _, stderr, code := run(tt.args...); code != tt.code {
			t.Errorf("netfx %v: exit %d, want %d (%s)", tt.args, code, tt.code, stderr)
		}
	}
}

// TestReportGolden compares the demo report, table and JSON, with golden
// files; go test ./internal/cli -update rewrites them.
func TestReportGolden(t *testing.T) {
	t.Setenv("COLUMNS", "100")
	for _, tt := range []struct {
		golden string
		args   []string
	}{
		{"report.table.golden", []string{"report", "--hash", "--details", "../../testdata/demo"}},
		{"report.json.golden", []string{"report", "--json", "../../testdata/demo"}},
	} {
		out, stderr, code := run(tt.args...)
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		path := filepath.Join("testdata", tt.golden)
		if *update {
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if out != string(want) {
			t.Errorf("%s differs from the golden file (run with -update after checking the change):\n%s", tt.golden, out)
		}
	}
}

// TestDemoMergesCapturesAndFlowLogs runs conns on the demo evidence: where
// capture and logs both saw a whole connection their counts agree, every
// connection is one record, and what only the logs saw lies outside the
// capture windows or was denied.
func TestDemoMergesCapturesAndFlowLogs(t *testing.T) {
	out, stderr, code := run("conns", "../../testdata/demo")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	type rec struct {
		TS       float64  `json:"ts"`
		Duration float64  `json:"duration"`
		Source   string   `json:"source"`
		CID      string   `json:"community_id"`
		OrigPkts *int     `json:"orig_pkts"`
		RespIP   *int     `json:"resp_ip_bytes"`
		LogPkts  *int     `json:"flowlog_orig_pkts"`
		LogRespB *int     `json:"flowlog_resp_bytes"`
		Decision string   `json:"flowlog_decision"`
		Sources  []string `json:"flowlog_sources"`
		Proto    string   `json:"proto"`
		RespPort int      `json:"id.resp_p"`
		History  string   `json:"history"`
	}
	windows := [][2]float64{}
	for _, name := range []string{"01", "02", "03"} {
		rep, _, _ := run("report", "--json", "../../testdata/demo/vm1-capture-"+name+".pcap")
		var r struct {
			Inputs []struct{ First, Last string }
		}
		if err := json.Unmarshal([]byte(rep), &r); err != nil {
			t.Fatal(err)
		}
		first, _ := time.Parse(time.RFC3339Nano, r.Inputs[0].First)
		last, _ := time.Parse(time.RFC3339Nano, r.Inputs[0].Last)
		windows = append(windows, [2]float64{float64(first.UnixNano()) / 1e9, float64(last.UnixNano()) / 1e9})
	}
	inside := func(a, b float64) bool {
		for _, w := range windows {
			if a >= w[0] && b <= w[1] {
				return true
			}
		}
		return false
	}
	overlaps := func(a, b float64) bool {
		for _, w := range windows {
			if b >= w[0] && a <= w[1] {
				return true
			}
		}
		return false
	}
	counts := map[string]int{}
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r rec
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		counts[r.Source]++
		key := fmt.Sprintf("%s %.0f", r.CID, r.TS)
		if r.CID != "" && seen[key] {
			t.Errorf("connection %s appears twice", key)
		}
		seen[key] = true
		switch r.Source {
		case "both":
			// A capture saw the whole TCP connection when it saw the SYN
			// and both FINs (UDP: one request and its answer).
			whole := r.Proto == "udp" || (strings.HasPrefix(r.History, "S") && strings.Contains(r.History, "F") && strings.Contains(r.History, "f"))
			if whole && inside(r.TS, r.TS+r.Duration) && r.LogPkts != nil && (*r.LogPkts != *r.OrigPkts || *r.LogRespB != *r.RespIP) {
				t.Errorf("fully captured connection %s: capture %d pkts %d bytes, logs %d pkts %d bytes", key, *r.OrigPkts, *r.RespIP, *r.LogPkts, *r.LogRespB)
			}
			if r.Proto == "tcp" && len(r.Sources) != 2 {
				t.Errorf("TCP connection %s lists %d logs, want the NSG and the VNet flow log", key, len(r.Sources))
			}
		case "flowlog":
			if r.Decision == "allow" && overlaps(r.TS, r.TS+r.Duration) {
				t.Errorf("allowed connection %s only in the logs, but a capture was running", key)
			}
		}
	}
	if counts["both"] < 100 || counts["flowlog"] < 100 || counts["capture"] != 0 {
		t.Errorf("records by source %v", counts)
	}
}

// TestServicesOnCorpus checks that conns says what real captures carry,
// whatever their ports, and names the RPC interfaces that reveal lateral
// movement.
func TestServicesOnCorpus(t *testing.T) {
	dir := needCorpus(t, "pcap")
	tests := []struct {
		file  string
		field string // a record field, or "service"
		want  string // a value the field of some record contains
	}{
		{"zeek__ssh_ssh-on-port-80.pcap", "service", "ssh"},
		{"zeek__postgresql_http-on-port-5432.pcap", "service", "http"},
		{"zeek__tls_tls13_wolfssl.pcap", "service", "ssl"},
		{"arkime__ssl-selfsign.pcap", "service", "ssl"},
		{"zeek__smb_smb3.pcap", "smb.dialect", "3.0"},
		{"zeek__smb_smb311.pcap", "smb.dialect", "3.1.1"},
		{"pcapattack__LM_psexec_smb_dcerpc_epm_svcctl.pcapng", "dce_rpc.endpoints", "svcctl"},
		{"pcapattack__LM_psexec_smb_dcerpc_epm_svcctl.pcapng", "smb.trees", `ADMIN$`},
		{"pcapattack__LM_WMI_ProcessCallCreate.pcapng", "dce_rpc.endpoints", "IWbemServices"},
		{"pcapattack__CVE-2020-1472_Zerologon_RPC_NetLogon_NullChallenge_SecChan_6_from_nonDC_to_DC.pcapng", "dce_rpc.endpoints", "netlogon"},
		{"pcapattack__discovery_scan_dcerpc_endpoint_mapper.pcapng", "dce_rpc.endpoints", "epmapper"},
		{"samrlab__sharphound_domain_z.pcapng", "dce_rpc.endpoints", "samr"},
		{"samrlab__sharphound_domain_z.pcapng", "service", "ldap_tcp"},
		{"pcapattack__LM_rdp_sharprdp.pcapng", "service", "rdp"},
		{"zeek__krb_kinit.pcap", "service", "krb"},
		{"zeek__krb_kinit.pcap", "krb.success", "true"},
		{"zeek__ldap_simpleauth.pcap", "ldap.bind_type", "simple"},
		{"sanders__dns_axfr.pcapng", "service", "dns"},
		{"suricata__20171220_smb_mimikatz_copy_to_host.pcap", "smb.files", "mimikatz.exe"},
	}
	for _, tt := range tests {
		out, stderr, code := run("conns", filepath.Join(dir, tt.file))
		if code != ExitOK {
			t.Errorf("%s: exit %d: %s", tt.file, code, stderr)
			continue
		}
		found := false
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() && !found {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			found = strings.Contains(fmt.Sprint(m[tt.field]), tt.want)
		}
		if !found {
			t.Errorf("%s: no record has %s containing %q", tt.file, tt.field, tt.want)
		}
	}
}

// finding is the part of a report finding the tests read.
type finding struct {
	Kind, Technique, Severity, Title string
	Score, Count                     int
	Src                              struct{ IP string }
	Dst                              json.RawMessage
	Evidence                         struct {
		UIDs, Processes, Facts []string
	}
}

func findings(t *testing.T, args ...string) []finding {
	t.Helper()
	out, stderr, code := run(append([]string{"report", "--json"}, args...)...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r struct{ Findings []finding }
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	return r.Findings
}

func (f finding) dstIP() string {
	var e struct{ IP string }
	if json.Unmarshal(f.Dst, &e) == nil {
		return e.IP
	}
	return "many"
}

func (f finding) dstPort() string {
	var e struct{ Port *int }
	if json.Unmarshal(f.Dst, &e) == nil && e.Port != nil {
		return strconv.Itoa(*e.Port)
	}
	return ""
}

// TestDemoFindings asserts each behaviour planted in the demo evidence is
// found, and that the ordinary traffic around it raises nothing but the
// low-severity record of scanners denied by the NSG.
func TestDemoFindings(t *testing.T) {
	fs := findings(t, "../../testdata/demo")
	// The process VM Insights names behind each (none for the jump host's
	// session: its VM has no agent in the demo).
	want := []struct{ kind, technique, src, dst, process string }{
		{"brute_force", "T1110", "203.0.113.66", "10.1.0.4", "svchost.exe"}, // and the login after it: one episode
		{"lateral_movement", "T1569.002", "10.1.0.4", "10.1.1.10", "System"},
		{"lateral_movement", "T1021.001", "10.1.0.4", "10.1.0.5", "mstsc.exe"},
		{"lateral_movement", "T1021.006", "10.1.0.4", "10.1.2.20", "powershell.exe"},
		{"lateral_movement", "T1021.004", "10.1.0.4", "10.1.2.30", "ssh.exe"},
		{"lateral_movement", "T1021.004", "10.1.3.7", "10.1.0.4", ""}, // the jump host's admin session
		{"beacon", "T1071", "10.1.0.4", "198.51.100.99", "updater.exe"},
		{"unusual_port", "T1571", "10.1.0.4", "203.0.113.77", "ssh.exe"},
		{"exfiltration", "T1041", "10.1.0.4", "192.0.2.123", "rclone.exe"},
		// The NSG opens RDP and SSH to the internet, which used them.
		{"exposure", "T1133", "0.0.0.0", "10.1.0.4:3389", "svchost.exe"},
		{"exposure", "T1133", "0.0.0.0", "10.1.0.4:22", ""},
	}
	found := map[int]bool{}
	for _, f := range fs {
		matched := false
		for i, w := range want {
			if f.Kind == w.kind && f.Technique == w.technique && f.Src.IP == w.src && (f.dstIP() == w.dst || f.dstIP()+":"+f.dstPort() == w.dst) {
				found[i], matched = true, true
				if w.process != "" && !slices.Contains(f.Evidence.Processes, w.process+" on vm-web-01") {
					t.Errorf("%s %s -> %s: processes %q, want %s", w.kind, w.src, w.dst, f.Evidence.Processes, w.process)
				}
			}
		}
		if !matched && !(f.Kind == "unusual_port" && f.Severity == "low") {
			t.Errorf("finding on ordinary traffic: %+v", f)
		}
		if len(f.Evidence.UIDs) == 0 {
			t.Errorf("finding without evidence: %+v", f)
		}
	}
	for i, w := range want {
		if !found[i] {
			t.Errorf("planted %s %s %s -> %s not found", w.kind, w.technique, w.src, w.dst)
		}
	}
	if len(fs) > len(want)+1 { // one low exposure to scanning
		t.Errorf("%d findings for %d planted episodes", len(fs), len(want))
	}
}

// TestFindingsOnAttackCaptures checks the real attack captures of the
// corpus give the expected kind and technique, one finding per episode.
func TestFindingsOnAttackCaptures(t *testing.T) {
	dir := needCorpus(t, "pcap")
	tests := []struct {
		file, kind, technique string
		minCount              int
	}{
		{"pcapattack__LM_psexec_smb_dcerpc_epm_svcctl.pcapng", "lateral_movement", "T1569.002", 1},
		{"pcapattack__LM_WMI_ProcessCallCreate.pcapng", "lateral_movement", "T1047", 1},
		{"pcapattack__LM_rdp_sharprdp.pcapng", "lateral_movement", "T1021.001", 1},
		{"pcapattack__CVE-2020-1472_Zerologon_RPC_NetLogon_NullChallenge_SecChan_6_from_nonDC_to_DC.pcapng", "lateral_movement", "T1210", 400},
		{"suricata__20171220_smb_mimikatz_copy_to_host.pcap", "lateral_movement", "T1021.002", 1},
		{"pcapattack__discovery_scan_dcerpc_endpoint_mapper.pcapng", "scan", "T1046", 1},
		{"samrlab__sharphound_domain_z.pcapng", "scan", "T1087.002", 1},
		{"sanders__synscan.pcapng", "scan", "T1046", 1900},
		{"pcapattack__cmds_over_dns_txt_queries_and_reponses.pcap", "dns_tunnel", "T1071.004", 10},
		{"zeek__ssh_ssh-on-port-80.pcap", "unusual_port", "T1571", 1},
	}
	for _, tt := range tests {
		n := 0
		for _, f := range findings(t, filepath.Join(dir, tt.file)) {
			if f.Kind == tt.kind && f.Technique == tt.technique {
				n++
				if f.Count < tt.minCount {
					t.Errorf("%s: %s covers %d connections, want at least %d", tt.file, tt.technique, f.Count, tt.minCount)
				}
			}
		}
		if n != 1 {
			t.Errorf("%s: %d %s/%s findings, want one episode", tt.file, n, tt.kind, tt.technique)
		}
	}
}

// TestFindingsOnLabAttacks runs the report on captures of real attack
// tools against real services in a lab (testdata/attacks, README there):
// each is one finding, of the right kind, technique and title, and
// nothing else (nmap's FIN and Xmas probes answered by resets once made
// an SSH lateral-movement finding; hydra's SSH sessions a second one).
func TestFindingsOnLabAttacks(t *testing.T) {
	tests := []struct{ file, kind, technique, title string }{
		{"nmap-scans.pcap", "scan", "T1046", "port scan with stealth probes"},
		{"nmap-xmas-null-few-ports.pcap", "scan", "T1046", "stealth scan (NULL, FIN/Xmas/Maimon probes)"},
		{"hydra-ssh.pcap", "brute_force", "T1110", "SSH brute force, 29 attempts"},
		{"hydra-ftp.pcap", "brute_force", "T1110", "FTP password guessing, 40 failed logins, then a login"},
		{"hydra-http-basic.pcap", "brute_force", "T1110", "HTTP password guessing, 40 failed logins, then a login"},
		{"smbclient-guessing.pcap", "brute_force", "T1110", "SMB password guessing, 15 failed logins, then a login"},
		{"kinit-guessing.pcap", "brute_force", "T1110", "Kerberos password guessing, 12 failed logins, then a login"},
		{"iodine-tunnel.pcap", "dns_tunnel", "T1071.004", "DNS tunnel via example.com"},
		{"http-beacon.pcap", "beacon", "T1071", "beacon every 8s"},
	}
	for _, tt := range tests {
		fs := findings(t, filepath.Join("../../testdata/attacks", tt.file))
		if len(fs) != 1 || fs[0].Kind != tt.kind || fs[0].Technique != tt.technique || fs[0].Title != tt.title {
			var got []string
			for _, f := range fs {
				got = append(got, fmt.Sprintf("%s/%s %q", f.Kind, f.Technique, f.Title))
			}
			t.Errorf("%s: findings %v, want only %s/%s %q", tt.file, got, tt.kind, tt.technique, tt.title)
		}
	}
}

// TestConnLogInput checks that netfx reads its own conns output back, as
// NDJSON and as a Zeek log, into the same records, and that a report made
// from the log finds what the report made from the evidence finds.
func TestConnLogInput(t *testing.T) {
	want, stderr, code := run("conns", "../../testdata/demo")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	zeek, _, _ := run("conns", "--format", "zeek", "../../testdata/demo")
	dir := t.TempDir()
	// Zeek archives its logs gzip-compressed (conn.00:00:00-01:00:00.log.gz).
	logs := map[string]string{"conns.ndjson": want, "conn.log": zeek, "conn.log.gz": zeek, "conns.ndjson.zst": want}
	direct := findings(t, "../../testdata/demo")
	for name, content := range logs {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, compressed(t, name, content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, stderr, code := run("conns", path)
		if code != ExitOK || got != want {
			t.Errorf("%s: exit %d (%s); records read back differ from those written", name, code, stderr)
		}
		if got, stderr, code := runWithStdin(compressed(t, name, content), "conns", "-"); code != ExitOK || got != want {
			t.Errorf("%s on standard input: exit %d (%s); records differ from those written", name, code, stderr)
		}
		fromLog := findings(t, path, "../../testdata/demo/azure-inventory")
		if len(fromLog) != len(direct) {
			t.Fatalf("%s: %d findings, from the evidence %d", name, len(fromLog), len(direct))
		}
		for i := range direct {
			a, b := direct[i], fromLog[i]
			if a.Kind != b.Kind || a.Technique != b.Technique || a.Score != b.Score || a.Count != b.Count || a.Src != b.Src || string(a.Dst) != string(b.Dst) {
				t.Errorf("%s: finding %d is %+v, from the evidence %+v", name, i, b, a)
			}
		}
	}
}

// compressed returns content compressed as the name's extension says.
func compressed(t *testing.T, name, content string) []byte {
	var b bytes.Buffer
	var w io.WriteCloser
	switch filepath.Ext(name) {
	case ".gz":
		w = gzip.NewWriter(&b)
	case ".zst":
		zw, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	default:
		return []byte(content)
	}
	if _, err := io.WriteString(w, content); err != nil || w.Close() != nil {
		t.Fatal("compressing", name, err)
	}
	return b.Bytes()
}

// TestConnLogsWithFlowLogs runs the per-capture step separately, as a
// batch engine would, and checks that the report on the logs plus the flow
// logs merges them instead of counting connections twice.
func TestConnLogsWithFlowLogs(t *testing.T) {
	demo := "../../testdata/demo"
	captures, _ := filepath.Glob(filepath.Join(demo, "*.pcap"))
	flowLogs, _ := filepath.Glob(filepath.Join(demo, "insights-logs-*"))
	if len(captures) == 0 || len(flowLogs) == 0 {
		t.Fatal("demo evidence missing")
	}
	dir := t.TempDir()
	for _, c := range captures {
		out, stderr, code := run("conns", "-q", c)
		if code != ExitOK {
			t.Fatalf("%s: exit %d: %s", c, code, stderr)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(c)+".ndjson"), []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	direct := findings(t, demo)
	batched := findings(t, append([]string{dir, filepath.Join(demo, "azure-inventory")}, flowLogs...)...)
	if len(batched) != len(direct) {
		t.Fatalf("%d findings from the batched logs, %d from the evidence", len(batched), len(direct))
	}
	for i := range direct {
		a, b := direct[i], batched[i]
		// A session that spans two captures is two records when the
		// captures are read apart: counts may differ by one.
		if a.Kind != b.Kind || a.Technique != b.Technique || a.Src != b.Src || string(a.Dst) != string(b.Dst) || b.Count < a.Count || b.Count > a.Count+1 {
			t.Errorf("finding %d is %+v, from the evidence %+v", i, b, a)
		}
	}
}

// TestStandardInput reads a capture and a flow-log blob from standard
// input ("-"): the same conversations as from the files.
func TestStandardInput(t *testing.T) {
	blob := ""
	filepath.WalkDir("../../testdata/demo", func(path string, d fs.DirEntry, err error) error {
		if err == nil && blob == "" && d.Name() == "PT1H.json" {
			blob = path
		}
		return nil
	})
	if blob == "" {
		t.Fatal("no demo flow-log blob")
	}
	for _, path := range []string{"../../testdata/demo/vm1-capture-01.pcap", blob} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want, _, _ := run("conns", path)
		got, stderr, code := runWithStdin(data, "conns", "-")
		if code != ExitOK {
			t.Fatalf("%s on standard input: exit %d: %s", path, code, stderr)
		}
		// uids name the input, so records of one ts may come in another order.
		sorted := func(out string) []string {
			var s []string
			for _, r := range parseRecords(t, out) {
				r.UID = ""
				s = append(s, fmt.Sprint(r))
			}
			sort.Strings(s)
			return s
		}
		if w, g := sorted(want), sorted(got); len(w) == 0 || strings.Join(w, "\n") != strings.Join(g, "\n") {
			t.Errorf("%s on standard input: %d records, from the file %d, or they differ", path, len(g), len(w))
		}
	}
}

// TestUIDsIgnoreTheFolder: the same capture gives the same uids however
// its path is written, and from a copy in another folder.
func TestUIDsIgnoreTheFolder(t *testing.T) {
	rel := "../../testdata/demo/vm1-capture-01.pcap"
	abs, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(rel)
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(t.TempDir(), "vm1-capture-01.pcap")
	if err := os.WriteFile(moved, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, path := range []string{rel, abs, moved} {
		out, stderr, code := run("conns", path)
		if code != ExitOK {
			t.Fatalf("%s: exit %d: %s", path, code, stderr)
		}
		var uids []string
		for _, r := range parseRecords(t, out) {
			uids = append(uids, r.UID)
		}
		if i == 0 {
			want = uids
		} else if len(uids) == 0 || !slices.Equal(uids, want) {
			t.Errorf("%s: uids differ from those of %s", path, rel)
		}
	}
}

// TestMissingInputKeepsTheOthers: an input that cannot be read is reported
// and exits 1, and everything else is still read.
func TestMissingInputKeepsTheOthers(t *testing.T) {
	want, _, _ := run("conns", "../../testdata/demo")
	got, stderr, code := run("conns", "../../testdata/demo", "does-not-exist.pcap")
	if code != ExitDamaged || got != want || !strings.Contains(stderr, "does-not-exist.pcap") {
		t.Errorf("exit %d, %d bytes of records (want %d), stderr %q", code, len(got), len(want), stderr)
	}
}

// TestSameBytesEveryRun runs the report, as JSON and as tables, and
// conns on the demo evidence and on the corpus folder several times with
// one and with two processors and one to three flow tables: every run
// must give the same bytes, diagnostics included (maps are iterated in a
// different order each time, so an order that is not total shows).
func TestSameBytesEveryRun(t *testing.T) {
	inputs := [][]string{{"../../testdata/demo"}}
	if _, err := os.Stat(filepath.Join(sharedDir, "pcap")); err == nil {
		inputs = append(inputs, []string{filepath.Join(sharedDir, "pcap"), filepath.Join(sharedDir, "azure")})
	} else {
		t.Logf("corpus not found at %s: the demo alone", sharedDir)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, in := range inputs {
		for _, format := range [][]string{{"report", "--json", "-q"}, {"report", "-q", "--findings", "0"}, {"conns"}} {
			var first, firstErr string
			for i := range 6 {
				// Sharded tables, and reading ahead, from two workers.
				workers := []string{"1", "3", "2"}[i%3]
				args := append(append(slices.Clone(format), "--workers", workers), in...)
				runtime.GOMAXPROCS(1 + i%2)
				out, errOut, _ := run(args...)
				if i == 0 {
					first, firstErr = out, errOut
					continue
				}
				if out != first || errOut != firstErr {
					t.Fatalf("netfx %s: run %d (GOMAXPROCS %d) differs from the first", strings.Join(args, " "), i+1, 1+i%2)
				}
			}
		}
	}
}

// TestFloodsSameForAnyWorkers: a flood that fills the flow table ends
// the same conversations early with one table or several, so conns and
// the report are the same bytes: DNS answers between one pair of hosts,
// which all go to one worker, and SYNs from many sources, which go to
// all of them.
func TestFloodsSameForAnyWorkers(t *testing.T) {
	dir := t.TempDir()
	for _, kind := range []string{"dnsanswers", "synflood"} {
		path := filepath.Join(dir, kind+".pcap")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := floodgen.Write(f, kind, 8000, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		f.Close()
		for _, format := range [][]string{{"conns"}, {"report", "--json", "-q"}} {
			var first, firstErr string
			for _, workers := range []string{"1", "3", "8"} {
				args := append(slices.Clone(format), "--max-live", "2000", "--workers", workers, path)
				out, errOut, _ := run(args...)
				if workers == "1" {
					if !strings.Contains(errOut, "ended early") {
						t.Fatalf("netfx %s: nothing ended early, the flood tests nothing: %s", strings.Join(args, " "), errOut)
					}
					first, firstErr = out, errOut
					continue
				}
				if out != first || errOut != firstErr {
					t.Errorf("netfx %s: differs from one table", strings.Join(args, " "))
				}
			}
		}
	}
}

// TestNothingToReport: an empty folder, a folder of other files and a
// missing file give exit 1, one line on stderr and no report; files
// skipped in a folder are one line, each named with -v.
func TestNothingToReport(t *testing.T) {
	empty, junk := t.TempDir(), t.TempDir()
	for i := range 3 {
		if err := os.WriteFile(filepath.Join(junk, fmt.Sprintf("notes-%d.txt", i)), []byte("hello"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"empty folder", []string{"report", empty}, "no readable evidence"},
		{"folder of other files", []string{"report", junk}, "skipped 3 file(s)"},
		{"missing file", []string{"report", filepath.Join(empty, "missing.pcap")}, "no such file"},
		{"conns on an empty folder", []string{"conns", empty}, "no readable evidence"},
	} {
		out, stderr, code := run(tt.args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != ExitDamaged || out != "" || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: exit %d, %d bytes out, stderr %q", tt.name, code, len(out), stderr)
		}
		if tt.name != "folder of other files" && len(lines) != 1 {
			t.Errorf("%s: %d lines on stderr: %q", tt.name, len(lines), stderr)
		}
	}
	_, stderr, _ := run("report", "-v", junk)
	if n := strings.Count(stderr, "skipped "); n != 3 {
		t.Errorf("-v names %d skipped files, want 3: %q", n, stderr)
	}
}

// TestDrillDown: --host and --from/--to restrict conns and report to the
// conversations of those hosts in that time.
func TestDrillDown(t *testing.T) {
	all := parseRecords(t, mustRun(t, "conns", "../../testdata/demo"))
	out := mustRun(t, "conns", "--host", "10.1.2.0/24", "--from", "2026-03-14T10:30:00Z", "--to", "2026-03-14T10:40:00Z", "../../testdata/demo")
	got := parseRecords(t, out)
	want := 0
	for _, r := range all {
		in := strings.HasPrefix(r.OrigH, "10.1.2.") || strings.HasPrefix(r.RespH, "10.1.2.")
		if in && r.TS >= 1773484200-3600 && r.TS <= 1773484800 {
			want++
		}
	}
	if len(got) == 0 || len(got) > want {
		t.Fatalf("%d records in scope, want between 1 and %d", len(got), want)
	}
	for _, r := range got {
		if !strings.HasPrefix(r.OrigH, "10.1.2.") && !strings.HasPrefix(r.RespH, "10.1.2.") {
			t.Errorf("%s → %s is out of --host's scope", r.OrigH, r.RespH)
		}
	}
	var rep struct {
		Findings []struct {
			Src, Dst struct{ IP string }
		}
	}
	if err := json.Unmarshal([]byte(mustRun(t, "report", "--json", "--host", "10.1.2.20", "../../testdata/demo")), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) == 0 {
		t.Error("no finding about 10.1.2.20")
	}
	for _, f := range rep.Findings {
		if f.Src.IP != "10.1.2.20" && f.Dst.IP != "10.1.2.20" {
			t.Errorf("a finding between %s and %s, out of scope", f.Src.IP, f.Dst.IP)
		}
	}
}

// mustRun runs netfx and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, code := run(args...)
	if code != ExitOK {
		t.Fatalf("netfx %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return out
}

// TestClockOutliers: a capture with one packet whose clock is far off (the
// epoch) reports it as that file's damage, with a warning on stderr but
// exit status 0 (every record was read), keeps it out of the time span,
// and finds the same as the capture without it.
func TestClockOutliers(t *testing.T) {
	data, err := os.ReadFile("../../testdata/demo/vm1-capture-01.pcap")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bad := slices.Clone(data)
	binary.LittleEndian.PutUint32(bad[24:], 0) // the first packet's seconds: 1970
	if binary.LittleEndian.Uint32(data[0:]) != 0xa1b2c3d4 {
		t.Fatal("the demo capture is not a little-endian pcap")
	}
	good, badPath := filepath.Join(dir, "good.pcap"), filepath.Join(dir, "bad.pcap")
	os.WriteFile(good, data, 0o644)
	os.WriteFile(badPath, bad, 0o644)
	type report struct {
		Totals   struct{ First, Last string }
		Inputs   []struct{ Damage string }
		Findings []struct{ Kind, Why string }
	}
	read := func(path string) (report, string, int) {
		out, stderr, code := run("report", "--json", path)
		var r report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		return r, stderr, code
	}
	want, _, _ := read(good)
	got, stderr, code := read(badPath)
	// A warning: every record was read.
	if code != ExitOK || !strings.Contains(stderr, "1 packet(s) with times far from the rest of the file (one at 1970-01-01") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	// The span starts at the second packet now.
	if got.Totals.First[:19] != want.Totals.First[:19] || got.Totals.Last != want.Totals.Last || !strings.Contains(got.Inputs[0].Damage, "far from the rest") {
		t.Errorf("time span %v, damage %q; want %v", got.Totals, got.Inputs[0].Damage, want.Totals)
	}
	if fmt.Sprint(got.Findings) != fmt.Sprint(want.Findings) {
		t.Errorf("findings differ:\n%v\nwant\n%v", got.Findings, want.Findings)
	}
}

// TestCountsAgree: on the demo, totals equal the sums of the rows they
// summarise, and what findings count they count from sets of connections.
func TestCountsAgree(t *testing.T) {
	var r struct {
		Totals   struct{ Conversations int }
		FlowLogs struct {
			Connections struct {
				Both        int `json:"both"`
				FlowLogOnly int `json:"flowlog_only"`
				CaptureOnly int `json:"capture_only"`
				Denied      int `json:"denied"`
			}
			Denied []struct {
				Src      string
				Dst      string
				Attempts int
			}
		} `json:"flow_logs"`
		Findings []struct {
			Kind     string
			Count    int
			Why      string
			Dst      struct{ IP string }
			Evidence struct {
				UIDs    []string
				LeftOut struct{ UIDs int } `json:"left_out"`
			}
		}
	}
	if err := json.Unmarshal([]byte(mustRun(t, "report", "--json", "--top", "1000", "../../testdata/demo")), &r); err != nil {
		t.Fatal(err)
	}
	c := r.FlowLogs.Connections
	if c.Both+c.FlowLogOnly+c.CaptureOnly != r.Totals.Conversations {
		t.Errorf("%d+%d+%d connections by source, %d in all", c.Both, c.FlowLogOnly, c.CaptureOnly, r.Totals.Conversations)
	}
	denied, sources := 0, map[string]map[string]bool{}
	for _, d := range r.FlowLogs.Denied {
		denied += d.Attempts
		if sources[d.Dst] == nil {
			sources[d.Dst] = map[string]bool{}
		}
		sources[d.Dst][d.Src] = true
	}
	if denied != c.Denied || denied == 0 {
		t.Errorf("denied table sums to %d, the count says %d", denied, c.Denied)
	}
	for _, f := range r.Findings {
		if len(f.Evidence.UIDs)+f.Evidence.LeftOut.UIDs != f.Count {
			t.Errorf("%s: count %d, %d uids listed and %d left out", f.Kind, f.Count, len(f.Evidence.UIDs), f.Evidence.LeftOut.UIDs)
		}
		if strings.Contains(f.Why, "denied by the NSG") {
			if want := fmt.Sprintf("from %d source(s)", len(sources[f.Dst.IP])); !strings.Contains(f.Why, want) {
				t.Errorf("%q does not say %q", f.Why, want)
			}
		}
	}
}

// TestDamagedConnLogLines: a conversation-log line that cannot be read is
// reported with the file and line, and the lines after it are read.
func TestDamagedConnLogLines(t *testing.T) {
	good := `{"ts":1773482400,"uid":"C%d","id.orig_h":"10.0.0.1","id.orig_p":%d,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp"}` + "\n"
	log := fmt.Sprintf(good, 1, 1000) + "{oops\n" + fmt.Sprintf(good, 2, 1001)
	path := filepath.Join(t.TempDir(), "conn.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := run("conns", path)
	if n := len(parseRecords(t, out)); n != 2 || code != ExitDamaged || !strings.Contains(stderr, path+": line 2 (byte offset") {
		t.Errorf("%d records, exit %d, stderr %q", n, code, stderr)
	}
}
