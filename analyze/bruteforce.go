package analyze

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
)

// Brute force (ATT&CK T1110): many short sessions from one internet source
// to one remote-login service of an internal host within a window:
// password guessing against an exposed service.

const (
	bruteSessions  = 10               // short sessions to one service from one source...
	bruteWindow    = 10 * time.Minute // ...within this window
	bruteMaxLength = 30 * time.Second // a session this short is an attempt
)

// interactive ports: remote sessions an intruder logs in with.
var interactive = map[uint16]string{3389: "RDP", 22: "SSH", 5985: "WinRM", 5986: "WinRM", 445: "SMB", 5900: "VNC"}

// interactiveServices are the remote-login protocols the payload names,
// on any port (Zeek's service names).
var interactiveServices = map[string]string{"rfb": "VNC", "ssh": "SSH", "rdp": "RDP"}

// interactiveName names the remote-login service of a conversation whose
// payload showed services (comma-separated) on port: by the payload on
// any port, else by the port; "" for none.
func interactiveName(services string, port uint16) string {
	for s := range strings.SplitSeq(services, ",") {
		if name, ok := interactiveServices[s]; ok {
			return name
		}
	}
	return interactive[port]
}

// inboundInteractive reports whether c is a TCP connection from the
// internet to a remote-login service of an internal host, and names the
// service.
func inboundInteractive(d *detection, c *flows.Conn) (service string, ok bool) {
	service = interactiveName(c.Service, c.RespPort)
	return service, service != "" && c.Proto == ipproto.TCP && !d.internal(c.Orig) && d.internal(c.Resp)
}

// attempt reports whether an inbound interactive connection is a login
// attempt: short, and not denied by the NSG (a denied one never reached
// the service).
func attempt(c *flows.Conn) bool { return durationOf(c) < bruteMaxLength && !c.Denied() }

type bruteForceDetector struct {
	windows windowFindings[scanKey] // short sessions from the internet: src, target, port, window
	failed  windowFindings[scanKey] // failed logins the payload showed, from any source; Count counts them
	// inside are short sessions between internal hosts past the key
	// exchange, and insideSeen when each source, target and port's (window
	// 0) began and the responder bytes, for the pace and the sameness of
	// failed attempts.
	inside     windowFindings[scanKey]
	insideSeen map[scanKey][]attemptSeen
	// logins are, per source, target and port (window 0), the first and the
	// last conversation that looks like a login that worked.
	logins map[scanKey]*[2]loginSeen
}

// attemptSeen is a short session between internal hosts: when it began,
// and the bytes its server sent.
type attemptSeen struct {
	ts    int64
	bytes uint64
}

// loginSeen is a conversation that looks like a login that worked.
type loginSeen struct {
	ts, duration int64
	uid          string
	bytes        uint64
}

// maxLogins bounds the source, target and port keys whose logins are kept.
const maxLogins = 1 << 14

func newBruteForceDetector() *bruteForceDetector {
	below := func(f *Finding) bool { return f.Count < bruteSessions }
	return &bruteForceDetector{windows: newWindowFindings[scanKey](bruteWindow, below), failed: newWindowFindings[scanKey](bruteWindow, below),
		inside: newWindowFindings[scanKey](bruteWindow, below), insideSeen: map[scanKey][]attemptSeen{}, logins: map[scanKey]*[2]loginSeen{}}
}

// Sessions between internal hosts are attempts when they are short, got
// past the key exchange (a server's banner alone, a monitor's check, is
// not), come fast (a monitor that logs in once a minute does not), and are
// much the same size: a refused password ends every one alike, where an
// administrator's sessions differ with what they ran.
const (
	insideMinBytes = 1024             // responder bytes past the key exchange
	insideMaxGap   = 30 * time.Second // the median time between sessions at most
	sameSize       = 0.10             // within this fraction of the median size...
	sameShare      = 0.8              // ...this share of the sessions
	maxSizes       = 64               // sessions kept a source, target and port
)

