package analyze

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/appid"
)

// TestLateralGrouping checks that one source's use of one technique on
// several hosts is one finding naming them all, while payload-confirmed and
// port-only evidence stay apart.
func TestLateralGrouping(t *testing.T) {
	s := NewSummary(Options{})
	for i, dst := range []string{"10.0.0.21", "10.0.0.22", "10.0.0.23"} {
		c := conn("10.0.0.6", dst, uint16(50000+i), 22, time.Duration(i)*time.Minute, time.Minute)
		c.UID = "C" + dst
		s.AddConn(c)
	}
	confirmed := conn("10.0.0.6", "10.0.0.24", 50010, 22, 10*time.Minute, time.Minute)
	confirmed.App = &appid.Facts{SSH: &appid.SSHFacts{Client: "SSH-2.0-OpenSSH_9.6"}}
	s.AddConn(confirmed)
	fs := s.Report().Findings
	if len(fs) != 2 {
		t.Fatalf("got %d findings, want 2: %+v", len(fs), fs)
	}
	byHow := map[bool]Finding{}
	for _, f := range fs {
		byHow[strings.Contains(f.Why, "payload)")] = f
	}
	grouped := byHow[false]
	if dsts := grouped.Targets; len(dsts) != 3 || grouped.Count != 3 || len(grouped.Evidence.UIDs) != 3 {
		t.Errorf("port-only finding not grouped: %+v", grouped)
	}
	if !strings.Contains(grouped.Why, "3 internal hosts") {
		t.Errorf("why = %q", grouped.Why)
	}
	if single := byHow[true]; single.Targets != nil || single.Dst.IP != netip.MustParseAddr("10.0.0.24") {
		t.Errorf("payload finding: %+v", byHow[true])
	}
}

// TestPivotChain checks that A→B then B→C is a pivot when B had not used
// remote administration before, and not when B is a jump host that had.
func TestPivotChain(t *testing.T) {
	for _, tt := range []struct {
		name     string
		bBefore  bool // B administered another host before A reached it
		wantChan bool
	}{
		{"fresh host", false, true},
		{"jump host", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSummary(Options{})
			add := func(src, dst string, at time.Duration) {
				c := conn(src, dst, 50000, 3389, at, time.Minute)
				c.UID = "C" + src + dst
				s.AddConn(c)
			}
			if tt.bBefore {
				add("10.0.0.2", "10.0.0.9", 0)
			}
			add("10.0.0.1", "10.0.0.2", 5*time.Minute)
			add("10.0.0.2", "10.0.0.3", 8*time.Minute)
			add("10.0.0.2", "10.0.0.4", 9*time.Minute)
			chains := findingsWhere(s, func(f Finding) bool { return strings.HasPrefix(f.Why, "pivot chain") })
			if !tt.wantChan {
				if len(chains) != 0 {
					t.Errorf("jump host reported as pivot: %+v", chains)
				}
				return
			}
			if len(chains) != 1 {
				t.Fatalf("got %d pivot findings, want 1", len(chains))
			}
			f := chains[0]
			// Both hops are RDP by port only (40): the pivot scores 40 + 20.
			if dsts := f.Targets; len(dsts) != 3 || f.Dst.IP != netip.MustParseAddr("10.0.0.2") || f.Count != 3 || f.Src.IP != netip.MustParseAddr("10.0.0.1") || f.Score != 60 {
				t.Errorf("pivot %+v", f)
			}
			// One episode, one finding: the hops' own findings are part of
			// the chain, and key events on the timeline.
			r := s.Report()
			if len(r.Findings) != 1 || len(r.Timeline) != 3 {
				t.Errorf("%d findings and %d events, want the chain alone, with its two hops", len(r.Findings), len(r.Timeline))
			}
		})
	}
}

// TestLateralNew checks that a pair first seen after the evidence's first
// quarter is marked new, and one seen in the baseline is not.
func TestLateralNew(t *testing.T) {
	s := NewSummary(Options{})
	add := func(src, dst string, at time.Duration) {
		c := conn(src, dst, 50000, 3389, at, time.Minute)
		c.UID = "C" + src + dst + at.String()
		s.AddConn(c)
	}
	add("10.0.0.1", "10.0.0.2", 0)
	add("10.0.0.1", "10.0.0.2", 3*time.Hour)
	add("10.0.0.5", "10.0.0.6", 3*time.Hour)
	add("10.0.0.8", "10.0.0.9", 4*time.Hour) // the evidence ends here
	newBy := map[string]bool{}
	for _, f := range s.Report().Findings {
		newBy[f.Src.IP.String()] = strings.Contains(f.Why, "; new:")
	}
	if newBy["10.0.0.1"] || !newBy["10.0.0.5"] || !newBy["10.0.0.8"] {
		t.Errorf("new: %v", newBy)
	}
}

// TestQuietTechniques checks that SMB and RPC seen by port only are
// findings only between hosts that had not used them before.
func TestQuietTechniques(t *testing.T) {
	for _, p := range []uint16{445, 135} {
		s := NewSummary(Options{})
		for i := range 12 { // a file server's everyday clients, in the baseline
			c := conn(fmt.Sprint("10.0.0.", 20+i), "10.0.0.2", 50000, p, time.Duration(i)*time.Minute, time.Minute)
			c.UID = fmt.Sprint("Cs", i)
			s.AddConn(c)
		}
		s.AddConn(conn("10.0.0.20", "10.0.0.2", 50001, p, 4*time.Hour, time.Minute)) // the evidence ends here
		late := conn("10.0.0.7", "10.0.0.9", 50002, p, 3*time.Hour, time.Minute)
		late.UID = "Clate"
		s.AddConn(late)
		got := findingsWhere(s, ofKind("lateral_movement"))
		want := map[uint16]string{445: "T1021.002", 135: "T1021.003"}[p]
		if len(got) != 1 || got[0].Src.IP != netip.MustParseAddr("10.0.0.7") || got[0].Technique != want || !strings.Contains(got[0].Why, "new:") {
			t.Errorf("port %d: %+v", p, got)
		}
	}
}

