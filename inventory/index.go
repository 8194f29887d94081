package inventory

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
)

// Index answers what the report asks of an inventory. It is built once,
// after every document is read, and only read after that.
type Index struct {
	inv       Inventory
	vmName    map[string]string // VM resource ID -> name
	nics      map[string]*NIC
	nicsByMAC map[string][]*NIC
	// rulesByName finds the rules a flow log names, in the order of the
	// NSGs in the inventory.
	rulesByName map[ruleName][]ruleRef
	nsgs        map[string]*NSG
	nsgsOn      map[string][]string // NIC or subnet resource ID -> the NSGs that list it
	subnets     map[string]subnetOf
	hosts       map[netip.Addr][]Host
	delegated   []delegated // NIC IP prefixes wider than one address
	macs        map[string]Host
	ranges      []Range // VNets' and subnets' address spaces, most specific first
	rangeIdx    prefixIndex
	tags        *tagTable
}

type subnetOf struct {
	vnet   string // name
	subnet Subnet
}

type delegated struct {
	prefix netip.Prefix
	host   Host
}

// Host is what the inventory says about an address or a MAC.
type Host struct {
	Name     string // the VM's name; else the NIC's or the public IP resource's
	VM, NIC  string // names, when known
	VNet     string
	Subnet   string
	PublicIP string // the public IP resource's name, when the address is one
	MAC      string
	// Others names the other NICs that have the same private address, in
	// other VNets: the inventory cannot tell which one the evidence saw.
	Others []string
}

// Label is the host's name, with the others when the address is
// ambiguous: "vm-a or vm-b".
func (h Host) Label() string {
	return strings.Join(append([]string{h.Name}, h.Others...), " or ")
}

// Describe says what the host is: "Azure VM vm-web-01, NIC vm-web-01-nic,
// subnet web of VNet vnet1".
func (h Host) Describe() string {
	var parts []string
	switch {
	case h.VM != "":
		parts = append(parts, "Azure VM "+h.VM)
	case h.NIC != "":
		parts = append(parts, "Azure NIC "+h.NIC)
	}
	if h.PublicIP != "" {
		parts = append(parts, "public IP "+h.PublicIP)
	} else if h.NIC != "" && h.VM != "" {
		parts = append(parts, "NIC "+h.NIC)
	}
	if h.Subnet != "" {
		parts = append(parts, "subnet "+h.Subnet+" of VNet "+h.VNet)
	}
	if len(h.Others) > 0 {
		parts = append(parts, "or "+strings.Join(h.Others, " or ")+" (the same address in another VNet)")
	}
	if len(parts) == 0 {
		return "Azure " + h.Name
	}
	return strings.Join(parts, ", ")
}

// Range is an address space of the inventory: a VNet's, or a subnet's.
type Range struct {
	Prefix netip.Prefix
	VNet   string
	Subnet string // "" for the VNet's own space
}

// Describe names the range: "subnet web of VNet vnet1 (10.1.0.0/24)".
func (r Range) Describe() string {
	if r.Subnet != "" {
		return "subnet " + r.Subnet + " of VNet " + r.VNet + " (" + r.Prefix.String() + ")"
	}
	return "VNet " + r.VNet + " (" + r.Prefix.String() + ")"
}