// insideAttempt reports whether c is a short SSH, RDP or VNC session
// between internal hosts past its key exchange.
func insideAttempt(d *detection, c *flows.Conn) bool {
	switch interactiveName(c.Service, c.RespPort) {
	case "SSH", "RDP", "VNC":
	default:
		return false
	}
	return c.Proto == ipproto.TCP && d.internal(c.Orig) && d.internal(c.Resp) && attempt(c) &&
		c.RespBytes >= insideMinBytes && loginFailures(c) == 0
}

// guessing reports whether sessions look like refused passwords: at least
// bruteSessions of them, the median time between them at most
// insideMaxGap, and most of their sizes within sameSize of their median.
func guessing(seen []attemptSeen) bool {
	if len(seen) < bruteSessions {
		return false
	}
	seen = slices.SortedFunc(slices.Values(seen), func(a, b attemptSeen) int { return cmp.Compare(a.ts, b.ts) })
	gaps := make([]int64, len(seen)-1)
	for i := range gaps {
		gaps[i] = seen[i+1].ts - seen[i].ts
	}
	slices.Sort(gaps)
	if time.Duration(gaps[len(gaps)/2]) > insideMaxGap {
		return false
	}
	sizes := make([]uint64, len(seen))
	for i, s := range seen {
		sizes[i] = s.bytes
	}
	slices.Sort(sizes)
	median := float64(sizes[len(sizes)/2])
	n := 0
	for _, s := range sizes {
		if math.Abs(float64(s)-median) <= sameSize*median {
			n++
		}
	}
	return float64(n) >= sameShare*float64(len(sizes))
}

// loggedIn reports whether a conversation looks like a login that worked:
// an FTP, SMTP or HTTP server's reply accepting it, a KDC's ticket for a
// password (AS-REP), an SMB session that connected to a share as a named
// user, or a remote-login or other login protocol's session that lasted
// longer than an attempt, with no failure shown; and not denied.
func loggedIn(c *flows.Conn) bool {
	if c.Proto != ipproto.TCP || c.Denied() {
		return false
	}
	if f := c.App; f != nil && (f.Banner != nil && f.Banner.Logins > 0 || f.HTTP != nil && f.HTTP.Logins > 0 ||
		f.Kerberos != nil && f.Kerberos.Success && f.Kerberos.RequestType == "AS") {
		return true // the server said so (FTP 230, SMTP 235, HTTP 2xx to credentials, a KDC's ticket), after refusals or not
	}
	if loginFailures(c) > 0 {
		return false
	}
	if f := c.App; f != nil && f.SMB != nil && len(f.SMB.Trees) > 0 && f.NTLM != nil && f.NTLM.Username != "" {
		return true
	}
	return (interactiveName(c.Service, c.RespPort) != "" || loginProtocol(c.Service) != "") && durationOf(c) >= bruteMaxLength
}

// noteLogin keeps a login that worked, as the first or the last of its
// source, target and port (by time, then uid, so that the order
// conversations come in does not matter).
func (b *bruteForceDetector) noteLogin(c *flows.Conn) {
	k := scanKey{src: c.Orig, target: c.Resp, port: c.RespPort}
	seen := loginSeen{ts: c.TS, duration: c.Duration, uid: c.UID, bytes: c.OrigBytes + c.RespBytes}
	before := func(a, b loginSeen) bool { return a.ts < b.ts || a.ts == b.ts && a.uid < b.uid }
	p := b.logins[k]
	switch {
	case p == nil && len(b.logins) < maxLogins:
		b.logins[k] = &[2]loginSeen{seen, seen}
	case p == nil:
	case before(seen, p[0]):
		p[0] = seen
	case before(p[1], seen):
		p[1] = seen
	}
}

// loginAfter returns the first login that worked of a source, target and
// port at or after time t (the last, when the first came before t).
func (b *bruteForceDetector) loginAfter(k scanKey, t int64) (loginSeen, bool) {
	k.window = 0
	p := b.logins[k]
	switch {
	case p == nil:
		return loginSeen{}, false
	case p[0].ts >= t:
		return p[0], true
	case p[1].ts >= t:
		return p[1], true
	}
	return loginSeen{}, false
}

