package inventory

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// VM is a virtual machine.
type VM struct {
	ID, Name   string
	NICs       []string // the resource IDs of its network interfaces
	PrivateIPs []netip.Addr
	PublicIPs  []netip.Addr
	MACs       []string // 12 upper-case hex digits, as flow logs write them
	PowerState string   // "VM running", ...; az vm list -d only
}

// NIC is a network interface.
type NIC struct {
	ID, Name string
	MAC      string // 12 upper-case hex digits; "" when detached
	VM       string // the resource ID of its VM; "" when detached
	NSG      string // the resource ID of its own NSG, if any
	IPs      []NICAddress
}

// NICAddress is one of a NIC's IP configurations.
type NICAddress struct {
	Prefix   netip.Prefix // the private address, or a prefix delegated to the NIC
	Subnet   string       // resource ID
	PublicIP string       // resource ID of its public IP, if any
	ASGs     []string     // resource IDs of the application security groups it is in
}

// NSG is a network security group.
type NSG struct {
	ID, Name string
	Rules    []Rule   // its own rules and then its default rules, as listed
	NICs     []string // resource IDs of the NICs it is on
	Subnets  []string // resource IDs of the subnets it is on
}

// VNet is a virtual network.
type VNet struct {
	ID, Name string
	Prefixes []netip.Prefix
	Subnets  []Subnet
}

// Subnet is a subnet of a VNet.
type Subnet struct {
	ID, Name string
	Prefixes []netip.Prefix
	NSG      string // resource ID
}

// PublicIP is a public IP address resource.
type PublicIP struct {
	ID, Name string
	Addr     netip.Addr // invalid while not allocated
	IPConfig string     // the resource ID of the NIC IP configuration it is on
}

// ref is a reference to another resource.
type ref struct {
	ID string `json:"id"`
}

// flexString takes a JSON string or number as text.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		err := json.Unmarshal(b, &v)
		*s = flexString(v)
		return err
	}
	if string(b) == "null" {
		return nil
	}
	*s = flexString(b)
	return nil
}

// unflatten decodes an ARM object into v whether its properties are at
// the top level (az CLI) or nested under "properties" (REST API, Resource
// Graph). A value of an unexpected type is left unset and reported.
func unflatten(b []byte, v any) error {
	err := json.Unmarshal(b, v)
	var p struct {
		Properties json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(b, &p) == nil && len(p.Properties) > 0 && p.Properties[0] == '{' {
		if perr := json.Unmarshal(p.Properties, v); err == nil {
			err = perr
		}
	}
	return err
}

type vmJSON struct {
	ID, Name       string
	NetworkProfile struct {
		NetworkInterfaces []ref `json:"networkInterfaces"`
	} `json:"networkProfile"`
	PrivateIps, PublicIps, MacAddresses flexList // az vm list -d: comma-joined
	PowerState                          string
}

// flexList takes a comma-joined string (az vm list -d) or an array of
// strings.
type flexList []string

func (l *flexList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, (*[]string)(l))
	}
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	*l = strings.Split(string(s), ",")
	return nil
}

func (v *vmJSON) UnmarshalJSON(b []byte) error { type plain vmJSON; return unflatten(b, (*plain)(v)) }

type nicJSON struct {
	ID, Name             string
	MacAddress           string
	VirtualMachine       *ref
	NetworkSecurityGroup *ref
	IPConfigurations     []ipConfigJSON
}

func (v *nicJSON) UnmarshalJSON(b []byte) error { type plain nicJSON; return unflatten(b, (*plain)(v)) }

type ipConfigJSON struct {
	ID, Name                        string
	PrivateIPAddress                string
	PrivateIPAddressPrefixLength    flexString
	Subnet                          *ref
	PublicIPAddress                 *publicIPJSON
	ApplicationSecurityGroups       []ref
	LoadBalancerBackendAddressPools []ref
}

