package analyze

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netfx/netfx/flows"
)

// Lateral movement (ATT&CK TA0008): internal-to-internal use of remote
// administration and file-sharing protocols, confirmed by payload where the
// capture has it and by port and flow shape where only flow logs do;
// fan-out of one source to many internal hosts; pivot chains.

// adminPorts are the remote administration and file-sharing ports, with
// the technique a connection to them suggests.
var adminPorts = map[uint16]string{
	3389: "T1021.001", 445: "T1021.002", 139: "T1021.002", 135: "T1021.003",
	22: "T1021.004", 5900: "T1021.005", 5985: "T1021.006", 5986: "T1021.006",
}

// Thresholds of the lateral-movement detector.
const (
	fanOutHosts  = 10               // distinct internal targets on admin ports...
	fanOutWindow = 10 * time.Minute // ...within this window
	pivotWindow  = 30 * time.Minute // A→B then B→C within this is a pivot chain
	zerologonMin = 20               // Netlogon authentications in one episode
)

type lateralKey struct {
	src, dst  netip.Addr
	technique string
}

type fanKey struct {
	src    netip.Addr
	window int64
}

type edge struct {
	src, dst netip.Addr
	first    int64
	uid      string
}

type lateralDetector struct {
	pairs  map[lateralKey]*Finding
	fanout map[fanKey]*Finding
	edges  map[[2]netip.Addr]edge
}

func (l *lateralDetector) init() {
	l.pairs, l.fanout, l.edges = map[lateralKey]*Finding{}, map[fanKey]*Finding{}, map[[2]netip.Addr]edge{}
}