// NewIndex resolves the references between an inventory's resources.
func NewIndex(inv Inventory) *Index {
	ix := &Index{inv: inv, vmName: map[string]string{}, nics: map[string]*NIC{}, nsgs: map[string]*NSG{},
		subnets: map[string]subnetOf{}, hosts: map[netip.Addr][]Host{}, macs: map[string]Host{}}
	for _, vm := range inv.VMs {
		ix.vmName[vm.ID] = vm.Name
	}
	ix.nsgsOn, ix.rulesByName = map[string][]string{}, map[ruleName][]ruleRef{}
	for i := range inv.NSGs {
		n := &inv.NSGs[i]
		ix.nsgs[n.ID] = n
		for j, r := range n.Rules {
			k := ruleName{r.Default, strings.ToLower(r.Name)}
			ix.rulesByName[k] = append(ix.rulesByName[k], ruleRef{n, j})
		}
		for _, on := range append(slices.Clone(n.NICs), n.Subnets...) {
			if on != "" && !slices.Contains(ix.nsgsOn[on], n.ID) {
				ix.nsgsOn[on] = append(ix.nsgsOn[on], n.ID)
			}
		}
	}
	for _, v := range inv.VNets {
		for _, p := range v.Prefixes {
			ix.ranges = append(ix.ranges, Range{Prefix: p, VNet: v.Name})
		}
		for _, s := range v.Subnets {
			ix.subnets[s.ID] = subnetOf{vnet: v.Name, subnet: s}
		}
	}
	for _, s := range inv.Subnets {
		if _, known := ix.subnets[s.ID]; !known || s.NSG != "" {
			ix.subnets[s.ID] = subnetOf{vnet: vnetOfSubnet(s.ID), subnet: s}
		}
	}
	for _, so := range ix.subnets {
		for _, p := range so.subnet.Prefixes {
			ix.ranges = append(ix.ranges, Range{Prefix: p, VNet: so.vnet, Subnet: so.subnet.Name})
		}
	}
	isVNet := func(r Range) int { // a subnet before a VNet of the same prefix: it says more
		if r.Subnet == "" {
			return 1
		}
		return 0
	}
	slices.SortFunc(ix.ranges, func(a, b Range) int {
		return cmp.Or(cmp.Compare(b.Prefix.Bits(), a.Prefix.Bits()), a.Prefix.Addr().Compare(b.Prefix.Addr()),
			cmp.Compare(isVNet(a), isVNet(b)), cmp.Compare(a.VNet, b.VNet), cmp.Compare(a.Subnet, b.Subnet))
	})
	ix.ranges = slices.CompactFunc(ix.ranges, func(a, b Range) bool { return a == b })
	for i, r := range ix.ranges {
		ix.rangeIdx.add(r.Prefix, int32(i))
	}

	pips := map[string]PublicIP{}
	for _, p := range inv.PublicIPs {
		if old, ok := pips[p.ID]; !ok || !old.Addr.IsValid() {
			pips[p.ID] = p
		}
	}
	ix.nicsByMAC = map[string][]*NIC{}
	for i := range inv.NICs {
		nic := &inv.NICs[i]
		ix.nics[nic.ID] = nic
		if nic.MAC != "" {
			ix.nicsByMAC[nic.MAC] = append(ix.nicsByMAC[nic.MAC], nic)
		}
		base := Host{Name: cmp.Or(ix.vmNameOf(nic.VM), nic.Name), VM: ix.vmNameOf(nic.VM), NIC: nic.Name, MAC: nic.MAC}
		if nic.MAC != "" {
			ix.macs[nic.MAC] = base
		}
		for _, a := range nic.IPs {
			h := base
			if so, ok := ix.subnets[a.Subnet]; ok {
				h.VNet, h.Subnet = so.vnet, so.subnet.Name
			} else if a.Subnet != "" {
				h.VNet, h.Subnet = vnetOfSubnet(a.Subnet), nameOf(a.Subnet)
			}
			if a.Prefix.IsSingleIP() {
				ix.addHost(a.Prefix.Addr(), h)
			} else {
				ix.delegated = append(ix.delegated, delegated{a.Prefix.Masked(), h})
			}
			if p, ok := pips[a.PublicIP]; ok && p.Addr.IsValid() {
				h.PublicIP = p.Name
				ix.addHost(p.Addr, h)
			}
		}
	}
	for _, p := range inv.PublicIPs { // those no NIC listed: on a load balancer, a NIC not exported, or free
		if !p.Addr.IsValid() || len(ix.hosts[p.Addr]) > 0 {
			continue
		}
		h := Host{Name: p.Name, PublicIP: p.Name}
		if nicID, _, ok := strings.Cut(p.IPConfig, "/ipconfigurations/"); ok {
			if nic := ix.nics[nicID]; nic != nil {
				h = Host{Name: cmp.Or(ix.vmNameOf(nic.VM), nic.Name), VM: ix.vmNameOf(nic.VM), NIC: nic.Name, MAC: nic.MAC, PublicIP: p.Name}
			}
		}
		ix.addHost(p.Addr, h)
	}
	for _, vm := range inv.VMs { // az vm list -d: addresses and MACs on the VM itself
		for _, a := range vm.PrivateIPs {
			ix.addHost(a, Host{Name: vm.Name, VM: vm.Name})
		}
		for _, a := range vm.PublicIPs {
			ix.addHost(a, Host{Name: vm.Name, VM: vm.Name, PublicIP: "of " + vm.Name})
		}
		for _, m := range vm.MACs {
			if _, known := ix.macs[m]; !known {
				ix.macs[m] = Host{Name: vm.Name, VM: vm.Name, MAC: m}
			}
		}
	}
	ix.tags = newTagTable(inv.Tags)
	return ix
}

// vmNameOf names a VM by its resource ID: the VM resource's name, or the
// ID's last segment when the VM was not exported.
func (ix *Index) vmNameOf(id string) string {
	if id == "" {
		return ""
	}
	return cmp.Or(ix.vmName[id], nameOf(id))
}

// vnetOfSubnet is the VNet name in a subnet's resource ID.
func vnetOfSubnet(id string) string {
	if before, _, ok := strings.Cut(id, "/subnets/"); ok {
		return nameOf(before)
	}
	return ""
}