func (v *ipConfigJSON) UnmarshalJSON(b []byte) error {
	type plain ipConfigJSON
	return unflatten(b, (*plain)(v))
}

type nsgJSON struct {
	ID, Name             string
	SecurityRules        []ruleJSON
	DefaultSecurityRules []ruleJSON
	NetworkInterfaces    []ref
	Subnets              []ref
}

func (v *nsgJSON) UnmarshalJSON(b []byte) error { type plain nsgJSON; return unflatten(b, (*plain)(v)) }

type ruleJSON struct {
	ID, Name, Description                             string
	Protocol, Access, Direction                       string
	Priority                                          flexString
	SourcePortRange, DestinationPortRange             string
	SourcePortRanges, DestinationPortRanges           []string
	SourceAddressPrefix, DestinationAddressPrefix     string
	SourceAddressPrefixes, DestinationAddressPrefixes []string
	SourceApplicationSecurityGroups                   []ref
	DestinationApplicationSecurityGroups              []ref
}

func (v *ruleJSON) UnmarshalJSON(b []byte) error {
	type plain ruleJSON
	return unflatten(b, (*plain)(v))
}

type vnetJSON struct {
	ID, Name     string
	AddressSpace struct {
		AddressPrefixes []string `json:"addressPrefixes"`
	} `json:"addressSpace"`
	Subnets []subnetJSON
}

func (v *vnetJSON) UnmarshalJSON(b []byte) error {
	type plain vnetJSON
	return unflatten(b, (*plain)(v))
}

type subnetJSON struct {
	ID, Name             string
	AddressPrefix        string
	AddressPrefixes      []string
	NetworkSecurityGroup *ref
}

func (v *subnetJSON) UnmarshalJSON(b []byte) error {
	type plain subnetJSON
	return unflatten(b, (*plain)(v))
}

type publicIPJSON struct {
	ID, Name        string
	IPAddress       string
	IPConfiguration *ref
}

func (v *publicIPJSON) UnmarshalJSON(b []byte) error {
	type plain publicIPJSON
	return unflatten(b, (*plain)(v))
}

// Resource types, in lower case (Resource Graph lowers them).
const (
	typeVM       = "microsoft.compute/virtualmachines"
	typeNIC      = "microsoft.network/networkinterfaces"
	typeNSG      = "microsoft.network/networksecuritygroups"
	typeVNet     = "microsoft.network/virtualnetworks"
	typeSubnet   = "microsoft.network/virtualnetworks/subnets"
	typePublicIP = "microsoft.network/publicipaddresses"
)

// resource reads one object found at off: an ARM resource, a service
// tag, or an object wrapping lists of them.
func (rd *reader) resource(off int64, raw []byte, depth int) error {
	if rd.st.Resources() >= maxObjects {
		return fmt.Errorf("more than %d resources", maxObjects)
	}
	var head struct {
		ID, Name, Type                 string
		Value, Values, Data, Responses json.RawMessage
		Properties                     struct {
			AddressPrefixes []string `json:"addressPrefixes"`
			Region          string   `json:"region"`
			SystemService   string   `json:"systemService"`
		}
	}
	if err := json.Unmarshal(raw, &head); err != nil && head.ID == "" && head.Type == "" {
		rd.skip(off, "an object", err)
		return nil
	}
	if head.ID == "" && head.Type == "" && (isArray(head.Value) || isArray(head.Values) || isArray(head.Data) || len(head.Responses) > 0) {
		return rd.nested(off, raw, depth) // a list's wrapper
	}
	typ := strings.ToLower(head.Type)
	if typ == "" {
		typ = typeOfID(head.ID)
	}
	what := fmt.Sprintf("%s %q", typ, cmpName(head.Name, head.ID))
	var err error
	switch typ {
	case typeVM:
		err = rd.vm(raw)
	case typeNIC:
		err = rd.nic(raw)
	case typeNSG:
		err = rd.nsg(raw)
	case typeVNet:
		err = rd.vnet(raw)
	case typeSubnet:
		var s subnetJSON
		err = json.Unmarshal(raw, &s)
		rd.inv.Subnets = append(rd.inv.Subnets, s.subnet())
		rd.st.Subnets++
	case typePublicIP:
		err = rd.publicIP(raw)
	case "":
		if head.Properties.AddressPrefixes == nil || head.Name == "" {
			rd.skip(off, "an object", fmt.Errorf("neither an ARM resource (no type or id) nor a service tag (keys %s)", keys(raw)))
			return nil
		}
		t := ServiceTag{Name: head.Name, Region: head.Properties.Region, Service: head.Properties.SystemService}
		err = rd.tag(t, head.Properties.AddressPrefixes)
		what = fmt.Sprintf("service tag %q", head.Name)
	default:
		rd.st.Other++
	}
	if err != nil {
		rd.skip(off, what, err)
	}
	return nil
}

