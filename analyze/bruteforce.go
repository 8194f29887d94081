package analyze

import (
	"cmp"
	"fmt"
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
}

func newBruteForceDetector() *bruteForceDetector {
	below := func(f *Finding) bool { return f.Count < bruteSessions }
	return &bruteForceDetector{windows: newWindowFindings[scanKey](bruteWindow, below), failed: newWindowFindings[scanKey](bruteWindow, below)}
}

// loginFailures returns the failed logins a conversation's payload
// showed: SMB session setups refused with STATUS_LOGON_FAILURE, LDAP binds
// answered invalidCredentials, FTP 530 and SMTP 535 replies, a Kerberos
// KDC_ERR_PREAUTH_FAILED (a wrong password, or password spraying).
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
	}
	return 0
}

// loginProtocols name the protocols whose failed logins loginFailures
// counts, by their service (the first of a conversation's services).
var loginProtocols = map[string]string{"smb": "SMB", "ldap_tcp": "LDAP", "ftp": "FTP", "smtp": "SMTP", "krb": "Kerberos", "krb_tcp": "Kerberos"}

func loginProtocol(services string) string {
	first, _, _ := strings.Cut(services, ",")
	return loginProtocols[first]
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
