package analyze

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/ingest"
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
	s.azure = inventory.NewIndex(*inv)
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
		h := s.hosts.acc(uint32(i))
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
