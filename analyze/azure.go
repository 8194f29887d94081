package analyze

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/ingest"
	"github.com/netfx/netfx/internal/ipproto"
	"github.com/netfx/netfx/inventory"
)

// InventoryInput describes one Azure inventory file as read: ARM
// resources (az CLI, REST API, Resource Graph) or the Service Tags file.
type InventoryInput struct {
	File        string `json:"file"`
	Size        int64  `json:"size"` // of the file, in bytes; -1 for a stream
	VMs         int    `json:"vms"`
	NICs        int    `json:"nics"`
	NSGs        int    `json:"nsgs"`
	VNets       int    `json:"vnets"`
	Subnets     int    `json:"subnets"` // listed as resources of their own
	PublicIPs   int    `json:"public_ips"`
	ServiceTags int    `json:"service_tags"`
	Other       int    `json:"other_resources"` // of types netfx does not use
	Damage      string `json:"damage,omitempty"`
}

// AzureHost is an address the inventory names, as the evidence saw it.
type AzureHost struct {
	IP            netip.Addr `json:"ip"`
	Name          string     `json:"name"` // the VM's name; else the NIC's or the public IP's
	VM            string     `json:"vm,omitempty"`
	NIC           string     `json:"nic,omitempty"`
	VNet          string     `json:"vnet,omitempty"`
	Subnet        string     `json:"subnet,omitempty"`
	PublicIP      string     `json:"public_ip,omitempty"` // the public IP resource, when the address is one
	MAC           string     `json:"mac,omitempty"`
	Describe      string     `json:"description"`
	Conversations uint64     `json:"conversations"`
}

// RuleStat is an NSG rule the flow logs named, what it means, and how
// many connections it decided.
type RuleStat struct {
	Rule        string `json:"rule"`          // as the flow logs write it: UserRule_allow-rdp
	NSG         string `json:"nsg,omitempty"` // the NSG the inventory has it in
	Meaning     string `json:"meaning,omitempty"`
	Connections int    `json:"connections"`
	Denied      int    `json:"denied"`
}

// AddInventory takes one Azure inventory file. Inventory comes before
// the conversations (ingest reads it first), so that every address is
// named and classed from the start.
func (s *Summary) AddInventory(res ingest.InventoryResult) {
	st := res.Stats
	in := InventoryInput{File: res.Path, Size: res.Size, VMs: st.VMs, NICs: st.NICs, NSGs: st.NSGs, VNets: st.VNets,
		Subnets: st.Subnets, PublicIPs: st.PublicIPs, ServiceTags: st.ServiceTags, Other: st.Other}
	if in.Damage = damage(res.Err, skippedObjects(st.Skipped, st.Damage), 0, 0, ""); in.Damage != "" {
		s.damage++
	}
	s.invInputs = append(s.invInputs, in)
	inv := &s.inv
	got := res.Inventory
	inv.VMs = append(inv.VMs, got.VMs...)
	inv.NICs = append(inv.NICs, got.NICs...)
	inv.NSGs = append(inv.NSGs, got.NSGs...)
	inv.VNets = append(inv.VNets, got.VNets...)
	inv.Subnets = append(inv.Subnets, got.Subnets...)
	inv.PublicIPs = append(inv.PublicIPs, got.PublicIPs...)
	inv.Tags = append(inv.Tags, got.Tags...)
	s.invChanged = true
}

// indexInventory resolves the inventory read so far, once after the last
// file: every file may refer to the others' resources.
func (s *Summary) indexInventory() {
	s.invChanged = false
	s.azure = inventory.NewIndex(s.inv)
	s.net.azure, s.names.azure = s.azure, s.azure
}

func skippedObjects(n int, described []*inventory.Error) string {
	if n == 0 || len(described) == 0 {
		return ""
	}
	return skipped(n, described)
}

// ruleKey is a rule as one log named it: the rule, and the log's first
// source (resource ID and MAC), which says where to look for it.
type ruleKey struct{ rule, source string }

type ruleAcc struct{ connections, denied int }

// addRule counts a connection toward the rule that decided it.
func (a *flowLogAcc) addRule(c *flows.Conn) {
	v := c.FlowLog
	if v == nil || v.Rule == "" {
		return
	}
	if a.rules == nil {
		a.rules = map[ruleKey]*ruleAcc{}
	}
	k := ruleKey{rule: v.Rule}
	if len(v.Sources) > 0 {
		k.source = v.Sources[0]
	}
	r := a.rules[k]
	if r == nil {
		if len(a.rules) >= maxRuleKeys {
			return
		}
		r = &ruleAcc{}
		a.rules[k] = r
	}
	r.connections++
	if v.Decision == flows.Deny {
		r.denied++
	}
}

