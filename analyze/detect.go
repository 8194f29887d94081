package analyze

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
)

// DetectOptions tune the detectors; docs/findings.md explains each.
type DetectOptions struct {
	Since     time.Time  // the suspected compromise: activity after it weighs more
	Allowlist *Allowlist // known-good hosts, pairs and ports
	// A scan is failed attempts from one source to ScanHosts hosts on one
	// port, or to ScanPorts ports of one host, within ScanWindow; zero
	// values take the defaults (Zeek's).
	ScanHosts, ScanPorts int
	ScanWindow           time.Duration
}

// platform addresses are Azure's own services: shown, never flagged.
var platform = map[netip.Addr]string{
	netip.MustParseAddr("168.63.129.16"):   "Azure platform (DNS, DHCP, health probes, wireserver)",
	netip.MustParseAddr("169.254.169.254"): "Azure Instance Metadata Service",
}

// detector runs every detector over the conversations of a Summary.
type detector struct {
	opt         DetectOptions
	first, last int64         // the evidence's time span: every conversation's start
	perMinute   map[int64]int // conversations starting in each minute
	baseline    int64         // baselineEnd, once computed
	net         *Network
	hosts       *hostTable
	names       names
	lateral     lateralDetector
	ports       portDetector
	scans       scanDetector
	access      accessDetector
	beacons     beaconDetector
	volume      volumeDetector
	dns         dnsDetector
	evidence    *evidenceStore
	// kept is where the conversation being observed was stored, once a
	// detector keeps it: it is stored once however many keep it.
	kept   keptRef
	isKept bool
}

// keep stores the evidence fields of conversation c, the one being
// observed, for a finding that may be made at the end.
func (d *detector) keep(c *flows.Conn) keptRef {
	if !d.isKept {
		d.kept, d.isKept = d.evidence.put(c), true
	}
	return d.kept
}

func newDetector(opt DetectOptions, net *Network, n names, hosts *hostTable) *detector {
	opt.ScanHosts = cmp.Or(opt.ScanHosts, DefaultScanHosts)
	opt.ScanPorts = cmp.Or(opt.ScanPorts, DefaultScanPorts)
	opt.ScanWindow = cmp.Or(opt.ScanWindow, DefaultScanWindow)
	d := &detector{opt: opt, net: net, names: n, hosts: hosts, first: math.MaxInt64, perMinute: map[int64]int{},
		evidence: newEvidenceStore(evidenceBuffer)}
	d.lateral.init()
	d.ports.init()
	d.scans.init()
	d.access.init()
	d.beacons.init()
	d.volume.init()
	d.dns.init()
	return d
}

// observe passes one conversation to the detectors that want it.
func (d *detector) observe(c *flows.Conn) {
	d.isKept = false
	d.first, d.last = min(d.first, c.TS), max(d.last, c.TS)
	d.perMinute[c.TS/int64(time.Minute)]++
	orig, resp := c.Orig, c.Resp
	if _, ok := platform[orig]; ok {
		return
	}
	if _, ok := platform[resp]; ok {
		return
	}
	if d.opt.Allowlist.allows(orig, resp, c.Proto, c.RespPort) {
		return
	}
	d.learnVNet(c)
	d.scans.observe(d, c)
	d.access.observe(d, c)
	d.lateral.observe(d, c)
	d.ports.observe(d, c)
	d.beacons.observe(d, c)
	d.volume.observe(d, c)
	d.dns.observe(d, c)
}

// learnVNet treats the NIC side of flow-logged connections as internal:
// flow logs only log the VNet's own NICs.
func (d *detector) learnVNet(c *flows.Conn) {
	if c.FlowLog == nil {
		return
	}
	nic := c.Orig
	if c.FlowLog.Direction == flows.Inbound {
		nic = c.Resp
	}
	d.net.learn(nic)
}

