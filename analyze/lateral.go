package analyze

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
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

// dataPorts are database and directory services. Servers use them all day,
// so a connection to one is a lateral-movement candidate only when it is new
// (first seen after the evidence's baseline) or after --since: an intruder
// reaching for the data, or querying the directory from a host that never
// did.
var dataPorts = map[uint16]string{
	1433: "SQL Server", 1521: "Oracle", 3306: "MySQL", 5432: "PostgreSQL", 27017: "MongoDB", 6379: "Redis",
	9200: "Elasticsearch", 389: "LDAP", 636: "LDAPS", 3268: "the Global Catalog", 3269: "the Global Catalog",
}

// dataAccess is the technique key of connections to dataPorts: no ATT&CK
// technique names them as such, so their findings carry none.
const dataAccess = "data"

// Technique keys of SMB (445, 139) and RPC (135) seen by port only: file
// servers and domain controllers answer them all day, so like data access
// they are findings only when new or after --since.
const (
	smbByPort = "T1021.002 by port"
	rpcByPort = "T1021.003 by port"
)

// eternalBlue is the technique key of MS17-010 exploitation (T1210), kept
// apart from Zerologon's.
const eternalBlue = "T1210 MS17-010"

// quiet reports whether a technique key is everyday traffic unless new.
func quiet(technique string) bool {
	return technique == dataAccess || technique == smbByPort || technique == rpcByPort
}

// techniqueID is the ATT&CK ID a technique key reports.
func techniqueID(technique string) string {
	switch technique {
	case dataAccess:
		return ""
	case smbByPort, rpcByPort:
		return strings.TrimSuffix(technique, " by port")
	case eternalBlue:
		return "T1210"
	}
	return technique
}

