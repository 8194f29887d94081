package analyze

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flows"
)

func rdp(i int, at, dur time.Duration, bytes uint64) *flows.Conn {
	c := conn("203.0.113.66", "10.0.0.4", uint16(50000+i), 3389, at, dur)
	c.RespIPBytes, c.UID, c.ConnState = bytes, fmt.Sprint("Cr", i), "SF"
	return c
}

// rdpAttempts are n short RDP sessions 20 seconds apart.
func rdpAttempts(n int) (cs []*flows.Conn) {
	for i := range n {
		cs = append(cs, rdp(i, time.Duration(i)*20*time.Second, 3*time.Second, 3000))
	}
	return cs
}

// TestBruteForce fires on many short sessions, not on a few, nor on
// attempts the NSG denied.
func TestBruteForce(t *testing.T) {
	runDetectorCases(t, []detectorCase{
		{"brute force", func() []*flows.Conn { return rdpAttempts(12) }, "brute_force", true},
		{"a few failed logins", func() []*flows.Conn { return rdpAttempts(4) }, "brute_force", false},
		{"denied", func() []*flows.Conn {
			cs := rdpAttempts(12)
			for _, c := range cs {
				c.FlowLog = &flows.FlowLogView{Decision: flows.Deny}
			}
			return cs
		}, "brute_force", false},
	})
}

// TestPasswordGuessingByFailures: failed logins the payload shows (SMB
// STATUS_LOGON_FAILURE, Kerberos pre-authentication failures) are brute
// force from any source, counted by failure; an internal source is a
// lateral-movement attempt; the same episode seen by short sessions too
// is one finding.
func TestPasswordGuessingByFailures(t *testing.T) {
	smb := func(src string, conns, failures int) func() []*flows.Conn {
		return func() (cs []*flows.Conn) {
			for i := range conns {
				c := conn(src, "10.0.0.10", uint16(50000+i), 445, time.Duration(i)*time.Second, time.Second)
				c.UID, c.Service = fmt.Sprint("Cf", i), "smb,ntlm"
				c.App = &appid.Facts{SMB: &appid.SMBFacts{LogonFailures: failures}}
				cs = append(cs, c)
			}
			return cs
		}
	}
	kerberos := func(n, code int) func() []*flows.Conn {
		return func() (cs []*flows.Conn) {
			for i := range n {
				c := conn("10.0.0.7", "10.0.0.10", uint16(50000+i), 88, time.Duration(i)*time.Second, time.Millisecond)
				c.UID, c.Service, c.Proto = fmt.Sprint("Ck", i), "krb", 17
				c.App = &appid.Facts{Kerberos: &appid.KerberosFacts{RequestType: "AS", Error: code}}
				cs = append(cs, c)
			}
			return cs
		}
	}
	runDetectorCases(t, []detectorCase{
		{"one SMB connection, 50 wrong passwords", smb("10.0.0.7", 1, 50), "brute_force", true},
		{"9 wrong SMB passwords", smb("10.0.0.7", 9, 1), "brute_force", false},
		{"Kerberos pre-authentication failures", kerberos(12, 24), "brute_force", true},
		{"Kerberos tickets refused for other reasons", kerberos(12, 7), "brute_force", false},
		{"FTP logins refused", func() (cs []*flows.Conn) {
			c := conn("198.51.100.7", "10.0.0.10", 50000, 21, 0, time.Minute)
			c.Service = "ftp"
			c.App = &appid.Facts{Banner: &appid.BannerFacts{Server: "220 FTP", LoginFailures: 12}}
			return []*flows.Conn{c}
		}, "brute_force", true},
		{"LDAP binds refused", func() (cs []*flows.Conn) {
			c := conn("10.0.0.7", "10.0.0.10", 50000, 389, 0, time.Minute)
			c.Service = "ldap_tcp"
			c.App = &appid.Facts{LDAP: &appid.LDAPFacts{BindFailures: 25}}
			return []*flows.Conn{c}
		}, "brute_force", true},
	})
	s := NewSummary(Options{})
	for _, c := range smb("10.0.0.7", 1, 50)() {
		s.AddConn(c)
	}
	fs := findingsWhere(s, ofKind("brute_force"))
	if len(fs) != 1 || fs[0].Count != 50 || fs[0].Title != "SMB password guessing, 50 failed logins" || !strings.Contains(fs[0].Why, "lateral-movement attempt") {
		t.Errorf("internal SMB guessing: %+v", fs)
	}
	s = NewSummary(Options{})
	for _, c := range smb("198.51.100.7", 12, 2)() { // short SMB sessions from the internet, each refused twice
		s.AddConn(c)
	}
	fs = findingsWhere(s, ofKind("brute_force"))
	if len(fs) != 1 || !slices.Contains(fs[0].Evidence.Facts, "24 failed SMB logins") {
		t.Errorf("one episode seen twice: %d findings, facts %v", len(fs), fs[0].Evidence.Facts)
	}
}