func isArray(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '[' }

// keys lists an object's keys, for an error message.
func keys(raw []byte) string {
	var m map[string]json.RawMessage
	json.Unmarshal(raw, &m)
	var k []string
	for key := range m {
		k = append(k, strconv.Quote(key))
	}
	slices.Sort(k)
	if len(k) > 6 {
		k = append(k[:6], "...")
	}
	return strings.Join(k, ", ")
}

// typeOfID returns the resource type an ARM resource ID names, in lower
// case: ".../providers/Microsoft.Network/networkInterfaces/nic1" is
// microsoft.network/networkinterfaces.
func typeOfID(id string) string {
	lower := strings.ToLower(id)
	i := strings.LastIndex(lower, "/providers/")
	if i < 0 {
		return ""
	}
	parts := strings.Split(strings.Trim(lower[i+len("/providers/"):], "/"), "/")
	if len(parts) < 3 {
		return ""
	}
	typ := parts[0] + "/" + parts[1]
	for j := 3; j+1 < len(parts); j += 2 {
		typ += "/" + parts[j]
	}
	return typ
}

// key is how resource IDs are compared: ARM treats them without regard
// to case.
func key(id string) string { return strings.ToLower(strings.TrimRight(id, "/")) }

// nameOf is the last segment of a resource ID.
func nameOf(id string) string {
	id = strings.TrimRight(id, "/")
	return id[strings.LastIndexByte(id, '/')+1:]
}

func (rd *reader) vm(raw []byte) error {
	var v vmJSON
	err := json.Unmarshal(raw, &v)
	if v.ID == "" && v.Name == "" {
		return cmpErr(err, "no id or name")
	}
	vm := VM{ID: key(v.ID), Name: cmpName(v.Name, v.ID), PowerState: v.PowerState}
	for _, n := range v.NetworkProfile.NetworkInterfaces {
		vm.NICs = append(vm.NICs, key(n.ID))
	}
	var bad []string
	vm.PrivateIPs, bad = addrList(v.PrivateIps, bad)
	vm.PublicIPs, bad = addrList(v.PublicIps, bad)
	for _, m := range v.MacAddresses {
		if mac, ok := NormalizeMAC(m); ok {
			vm.MACs = append(vm.MACs, mac)
		}
	}
	rd.inv.VMs = append(rd.inv.VMs, vm)
	rd.st.VMs++
	return joinBad(err, bad)
}