// addHost records what owns an address. A second NIC with the address is
// one of Others; a VM listing an address its NIC gave adds nothing.
func (ix *Index) addHost(a netip.Addr, h Host) {
	a = a.Unmap()
	list := ix.hosts[a]
	for i := range list {
		if list[i].Name == h.Name || (h.NIC == "" && list[i].VM == h.VM) {
			return
		}
		if h.NIC != "" && list[i].NIC != "" && list[i].NIC != h.NIC && i == 0 {
			list[0].Others = append(list[0].Others, h.Name)
		}
	}
	ix.hosts[a] = append(list, h)
}

// Host returns what the inventory says about an address: a VM's or NIC's
// private address, an address in a prefix delegated to a NIC, or a
// public IP.
func (ix *Index) Host(a netip.Addr) (Host, bool) {
	if ix == nil {
		return Host{}, false
	}
	a = a.Unmap()
	if list := ix.hosts[a]; len(list) > 0 {
		return list[0], true
	}
	for _, d := range ix.delegated {
		if d.prefix.Contains(a) {
			return d.host, true
		}
	}
	return Host{}, false
}

// NIC returns the NIC (and VM) with a MAC address, in any of the forms
// NormalizeMAC reads.
func (ix *Index) NIC(mac string) (Host, bool) {
	if ix == nil {
		return Host{}, false
	}
	m, ok := NormalizeMAC(mac)
	if !ok {
		return Host{}, false
	}
	h, ok := ix.macs[m]
	return h, ok
}

// Range returns the most specific VNet or subnet address space holding a.
func (ix *Index) Range(a netip.Addr) (Range, bool) {
	if ix == nil {
		return Range{}, false
	}
	if idx := ix.rangeIdx.longest(a.Unmap()); len(idx) > 0 {
		return ix.ranges[idx[0]], true
	}
	return Range{}, false
}

// Ranges returns the VNets' own address spaces.
func (ix *Index) Ranges() []Range {
	var out []Range
	for _, r := range ix.ranges {
		if r.Subnet == "" {
			out = append(out, r)
		}
	}
	return out
}

// ServiceTag returns the most specific Azure service tag of a public
// address.
func (ix *Index) ServiceTag(a netip.Addr) (ServiceTag, bool) {
	if ix == nil {
		return ServiceTag{}, false
	}
	return ix.tags.lookup(a)
}

// Rule finds the rule a flow log names ("UserRule_allow-rdp",
// "DefaultRule_DenyAllInBound", or Traffic Analytics' "denyallinbound"):
// in the NSG the log names (nsgID, "" if it does not), then in the NSGs
// on the NIC with the MAC and on its subnets, then, for a rule of a user's
// own, in any NSG. A default rule is the same in every NSG, and known
// without an inventory. nsg is the name of the NSG it was found in; ""
// for a default rule of an NSG the inventory does not tell.
func (ix *Index) Rule(logName, nsgID, mac string) (r Rule, nsg string, ok bool) {
	isDefault, name := SplitLogName(logName)
	if ix != nil {
		if refs := ix.rulesByName[ruleName{isDefault, strings.ToLower(name)}]; len(refs) > 0 {
			// In the NSG the log names, then those on the NIC with the MAC
			// and its subnet, then (a rule of a user's own) any.
			hinted := []string{key(nsgID)}
			if m, ok := NormalizeMAC(mac); ok {
				for _, nic := range ix.nicsByMAC[m] {
					hinted = append(hinted, ix.nsgsOf(nic)...)
				}
			}
			for _, id := range hinted {
				for _, ref := range refs {
					if ref.nsg.ID == id {
						return ref.nsg.Rules[ref.i], ref.nsg.Name, true
					}
				}
			}
			if !isDefault {
				return refs[0].nsg.Rules[refs[0].i], refs[0].nsg.Name, true
			}
		}
	}
	if isDefault {
		r, ok := DefaultRule(name)
		return r, "", ok
	}
	return Rule{}, "", false
}

// ruleName is how flow logs' rule names are looked up: default or a
// user's, and the name in lower case.
type ruleName struct {
	isDefault bool
	name      string
}

// ruleRef is a rule of an NSG.
type ruleRef struct {
	nsg *NSG
	i   int
}

// nsgsOf returns the NSGs that filter a NIC's inbound traffic, in the
// order Azure applies them: its subnets', then its own.
func (ix *Index) nsgsOf(nic *NIC) []string {
	var out []string
	add := func(id string) {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	for _, a := range nic.IPs {
		add(ix.subnets[a.Subnet].subnet.NSG)
		if a.Subnet != "" {
			for _, id := range ix.nsgsOn[a.Subnet] {
				add(id)
			}
		}
	}
	add(nic.NSG)
	for _, id := range ix.nsgsOn[nic.ID] {
		add(id)
	}
	return out
}