// TestDataAccess checks that database and directory connections are
// findings only when new or after --since.
func TestDataAccess(t *testing.T) {
	since := time.Unix(0, int64(3*time.Hour))
	for _, tt := range []struct {
		name  string
		opt   DetectOptions
		at    time.Duration // of the second pair's first connection
		found bool
	}{
		{"in the baseline", DetectOptions{}, 2 * time.Minute, false},
		{"new", DetectOptions{}, 3 * time.Hour, true},
		{"after --since", DetectOptions{Since: since}, 3*time.Hour + time.Minute, true},
	} {
		s := NewSummary(Options{Detect: tt.opt})
		for i := range 12 { // routine; the first quarter of the conversations ends at minute 3
			s.AddConn(conn("10.0.0.1", "10.0.0.2", uint16(50100+i), 1433, time.Duration(i)*time.Minute, time.Minute))
		}
		s.AddConn(conn("10.0.0.1", "10.0.0.2", 50001, 1433, 4*time.Hour, time.Minute)) // the evidence ends here
		c := conn("10.0.0.7", "10.0.0.2", 50002, 1433, tt.at, time.Minute)
		c.UID = "Cnew"
		s.AddConn(c)
		got := findingsWhere(s, ofKind("lateral_movement"))
		if tt.found != (len(got) == 1) || len(got) > 1 || (tt.found && (got[0].Src.IP != netip.MustParseAddr("10.0.0.7") || got[0].Technique != "")) {
			t.Errorf("%s: %+v", tt.name, got)
		}
	}
}

// TestRPCOperationsThatAreAttacks: RPC operations that are attacks on
// their own make a lateral-movement finding with their technique.
func TestRPCOperationsThatAreAttacks(t *testing.T) {
	for _, tt := range []struct {
		op, technique, severity string
	}{
		{"drsuapi:DRSAddEntry", "T1207", "critical"},
		{"drsuapi:DRSReplicaAdd", "T1207", "critical"},
		{"eventlog:ElfrClearELFW", "T1070.001", "high"},
		{"efsrpc:EfsRpcOpenFileRaw", "T1187", "high"},
		{"spoolss:RpcRemoteFindFirstPrinterChangeNotificationEx", "T1187", "medium"},
		{"samr:SamrSetInformationUser2", "T1098", "high"},
		{"lsarpc:LsarSetSecret", "T1098", "high"},
	} {
		s := NewSummary(Options{})
		c := conn("10.0.0.7", "10.0.0.9", 50000, 445, time.Minute, time.Second)
		c.Service = "smb,dce_rpc"
		c.App = &appid.Facts{DCERPC: &appid.DCERPCFacts{Operations: []string{tt.op}}}
		s.AddConn(c)
		fs := findingsWhere(s, ofKind("lateral_movement"))
		if len(fs) != 1 || fs[0].Technique != tt.technique || fs[0].Severity != tt.severity {
			var got []string
			for _, f := range fs {
				got = append(got, f.Technique+" "+f.Severity+" "+f.Title)
			}
			t.Errorf("%s: %v, want one %s finding of %s", tt.op, got, tt.severity, tt.technique)
		}
	}
}

// TestEternalBlue: the signs of MS17-010 make a lateral-movement finding
// of T1210, apart from Zerologon's rule.
func TestEternalBlue(t *testing.T) {
	s := NewSummary(Options{})
	c := conn("10.0.0.7", "10.0.0.9", 50000, 445, time.Minute, time.Second)
	c.Service = "smb"
	c.App = &appid.Facts{SMB: &appid.SMBFacts{MS17010: []string{"a burst of TRANS2 SECONDARY (EternalBlue)"}}}
	s.AddConn(c)
	fs := findingsWhere(s, ofKind("lateral_movement"))
	if len(fs) != 1 || fs[0].Technique != "T1210" || fs[0].Severity != "critical" || !strings.Contains(fs[0].Title, "EternalBlue") {
		t.Errorf("findings %+v", fs)
	}
}

// TestRPCWithoutItsBind: RPC requests on a dynamic port whose bind the
// capture missed are reported from what is there, as RPC seen by port.
func TestRPCWithoutItsBind(t *testing.T) {
	s := NewSummary(Options{Detect: DetectOptions{Since: time.Unix(0, 0)}}) // after --since: port-only use is flagged
	c := conn("10.0.0.7", "10.0.0.9", 50001, 49670, time.Minute, time.Second)
	c.Service = "dce_rpc"
	c.App = &appid.Facts{DCERPC: &appid.DCERPCFacts{Requests: 5}}
	s.AddConn(c)
	fs := findingsWhere(s, ofKind("lateral_movement"))
	if len(fs) != 1 || fs[0].Technique != "T1021.003" || !strings.Contains(strings.Join(fs[0].Evidence.Facts, "|"), "bind the capture did not see") {
		t.Errorf("findings %+v", fs)
	}
}
