package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
)

// Unusual ports (ATT&CK T1571 Non-Standard Port): a protocol on a port
// that is not its own, well-known attack-tool and C2 ports, ports rare
// across the whole evidence, external connections between two high ports,
// and denied attempts on ports the flow logs show.

// servicePorts are each identified protocol's own ports.
var servicePorts = map[string][]uint16{
	"ssl":  {443, 8443, 636, 993, 995, 465, 990, 3269, 5986, 4443, 9443, 3389, 5061, 8883, 853, 10443, 1443},
	"http": {80, 8080, 8000, 8008, 8081, 8888, 5985, 3128, 81, 591, 9080, 9200, 47001, 5357, 2869},
	"ssh":  {22, 2222},
	"smb":  {445, 139},
	"rdp":  {3389},
	"dns":  {53, 5353, 5355, 137},
	"krb":  {88, 464},
	"ldap": {389, 3268},
	"smtp": {25, 587, 465, 2525},
	"ftp":  {21},
	"ntp":  {123},
	"quic": {443, 80, 8443},
}

// c2Ports are the TCP ports common in attack tools and C2 frameworks'
// defaults (Metasploit 4444, IRC botnets 6667, Tor 9001/9050, Cobalt
// Strike 50050); Back Orifice listened on UDP 31337, so that port counts on
// both. Other UDP traffic to these numbers is not flagged: the tools use TCP.
var c2Ports = map[uint16]string{
	4444: "Metasploit's default handler port", 4445: "Metasploit", 1337: "attack tooling", 31337: "Back Orifice and other backdoors",
	6666: "IRC botnets", 6667: "IRC botnets", 6668: "IRC botnets", 6669: "IRC botnets", 12345: "NetBus",
	9001: "Tor relays", 9050: "Tor SOCKS", 5555: "Android debug bridge and RATs", 50050: "Cobalt Strike team server",
}

// c2Port says which tool a conversation's responder port suggests.
func c2Port(c *flows.Conn) (string, bool) {
	what, ok := c2Ports[c.RespPort]
	return what, ok && (c.Proto == ipproto.TCP || c.Proto == ipproto.UDP && c.RespPort == 31337)
}

type portKey2 struct {
	src, dst netip.Addr
	port     uint16
	what     string
}

type rareAcc struct {
	origs, resps map[netip.Addr]bool
	first        keptRef
	firstOrig    netip.Addr
	n            int
}

type portDetector struct {
	findingsBy map[portKey2]*Finding
	rare       map[[2]uint16]*rareAcc // protocol, port
}

func newUnusualPortDetector() *portDetector {
	return &portDetector{findingsBy: map[portKey2]*Finding{}, rare: map[[2]uint16]*rareAcc{}}
}

func (p *portDetector) get(d *detection, c *flows.Conn, what, technique string, score int) *Finding {
	orig, resp := c.Orig, c.Resp
	k := portKey2{orig, resp, c.RespPort, what}
	f := p.findingsBy[k]
	if f == nil {
		f = newFinding("unusual_port", technique, c, d.endpoint(orig, nil), d.endpoint(resp, port(c.RespPort)))
		f.Score = score
		p.findingsBy[k] = f
	}
	return f
}