// markLogin adds to password guessing of a service the login that
// followed it. A login from the internet to a remote-login service is the
// inbound-access detector's to join to the brute force, with its own
// thresholds.
func (b *bruteForceDetector) markLogin(d *detection, f *Finding, k scanKey, service string) {
	if !d.internal(k.src) && interactiveName(f.Service, k.port) != "" {
		return
	}
	l, ok := b.loginAfter(k, f.first)
	if !ok {
		return
	}
	f.Score = max(f.Score, 85)
	f.Title += ", then a login"
	f.Evidence.UIDs = f.Evidence.LeftOut.unique(f.Evidence.UIDs, l.uid, &f.Evidence.LeftOut.UIDs)
	f.Evidence.addFact(fmt.Sprintf("then a session that looks like a successful login: %s at %s, %s long, %d bytes (%s)",
		service, time.Unix(0, l.ts).UTC().Format(time.RFC3339), time.Duration(l.duration).Round(time.Second), l.bytes, l.uid))
	f.Why += "; a session that looks like a login that worked followed"
}

// loginFailures returns the failed logins a conversation's payload
// showed: SMB session setups refused with STATUS_LOGON_FAILURE, LDAP binds
// answered invalidCredentials, FTP 530 and SMTP 535 replies, a Kerberos
// KDC_ERR_PREAUTH_FAILED (a wrong password, or password spraying), HTTP
// (and WinRM) requests with credentials answered 401, a VNC password
// refused, MySQL and PostgreSQL logins refused.
func loginFailures(c *flows.Conn) int {
	switch f := c.App; {
	case f == nil:
	case f.SMB != nil && f.SMB.LogonFailures > 0:
		return f.SMB.LogonFailures
	case f.LDAP != nil && f.LDAP.BindFailures > 0:
		return f.LDAP.BindFailures
	case f.Banner != nil && f.Banner.LoginFailures > 0:
		return f.Banner.LoginFailures
	case f.Kerberos != nil && f.Kerberos.Error == 24:
		return 1
	case f.HTTP != nil && f.HTTP.AuthFailures > 0:
		return f.HTTP.AuthFailures
	case f.RFB != nil && f.RFB.AuthFailures > 0:
		return f.RFB.AuthFailures
	case f.DB != nil && f.DB.LoginFailures > 0:
		return f.DB.LoginFailures
	}
	return 0
}

// loginProtocols name the protocols whose failed logins loginFailures
// counts, by their service.
var loginProtocols = map[string]string{"smb": "SMB", "ldap_tcp": "LDAP", "ftp": "FTP", "smtp": "SMTP", "krb": "Kerberos",
	"krb_tcp": "Kerberos", "winrm": "WinRM", "http": "HTTP", "rfb": "VNC", "mysql": "MySQL", "postgresql": "PostgreSQL"}

// loginProtocol names the login protocol of a conversation's services
// (comma-separated): the first that is one, WinRM before the HTTP it
// rides on.
func loginProtocol(services string) string {
	if strings.Contains(","+services+",", ",winrm,") {
		return "WinRM"
	}
	for s := range strings.SplitSeq(services, ",") {
		if name, ok := loginProtocols[s]; ok {
			return name
		}
	}
	return ""
}

func (b *bruteForceDetector) observe(d *detection, c *flows.Conn) {
	if n := loginFailures(c); n > 0 {
		k := scanKey{src: c.Orig, target: c.Resp, port: c.RespPort, window: c.TS / int64(bruteWindow)}
		f := b.failed.get(d, k, func() *Finding {
			return newFinding("brute_force", "T1110", c, d.endpoint(c.Orig, nil), d.endpoint(c.Resp, port(c.RespPort)))
		})
		f.add(c, fmt.Sprintf("%d failed %s login(s)", n, loginProtocol(c.Service)))
		f.Count += n - 1
	}
	if loggedIn(c) {
		b.noteLogin(c)
	}
	if insideAttempt(d, c) {
		k := scanKey{src: c.Orig, target: c.Resp, port: c.RespPort}
		if seen, ok := b.insideSeen[k]; ok || len(b.insideSeen) < maxLogins {
			if len(seen) < maxSizes {
				b.insideSeen[k] = append(seen, attemptSeen{c.TS, c.RespBytes})
			}
		}
		k.window = c.TS / int64(bruteWindow)
		b.inside.get(d, k, func() *Finding {
			return newFinding("brute_force", "T1110", c, d.endpoint(c.Orig, nil), d.endpoint(c.Resp, port(c.RespPort)))
		}).add(c, fmt.Sprintf("%d bytes from the server", c.RespBytes))
	}
	if _, ok := inboundInteractive(d, c); !ok || !attempt(c) {
		return
	}
	k := scanKey{src: c.Orig, target: c.Resp, port: c.RespPort, window: c.TS / int64(bruteWindow)}
	f := b.windows.get(d, k, func() *Finding {
		return newFinding("brute_force", "T1110", c, d.endpoint(c.Orig, nil), d.endpoint(c.Resp, port(c.RespPort)))
	})
	f.add(c)
}