// findings collects every detector's findings and releases the kept
// evidence: it is called once, by Summary.Report.
func (d *detector) findings() []Finding {
	defer d.evidence.close()
	var fs []*Finding
	for _, f := range [][]*Finding{
		d.lateral.findings(d), d.ports.findings(d), d.scans.findings(d), d.access.findings(d),
		d.beacons.findings(d), d.volume.findings(d), d.dns.findings(d),
	} {
		fs = append(fs, f...)
	}
	return finish(fs)
}

func (d *detector) internal(a netip.Addr) bool { return d.net.Internal(a) }

// endpoint describes an address (and port) with its best name.
func (d *detector) endpoint(a netip.Addr, p *uint16) Endpoint {
	return Endpoint{IP: a, Port: p, Name: d.names.best(a)}
}

// afterSince reports whether t is after the suspected compromise.
func (d *detector) afterSince(t int64) bool {
	return !d.opt.Since.IsZero() && t >= d.opt.Since.UnixNano()
}

// sinceBonus raises a lateral finding that started after --since, and says so.
func (d *detector) sinceBonus(f *Finding) *Finding {
	if d.afterSince(f.first) {
		f.Score += 10
		f.Why += "; it started after --since"
	}
	return f
}

// baselineEnd is the end of the part of the evidence that says what is
// usual: the minute by which a quarter of its conversations had started
// (captures cover hours with gaps, flow logs days, so a quarter of the time
// could hold almost nothing), when the evidence spans at least
// minBaseline; activity that first appears later is new. ok is false for
// shorter evidence, which has no baseline to compare with.
func (d *detector) baselineEnd() (end int64, ok bool) {
	if d.first > d.last || d.last-d.first < int64(minBaseline) {
		return 0, false
	}
	if d.baseline == 0 {
		minutes := slices.Sorted(maps.Keys(d.perMinute))
		seen, total := 0, 0
		for _, n := range d.perMinute {
			total += n
		}
		for _, m := range minutes {
			seen += d.perMinute[m]
			if seen*4 >= total {
				d.baseline = (m + 1) * int64(time.Minute)
				break
			}
		}
	}
	return d.baseline, true
}

// minBaseline is the shortest evidence that has a baseline.
const minBaseline = time.Hour

// established reports whether a conversation carried data both ways or was
// allowed and answered: not a failed attempt.
func established(c *flows.Conn) bool {
	switch c.ConnState {
	case "S0", "REJ", "RSTOS0", "RSTRH", "SH", "SHR", "OTH":
		if c.ConnState == "OTH" && c.OrigPkts > 0 && c.RespPkts > 0 {
			return true
		}
		return false
	}
	return !c.Denied()
}

// failed reports whether a conversation was an attempt that got no
// service: unanswered, rejected, or denied by the NSG.
func failed(c *flows.Conn) bool {
	if c.Denied() {
		return true
	}
	switch c.ConnState {
	case "S0", "REJ", "RSTOS0", "RSTRH":
		return c.Proto == ipproto.TCP
	}
	return false
}

// Allowlist suppresses findings on known-good hosts, pairs and ports.
type Allowlist struct {
	hosts []netip.Prefix
	pairs map[[2]netip.Addr]bool
	ports map[[2]uint16]bool // protocol number, port
}

