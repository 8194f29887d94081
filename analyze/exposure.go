package analyze

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
	"github.com/netfx/netfx/inventory"
)

// Exposure: an NSG rule of the Azure inventory lets the internet reach a
// VM's remote-administration, file-sharing or database port
// (inventory.Exposures evaluates every NSG on the NIC and its subnet), a
// standing risk whatever the traffic shows; stronger when the evidence
// shows connections from the internet to that port, answered.

// SourceInventory is what shows a finding made from the Azure inventory
// alone (Evidence.Sources, Event.Source).
const SourceInventory = "inventory"

// Exposure scores: the internet used the port (answered connections),
// tried it, or the VM is in the evidence, or only in the inventory.
const (
	exposureUsed    = 75
	exposureTried   = 60
	exposureInScope = 50
	exposureOnly    = 30
)

type exposureDetector struct {
	built    bool
	exps     []inventory.Exposure
	byTarget map[netip.AddrPort][]int // the exposed address (private or public) and port -> exposures
	byAddr   map[netip.Addr][]int
	use      []exposureUse
}

// exposureUse is what the evidence shows of one exposure.
type exposureUse struct {
	seen            bool // the VM's address is in some conversation
	conns, answered int  // from the internet to an exposed port, not denied
	denied          int  // the same, denied by a flow-logged NSG
	sources         []netip.Addr
	moreSources     int
	first, last     int64
	kept            []keptRef
}

func newExposureDetector() *exposureDetector { return &exposureDetector{} }

// build evaluates the inventory's NSGs once, at the first conversation:
// the inventory is read before any.
func (v *exposureDetector) build(d *detection) {
	v.built = true
	for _, e := range d.net.azure.Exposures() {
		if inScope(d.opt.Hosts, append([]netip.Addr{e.Addr}, e.PublicIPs...)) {
			v.exps = append(v.exps, e)
		}
	}
	v.use = make([]exposureUse, len(v.exps))
	v.byTarget, v.byAddr = map[netip.AddrPort][]int{}, map[netip.Addr][]int{}
	for i, e := range v.exps {
		for _, a := range append([]netip.Addr{e.Addr}, e.PublicIPs...) {
			v.byAddr[a] = append(v.byAddr[a], i)
			for _, p := range e.Ports {
				k := netip.AddrPortFrom(a, p.Port)
				v.byTarget[k] = append(v.byTarget[k], i)
			}
		}
	}
}

func (v *exposureDetector) observe(d *detection, c *flows.Conn) {
	if !v.built {
		v.build(d)
	}
	if len(v.exps) == 0 {
		return
	}
	for _, a := range []netip.Addr{c.Orig, c.Resp} {
		for _, i := range v.byAddr[a] {
			v.use[i].seen = true
		}
	}
	if c.Proto != ipproto.TCP {
		return
	}
	idx := v.byTarget[netip.AddrPortFrom(c.Resp, c.RespPort)]
	if len(idx) == 0 {
		return
	}
	if class, _ := d.net.Classify(c.Orig); class != ClassExternal && class != ClassAzure {
		return // not from the internet
	}
	for _, i := range idx {
		u := &v.use[i]
		if c.Denied() {
			u.denied++
			continue
		}
		if u.conns == 0 {
			u.first, u.last = c.TS, c.TS+c.Duration
		}
		u.conns++
		u.first, u.last = min(u.first, c.TS), max(u.last, c.TS+c.Duration)
		if established(c) && c.RespPkts >= 2 { // more than a refusal: a flow log shows a RST as one packet
			u.answered++
		}
		switch {
		case slices.Contains(u.sources, c.Orig):
		case len(u.sources) < maxEvidence:
			u.sources = append(u.sources, c.Orig)
		default:
			u.moreSources++
		}
		if len(u.kept) < maxEvidence {
			u.kept = append(u.kept, d.keep(c))
		}
	}
}

func (v *exposureDetector) findings(d *detection) []*Finding {
	var out []*Finding
	for i, e := range v.exps {
		out = append(out, v.finding(d, e, &v.use[i]))
	}
	return out
}

