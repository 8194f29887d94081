package inventory

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Rule is an NSG security rule.
type Rule struct {
	Name      string
	Default   bool // one of the default rules every NSG has
	Priority  int
	Direction string // Inbound or Outbound
	Access    string // Allow or Deny
	Protocol  string // *, Tcp, Udp, Icmp, Esp, Ah
	// Address prefixes or service tags (Internet, VirtualNetwork, ...),
	// and port ranges; "*" is any.
	Sources, SourcePorts, Destinations, DestinationPorts []string
	SourceASGs, DestinationASGs                          []string // resource IDs of application security groups
	Description                                          string
}

// LogName is the rule's name as NSG and VNet flow logs write it.
func (r Rule) LogName() string {
	if r.Default {
		return "DefaultRule_" + r.Name
	}
	return "UserRule_" + r.Name
}

// defaultRules are the rules Azure puts in every NSG, below every rule of
// its own ("Default security rules", Azure network security groups
// overview, learn.microsoft.com).
var defaultRules = []Rule{
	{Name: "AllowVnetInBound", Default: true, Priority: 65000, Direction: "Inbound", Access: "Allow", Protocol: "*",
		Sources: []string{"VirtualNetwork"}, SourcePorts: []string{"*"}, Destinations: []string{"VirtualNetwork"}, DestinationPorts: []string{"*"}},
	{Name: "AllowAzureLoadBalancerInBound", Default: true, Priority: 65001, Direction: "Inbound", Access: "Allow", Protocol: "*",
		Sources: []string{"AzureLoadBalancer"}, SourcePorts: []string{"*"}, Destinations: []string{"*"}, DestinationPorts: []string{"*"}},
	{Name: "DenyAllInBound", Default: true, Priority: 65500, Direction: "Inbound", Access: "Deny", Protocol: "*",
		Sources: []string{"*"}, SourcePorts: []string{"*"}, Destinations: []string{"*"}, DestinationPorts: []string{"*"}},
	{Name: "AllowVnetOutBound", Default: true, Priority: 65000, Direction: "Outbound", Access: "Allow", Protocol: "*",
		Sources: []string{"VirtualNetwork"}, SourcePorts: []string{"*"}, Destinations: []string{"VirtualNetwork"}, DestinationPorts: []string{"*"}},
	{Name: "AllowInternetOutBound", Default: true, Priority: 65001, Direction: "Outbound", Access: "Allow", Protocol: "*",
		Sources: []string{"*"}, SourcePorts: []string{"*"}, Destinations: []string{"Internet"}, DestinationPorts: []string{"*"}},
	{Name: "DenyAllOutBound", Default: true, Priority: 65500, Direction: "Outbound", Access: "Deny", Protocol: "*",
		Sources: []string{"*"}, SourcePorts: []string{"*"}, Destinations: []string{"*"}, DestinationPorts: []string{"*"}},
}

// DefaultRule returns the default rule of that name (AllowVnetInBound,
// DenyAllInBound, ...; any case), which is the same in every NSG.
func DefaultRule(name string) (Rule, bool) {
	for _, r := range defaultRules {
		if strings.EqualFold(r.Name, name) {
			return r, true
		}
	}
	return Rule{}, false
}

// SplitLogName splits a rule name as a flow log writes it into whether it
// is a default rule, and the rule's own name: "UserRule_allow-rdp" is
// (false, "allow-rdp"). Names without the prefix (Traffic Analytics
// writes them in lower case) are default rules when one has that name.
func SplitLogName(logName string) (isDefault bool, name string) {
	switch {
	case hasPrefixFold(logName, "DefaultRule_"):
		return true, logName[len("DefaultRule_"):]
	case hasPrefixFold(logName, "UserRule_"):
		return false, logName[len("UserRule_"):]
	}
	_, isDefault = DefaultRule(logName)
	return isDefault, logName
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// Explain says what a rule does in a line: "priority 300, allow TCP 3389
// from Internet".
func Explain(r Rule) string {
	var b strings.Builder
	if r.Priority > 0 {
		fmt.Fprintf(&b, "priority %d, ", r.Priority)
	}
	b.WriteString(strings.ToLower(cmp.Or(r.Access, "?")) + " " + traffic(r))
	src, dst := peers(r.Sources, r.SourceASGs), peers(r.Destinations, r.DestinationASGs)
	if strings.EqualFold(r.Direction, "Outbound") {
		b.WriteString(" to " + cmp.Or(dst, "any destination"))
		if src != "" {
			b.WriteString(" from " + src)
		}
	} else {
		b.WriteString(" from " + cmp.Or(src, "any source"))
		if dst != "" {
			b.WriteString(" to " + dst)
		}
	}
	if sp := portText(r.SourcePorts); sp != "" {
		b.WriteString(" (source ports " + sp + ")")
	}
	if r.Direction != "" && !strings.EqualFold(r.Direction, "Inbound") && !strings.EqualFold(r.Direction, "Outbound") {
		b.WriteString(" (direction " + r.Direction + ")")
	}
	return b.String()
}

// traffic says what a rule's protocol and destination ports cover.
func traffic(r Rule) string {
	proto, ports := protoText(r.Protocol), portText(r.DestinationPorts)
	plural := ""
	if strings.ContainsAny(ports, ",-") {
		plural = "s"
	}
	switch {
	case proto != "" && ports != "":
		return proto + " " + ports
	case ports != "":
		return "port" + plural + " " + ports
	case proto != "":
		return "all " + proto
	}
	return "all traffic"
}

func anyValue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "*", "any", "all", "0.0.0.0/0", "::/0", "0-65535", "":
		return true
	}
	return false
}

func protoText(p string) string {
	if anyValue(p) {
		return ""
	}
	return strings.ToUpper(p)
}