// maxRuleKeys bounds the rules counted: an NSG has at most 1,000 rules,
// and a folder of flow logs a few dozen NSGs.
const maxRuleKeys = 1 << 14

// ruleMeaning finds a rule the flow logs named, from where one log saw
// it: resource ID (an NSG's, for NSG flow logs) and MAC.
func (s *Summary) ruleMeaning(rule, source string) (nsg, meaning string) {
	resourceID, mac, _ := strings.Cut(source, " ")
	if !strings.Contains(strings.ToLower(resourceID), "/networksecuritygroups/") {
		resourceID = ""
	}
	r, nsg, ok := s.azure.Rule(rule, resourceID, mac)
	if !ok {
		return "", ""
	}
	return nsg, inventory.Explain(r)
}

// ruleStats lists the rules the flow logs named, most connections first.
func (s *Summary) ruleStats() []RuleStat {
	byRule := map[[2]string]*RuleStat{}
	var out []*RuleStat
	for k, acc := range s.fl.rules {
		nsg, meaning := s.ruleMeaning(k.rule, k.source)
		id := [2]string{k.rule, nsg}
		r := byRule[id]
		if r == nil {
			r = &RuleStat{Rule: k.rule, NSG: nsg, Meaning: meaning}
			byRule[id] = r
			out = append(out, r)
		}
		r.Connections += acc.connections
		r.Denied += acc.denied
	}
	stats := make([]RuleStat, 0, len(out))
	for _, r := range out {
		stats = append(stats, *r)
	}
	slices.SortFunc(stats, func(a, b RuleStat) int {
		return cmp.Or(cmp.Compare(b.Connections, a.Connections), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.NSG, b.NSG))
	})
	return stats
}

// explainConnections gives each connection the flow-log sections and the
// findings' evidence list the meaning of its rule and its hosts' names.
func (s *Summary) explainConnections(r *Report) {
	meaning := func(rule string) string {
		if rule == "" {
			return ""
		}
		if r.FlowLogs != nil {
			for _, st := range r.FlowLogs.Rules {
				if st.Rule == rule && st.Meaning != "" {
					return st.Meaning
				}
			}
		}
		_, m := s.ruleMeaning(rule, "")
		return m
	}
	explainOne := func(b *ConnBrief) {
		b.RuleMeaning = meaning(b.Rule)
		b.OrigName, b.RespName = s.names.best(b.Orig), s.names.best(b.Resp)
	}
	explain := func(bs []ConnBrief) {
		for i := range bs {
			explainOne(&bs[i])
		}
	}
	if f := r.FlowLogs; f != nil {
		explain(f.InGaps)
		explain(f.LogOnly)
		explain(f.CaptureOnly)
		for i := range f.Denied {
			d := &f.Denied[i]
			d.RuleMeaning = meaning(d.Rule)
			d.SrcName, d.DstName = s.names.best(d.Src), s.names.best(d.Dst)
		}
		for i := range f.Disagreements {
			explainOne(&f.Disagreements[i].Conn)
		}
	}
	for i := range r.Findings {
		explain(r.Findings[i].Evidence.Connections)
	}
}

// explainRules fills each finding's rule meanings from the rules the flow
// logs named, or the inventory.
func (s *Summary) explainRules(fs []Finding, stats []RuleStat) {
	for i := range fs {
		e := &fs[i].Evidence
		e.RuleMeanings = nil
		for _, name := range e.Rules {
			meaning := ""
			if j := slices.IndexFunc(stats, func(r RuleStat) bool { return r.Rule == name && r.Meaning != "" }); j >= 0 {
				meaning = stats[j].Meaning
			} else if _, m := s.ruleMeaning(name, ""); m != "" {
				meaning = m
			}
			if meaning != "" {
				e.RuleMeanings = append(e.RuleMeanings, name+": "+meaning)
			}
		}
	}
}

// azureHosts lists the inventory's addresses the evidence saw, the
// busiest first.
func (s *Summary) azureHosts() []AzureHost {
	if s.azure == nil {
		return nil
	}
	out := []AzureHost{}
	for i := range s.hosts.n {
		h := s.hosts.at(uint32(i))
		ip := h.ip.addr()
		ah, ok := s.azure.Host(ip)
		if !ok {
			continue
		}
		out = append(out, AzureHost{IP: ip, Name: ah.Label(), VM: ah.VM, NIC: ah.NIC, VNet: ah.VNet, Subnet: ah.Subnet,
			PublicIP: ah.PublicIP, MAC: ah.MAC, Describe: ah.Describe(), Conversations: h.conversations})
	}
	slices.SortFunc(out, func(a, b AzureHost) int {
		return cmp.Or(cmp.Compare(b.Conversations, a.Conversations), a.IP.Compare(b.IP))
	})
	return out
}