// findings makes one finding per source, target and service of the
// windows that crossed the threshold: a brute force of an hour is one
// episode, not six.
func (b *bruteForceDetector) findings(d *detection) []*Finding {
	var out []*Finding
	sessions := episodesOf(&b.windows)
	for k, f := range sessions {
		f.Score = min(85, 65+f.Count/3)
		name := interactiveName(f.Service, k.port)
		f.Title = fmt.Sprintf("%s brute force, %d attempts", name, f.Count)
		f.Why = fmt.Sprintf("%d short %s sessions from %s to %s in %s, at least %d within %s: password guessing against an exposed service",
			f.Count, name, k.src, k.target, spanOf(f), bruteSessions, bruteWindow)
		out = append(out, f)
	}
	for k, f := range episodesOf(&b.inside) {
		if !guessing(b.insideSeen[k]) {
			continue // sessions that differ, or a slow series: work done, not passwords refused
		}
		name := interactiveName(f.Service, k.port)
		f.Score = min(85, 65+f.Count/3)
		f.Title = fmt.Sprintf("%s brute force, %d attempts", name, f.Count)
		f.Why = fmt.Sprintf("%d short %s sessions from %s to %s in %s, at least %d within %s, past the key exchange, in quick succession and nearly all the same size: password guessing from an internal host, a lateral-movement attempt",
			f.Count, name, k.src, k.target, spanOf(f), bruteSessions, bruteWindow)
		b.markLogin(d, f, k, name)
		sessions[k] = f
		out = append(out, f)
	}
	for k, f := range episodesOf(&b.failed) {
		proto := loginProtocol(f.Service)
		if s := sessions[k]; s != nil { // the same episode, seen by its sessions too
			s.Evidence.addFact(fmt.Sprintf("%d failed %s logins", f.Count, proto))
			continue
		}
		f.Score = min(85, 65+f.Count/5)
		f.Title = fmt.Sprintf("%s password guessing, %d failed logins", proto, f.Count)
		f.Why = fmt.Sprintf("%d logins from %s to %s refused for a wrong password in %s, at least %d within %s: password guessing",
			f.Count, k.src, k.target, spanOf(f), bruteSessions, bruteWindow)
		if d.internal(k.src) && d.internal(k.target) {
			f.Why += "; from an internal host: a lateral-movement attempt"
		}
		b.markLogin(d, f, k, proto)
		out = append(out, f)
	}
	return out
}

// episodesOf joins the windows of each source, target and port that
// crossed the threshold into one finding, the earliest.
func episodesOf(w *windowFindings[scanKey]) map[scanKey]*Finding {
	episodes := map[scanKey][]*Finding{}
	for k, f := range w.m {
		if !w.below(f) {
			k.window = 0
			episodes[k] = append(episodes[k], f)
		}
	}
	out := make(map[scanKey]*Finding, len(episodes))
	for k, fs := range episodes {
		slices.SortFunc(fs, func(a, b *Finding) int { return cmp.Compare(a.first, b.first) })
		f := fs[0]
		for _, o := range fs[1:] {
			f.Count += o.Count
			f.first, f.last = min(f.first, o.first), max(f.last, o.last)
			f.Evidence.merge(&o.Evidence)
		}
		out[k] = f
	}
	return out
}
