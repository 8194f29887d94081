package inventory

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	for _, tt := range []struct {
		rule Rule
		want string
	}{
		{Rule{Name: "allow-rdp", Priority: 300, Direction: "Inbound", Access: "Allow", Protocol: "Tcp", Sources: []string{"Internet"},
			SourcePorts: []string{"*"}, Destinations: []string{"*"}, DestinationPorts: []string{"3389"}},
			"priority 300, allow TCP 3389 from Internet"},
		{Rule{Priority: 310, Direction: "Inbound", Access: "Allow", Protocol: "*", Sources: []string{"0.0.0.0/0"},
			Destinations: []string{"10.1.0.0/24"}, DestinationPorts: []string{"80", "443"}},
			"priority 310, allow ports 80,443 from 0.0.0.0/0 to 10.1.0.0/24"},
		{Rule{Priority: 400, Direction: "Inbound", Access: "Deny", Protocol: "Udp", Sources: []string{"*"}, DestinationPorts: []string{"1000-2000"},
			DestinationASGs: []string{"/s/providers/microsoft.network/applicationsecuritygroups/web-asg"}},
			"priority 400, deny UDP 1000-2000 from any source to ASG web-asg"},
		{defaultRules[4], "priority 65001, allow all traffic to Internet"},
		{defaultRules[2], "priority 65500, deny all traffic from any source"},
		{Rule{Priority: 100, Direction: "Outbound", Access: "Allow", Protocol: "Tcp", Sources: []string{"VirtualNetwork"},
			Destinations: []string{"Storage.WestEurope"}, DestinationPorts: []string{"*"}, SourcePorts: []string{"1024-65535"}},
			"priority 100, allow all TCP to Storage.WestEurope from VirtualNetwork (source ports 1024-65535)"},
	} {
		if got := Explain(tt.rule); got != tt.want {
			t.Errorf("Explain = %q, want %q", got, tt.want)
		}
	}
}

func TestSplitLogName(t *testing.T) {
	for _, tt := range []struct {
		in        string
		isDefault bool
		name      string
	}{
		{"UserRule_allow-rdp", false, "allow-rdp"},
		{"DefaultRule_DenyAllInBound", true, "DenyAllInBound"},
		{"denyallinbound", true, "denyallinbound"}, // Traffic Analytics
		{"BlockHighRiskTCPPortsFromInternet_8e593d16", false, "BlockHighRiskTCPPortsFromInternet_8e593d16"},
	} {
		if d, n := SplitLogName(tt.in); d != tt.isDefault || n != tt.name {
			t.Errorf("SplitLogName(%q) = %v %q", tt.in, d, n)
		}
	}
}

// nsgWith is an NSG with these inbound rules (and Azure's defaults).
func nsgWith(name string, rules ...Rule) NSG {
	for i := range rules {
		rules[i].Direction = "Inbound"
		if rules[i].Sources == nil {
			rules[i].Sources = []string{"Internet"}
		}
		if rules[i].Destinations == nil {
			rules[i].Destinations = []string{"*"}
		}
	}
	return NSG{ID: "/s/providers/microsoft.network/networksecuritygroups/" + name, Name: name, Rules: rules}
}

func allow(name string, priority int, proto, ports string) Rule {
	return Rule{Name: name, Priority: priority, Access: "Allow", Protocol: proto, DestinationPorts: strings.Split(ports, ",")}
}

func deny(name string, priority int, proto, ports string) Rule {
	r := allow(name, priority, proto, ports)
	r.Access = "Deny"
	return r
}