func (v *exposureDetector) finding(d *detection, e inventory.Exposure, u *exposureUse) *Finding {
	internet := Endpoint{IP: netip.IPv4Unspecified(), Name: "Internet", Class: ClassExternal}
	if e.Addr.Is6() {
		internet.IP = netip.IPv6Unspecified()
	}
	f := &Finding{Kind: "exposure", Src: internet, Proto: "tcp", Count: u.conns}
	var services, open []string
	for _, p := range e.Ports {
		if p.Admin {
			f.Technique = "T1133"
		}
		if !slices.Contains(services, p.Service) {
			services = append(services, p.Service)
		}
		open = append(open, fmt.Sprintf("%s %d/tcp", p.Service, p.Port))
		f.dsts = append(f.dsts, d.endpoint(e.Addr, port(p.Port)))
	}
	f.Dst = f.dsts[0]
	f.Service = strings.ToLower(services[0])
	what := strings.Join(services, ", ")
	if len(services) > 3 {
		what = fmt.Sprintf("%d risky services", len(services))
	}
	vm := d.names.best(e.Addr)
	if e.PublicIPs != nil {
		var pub []string
		for _, a := range e.PublicIPs {
			pub = append(pub, a.String())
		}
		vm += " (" + e.Addr.String() + ", public IP " + strings.Join(pub, ", ") + ")"
	} else {
		vm += " (" + e.Addr.String() + ", no public IP in the inventory: through a load balancer or NAT rule, if any)"
	}
	if e.NoNSG {
		f.Why = fmt.Sprintf("no NSG filters NIC %s or its subnet: the internet reaches every port of %s", e.Host.NIC, vm)
		f.Evidence.Facts = append(f.Evidence.Facts, "no NSG on the NIC or its subnet")
	} else {
		f.Why = fmt.Sprintf("NSG %s rule %s (%s) lets the internet reach %s on %s, and every NSG on the NIC and its subnet allows it",
			e.NSG, e.Rule.LogName(), inventory.Explain(e.Rule), what, vm)
		f.Evidence.Rules = []string{e.Rule.LogName()}
	}
	f.Evidence.Facts = append(f.Evidence.Facts, "open to the internet: "+strings.Join(open, ", "))
	f.Evidence.Sources = []string{SourceInventory}
	f.first, f.last = d.first, d.last
	if d.first == math.MaxInt64 {
		f.first, f.last = 0, 0
	}
	switch {
	case u.answered > 0:
		f.Score = exposureUsed
		f.Title = what + " open to the internet, and used from it"
	case u.conns > 0:
		f.Score = exposureTried
		f.Title = what + " open to the internet, and tried from it"
	case u.seen:
		f.Score = exposureInScope
		f.Title = what + " open to the internet"
	default:
		f.Score = exposureOnly
		f.Title = what + " open to the internet"
	}
	if u.conns > 0 {
		f.first, f.last = u.first, u.last
		sources := fmt.Sprintf("%d internet address(es)", len(u.sources)+u.moreSources)
		f.Why += fmt.Sprintf("; the evidence shows %d connection(s) to it from %s, %d answered", u.conns, sources, u.answered)
		var from []string
		for _, a := range u.sources {
			from = append(from, a.String())
		}
		f.Evidence.Facts = append(f.Evidence.Facts, "from "+strings.Join(from, ", ")+plusMore(u.moreSources))
		for _, k := range u.kept {
			f.Evidence.add(d.evidence.get(k))
		}
	} else if u.seen {
		f.Why += "; the VM is in the evidence, but no connection from the internet to these ports is"
	} else {
		f.Why += "; the evidence does not show this VM"
	}
	if u.denied > 0 {
		f.Why += fmt.Sprintf("; %d connection(s) to them from the internet were denied (a rule the inventory does not show, or one changed since it was exported)", u.denied)
	}
	return f
}

// inScope reports whether one of addrs is in hosts, or hosts is empty.
func inScope(hosts []netip.Prefix, addrs []netip.Addr) bool {
	if len(hosts) == 0 {
		return true
	}
	for _, h := range hosts {
		for _, a := range addrs {
			if h.Contains(a) {
				return true
			}
		}
	}
	return false
}

func plusMore(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" and %d more", n)
}