func (rd *reader) nic(raw []byte) error {
	var v nicJSON
	err := json.Unmarshal(raw, &v)
	if v.ID == "" && v.Name == "" {
		return cmpErr(err, "no id or name")
	}
	nic := NIC{ID: key(v.ID), Name: cmpName(v.Name, v.ID)}
	nic.MAC, _ = NormalizeMAC(v.MacAddress)
	if v.VirtualMachine != nil {
		nic.VM = key(v.VirtualMachine.ID)
	}
	if v.NetworkSecurityGroup != nil {
		nic.NSG = key(v.NetworkSecurityGroup.ID)
	}
	var bad []string
	for _, c := range v.IPConfigurations {
		if c.PrivateIPAddress == "" {
			continue
		}
		p, ok := parsePrefix(c.PrivateIPAddress)
		if !ok {
			bad = append(bad, c.PrivateIPAddress)
			continue
		}
		a := NICAddress{Prefix: p}
		if c.Subnet != nil {
			a.Subnet = key(c.Subnet.ID)
		}
		if c.PublicIPAddress != nil {
			a.PublicIP = key(c.PublicIPAddress.ID)
			if ip, err := netip.ParseAddr(c.PublicIPAddress.IPAddress); err == nil && c.PublicIPAddress.ID != "" {
				// An expanded reference: the public IP itself.
				rd.inv.PublicIPs = append(rd.inv.PublicIPs, PublicIP{ID: a.PublicIP, Name: cmpName(c.PublicIPAddress.Name, c.PublicIPAddress.ID), Addr: ip.Unmap(), IPConfig: key(c.ID)})
			}
		}
		for _, g := range c.ApplicationSecurityGroups {
			a.ASGs = append(a.ASGs, key(g.ID))
		}
		nic.IPs = append(nic.IPs, a)
	}
	rd.inv.NICs = append(rd.inv.NICs, nic)
	rd.st.NICs++
	return joinBad(err, bad)
}

func (rd *reader) nsg(raw []byte) error {
	var v nsgJSON
	err := json.Unmarshal(raw, &v)
	if v.ID == "" && v.Name == "" {
		return cmpErr(err, "no id or name")
	}
	nsg := NSG{ID: key(v.ID), Name: cmpName(v.Name, v.ID)}
	for _, r := range v.SecurityRules {
		nsg.Rules = append(nsg.Rules, r.rule(false))
	}
	for _, r := range v.DefaultSecurityRules {
		nsg.Rules = append(nsg.Rules, r.rule(true))
	}
	for _, n := range v.NetworkInterfaces {
		nsg.NICs = append(nsg.NICs, key(n.ID))
	}
	for _, s := range v.Subnets {
		nsg.Subnets = append(nsg.Subnets, key(s.ID))
	}
	rd.inv.NSGs = append(rd.inv.NSGs, nsg)
	rd.st.NSGs++
	return err
}

func (r ruleJSON) rule(isDefault bool) Rule {
	prio, _ := strconv.ParseFloat(string(r.Priority), 64)
	out := Rule{
		Name: cmpName(r.Name, r.ID), Default: isDefault, Priority: int(prio), Description: r.Description,
		Protocol: r.Protocol, Access: r.Access, Direction: r.Direction,
		Sources:          orList(r.SourceAddressPrefixes, r.SourceAddressPrefix),
		SourcePorts:      orList(r.SourcePortRanges, r.SourcePortRange),
		Destinations:     orList(r.DestinationAddressPrefixes, r.DestinationAddressPrefix),
		DestinationPorts: orList(r.DestinationPortRanges, r.DestinationPortRange),
	}
	for _, g := range r.SourceApplicationSecurityGroups {
		out.SourceASGs = append(out.SourceASGs, key(g.ID))
	}
	for _, g := range r.DestinationApplicationSecurityGroups {
		out.DestinationASGs = append(out.DestinationASGs, key(g.ID))
	}
	return out
}

// orList is the plural field of a rule when it has values, else the
// singular one.
func orList(plural []string, single string) []string {
	if len(plural) > 0 {
		return plural
	}
	if single == "" {
		return nil
	}
	return []string{single}
}