func TestEvaluate(t *testing.T) {
	from := Packet{FromInternet: true, Src: internetProbe, Dst: netip.MustParseAddr("10.1.0.4"), Proto: 6, Port: 3389}
	for _, tt := range []struct {
		name string
		nsg  NSG
		p    Packet
		want string
	}{
		{"allowed", nsgWith("a", allow("allow-rdp", 300, "Tcp", "3389")), from, "allow-rdp"},
		{"a deny of a lower number first", nsgWith("a", allow("allow-rdp", 300, "Tcp", "3389"), deny("no-rdp", 200, "*", "3000-4000")), from, "no-rdp"},
		{"another port", nsgWith("a", allow("allow-ssh", 300, "Tcp", "22")), from, "DenyAllInBound"},
		{"UDP only", nsgWith("a", allow("allow-udp", 300, "Udp", "3389")), from, "DenyAllInBound"},
		{"a narrow source is not the internet", nsgWith("a", Rule{Name: "admin", Priority: 100, Access: "Allow", Protocol: "*",
			Sources: []string{"203.0.113.7/32"}, DestinationPorts: []string{"*"}}), from, "DenyAllInBound"},
		{"the narrow source itself", nsgWith("a", Rule{Name: "admin", Priority: 100, Access: "Allow", Protocol: "*",
			Sources: []string{"203.0.113.7/32"}, DestinationPorts: []string{"*"}}),
			Packet{Src: netip.MustParseAddr("203.0.113.7"), Dst: from.Dst, Proto: 6, Port: 3389}, "admin"},
		{"another destination", nsgWith("a", Rule{Name: "web-only", Priority: 100, Access: "Allow", Protocol: "*", Sources: []string{"*"},
			Destinations: []string{"10.1.9.0/24"}, DestinationPorts: []string{"*"}}), from, "DenyAllInBound"},
		{"an ASG the NIC is in", nsgWith("a", Rule{Name: "asg", Priority: 100, Access: "Allow", Protocol: "*", Sources: []string{"*"},
			Destinations: []string{}, DestinationASGs: []string{"asg1"}, DestinationPorts: []string{"*"}}),
			Packet{FromInternet: true, Src: internetProbe, Dst: from.Dst, DstASGs: []string{"asg1"}, Proto: 6, Port: 3389}, "asg"},
	} {
		if got := tt.nsg.Evaluate(tt.p); got.Name != tt.want {
			t.Errorf("%s: decided by %q, want %q", tt.name, got.Name, tt.want)
		}
	}
}

// indexOf builds an index of one VM with one NIC in one subnet, with the
// NSGs given on the NIC and the subnet.
func indexOf(nicNSG, subnetNSG *NSG, public bool) *Index {
	const sub = "/s/providers/microsoft.network/virtualnetworks/vnet1/subnets/app"
	nic := NIC{ID: "/s/providers/microsoft.network/networkinterfaces/web-nic", Name: "web-nic", MAC: "000D3A100004",
		VM:  "/s/providers/microsoft.compute/virtualmachines/vm-web-01",
		IPs: []NICAddress{{Prefix: netip.MustParsePrefix("10.1.0.4/32"), Subnet: sub}}}
	inv := Inventory{NICs: []NIC{nic}, VMs: []VM{{ID: nic.VM, Name: "vm-web-01"}},
		VNets: []VNet{{ID: "/s/providers/microsoft.network/virtualnetworks/vnet1", Name: "vnet1",
			Prefixes: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
			Subnets:  []Subnet{{ID: sub, Name: "app", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}}}}}}
	if public {
		inv.NICs[0].IPs[0].PublicIP = "/s/providers/microsoft.network/publicipaddresses/pip"
		inv.PublicIPs = []PublicIP{{ID: "/s/providers/microsoft.network/publicipaddresses/pip", Name: "pip", Addr: netip.MustParseAddr("198.51.100.14")}}
	}
	if nicNSG != nil {
		inv.NICs[0].NSG = nicNSG.ID
		inv.NSGs = append(inv.NSGs, *nicNSG)
	}
	if subnetNSG != nil {
		subnetNSG.Subnets = []string{sub}
		inv.NSGs = append(inv.NSGs, *subnetNSG)
	}
	return NewIndex(inv)
}

