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

// matches reports whether an inbound rule covers p.
func (r Rule) matches(p Packet) bool {
	if !strings.EqualFold(r.Direction, "Inbound") || !protoMatches(r.Protocol, p.Proto) || !portMatches(r.DestinationPorts, p.Port) {
		return false
	}
	srcOK := slices.ContainsFunc(r.Sources, func(s string) bool { return sourceMatches(s, p) })
	dstOK := slices.ContainsFunc(r.Destinations, func(s string) bool { return destinationMatches(s, p) }) ||
		slices.ContainsFunc(r.DestinationASGs, func(g string) bool { return slices.Contains(p.DstASGs, g) })
	return srcOK && dstOK
}

func protoMatches(rule string, proto uint8) bool {
	switch strings.ToLower(strings.TrimSpace(rule)) {
	case "*", "any", "all", "":
		return true
	case "tcp":
		return proto == 6
	case "udp":
		return proto == 17
	case "icmp":
		return proto == 1 || proto == 58
	case "esp":
		return proto == 50
	case "ah":
		return proto == 51
	}
	return false
}

func portMatches(ranges []string, port uint16) bool {
	for _, r := range ranges {
		r = strings.TrimSpace(r)
		if r == "*" {
			return true
		}
		lo, hi, found := strings.Cut(r, "-")
		if !found {
			hi = lo
		}
		l, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		h, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		if err1 == nil && err2 == nil && uint64(port) >= l && uint64(port) <= h {
			return true
		}
	}
	return false
}

func sourceMatches(s string, p Packet) bool {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "*", "any", "internet":
		return true
	}
	pf, ok := parsePrefix(s)
	if !ok {
		return false // another service tag: VirtualNetwork, AzureLoadBalancer, Storage, ...
	}
	if p.FromInternet {
		return pf.Bits() == 0 // the whole internet; a narrower range is a choice
	}
	return pf.Contains(p.Src)
}

func destinationMatches(s string, p Packet) bool {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "*", "any", "virtualnetwork":
		return true
	}
	pf, ok := parsePrefix(s)
	return ok && pf.Contains(p.Dst)
}

// Evaluate returns the inbound rule of an NSG that decides p: the first
// that matches in priority order, the default rules last (Azure's, when
// the export left them out).
func (n NSG) Evaluate(p Packet) Rule {
	rules := slices.Clone(n.Rules)
	for _, d := range defaultRules {
		if !slices.ContainsFunc(rules, func(r Rule) bool { return r.Default && strings.EqualFold(r.Name, d.Name) }) {
			rules = append(rules, d)
		}
	}
	slices.SortStableFunc(rules, func(a, b Rule) int { return cmp.Compare(a.Priority, b.Priority) })
	for _, r := range rules {
		if r.matches(p) {
			return r
		}
	}
	return defaultRules[2] // DenyAllInBound matches everything inbound
}
