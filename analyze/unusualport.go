package analyze

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
)

// Unusual ports (ATT&CK T1571 Non-Standard Port): a protocol on a port
// that is not its own, well-known attack-tool and C2 ports, ports rare
// across the whole evidence, external connections between two high ports,
// and denied attempts on ports the flow logs show.

// servicePorts are each identified protocol's own ports. Besides the
// registered ones, TLS where every phone, browser or cloud VM uses it:
// Apple's push service (5223, 2197), Google's Firebase Cloud Messaging
// (5228-5230), WSUS (8531, and HTTP on 8530), AMQP over TLS as Azure
// Service Bus and Event Hubs speak it (5671), Event Hubs' Kafka endpoint
// (9093), Kubernetes' API server and kubelets (6443, 10250), TURN over TLS
// (5349).
var servicePorts = map[string][]uint16{
	"ssl": {443, 8443, 636, 993, 995, 465, 990, 3269, 5986, 4443, 9443, 3389, 5061, 8883, 853, 10443, 1443,
		5223, 2197, 5228, 5229, 5230, 8531, 5671, 9093, 6443, 10250, 5349},
	"http":     {80, 8080, 8000, 8008, 8081, 8888, 5985, 3128, 81, 591, 9080, 9200, 47001, 5357, 2869, 8530},
	"ssh":      {22, 2222},
	"smb":      {445, 139},
	"rdp":      {3389},
	"dns":      {53, 5353, 5355, 137},
	"krb":      {88, 464},
	"krb_tcp":  {88, 464},
	"ldap_tcp": {389, 3268},
	"ldap_udp": {389},
	"smtp":     {25, 587, 465, 2525},
	"ftp":      {21},
	"ntp":      {123},
	"quic":     {443, 80, 8443},
	"rfb":      {5900, 5901, 5902, 5903, 5904, 5905},
}

// lanDevicePorts are where devices on a LAN serve HTTP or TLS of their
// own: UPnP descriptions and control (5000, 1400 Sonos, 49152 and up, as
// routers' IGDs pick them), IPP printing (631), media players and casting
// (8009 Chromecast, 8060 Roku, 7000 and 7100 AirPlay, 32400 Plex).
var lanDevicePorts = map[uint16]bool{5000: true, 1400: true, 631: true, 8009: true, 8060: true, 7000: true, 7100: true, 32400: true}

// lanDevicePort reports whether HTTP or TLS on port between internal
// hosts is LAN discovery or device traffic rather than a protocol hidden
// on a port not its own.
func lanDevicePort(svc string, port uint16) bool {
	return (svc == "http" || svc == "ssl") && (lanDevicePorts[port] || port >= 49152)
}

// executable returns the PE file a conversation's payload began with, if
// no protocol was found in it.
func executable(c *flows.Conn) *appid.PEFacts {
	if c.App == nil || c.Service != "" {
		return nil
	}
	return c.App.PE
}

var senderName = map[string]string{"orig": "originator", "resp": "responder"}

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

// portEpisode is the unusual-port finding of one source, target and
// port, with every reason it was found for.
type portEpisode struct {
	f       *Finding
	reasons []string
	titles  []string // each reason in a few words
	// webOnly is set while the only reason is HTTP or TLS on a port that
	// belongs to no service: a sign too weak alone for one or two
	// connections (see findings).
	webOnly bool
}

type episodeKey struct {
	src, dst netip.Addr
	port     uint16
}

// exposure is the denied attempts on the admin ports of one host, from
// every source.
type exposure struct {
	f       *Finding
	sources map[netip.Addr]int // connections from each, for the first maxExposureSources
	others  int                // connections from sources past them
	ports   []uint16
}

// maxExposureSources bounds the sources an exposure counts one by one.
const maxExposureSources = 1 << 16

type rareAcc struct {
	origs, resps map[netip.Addr]bool
	first        keptRef
	firstOrig    netip.Addr
	n            int
}

type portDetector struct {
	episodes  map[episodeKey]*portEpisode
	exposures map[netip.Addr]*exposure
	rare      map[[2]uint16]*rareAcc // protocol, port
}

func newUnusualPortDetector() *portDetector {
	return &portDetector{episodes: map[episodeKey]*portEpisode{}, exposures: map[netip.Addr]*exposure{}, rare: map[[2]uint16]*rareAcc{}}
}