func TestExposures(t *testing.T) {
	open := nsgWith("nic-nsg", allow("allow-rdp", 300, "Tcp", "3389"), allow("allow-admin", 310, "*", "22,5985-5986"))
	closed := nsgWith("subnet-nsg", deny("no-rdp", 100, "Tcp", "3389"), allow("allow-all", 200, "*", "*"))
	for _, tt := range []struct {
		name      string
		nic, sub  *NSG
		public    bool
		want      []string // "rule: ports"
		wantNoNSG bool
	}{
		{"the NIC's NSG opens RDP, SSH and WinRM", &open, nil, true, []string{"allow-admin: 22,5985,5986", "allow-rdp: 3389"}, false},
		{"the subnet's NSG denies RDP", &open, &closed, true, []string{"allow-admin: 22,5985,5986"}, false},
		{"an NSG that opens nothing", ptr(nsgWith("x", allow("web", 100, "Tcp", "443"))), nil, true, nil, false},
		{"no NSG, a public IP", nil, nil, true, nil, true},
		{"no NSG, no public IP", nil, nil, false, nil, false},
	} {
		ix := indexOf(tt.nic, tt.sub, tt.public)
		var got []string
		noNSG := false
		for _, e := range ix.Exposures() {
			if e.NoNSG {
				noNSG = true
				continue
			}
			var ports []string
			for _, p := range e.Ports {
				ports = append(ports, strconv.Itoa(int(p.Port)))
			}
			got = append(got, e.Rule.Name+": "+strings.Join(ports, ","))
			if e.Host.Name != "vm-web-01" || e.Addr.String() != "10.1.0.4" || (tt.public && len(e.PublicIPs) != 1) {
				t.Errorf("%s: %+v", tt.name, e)
			}
		}
		if strings.Join(got, "; ") != strings.Join(tt.want, "; ") || noNSG != tt.wantNoNSG {
			t.Errorf("%s: %q (no NSG %v), want %q (%v)", tt.name, got, noNSG, tt.want, tt.wantNoNSG)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestIndexLookups(t *testing.T) {
	nsg := nsgWith("web-nsg", allow("allow-rdp", 300, "Tcp", "3389"))
	ix := indexOf(&nsg, nil, true)
	for _, tt := range []struct {
		addr, name, describe string
	}{
		{"10.1.0.4", "vm-web-01", "Azure VM vm-web-01, NIC web-nic, subnet app of VNet vnet1"},
		{"198.51.100.14", "vm-web-01", "Azure VM vm-web-01, public IP pip, subnet app of VNet vnet1"},
	} {
		h, ok := ix.Host(netip.MustParseAddr(tt.addr))
		if !ok || h.Name != tt.name || h.Describe() != tt.describe {
			t.Errorf("%s: %q %q", tt.addr, h.Name, h.Describe())
		}
	}
	if _, ok := ix.Host(netip.MustParseAddr("10.1.0.5")); ok {
		t.Error("10.1.0.5 is no NIC's")
	}
	if r, ok := ix.Range(netip.MustParseAddr("10.1.0.5")); !ok || r.Describe() != "subnet app of VNet vnet1 (10.1.0.0/24)" {
		t.Errorf("10.1.0.5: %+v", r)
	}
	if r, ok := ix.Range(netip.MustParseAddr("10.1.200.5")); !ok || r.Describe() != "VNet vnet1 (10.1.0.0/16)" {
		t.Errorf("10.1.200.5: %+v", r)
	}
	for _, mac := range []string{"000D3A100004", "00-0d-3a-10-00-04", "00:0D:3A:10:00:04"} {
		if h, ok := ix.NIC(mac); !ok || h.VM != "vm-web-01" {
			t.Errorf("MAC %s: %+v", mac, h)
		}
	}
	// Rules named by a flow log: a user rule found through the MAC; a
	// default rule known without an NSG; a rule nobody has.
	if r, nsgName, ok := ix.Rule("UserRule_allow-rdp", "", "000D3A100004"); !ok || nsgName != "web-nsg" || Explain(r) != "priority 300, allow TCP 3389 from Internet" {
		t.Errorf("UserRule_allow-rdp: %+v %q %v", r, nsgName, ok)
	}
	if r, nsgName, ok := ix.Rule("DefaultRule_AllowInternetOutBound", "", ""); !ok || nsgName != "" || r.Priority != 65001 {
		t.Errorf("DefaultRule_AllowInternetOutBound: %+v %q", r, nsgName)
	}
	if r, _, ok := (*Index)(nil).Rule("denyallinbound", "", ""); !ok || r.Name != "DenyAllInBound" {
		t.Errorf("Traffic Analytics' denyallinbound without an inventory: %+v", r)
	}
	if _, _, ok := ix.Rule("UserRule_unknown", "", ""); ok {
		t.Error("a rule no NSG has was found")
	}
}