func (rd *reader) vnet(raw []byte) error {
	var v vnetJSON
	err := json.Unmarshal(raw, &v)
	if v.ID == "" && v.Name == "" {
		return cmpErr(err, "no id or name")
	}
	vnet := VNet{ID: key(v.ID), Name: cmpName(v.Name, v.ID)}
	var bad []string
	for _, p := range v.AddressSpace.AddressPrefixes {
		if pf, ok := parsePrefix(p); ok {
			vnet.Prefixes = append(vnet.Prefixes, pf.Masked())
		} else {
			bad = append(bad, p)
		}
	}
	for _, s := range v.Subnets {
		sub := s.subnet()
		if sub.ID == "" && vnet.ID != "" {
			sub.ID = vnet.ID + "/subnets/" + strings.ToLower(sub.Name)
		}
		vnet.Subnets = append(vnet.Subnets, sub)
	}
	rd.inv.VNets = append(rd.inv.VNets, vnet)
	rd.st.VNets++
	return joinBad(err, bad)
}

func (s subnetJSON) subnet() Subnet {
	sub := Subnet{ID: key(s.ID), Name: cmpName(s.Name, s.ID)}
	for _, p := range orList(s.AddressPrefixes, s.AddressPrefix) {
		if pf, ok := parsePrefix(p); ok {
			sub.Prefixes = append(sub.Prefixes, pf.Masked())
		}
	}
	if s.NetworkSecurityGroup != nil {
		sub.NSG = key(s.NetworkSecurityGroup.ID)
	}
	return sub
}

func (rd *reader) publicIP(raw []byte) error {
	var v publicIPJSON
	err := json.Unmarshal(raw, &v)
	if v.ID == "" && v.Name == "" {
		return cmpErr(err, "no id or name")
	}
	p := PublicIP{ID: key(v.ID), Name: cmpName(v.Name, v.ID)}
	if v.IPAddress != "" {
		ip, perr := netip.ParseAddr(v.IPAddress)
		if perr != nil {
			return fmt.Errorf("ipAddress %q is not an address", v.IPAddress)
		}
		p.Addr = ip.Unmap()
	}
	if v.IPConfiguration != nil {
		p.IPConfig = key(v.IPConfiguration.ID)
	}
	rd.inv.PublicIPs = append(rd.inv.PublicIPs, p)
	rd.st.PublicIPs++
	return err
}

func (rd *reader) tag(t ServiceTag, prefixes []string) error {
	var bad []string
	t.Prefixes = make([]netip.Prefix, 0, len(prefixes))
	for _, p := range prefixes {
		if pf, ok := parsePrefix(p); ok {
			t.Prefixes = append(t.Prefixes, pf.Masked())
		} else {
			bad = append(bad, p)
		}
	}
	rd.inv.Tags = append(rd.inv.Tags, t)
	rd.st.ServiceTags++
	return joinBad(nil, bad)
}

// parsePrefix reads an address or a prefix; an address is a one-address
// prefix.
func parsePrefix(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// addrList reads az's address lists; what is not an address goes to bad.
func addrList(list flexList, bad []string) ([]netip.Addr, []string) {
	var out []netip.Addr
	for _, f := range list {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, a.Unmap())
		} else {
			bad = append(bad, f)
		}
	}
	return out, bad
}

// NormalizeMAC writes a MAC address as flow logs do: 12 upper-case hex
// digits, from ARM's 00-0D-3A-..., colons, or the bare form.
func NormalizeMAC(s string) (string, bool) {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'F':
			b = append(b, c)
		case c >= 'a' && c <= 'f':
			b = append(b, c-'a'+'A')
		case c == '-' || c == ':' || c == '.':
		default:
			return "", false
		}
	}
	if len(b) != 12 {
		return "", false
	}
	return string(b), true
}

func cmpName(name, id string) string {
	if name != "" {
		return name
	}
	return nameOf(id)
}

func cmpErr(err error, otherwise string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s", otherwise)
}

// joinBad adds the values that were not addresses to err.
func joinBad(err error, bad []string) error {
	if len(bad) == 0 {
		return err
	}
	msg := fmt.Sprintf("not an address or prefix: %q", bad[0])
	if len(bad) > 1 {
		msg += fmt.Sprintf(" and %d more", len(bad)-1)
	}
	if err != nil {
		return fmt.Errorf("%w; %s", err, msg)
	}
	return fmt.Errorf("%s", msg)
}