// episode returns the finding of c's source, target and port.
func (p *portDetector) episode(d *detection, c *flows.Conn) *portEpisode {
	k := episodeKey{c.Orig, c.Resp, c.RespPort}
	e := p.episodes[k]
	if e == nil {
		e = &portEpisode{f: newFinding("unusual_port", "T1571", c, d.endpoint(c.Orig, nil), d.endpoint(c.Resp, port(c.RespPort)))}
		p.episodes[k] = e
	}
	return e
}

// reason adds a reason the episode is unusual, in full and in a few
// words, and its score.
func (e *portEpisode) reason(title, why string, score int) {
	e.webOnly = false
	e.f.Score = max(e.f.Score, score)
	if !slices.Contains(e.reasons, why) {
		e.reasons = append(e.reasons, why)
	}
	if !slices.Contains(e.titles, title) {
		e.titles = append(e.titles, title)
	}
}

func (p *portDetector) observe(d *detection, c *flows.Conn) {
	if c.Proto != ipproto.TCP && c.Proto != ipproto.UDP {
		return
	}
	if c.Denied() {
		if _, admin := adminPorts[c.RespPort]; admin {
			p.denied(d, c)
		}
	}
	var e *portEpisode
	var facts []string
	external := !d.internal(c.Orig) || !d.internal(c.Resp)
	// The protocol on the port: the first service, past the GSS-API
	// authentication Zeek names ahead of SMB.
	if svc, _, _ := strings.Cut(strings.TrimPrefix(c.Service, "gssapi,"), ","); svc != "" {
		// A conversation whose originator uses the service's port was seen
		// from its middle with the roles the other way round.
		if ports, known := servicePorts[svc]; known && !slices.Contains(ports, c.RespPort) && !slices.Contains(ports, c.OrigPort) {
			score := 55
			switch {
			case external:
				score = 65
			case lanDevicePort(svc, c.RespPort):
				score = 20 // a router's, printer's or media device's web interface
			}
			e = p.episode(d, c)
			webOnly := (svc == "http" || svc == "ssl") && !knownPort(c.RespPort) && (e.webOnly || len(e.reasons) == 0)
			e.reason(fmt.Sprintf("%s on port %d", strings.ToUpper(svc), c.RespPort), fmt.Sprintf("%s on port %d, which is not its own: a protocol on a non-standard port", strings.ToUpper(svc), c.RespPort), score)
			e.webOnly = webOnly
			facts = append(facts, fmt.Sprintf("%s identified by payload on %s/%d", svc, c.ProtoName(), c.RespPort))
		}
	}
	if pe := executable(c); pe != nil {
		score := 60
		if external {
			score = 70
		}
		e = p.episode(d, c)
		e.reason(fmt.Sprintf("executable over raw TCP port %d", c.RespPort),
			fmt.Sprintf("a Windows executable (%s) sent by the %s at the start of a TCP connection on port %d that no protocol was found in: an implant's stage or a tool copied over a raw connection", pe.Machine, senderName[pe.Sender], c.RespPort), score)
		facts = append(facts, fmt.Sprintf("PE executable (%s) from the %s", pe.Machine, senderName[pe.Sender]))
	}
	if c.RespPort == 53 && c.Service == "" && c.Unidentified > 0 {
		score := 55
		if external {
			score = 65
		}
		e = p.episode(d, c)
		e.reason(fmt.Sprintf("not DNS on %s/53", c.ProtoName()),
			fmt.Sprintf("payload on %s port 53 that is not DNS, all of it captured: a tunnel or C2 channel on the DNS port, which egress filters let through", c.ProtoName()), score)
		facts = append(facts, fmt.Sprintf("%d bytes of payload on %s/53, not DNS", c.Unidentified, c.ProtoName()))
	}
	if what, ok := c2Port(c); ok && established(c) {
		e = p.episode(d, c)
		e.reason(fmt.Sprintf("port %d: %s", c.RespPort, what), fmt.Sprintf("connections to port %d (%s)", c.RespPort, what), 50)
	}
	if external && established(c) && c.Proto == ipproto.TCP && c.OrigPort >= 1024 && c.RespPort >= 1024 &&
		!knownPort(c.RespPort) && c.RespPort < 49152 && c.Service == "" {
		e = p.episode(d, c)
		e.reason("high port to high port", fmt.Sprintf("an external connection between two high ports (%d to %d) carrying an unidentified protocol", c.OrigPort, c.RespPort), 30)
	}
	if e != nil {
		e.f.add(c, facts...)
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
			r.origs[c.Orig] = true
		}
		if len(r.resps) < 3 {
			r.resps[c.Resp] = true
		}
	}
}