// AnalyticsInput describes one Log Analytics export as read: Traffic
// Analytics (NTANetAnalytics, AzureNetworkAnalytics_CL), VMConnection or
// VMBoundPort.
type AnalyticsInput struct {
	File       string `json:"file"`
	Size       int64  `json:"size"`  // of the file, in bytes; -1 for a stream
	Table      string `json:"table"` // traffic_analytics, vmconnection, vmboundport
	Rows       int    `json:"rows"`
	Flows      int    `json:"flows"`       // the rows' flows (a Traffic Analytics row lists several public peers)
	BoundPorts int    `json:"bound_ports"` // VMBoundPort's listening ports
	Ignored    int    `json:"ignored_rows"`
	First      string `json:"first,omitempty"`
	Last       string `json:"last,omitempty"`
	Damage     string `json:"damage,omitempty"`

	first, last int64
}

// boundKey is a listening port: address, port and protocol; for a
// wildcard bind, the machine (its name's first label, in lower case)
// instead of the address.
type boundKey struct {
	ip      netip.Addr
	machine string
	port    uint16
	proto   uint8
}

// machineName is how VMBoundPort's Computer and a VM's name are compared:
// "VM-WEB-01.contoso.local" is vm-web-01.
func machineName(s string) string {
	s, _, _ = strings.Cut(strings.ToLower(s), ".")
	return s
}

// maxBound bounds the listening ports kept.
const maxBound = 1 << 16

// AddAnalytics takes one Log Analytics export; its flows come through
// AddConn, joined to the conversations or as records of their own.
func (s *Summary) AddAnalytics(res ingest.AnalyticsResult) {
	st := res.Stats
	in := AnalyticsInput{File: res.Path, Size: res.Size, Table: st.Table, Rows: st.Rows, Flows: st.Flows, BoundPorts: st.BoundPorts,
		Ignored: st.Ignored, first: st.First, last: st.Last}
	if st.First != 0 {
		in.First, in.Last = FormatTime(st.First), FormatTime(st.Last)
	}
	if in.Damage = damage(res.Err, skipped(st.Skipped, st.Damage), 0, 0, ""); in.Damage != "" {
		s.damage++
	}
	s.analyticsInputs = append(s.analyticsInputs, in)
	for _, n := range res.Names {
		s.names.add(n.IP, n.Name, "traffic_analytics", n.At)
	}
	if s.bound == nil {
		s.bound = map[boundKey]string{}
	}
	for _, b := range res.BoundPorts {
		k := boundKey{ip: b.IP, port: b.Port, proto: b.Proto}
		if b.IP.IsUnspecified() {
			k = boundKey{machine: machineName(b.Computer), port: b.Port, proto: b.Proto}
		}
		if _, known := s.bound[k]; !known && len(s.bound) < maxBound {
			s.bound[k] = b.Process + " on " + b.Computer
		}
	}
}

// listening says which process VMBoundPort shows listening on an
// address's port: bound to it, or to every address of the VM the Azure
// inventory says the address is.
func (s *Summary) listening(ip netip.Addr, port uint16, proto string) string {
	p, ok := ipproto.Number(proto)
	if !ok || s.bound == nil {
		return ""
	}
	if what, ok := s.bound[boundKey{ip: ip, port: port, proto: p}]; ok {
		return what
	}
	if h, ok := s.azure.Host(ip); ok && h.VM != "" {
		return s.bound[boundKey{machine: machineName(h.VM), port: port, proto: p}] // a wildcard bind
	}
	return ""
}

// markListening adds to each finding the process VMBoundPort shows
// listening on the service it reached.
func (s *Summary) markListening(fs []Finding) {
	for i := range fs {
		f := &fs[i]
		for _, t := range append([]Endpoint{f.Dst}, f.Targets...) {
			if t.Port == nil {
				continue
			}
			if what := s.listening(t.IP, *t.Port, f.Proto); what != "" {
				fact := fmt.Sprintf("listening on %s: %s (VMBoundPort)", netip.AddrPortFrom(t.IP, *t.Port), what)
				if !slices.Contains(f.Evidence.Facts, fact) && len(f.Evidence.Facts) < maxEvidence {
					f.Evidence.Facts = append(f.Evidence.Facts, fact)
				}
			}
		}
	}
}