// classify says which technique a conversation shows, how strongly, and
// the facts behind it; technique "" when none.
func classify(c *flows.Conn) (technique string, score int, confirmed bool, facts []string) {
	if f := c.App; f != nil {
		if f.DCERPC != nil {
			for _, op := range f.DCERPC.Operations {
				switch {
				case strings.HasPrefix(op, "svcctl:CreateService"), op == "svcctl:StartServiceW":
					technique, score = "T1569.002", max(score, 90)
				case op == "drsuapi:DRSGetNCChanges":
					technique, score = "T1003.006", max(score, 95)
				case op == "atsvc:NetrJobAdd", op == "ITaskSchedulerService:SchRpcRegisterTask":
					technique, score = "T1053.005", max(score, 85)
				case strings.HasPrefix(op, "IWbemServices:"), strings.HasPrefix(op, "IWbemLevel1Login:"), op == "IRemoteSCMActivator:RemoteCreateInstance":
					if score < 80 {
						technique, score = "T1047", 80
					}
				case op == "netlogon:NetrServerAuthenticate3", op == "netlogon:NetrServerPasswordSet2":
					if score < 60 {
						technique, score = "T1210", 60
					}
				default:
					continue
				}
				facts = append(facts, "rpc "+op)
			}
		}
		if f.SMB != nil {
			for _, tree := range f.SMB.Trees {
				share := tree[strings.LastIndex(tree, `\`)+1:]
				if strings.HasSuffix(share, "$") && !strings.EqualFold(share, "IPC$") {
					facts = append(facts, "admin share "+tree)
					if score < 75 {
						technique, score = "T1021.002", 75
					}
				}
			}
			for _, file := range f.SMB.Files {
				if strings.HasSuffix(strings.ToLower(file), ".exe") || strings.HasSuffix(strings.ToLower(file), ".dll") || strings.HasSuffix(strings.ToLower(file), ".ps1") {
					facts = append(facts, "file "+file)
				}
			}
			for _, p := range f.SMB.Pipes {
				if strings.HasPrefix(p, "psexesvc") || strings.HasPrefix(p, "remcom") || strings.HasPrefix(p, "paexec") {
					facts = append(facts, "pipe "+p)
					if score < 85 {
						technique, score = "T1569.002", 85
					}
				}
			}
		}
		switch {
		case f.HTTP != nil && f.HTTP.WinRM:
			if score < 75 {
				technique, score = "T1021.006", 75
			}
			facts = append(facts, "WinRM POST "+f.HTTP.URI)
		case f.RDP != nil:
			if score < 65 {
				technique, score = "T1021.001", 65
			}
			if f.RDP.Cookie != "" {
				facts = append(facts, "RDP cookie "+f.RDP.Cookie)
			}
		case f.SSH != nil:
			if score < 55 {
				technique, score = "T1021.004", 55
			}
			facts = append(facts, "SSH "+f.SSH.Client)
		}
		if f.NTLM != nil && f.NTLM.Username != "" && technique != "" {
			facts = append(facts, "NTLM user "+f.NTLM.Domain+`\`+f.NTLM.Username+" from "+f.NTLM.Hostname)
		}
		if technique != "" {
			return technique, score, true, facts
		}
	}
	// Without payload: the port, for connections that were established.
	if t, ok := adminPorts[c.RespPort]; ok && c.Proto == 6 && established(c) && c.RespPort != 445 && c.RespPort != 139 && c.RespPort != 135 {
		return t, 40, false, []string{fmt.Sprintf("%s/%d established (port only, no payload)", c.ProtoName(), c.RespPort)}
	}
	return "", 0, false, nil
}

func (l *lateralDetector) observe(d *detector, c *flows.Conn) {
	orig, resp := c.Orig.Unmap(), c.Resp.Unmap()
	if !d.internal(orig) || !d.internal(resp) || orig == resp {
		return
	}
	if _, admin := adminPorts[c.RespPort]; admin && c.Proto == 6 {
		l.fanOut(d, c, orig, resp)
	}
	technique, score, confirmed, facts := classify(c)
	if technique == "" {
		return
	}
	k := lateralKey{orig, resp, technique}
	f := l.pairs[k]
	if f == nil {
		f = newFinding("lateral_movement", technique, c, d.endpoint(orig, nil), d.endpoint(resp, port(c.RespPort)))
		f.Score = score
		l.pairs[k] = f
	}
	f.Score = max(f.Score, score)
	if confirmed {
		facts = append(facts, "confirmed by payload")
	}
	f.add(c, facts...)
	if e, ok := l.edges[[2]netip.Addr{orig, resp}]; !ok || c.TS < e.first {
		l.edges[[2]netip.Addr{orig, resp}] = edge{orig, resp, c.TS, c.UID}
	}
}

// fanOut counts distinct internal targets of a source on admin ports per
// window.
func (l *lateralDetector) fanOut(d *detector, c *flows.Conn, src, dst netip.Addr) {
	k := fanKey{src, c.TS / int64(fanOutWindow)}
	f := l.fanout[k]
	if f == nil {
		f = newFinding("lateral_movement", "T1021", c, d.endpoint(src, nil), nil)
		l.fanout[k] = f
	}
	for _, e := range f.dsts {
		if e.IP == dst && *e.Port == c.RespPort {
			f.add(c)
			return
		}
	}
	if len(f.dsts) < 256 {
		f.dsts = append(f.dsts, d.endpoint(dst, port(c.RespPort)))
	}
	f.add(c, fmt.Sprintf("%s:%d", dst, c.RespPort))
}

func (l *lateralDetector) findings(d *detector) []*Finding {
	var out []*Finding
	for k, f := range l.pairs {
		if k.technique == "T1210" && f.Count < zerologonMin {
			continue // a few Netlogon authentications are normal
		}
		if k.technique == "T1210" {
			f.Score = 90
			f.Why = fmt.Sprintf("%d Netlogon authentications (NetrServerAuthenticate3) from %s to %s in %s: the Zerologon (CVE-2020-1472) pattern", f.Count, k.src, k.dst, spanOf(f))
		} else {
			f.Why = lateralWhy(k.technique, k.src, k.dst, f)
		}
		if d.afterSince(f.first) {
			f.Score += 10
			f.Why += "; it started after --since"
		}
		out = append(out, f)
	}
	for k, f := range l.fanout {
		if distinctHosts(f.dsts) < fanOutHosts {
			continue
		}
		n := distinctHosts(f.dsts)
		f.Score = min(85, 55+2*n)
		f.Why = fmt.Sprintf("%s reached %d internal hosts on remote-administration ports within %s: fan-out, as an intruder spreading or sweeping", k.src, n, fanOutWindow)
		if d.afterSince(f.first) {
			f.Score += 10
		}
		out = append(out, f)
	}
	out = append(out, l.pivots(d)...)
	return out
}

// pivots finds chains A→B→C of admin connections, the second starting
// within pivotWindow after the first.
func (l *lateralDetector) pivots(d *detector) []*Finding {
	bySrc := map[netip.Addr][]edge{}
	for _, e := range l.edges {
		bySrc[e.src] = append(bySrc[e.src], e)
	}
	var out []*Finding
	var all []edge
	for _, e := range l.edges {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b edge) int {
		return cmp.Or(cmp.Compare(a.first, b.first), a.src.Compare(b.src), a.dst.Compare(b.dst))
	})
	for _, ab := range all {
		for _, bc := range bySrc[ab.dst] {
			if bc.dst == ab.src || bc.first < ab.first || bc.first > ab.first+int64(pivotWindow) {
				continue
			}
			f := &Finding{Kind: "lateral_movement", Technique: "T1021", Src: d.endpoint(ab.src, nil), Proto: "tcp",
				first: ab.first, last: bc.first, Score: 80,
				dsts: []Endpoint{d.endpoint(ab.dst, nil), d.endpoint(bc.dst, nil)}}
			f.Count = 2
			f.Evidence.UIDs = []string{ab.uid, bc.uid}
			f.Evidence.Facts = []string{fmt.Sprintf("%s -> %s -> %s", ab.src, ab.dst, bc.dst)}
			f.Why = fmt.Sprintf("pivot chain: %s reached %s, which reached %s %s later over remote-administration protocols", ab.src, ab.dst, bc.dst, time.Duration(bc.first-ab.first).Round(time.Second))
			out = append(out, f)
		}
	}
	return out
}

var techniqueNames = map[string]string{
	"T1021.001": "RDP", "T1021.002": "SMB to an administrative share", "T1021.003": "DCOM", "T1021.004": "SSH",
	"T1021.005": "VNC", "T1021.006": "WinRM", "T1569.002": "remote service creation (PsExec-style)",
	"T1053.005": "a remote scheduled task", "T1047": "WMI", "T1003.006": "directory replication (DCSync)",
}

func lateralWhy(technique string, src, dst netip.Addr, f *Finding) string {
	how := "payload"
	if !slices.Contains(f.Evidence.Facts, "confirmed by payload") {
		how = "port only"
	}
	return fmt.Sprintf("%s used %s on %s (%d connection(s), %s)", src, techniqueNames[technique], dst, f.Count, how)
}

func spanOf(f *Finding) time.Duration { return time.Duration(f.last - f.first).Round(time.Second) }

func distinctHosts(es []Endpoint) int {
	seen := map[netip.Addr]bool{}
	for _, e := range es {
		seen[e.IP] = true
	}
	return len(seen)
}