func portText(ports []string) string {
	var out []string
	for _, p := range ports {
		if anyValue(p) {
			return ""
		}
		out = append(out, strings.TrimSpace(p))
	}
	return strings.Join(out, ",")
}

func peers(prefixes, asgs []string) string {
	var out []string
	for _, p := range prefixes {
		if anyValue(p) {
			if p == "0.0.0.0/0" || p == "::/0" {
				return p // written out: the whole internet, not "any"
			}
			return ""
		}
		out = append(out, strings.TrimSpace(p))
	}
	for _, g := range asgs {
		out = append(out, "ASG "+nameOf(g))
	}
	return strings.Join(out, ", ")
}

// Packet is what rule evaluation looks at: inbound traffic from the
// internet (FromInternet) or from Src, to Dst on a NIC in a VNet whose
// IP configuration is in DstASGs, with a protocol and destination port.
type Packet struct {
	FromInternet bool
	Src, Dst     netip.Addr
	DstASGs      []string
	Proto        uint8
	Port         uint16
}

// matcher is an inbound rule compiled for evaluation: its protocol,
// ports and prefixes parsed once.
type matcher struct {
	rule    Rule
	inbound bool
	protos  []uint8 // nil: any
	ports   [][2]uint16
	anyPort bool
	src     peerSet
	dst     peerSet
	dstASGs []string
}

// peerSet is a rule's sources or destinations.
type peerSet struct {
	any      bool           // *, Any (and, for destinations, VirtualNetwork: the NIC is in one)
	internet bool           // Internet, or the whole address space
	prefixes []netip.Prefix // narrower ranges
}

func compile(r Rule) matcher {
	m := matcher{rule: r, inbound: strings.EqualFold(r.Direction, "Inbound"), dstASGs: r.DestinationASGs}
	switch strings.ToLower(strings.TrimSpace(r.Protocol)) {
	case "*", "any", "all", "":
	case "tcp":
		m.protos = []uint8{6}
	case "udp":
		m.protos = []uint8{17}
	case "icmp":
		m.protos = []uint8{1, 58}
	case "esp":
		m.protos = []uint8{50}
	case "ah":
		m.protos = []uint8{51}
	default:
		m.protos = []uint8{} // a protocol netfx does not know: matches nothing
	}
	for _, pr := range r.DestinationPorts {
		pr = strings.TrimSpace(pr)
		if pr == "*" {
			m.anyPort = true
			continue
		}
		lo, hi, found := strings.Cut(pr, "-")
		if !found {
			hi = lo
		}
		l, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		h, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		if err1 == nil && err2 == nil {
			m.ports = append(m.ports, [2]uint16{uint16(l), uint16(h)})
		}
	}
	m.src, m.dst = peersOf(r.Sources, false), peersOf(r.Destinations, true)
	return m
}

func peersOf(list []string, destination bool) peerSet {
	var ps peerSet
	for _, s := range list {
		s = strings.TrimSpace(s)
		switch strings.ToLower(s) {
		case "*", "any":
			ps.any = true
			continue
		case "internet":
			ps.internet = true
			continue
		case "virtualnetwork":
			ps.any = ps.any || destination // the NIC is in a VNet; as a source, the internet is not
			continue
		}
		if pf, ok := parsePrefix(s); ok {
			if pf.Bits() == 0 {
				ps.internet = true
			}
			ps.prefixes = append(ps.prefixes, pf)
		} // else another service tag: VirtualNetwork, AzureLoadBalancer, Storage, ...
	}
	return ps
}

// matches reports whether the inbound rule covers p.
func (m *matcher) matches(p Packet) bool {
	if !m.inbound || m.protos != nil && !slices.Contains(m.protos, p.Proto) {
		return false
	}
	if !m.anyPort && !slices.ContainsFunc(m.ports, func(r [2]uint16) bool { return p.Port >= r[0] && p.Port <= r[1] }) {
		return false
	}
	srcOK := m.src.any || p.FromInternet && m.src.internet ||
		!p.FromInternet && (m.src.internet || slices.ContainsFunc(m.src.prefixes, func(pf netip.Prefix) bool { return pf.Contains(p.Src) }))
	if !srcOK {
		return false
	}
	return m.dst.any || slices.ContainsFunc(m.dst.prefixes, func(pf netip.Prefix) bool { return pf.Contains(p.Dst) }) ||
		slices.ContainsFunc(m.dstASGs, func(g string) bool { return slices.Contains(p.DstASGs, g) })
}

// Evaluate returns the inbound rule of an NSG that decides p: the first
// that matches in priority order, the default rules last (Azure's, when
// the export left them out).
func (n NSG) Evaluate(p Packet) Rule { return evaluate(n.inOrder(), p) }

// inOrder returns the NSG's rules compiled, in the order Azure applies
// them, with the default rules the export left out.
func (n NSG) inOrder() []matcher {
	rules := slices.Clone(n.Rules)
	for _, d := range defaultRules {
		if !slices.ContainsFunc(rules, func(r Rule) bool { return r.Default && strings.EqualFold(r.Name, d.Name) }) {
			rules = append(rules, d)
		}
	}
	slices.SortStableFunc(rules, func(a, b Rule) int { return cmp.Compare(a.Priority, b.Priority) })
	out := make([]matcher, len(rules))
	for i, r := range rules {
		out[i] = compile(r)
	}
	return out
}

// evaluate returns the first rule in order that matches p.
func evaluate(inOrder []matcher, p Packet) Rule {
	for i := range inOrder {
		if inOrder[i].matches(p) {
			return inOrder[i].rule
		}
	}
	return defaultRules[2] // DenyAllInBound matches everything inbound
}