// denied gathers the denied attempts on the admin ports of one host, from
// every source, into one low finding: internet scanners knock on exposed
// VMs all the time, so this is context, not an alarm.
func (p *portDetector) denied(d *detection, c *flows.Conn) {
	x := p.exposures[c.Resp]
	if x == nil {
		x = &exposure{f: newFinding("unusual_port", "", c, d.endpoint(c.Orig, nil), Endpoint{}), sources: map[netip.Addr]int{}}
		x.f.Score = 20
		p.exposures[c.Resp] = x
	}
	if _, ok := x.sources[c.Orig]; ok || len(x.sources) < maxExposureSources {
		x.sources[c.Orig]++
	} else {
		x.others++
	}
	if i, found := slices.BinarySearch(x.ports, c.RespPort); !found {
		x.ports = slices.Insert(x.ports, i, c.RespPort)
		x.f.dsts = append(x.f.dsts, d.endpoint(c.Resp, port(c.RespPort)))
	}
	x.f.add(c, "denied by "+c.FlowLog.Rule, "source "+c.Orig.String())
}

// finding makes the exposure's finding: its source is the one with the
// most attempts.
func (x *exposure) finding(d *detection, host netip.Addr) *Finding {
	var top netip.Addr
	for src, n := range x.sources {
		if m := x.sources[top]; !top.IsValid() || n > m || n == m && src.Less(top) {
			top = src
		}
	}
	f := x.f
	f.Src = d.endpoint(top, nil)
	f.srcs = slices.SortedFunc(maps.Keys(x.sources), netip.Addr.Compare)
	if x.others > 0 {
		f.srcs = append(f.srcs, netip.Addr{}) // sources not known one by one: no scan can account for them
	}
	n := len(x.sources)
	more := ""
	if x.others > 0 {
		more = "more than "
	}
	ports := make([]string, len(x.ports))
	for i, p := range x.ports {
		ports[i] = strconv.Itoa(int(p))
	}
	f.Title = fmt.Sprintf("probes denied by the NSG, %s%d source(s)", more, n)
	f.Why = fmt.Sprintf("%d connection(s) from %s%d source(s) to port(s) %s of %s, denied by the NSG: exposure to scanning",
		f.Count, more, n, strings.Join(ports, ", "), host)
	return f
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

// HTTP or TLS on a port of no service, with no other sign, is medium from
// minWebConnections connections on, webAloneScore below that.
const (
	minWebConnections = 3
	webAloneScore     = 35
)

// maxRareFindings bounds the low-severity rare-port findings.
const maxRareFindings = 25

func (p *portDetector) findings(d *detection) []*Finding {
	var out []*Finding
	for host, x := range p.exposures {
		out = append(out, x.finding(d, host))
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
		why := fmt.Sprintf("port %s/%d was used by one host talking to one host in all the evidence (%d connection(s))", c.ProtoName(), k[1], r.n)
		if e := p.episodes[episodeKey{r.firstOrig, c.Resp, c.RespPort}]; e != nil {
			e.reason(fmt.Sprintf("rare port %d", k[1]), why, 20) // the same connections, found for another reason too
			continue
		}
		f := d.findingFrom("unusual_port", "T1571", []keptRef{r.first}, d.endpoint(r.firstOrig, nil), d.endpoint(c.Resp, port(c.RespPort)))
		f.Count = r.n
		f.Score = 20
		f.Title, f.Why = fmt.Sprintf("rare port %d", k[1]), why
		rare = append(rare, f)
	}
	for _, e := range p.episodes {
		e.f.Title, e.f.Why = strings.Join(e.titles, ", "), strings.Join(e.reasons, "; ")
		if e.webOnly && e.f.Count < minWebConnections && e.f.Score > webAloneScore {
			// HTTPS on port 8088 is ATT&CK's own example of T1571, and
			// as common in benign traffic: alone, one or two connections
			// are low.
			e.f.Score = webAloneScore
			e.f.Why += fmt.Sprintf(" (%d connection(s) and no other sign: low)", e.f.Count)
		}
		out = append(out, e.f)
	}
	slices.SortFunc(rare, func(a, b *Finding) int { return compareFindings(*a, *b) })
	if len(rare) > maxRareFindings {
		rare = rare[:maxRareFindings]
	}
	return append(out, rare...)
}