// Thresholds of the lateral-movement detector.
const (
	fanOutHosts  = 10               // distinct internal targets on admin ports...
	fanOutWindow = 10 * time.Minute // ...within this window
	pivotWindow  = 30 * time.Minute // A→B then B→C within this is a pivot chain
	pivotBonus   = 20               // a pivot scores as its weakest hop plus this
	newBonus     = 10               // for a pair first seen after the evidence's baseline
	zerologonMin = 20               // Netlogon authentications in one episode
	// A technique that this many internal sources use is routine in the
	// network: a source using it on few hosts scores routinePenalty less.
	routineSources = 20
	routinePenalty = 25
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

// lateralPair is what one pair's use of one technique showed. Most pairs
// are everyday traffic that never becomes a finding, so it is kept
// smaller than one; findings are made at the end.
type lateralPair struct {
	first, last int64
	count       int
	score       int
	port        uint16 // of the first connection's responder
	proto       uint8
	service     string
	evidence    Evidence
}

func (p *lateralPair) add(c *flows.Conn, facts ...string) {
	p.count++
	p.first, p.last = min(p.first, c.TS), max(p.last, c.TS+c.Duration)
	p.evidence.add(c, facts...)
	if p.service == "" {
		p.service = c.Service
	}
}

func (p *lateralPair) finding(d *detection, k lateralKey) *Finding {
	return &Finding{Kind: "lateral_movement", Technique: techniqueID(k.technique), Score: p.score,
		Src: d.endpoint(k.src, nil), Dst: d.endpoint(k.dst, port(p.port)), Proto: ipproto.Name(p.proto),
		Service: p.service, Count: p.count, Evidence: p.evidence, first: p.first, last: p.last}
}

type lateralDetector struct {
	pairs     map[lateralKey]*lateralPair
	fanout    windowFindings[fanKey]
	edges     map[[2]netip.Addr]edge // first admin connection of each pair, for pivots
	firstSeen map[lateralKey]int64   // first admin, and first data, connection of each pair, for newness
}

func newLateralDetector() *lateralDetector {
	return &lateralDetector{pairs: map[lateralKey]*lateralPair{}, edges: map[[2]netip.Addr]edge{}, firstSeen: map[lateralKey]int64{},
		fanout: newWindowFindings[fanKey](fanOutWindow, func(f *Finding) bool { return distinctHosts(f.dsts) < fanOutHosts })}
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
				case op == "drsuapi:DRSReplicaAdd", op == "drsuapi:DRSReplicaDel", op == "drsuapi:DRSAddEntry":
					technique, score = "T1207", max(score, 90) // a host acting as a DC: DCShadow
				case op == "eventlog:ElfrClearELFW", op == "eventlog:ElfrClearELFA":
					if score < 85 {
						technique, score = "T1070.001", 85
					}
				case op == "efsrpc:EfsRpcOpenFileRaw", op == "efsrpc:EfsRpcEncryptFileSrv":
					if score < 85 {
						technique, score = "T1187", 85 // PetitPotam: the target authenticates to the caller
					}
				case op == "samr:SamrSetInformationUser", op == "samr:SamrSetInformationUser2",
					op == "lsarpc:LsarSetSecret", op == "lsarpc:LsarCreateSecret":
					if score < 75 {
						technique, score = "T1098", 75
					}
				case strings.HasPrefix(op, "spoolss:RpcRemoteFindFirstPrinterChangeNotification"):
					// The PrinterBug; print clients also ask their print
					// servers for change notifications, so medium.
					if score < 60 {
						technique, score = "T1187", 60
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
			for _, sign := range f.SMB.MS17010 {
				facts = append(facts, "MS17-010: "+sign)
				technique, score = eternalBlue, max(score, 90)
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
	// RPC whose bind the capture missed (it started mid-connection): what
	// is there, at the confidence of a port alone.
	if f := c.App; f != nil && f.DCERPC != nil && len(f.DCERPC.Interfaces) == 0 && f.DCERPC.Requests > 0 && established(c) {
		return rpcByPort, 30, false, []string{fmt.Sprintf("%d RPC request(s) on port %d whose bind the capture did not see", f.DCERPC.Requests, c.RespPort)}
	}
	// Without payload: the port, for TCP connections that were established.
	fact, ok := portOnlyFacts[c.RespPort]
	if !ok || c.Proto != ipproto.TCP || !established(c) {
		return "", 0, false, nil
	}
	switch c.RespPort {
	case 445, 139:
		return smbByPort, 30, false, []string{fact}
	case 135:
		return rpcByPort, 30, false, []string{fact}
	}
	if t, ok := adminPorts[c.RespPort]; ok {
		return t, 40, false, []string{fact}
	}
	return dataAccess, 20, false, []string{fact}
}

// portOnlyFacts say what a TCP connection to an admin or data port, seen
// without payload, shows; made once, as most pairs keep one.
var portOnlyFacts = func() map[uint16]string {
	facts := map[uint16]string{}
	for p := range adminPorts {
		facts[p] = fmt.Sprintf("tcp/%d established (port only, no payload)", p)
		if p == 445 || p == 139 || p == 135 {
			facts[p] = fmt.Sprintf("tcp/%d established (port only)", p)
		}
	}
	for p, what := range dataPorts {
		facts[p] = fmt.Sprintf("tcp/%d (%s) established", p, what)
	}
	return facts
}()

func (l *lateralDetector) observe(d *detection, c *flows.Conn) {
	orig, resp := c.Orig, c.Resp
	if !d.internal(orig) || !d.internal(resp) || orig == resp {
		return
	}
	if _, admin := adminPorts[c.RespPort]; admin && c.Proto == ipproto.TCP {
		l.fanOut(d, c, orig, resp)
	}
	technique, score, confirmed, facts := classify(c)
	if technique == "" {
		return
	}
	k := lateralKey{orig, resp, technique}
	p := l.pairs[k]
	if p == nil {
		p = &lateralPair{first: c.TS, last: c.TS + c.Duration, port: c.RespPort, proto: c.Proto, service: c.Service}
		l.pairs[k] = p
	}
	p.score = max(p.score, score)
	if confirmed {
		facts = append(facts, "confirmed by payload")
	}
	p.add(c, facts...)
	switch technique { // what allNew asks about
	case dataAccess:
		l.seen(newnessKey(orig, netip.Addr{}, technique), c.TS) // the source's first data use
	case smbByPort, rpcByPort:
		l.seen(newnessKey(netip.Addr{}, resp, technique), c.TS) // the server's first client
	default:
		l.seen(newnessKey(orig, resp, technique), c.TS)
	}
	if quiet(technique) {
		return // everyday traffic is no hop of a pivot chain
	}
	if e, ok := l.edges[[2]netip.Addr{orig, resp}]; !ok || c.TS < e.first {
		l.edges[[2]netip.Addr{orig, resp}] = edge{orig, resp, c.TS, c.UID}
	}
}

// fanOut counts distinct internal targets of a source on admin ports per
// window.
func (l *lateralDetector) fanOut(d *detection, c *flows.Conn, src, dst netip.Addr) {
	k := fanKey{src, c.TS / int64(fanOutWindow)}
	f := l.fanout.get(d, k, func() *Finding { return newFinding("lateral_movement", "T1021", c, d.endpoint(src, nil), Endpoint{}) })
	for _, e := range f.dsts {
		if e.IP == dst && *e.Port == c.RespPort {
			f.add(c)
			return
		}
	}
	if len(f.dsts) < 256 {
		f.dsts = append(f.dsts, d.endpoint(dst, port(c.RespPort)))
	}
	if len(f.Evidence.Facts) < maxEvidence { // the list is bounded: no need to write more
		f.add(c, fmt.Sprintf("%s:%d", dst, c.RespPort))
	} else {
		f.add(c)
	}
}

// groupKey gathers the pair findings of one source, technique and kind of
// evidence into one finding naming every target.
type groupKey struct {
	src       netip.Addr
	technique string
	confirmed bool
}

func (l *lateralDetector) findings(d *detection) []*Finding {
	var out []*Finding
	groups := map[groupKey][]*Finding{}
	for k, p := range l.pairs {
		f := p.finding(d, k)
		if k.technique == "T1210" {
			if f.Count < zerologonMin {
				continue // a few Netlogon authentications are normal
			}
			f.Score = 90
			f.Title = "Zerologon (CVE-2020-1472)"
			f.Why = fmt.Sprintf("%d Netlogon authentications (NetrServerAuthenticate3) from %s to %s in %s: the Zerologon (CVE-2020-1472) pattern", f.Count, k.src, k.dst, spanOf(f))
			out = append(out, d.sinceBonus(f))
			continue
		}
		g := groupKey{k.src, k.technique, confirmedByPayload(f)}
		groups[g] = append(groups[g], f)
	}
	users := map[string]map[netip.Addr]bool{} // technique → sources using it
	for g := range groups {
		if users[g.technique] == nil {
			users[g.technique] = map[netip.Addr]bool{}
		}
		users[g.technique][g.src] = true
	}
	hopScore := map[[2]netip.Addr]int{} // strongest technique on each pair, for pivots
	for g, fs := range groups {
		routine := len(users[g.technique]) >= routineSources && len(fs) < fanOutHosts
		for _, f := range fs {
			score := f.Score
			if routine && score < 70 {
				score -= routinePenalty
			}
			hop := [2]netip.Addr{g.src, f.Dst.IP}
			hopScore[hop] = max(hopScore[hop], score)
		}
		f := fs[0]
		if len(fs) > 1 {
			f = mergePairs(fs)
		}
		f.Title, f.Why = techniqueTitles[g.technique], lateralWhy(g.technique, g.src, f, g.confirmed)
		f.portOnly = !g.confirmed
		if routine && f.Score < 70 {
			f.Score -= routinePenalty
			f.Why += fmt.Sprintf("; %d internal hosts use %s here, so it is routine in this network", len(users[g.technique]), techniqueNames[g.technique])
		}
		end, baseline := d.baselineEnd()
		isNew := baseline && l.allNew(g.src, g.technique, fs, end)
		if quiet(g.technique) && !isNew && !d.afterSince(f.first) {
			continue // everyday file-server, RPC, database and directory traffic
		}
		if isNew {
			f.Score += newBonus
			f.Why += fmt.Sprintf("; new: no %s before %s, in the %s of evidence before it", newWhat(g.technique),
				d.clock(end), time.Duration(end-d.first).Round(time.Minute))
		}
		out = append(out, d.sinceBonus(f))
	}
	for k, f := range l.fanout.m {
		if l.fanout.below(f) {
			continue
		}
		n := distinctHosts(f.dsts)
		f.Score = min(85, 50+n)
		f.Title = fmt.Sprintf("fan-out to %d hosts", n)
		f.Why = fmt.Sprintf("%s reached %d internal hosts on remote-administration ports within %s: fan-out, as an intruder spreading or sweeping", k.src, n, fanOutWindow)
		out = append(out, d.sinceBonus(f))
	}
	out = append(out, l.pivots(d, hopScore)...)
	return out
}

// pivots finds chains A→B→C of admin connections: B, reached from A,
// reaches C within pivotWindow, and B had used no admin protocol before A
// reached it (hosts that administer others as a matter of course, such as
// jump hosts, are not pivots). One finding per A→B names every C; it
// scores as its weakest hop plus pivotBonus.
func (l *lateralDetector) pivots(d *detection, hopScore map[[2]netip.Addr]int) []*Finding {
	bySrc := map[netip.Addr][]edge{}
	firstOut := map[netip.Addr]int64{}
	all := make([]edge, 0, len(l.edges))
	for _, e := range l.edges {
		bySrc[e.src] = append(bySrc[e.src], e)
		if t, ok := firstOut[e.src]; !ok || e.first < t {
			firstOut[e.src] = e.first
		}
		all = append(all, e)
	}
	byFirst := func(a, b edge) int {
		return cmp.Or(cmp.Compare(a.first, b.first), a.src.Compare(b.src), a.dst.Compare(b.dst))
	}
	slices.SortFunc(all, byFirst)
	var out []*Finding
	for _, ab := range all {
		if firstOut[ab.dst] < ab.first {
			continue
		}
		next := bySrc[ab.dst]
		slices.SortFunc(next, byFirst)
		var f *Finding
		for _, bc := range next {
			if bc.dst == ab.src || bc.first > ab.first+int64(pivotWindow) {
				continue
			}
			if f == nil {
				f = &Finding{Kind: "lateral_movement", Technique: "T1021", Src: d.endpoint(ab.src, nil), Proto: "tcp",
					first: ab.first, last: bc.first, Count: 1,
					dsts: []Endpoint{d.endpoint(ab.dst, nil)}}
				f.Evidence.UIDs = []string{ab.uid}
				f.hops = [][2]netip.Addr{{ab.src, ab.dst}}
			}
			weakest := min(hopScore[[2]netip.Addr{ab.src, ab.dst}], hopScore[[2]netip.Addr{bc.src, bc.dst}])
			f.Score = max(f.Score, min(95, max(50, weakest+pivotBonus)))
			f.Count++
			f.last = max(f.last, bc.first)
			f.hops = append(f.hops, [2]netip.Addr{bc.src, bc.dst})
			f.dsts = append(f.dsts, d.endpoint(bc.dst, nil))
			f.Evidence.UIDs = appendBounded(f.Evidence.UIDs, bc.uid)
			f.Evidence.Facts = appendBounded(f.Evidence.Facts, fmt.Sprintf("%s -> %s -> %s after %s", ab.src, ab.dst, bc.dst,
				time.Duration(bc.first-ab.first).Round(time.Second)))
		}
		if f != nil {
			f.Title = "pivot through " + ab.dst.String()
			f.Why = fmt.Sprintf("pivot chain: %s reached %s, which had not used remote administration before and then reached %d host(s) within %s",
				ab.src, ab.dst, f.Count-1, pivotWindow)
			out = append(out, f)
		}
	}
	return out
}

// techniqueTitles name each technique in a few words, for a table row.
var techniqueTitles = map[string]string{
	"T1021.001": "RDP", "T1021.002": "SMB admin share", "T1021.003": "DCOM", "T1021.004": "SSH",
	"T1021.005": "VNC", "T1021.006": "WinRM", "T1569.002": "PsExec-style service",
	"T1053.005": "remote scheduled task", "T1047": "WMI", "T1003.006": "DCSync",
	"T1207": "rogue domain controller (DCShadow)", "T1070.001": "event log cleared", "T1187": "coerced authentication",
	"T1098": "account or secret changed", eternalBlue: "EternalBlue (MS17-010)",
	dataAccess: "new database or directory use", smbByPort: "SMB (port only)", rpcByPort: "RPC (port only)",
}

var techniqueNames = map[string]string{
	"T1021.001": "RDP", "T1021.002": "SMB to an administrative share", "T1021.003": "DCOM", "T1021.004": "SSH",
	"T1021.005": "VNC", "T1021.006": "WinRM", "T1569.002": "remote service creation (PsExec-style)",
	"T1053.005": "a remote scheduled task", "T1047": "WMI", "T1003.006": "directory replication (DCSync)",
	"T1207": "DCShadow (a rogue domain controller registering or replicating)", "T1070.001": "the event log service to clear a log",
	"T1187": "coerced authentication (PrinterBug, PetitPotam)", "T1098": "SAMR or LSA to set an account's information or a secret",
	eternalBlue: "an SMBv1 exploit (MS17-010: EternalBlue, DoublePulsar)",
	dataAccess:  "a database or directory service", smbByPort: "SMB", rpcByPort: "RPC",
}

// seen notes when k was first seen.
func (l *lateralDetector) seen(k lateralKey, ts int64) {
	if t, ok := l.firstSeen[k]; !ok || ts < t {
		l.firstSeen[k] = ts
	}
}

// newnessKey says what newness is judged by: a pair's first use of any
// remote administration, or (with a zero src or dst) a server's or a
// source's first use of a quiet technique.
func newnessKey(src, dst netip.Addr, technique string) lateralKey {
	if !quiet(technique) {
		technique = "admin"
	}
	return lateralKey{src, dst, technique}
}

// allNew reports whether what a group of findings shows began after the
// baseline's end: for remote administration, src's use on each target.
// Quiet techniques are everyday between clients and servers, so what must
// be new differs: for data access, src using any database or directory
// service at all; for SMB and RPC by port, each target serving them at all
// (an intruder's target is often a workstation that never did).
func (l *lateralDetector) allNew(src netip.Addr, technique string, fs []*Finding, end int64) bool {
	if technique == dataAccess {
		return l.firstSeen[newnessKey(src, netip.Addr{}, technique)] > end
	}
	for _, f := range fs {
		from := src
		if technique == smbByPort || technique == rpcByPort {
			from = netip.Addr{}
		}
		if l.firstSeen[newnessKey(from, f.Dst.IP, technique)] <= end {
			return false
		}
	}
	return true
}

func newWhat(technique string) string {
	switch technique {
	case dataAccess:
		return "database or directory use from this host"
	case smbByPort, rpcByPort:
		return techniqueNames[technique] + " to this host"
	}
	return "remote administration between these hosts"
}

func confirmedByPayload(f *Finding) bool {
	return slices.Contains(f.Evidence.Facts, "confirmed by payload")
}

// mergePairs joins the pair findings of one group, ordered by their first
// connection, into one finding with every target in dst.
func mergePairs(fs []*Finding) *Finding {
	slices.SortFunc(fs, func(a, b *Finding) int {
		return cmp.Or(cmp.Compare(a.first, b.first), a.Dst.IP.Compare(b.Dst.IP))
	})
	m := *fs[0]
	m.Evidence = Evidence{}
	m.Count = 0
	for _, f := range fs {
		m.dsts = append(m.dsts, f.Dst)
		m.Score = max(m.Score, f.Score)
		m.Count += f.Count
		m.first, m.last = min(m.first, f.first), max(m.last, f.last)
		m.Evidence.merge(&f.Evidence)
	}
	return &m
}

func lateralWhy(technique string, src netip.Addr, f *Finding, confirmed bool) string {
	how := "payload"
	if !confirmed {
		how = "port only"
	}
	target := f.Dst.IP.String()
	if len(f.dsts) > 0 {
		target = fmt.Sprintf("%d internal hosts", distinctHosts(f.dsts))
	}
	return fmt.Sprintf("%s used %s on %s (%d connection(s), %s)", src, techniqueNames[technique], target, f.Count, how)
}

func spanOf(f *Finding) time.Duration { return time.Duration(f.last - f.first).Round(time.Second) }

func distinctHosts(es []Endpoint) int {
	seen := map[netip.Addr]bool{}
	for _, e := range es {
		seen[e.IP] = true
	}
	return len(seen)
}