// TestPasswordGuessingOfMoreServices: HTTP and WinRM 401s to credentials,
// VNC passwords and database logins refused are password guessing too,
// named by their protocol.
func TestPasswordGuessingOfMoreServices(t *testing.T) {
	for _, tt := range []struct {
		service string
		port    uint16
		facts   func(n int) *appid.Facts
		title   string
	}{
		{"http,winrm", 5985, func(n int) *appid.Facts { return &appid.Facts{HTTP: &appid.HTTPFacts{WinRM: true, AuthFailures: n}} },
			"WinRM password guessing, 12 failed logins"},
		{"http", 8080, func(n int) *appid.Facts { return &appid.Facts{HTTP: &appid.HTTPFacts{AuthFailures: n}} },
			"HTTP password guessing, 12 failed logins"},
		{"rfb", 5901, func(n int) *appid.Facts { return &appid.Facts{RFB: &appid.RFBFacts{AuthFailures: n}} },
			"VNC password guessing, 12 failed logins"},
		{"mysql", 3306, func(n int) *appid.Facts { return &appid.Facts{DB: &appid.DBFacts{LoginFailures: n}} },
			"MySQL password guessing, 12 failed logins"},
		{"postgresql", 5432, func(n int) *appid.Facts { return &appid.Facts{DB: &appid.DBFacts{LoginFailures: n}} },
			"PostgreSQL password guessing, 12 failed logins"},
	} {
		s := NewSummary(Options{})
		for i := range 12 {
			c := conn("10.0.0.7", "10.0.0.10", uint16(50000+i), tt.port, time.Duration(i)*time.Second, time.Second)
			c.UID, c.Service, c.App = fmt.Sprint("Cg", i), tt.service, tt.facts(1)
			s.AddConn(c)
		}
		if fs := findingsWhere(s, ofKind("brute_force")); len(fs) != 1 || fs[0].Title != tt.title {
			t.Errorf("%s: %v", tt.service, titlesOf(fs))
		}
	}
}

// TestGuessingThenLogin: a session that looks like a login that worked,
// after password guessing from the same source, is added to the finding
// and raises it; one before the guessing is not.
func TestGuessingThenLogin(t *testing.T) {
	run := func(extra *flows.Conn) Finding {
		s := NewSummary(Options{})
		for i := range 12 {
			c := conn("10.0.0.7", "10.0.0.10", uint16(50000+i), 445, time.Minute+time.Duration(i)*time.Second, time.Second)
			c.UID, c.Service = fmt.Sprint("Cf", i), "smb,ntlm"
			c.App = &appid.Facts{SMB: &appid.SMBFacts{LogonFailures: 1}}
			s.AddConn(c)
		}
		if extra != nil {
			s.AddConn(extra)
		}
		fs := findingsWhere(s, ofKind("brute_force"))
		if len(fs) != 1 {
			t.Fatalf("%d findings, want 1", len(fs))
		}
		return fs[0]
	}
	login := func(at time.Duration) *flows.Conn {
		c := conn("10.0.0.7", "10.0.0.10", 50100, 445, at, 2*time.Second)
		c.UID, c.Service = "Cok", "smb,ntlm"
		c.App = &appid.Facts{SMB: &appid.SMBFacts{Trees: []string{`\\dc\C$`}}, NTLM: &appid.NTLMFacts{Username: "admin"}}
		return c
	}
	plain := run(nil)
	after := run(login(2 * time.Minute))
	if after.Title != plain.Title+", then a login" || after.Score != max(plain.Score, 85) ||
		!slices.Contains(after.Evidence.UIDs, "Cok") || !strings.Contains(strings.Join(after.Evidence.Facts, ";"), "SMB at ") {
		t.Errorf("a login after: %q score %d (plain %d) facts %v", after.Title, after.Score, plain.Score, after.Evidence.Facts)
	}
	if before := run(login(0)); before.Title != plain.Title {
		t.Errorf("a login before the guessing: %q", before.Title)
	}
	anonymous := login(2 * time.Minute)
	anonymous.App.NTLM = nil
	if f := run(anonymous); f.Title != plain.Title {
		t.Errorf("an anonymous session: %q", f.Title)
	}
}