func (p *portDetector) observe(d *detection, c *flows.Conn) {
	if c.Proto != ipproto.TCP && c.Proto != ipproto.UDP {
		return
	}
	orig, resp := c.Orig, c.Resp
	external := !d.internal(orig) || !d.internal(resp)
	if svc, _, _ := strings.Cut(c.Service, ","); svc != "" {
		// A conversation whose originator uses the service's port was seen
		// from its middle with the roles the other way round.
		if ports, known := servicePorts[svc]; known && !slices.Contains(ports, c.RespPort) && !slices.Contains(ports, c.OrigPort) {
			score := 55
			if external {
				score = 65
			}
			f := p.get(d, c, "wrong-port:"+svc, "T1571", score)
			f.add(c, fmt.Sprintf("%s identified by payload on %s/%d", svc, c.ProtoName(), c.RespPort))
			f.Why = fmt.Sprintf("%s on port %d, which is not its own: a protocol on a non-standard port", strings.ToUpper(svc), c.RespPort)
		}
	}
	if what, ok := c2Port(c); ok && established(c) {
		f := p.get(d, c, "c2-port", "T1571", 50)
		f.add(c)
		f.Why = fmt.Sprintf("connections to port %d (%s)", c.RespPort, what)
	}
	if c.Denied() {
		if _, admin := adminPorts[c.RespPort]; admin {
			p.denied(d, c)
		}
	}
	if external && established(c) && c.Proto == ipproto.TCP && c.OrigPort >= 1024 && c.RespPort >= 1024 &&
		!knownPort(c.RespPort) && c.RespPort < 49152 && c.Service == "" {
		f := p.get(d, c, "high-high", "T1571", 30)
		f.add(c)
		f.Why = fmt.Sprintf("an external connection between two high ports (%d to %d) carrying an unidentified protocol", c.OrigPort, c.RespPort)
	}
	if established(c) && c.RespPort < 49152 {
		k := [2]uint16{uint16(c.Proto), c.RespPort}
		r := p.rare[k]
		if r == nil {
			r = &rareAcc{origs: map[netip.Addr]bool{}, resps: map[netip.Addr]bool{}, first: d.keep(c), firstOrig: c.Orig}
			p.rare[k] = r
		}
		r.n++
		if len(r.origs) < 3 {
			r.origs[orig] = true
		}
		if len(r.resps) < 3 {
			r.resps[resp] = true
		}
	}
}

// denied gathers the denied attempts on one port of one host, from every
// source, into one low finding: internet scanners knock on exposed VMs all
// the time, so this is context, not an alarm.
func (p *portDetector) denied(d *detection, c *flows.Conn) {
	resp := c.Resp
	k := portKey2{dst: resp, port: c.RespPort, what: "denied"}
	f := p.findingsBy[k]
	if f == nil {
		f = newFinding("unusual_port", "", c, d.endpoint(c.Orig, nil), d.endpoint(resp, port(c.RespPort)))
		f.Score = 20
		f.dsts = nil
		p.findingsBy[k] = f
	}
	f.add(c, "denied by "+c.FlowLog.Rule, "source "+c.Orig.String())
	sources := 0
	for _, fact := range f.Evidence.Facts {
		if strings.HasPrefix(fact, "source ") {
			sources++
		}
	}
	f.Why = fmt.Sprintf("%d attempt(s) from %d source(s) on port %d of %s, denied by the NSG: exposure to scanning", f.Count, sources, c.RespPort, resp)
}

// knownPort reports whether a port belongs to a common service.
func knownPort(p uint16) bool {
	if p < 1024 {
		return true
	}
	for _, ports := range servicePorts {
		if slices.Contains(ports, p) {
			return true
		}
	}
	_, admin := adminPorts[p]
	return admin || p == 1433 || p == 3306 || p == 5432 || p == 6379 || p == 27017
}

// maxRareFindings bounds the low-severity rare-port findings.
const maxRareFindings = 25

func (p *portDetector) findings(d *detection) []*Finding {
	var out []*Finding
	for _, f := range p.findingsBy {
		out = append(out, f)
	}
	var rare []*Finding
	for k, r := range p.rare {
		if len(r.origs) != 1 || len(r.resps) != 1 || knownPort(k[1]) {
			continue
		}
		c := d.evidence.get(r.first)
		if c.Service != "" {
			continue
		}
		f := d.findingFrom("unusual_port", "T1571", []keptRef{r.first}, d.endpoint(r.firstOrig, nil), d.endpoint(c.Resp, port(c.RespPort)))
		f.Count = r.n
		f.Score = 20
		f.Why = fmt.Sprintf("port %s/%d was used by one host talking to one host in all the evidence (%d connection(s))", c.ProtoName(), k[1], r.n)
		rare = append(rare, f)
	}
	slices.SortFunc(rare, func(a, b *Finding) int { return compareFindings(*a, *b) })
	if len(rare) > maxRareFindings {
		rare = rare[:maxRareFindings]
	}
	return append(out, rare...)
}