// ParseAllowlist reads an allowlist: one entry a line, '#' starts a comment.
//
//	host 10.1.0.50          a host or a CIDR: nothing to or from it is flagged
//	pair 10.1.0.4 10.1.1.10 conversations between the two are not flagged
//	port tcp/8443           conversations to this port are not flagged
func ParseAllowlist(r io.Reader, name string) (*Allowlist, error) {
	a := &Allowlist{pairs: map[[2]netip.Addr]bool{}, ports: map[[2]uint16]bool{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(why string) error { return fmt.Errorf("%s:%d: %s", name, n, why) }
		switch {
		case f[0] == "host" && len(f) == 2:
			p, err := netip.ParsePrefix(f[1])
			if err != nil {
				addr, err2 := netip.ParseAddr(f[1])
				if err2 != nil {
					return nil, bad("not an address or CIDR: " + f[1])
				}
				p = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
			}
			a.hosts = append(a.hosts, p.Masked())
		case f[0] == "pair" && len(f) == 3:
			x, err1 := netip.ParseAddr(f[1])
			y, err2 := netip.ParseAddr(f[2])
			if err1 != nil || err2 != nil {
				return nil, bad("pair wants two addresses")
			}
			a.pairs[[2]netip.Addr{x.Unmap(), y.Unmap()}] = true
			a.pairs[[2]netip.Addr{y.Unmap(), x.Unmap()}] = true
		case f[0] == "port" && len(f) == 2:
			proto, num, ok := strings.Cut(f[1], "/")
			p, err := strconv.ParseUint(num, 10, 16)
			pn := map[string]uint16{"tcp": 6, "udp": 17, "sctp": 132}[strings.ToLower(proto)]
			if !ok || err != nil || pn == 0 {
				return nil, bad("port wants tcp/N, udp/N or sctp/N")
			}
			a.ports[[2]uint16{pn, uint16(p)}] = true
		default:
			return nil, bad("want host ADDR|CIDR, pair ADDR ADDR or port PROTO/N")
		}
	}
	return a, sc.Err()
}

func (a *Allowlist) allows(orig, resp netip.Addr, proto uint8, port uint16) bool {
	if a == nil {
		return false
	}
	for _, p := range a.hosts {
		if p.Contains(orig) || p.Contains(resp) {
			return true
		}
	}
	return a.pairs[[2]netip.Addr{orig, resp}] || a.ports[[2]uint16{uint16(proto), port}]
}

// Detector state for time windows is dropped once the window ended
// sweepSlack before the latest conversation and nothing touched it for a
// sweep period. The slack covers conversations that arrive out of time
// order: the flow table hands them over as they finish.
const (
	sweepSlack = time.Hour
	sweepMin   = 1 << 12 // entries before the first sweep
)

// sweeper says when to sweep a detector's windowed state: when it has
// doubled since the last sweep left it (and holds at least sweepMin
// entries), so sweeping costs O(1) per update.
type sweeper struct {
	next, gen int
}

// due reports whether a sweep is due for state of that many entries; each
// sweep starts a new generation.
func (s *sweeper) due(entries int) bool {
	if entries < max(sweepMin, s.next) {
		return false
	}
	s.gen++
	return true
}

// swept records how many entries a sweep left.
func (s *sweeper) swept(entries int) { s.next = 2 * entries }

// stale reports whether an entry last touched in generation gen went
// untouched for a whole sweep period.
func (s *sweeper) stale(gen int) bool { return gen < s.gen-1 }

// windowFindings are findings of one time window each that count toward a
// threshold (brute force, fan-out); those still below it are dropped once
// their window is long past, as scan windows are.
type windowFindings[K comparable] struct {
	m      map[K]*Finding
	window time.Duration
	below  func(*Finding) bool // under the threshold: not a finding yet
	sweeps sweeper
}

func newWindowFindings[K comparable](window time.Duration, below func(*Finding) bool) windowFindings[K] {
	return windowFindings[K]{m: map[K]*Finding{}, window: window, below: below}
}

// get returns the finding of key k, made by start when there is none.
func (w *windowFindings[K]) get(d *detector, k K, start func() *Finding) *Finding {
	if w.sweeps.due(len(w.m)) {
		for k, f := range w.m {
			if w.sweeps.stale(f.gen) && f.last+int64(w.window+sweepSlack) < d.last && w.below(f) {
				delete(w.m, k)
			}
		}
		w.sweeps.swept(len(w.m))
	}
	f := w.m[k]
	if f == nil {
		f = start()
		w.m[k] = f
	}
	f.gen = w.sweeps.gen
	return f
}