// TestGuessingThenAcceptedLogin: hydra tries several passwords a
// connection, so the FTP server's 230 comes in a connection that also had
// 530s, and an HTTP server's 200 answers the credentials that worked; the
// login the server accepted follows the guessing all the same.
func TestGuessingThenAcceptedLogin(t *testing.T) {
	for _, tt := range []struct {
		service string
		port    uint16
		facts   func(failures, logins int) *appid.Facts
		want    string
	}{
		{"ftp", 21, func(failures, logins int) *appid.Facts {
			return &appid.Facts{Banner: &appid.BannerFacts{LoginFailures: failures, Logins: logins}}
		}, "FTP password guessing, 32 failed logins, then a login"},
		{"http", 8080, func(failures, logins int) *appid.Facts {
			return &appid.Facts{HTTP: &appid.HTTPFacts{AuthFailures: failures, Logins: logins}}
		}, "HTTP password guessing, 32 failed logins, then a login"},
		{"krb_tcp", 88, func(_, logins int) *appid.Facts { // one exchange a connection: refused, or a ticket
			if logins > 0 {
				return &appid.Facts{Kerberos: &appid.KerberosFacts{RequestType: "AS", Success: true}}
			}
			return &appid.Facts{Kerberos: &appid.KerberosFacts{RequestType: "AS", Error: 24}}
		}, "Kerberos password guessing, 10 failed logins, then a login"},
	} {
		s := NewSummary(Options{})
		for i := range 11 {
			c := conn("10.0.0.7", "10.0.0.10", uint16(50000+i), tt.port, time.Duration(i)*time.Second, time.Second)
			c.UID, c.Service, c.App = fmt.Sprint("Cf", i), tt.service, tt.facts(3, 0)
			if i == 10 {
				c.UID, c.App = "Cok", tt.facts(2, 1)
			}
			s.AddConn(c)
		}
		if fs := findingsWhere(s, ofKind("brute_force")); len(fs) != 1 || fs[0].Title != tt.want {
			t.Errorf("%s: findings %v", tt.service, titlesOf(fs))
		}
	}
}

func titlesOf(fs []Finding) (titles []string) {
	for _, f := range fs {
		titles = append(titles, f.Title)
	}
	return titles
}

// TestBruteForceInside: short SSH sessions between internal hosts, past
// the key exchange, in quick succession and all about the same size, are
// password guessing; sessions that differ (an automation tool's work),
// stop at the banner (a monitor's check) or come once a minute (a monitor
// that logs in) are not.
func TestBruteForceInside(t *testing.T) {
	sshEvery := func(gap time.Duration, size func(i int) uint64) func() []*flows.Conn {
		return func() (cs []*flows.Conn) {
			for i := range 12 {
				c := conn("10.0.0.7", "10.0.0.9", uint16(50000+i), 22, time.Duration(i)*gap, 4*time.Second)
				c.UID, c.Service, c.ConnState = fmt.Sprint("Cs", i), "ssh", "SF"
				c.OrigBytes, c.RespBytes = 1800, size(i)
				cs = append(cs, c)
			}
			return cs
		}
	}
	ssh := func(size func(i int) uint64) func() []*flows.Conn { return sshEvery(20*time.Second, size) }
	runDetectorCases(t, []detectorCase{
		{"guessing: alike sessions", ssh(func(i int) uint64 { return 2200 + uint64(i%3) }), "brute_force", true},
		{"a monitor logging in once a minute", sshEvery(time.Minute, func(int) uint64 { return 2200 }), "brute_force", false},
		{"automation: sessions that differ", ssh(func(i int) uint64 { return 2000 + uint64(i)*1500 }), "brute_force", false},
		{"a monitor's banner checks", ssh(func(int) uint64 { return 300 }), "brute_force", false},
	})
	s := NewSummary(Options{})
	for _, c := range ssh(func(i int) uint64 { return 2200 })() {
		s.AddConn(c)
	}
	login := conn("10.0.0.7", "10.0.0.9", 50100, 22, 5*time.Minute, 10*time.Minute)
	login.UID, login.Service, login.RespBytes = "Cin", "ssh", 90000
	s.AddConn(login)
	if fs := findingsWhere(s, ofKind("brute_force")); len(fs) != 1 || fs[0].Title != "SSH brute force, 12 attempts, then a login" ||
		!strings.Contains(fs[0].Why, "lateral-movement attempt") || fs[0].Count != 12 {
		t.Errorf("inside: %v", titlesOf(fs))
	}
	// One episode, one finding: the SSH use between the two hosts is the
	// guessing and the login after it.
	if fs := findingsWhere(s, ofKind("lateral_movement")); len(fs) != 0 {
		t.Errorf("a lateral-movement finding beside the brute force: %v", titlesOf(fs))
	}
}
