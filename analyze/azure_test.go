package analyze

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/ingest"
	"github.com/netfx/netfx/inventory"
	"github.com/netfx/netfx/loganalytics"
)

const (
	testNIC    = "/s/providers/microsoft.network/networkinterfaces/web-nic"
	testVM     = "/s/providers/microsoft.compute/virtualmachines/vm-web-01"
	testNSG    = "/s/providers/microsoft.network/networksecuritygroups/web-nsg"
	testSubnet = "/s/providers/microsoft.network/virtualnetworks/vnet1/subnets/app"
)

// testInventory is one VM, vm-web-01 (10.1.0.4, public 198.51.100.14), in
// VNet vnet1, whose NSG opens RDP to the internet; and a service tag.
func testInventory() ingest.InventoryResult {
	inv := inventory.Inventory{
		VMs: []inventory.VM{{ID: testVM, Name: "vm-web-01"}},
		NICs: []inventory.NIC{{ID: testNIC, Name: "web-nic", MAC: "000D3A100004", VM: testVM, NSG: testNSG,
			IPs: []inventory.NICAddress{{Prefix: netip.MustParsePrefix("10.1.0.4/32"), Subnet: testSubnet, PublicIP: "/s/pip"}}}},
		PublicIPs: []inventory.PublicIP{{ID: "/s/pip", Name: "pip-web", Addr: netip.MustParseAddr("198.51.100.14")}},
		NSGs: []inventory.NSG{{ID: testNSG, Name: "web-nsg", Rules: []inventory.Rule{{Name: "allow-rdp", Priority: 300, Direction: "Inbound",
			Access: "Allow", Protocol: "Tcp", Sources: []string{"Internet"}, Destinations: []string{"*"}, DestinationPorts: []string{"3389"}}}}},
		VNets: []inventory.VNet{{ID: "/s/providers/microsoft.network/virtualnetworks/vnet1", Name: "vnet1",
			Prefixes: []netip.Prefix{netip.MustParsePrefix("172.30.0.0/16")},
			Subnets:  []inventory.Subnet{{ID: testSubnet, Name: "app", Prefixes: []netip.Prefix{netip.MustParsePrefix("172.30.1.0/24")}}}}},
		Tags: []inventory.ServiceTag{{Name: "Storage.WestEurope", Prefixes: []netip.Prefix{netip.MustParsePrefix("20.60.0.0/16")}}},
	}
	return ingest.InventoryResult{Path: "inventory.json", Size: 100, Stats: inventory.Stats{VMs: 1, NICs: 1}, Inventory: inv}
}

// TestInventoryNamesAndClasses: with an inventory, VMs are named and
// internal by what they are, VNet ranges are internal by name, and
// service-tag addresses are Azure's, not external.
func TestInventoryNamesAndClasses(t *testing.T) {
	s := NewSummary(Options{})
	s.AddInventory(testInventory())
	s.indexInventory() // as the first conversation does
	for _, tt := range []struct{ addr, class, reason, name string }{
		{"10.1.0.4", ClassInternal, "Azure VM vm-web-01, NIC web-nic, subnet app of VNet vnet1", "vm-web-01"},
		{"198.51.100.14", ClassInternal, "Azure VM vm-web-01, public IP pip-web, subnet app of VNet vnet1", "vm-web-01"},
		{"172.30.1.9", ClassInternal, "subnet app of VNet vnet1 (172.30.1.0/24)", ""},
		{"172.30.9.9", ClassInternal, "VNet vnet1 (172.30.0.0/16)", ""},
		{"20.60.1.1", ClassAzure, "service tag Storage.WestEurope", ""},
		{"203.0.113.66", ClassExternal, "", ""},
	} {
		a := netip.MustParseAddr(tt.addr)
		class, reason := s.net.Classify(a)
		if class != tt.class || reason != tt.reason || s.names.best(a) != tt.name {
			t.Errorf("%s: %s (%s) %q, want %s (%s) %q", tt.addr, class, reason, s.names.best(a), tt.class, tt.reason, tt.name)
		}
	}
	c := conn("10.1.0.4", "20.60.1.1", 50000, 443, 0, time.Second)
	s.AddConn(c)
	r := s.Report()
	if r.Totals.InventoryFiles != 1 || len(r.Inventory) != 1 || len(r.AzureHosts) != 1 || r.AzureHosts[0].Name != "vm-web-01" ||
		r.TopHostsByBytes[0].Name != "vm-web-01" {
		t.Errorf("inventory in the report: %+v %+v %+v", r.Inventory, r.AzureHosts, r.TopHostsByBytes)
	}
}

// TestExposure: the NSG's rule that opens RDP to the internet is a
// finding; stronger when the internet used it, weaker when the VM is not
// in the evidence; out of a --host scope, none.
func TestExposure(t *testing.T) {
	rdpFrom := func(src string, i int, state string) *flows.Conn {
		c := conn(src, "10.1.0.4", uint16(50000+i), 3389, time.Duration(i)*time.Minute, 10*time.Second)
		c.ConnState, c.UID = state, "Cx"+src+string(rune('a'+i))
		return c
	}
	for _, tt := range []struct {
		name      string
		conns     []*flows.Conn
		hosts     []netip.Prefix
		findings  int
		score     int
		titlePart string
	}{
		{"not in the evidence", []*flows.Conn{conn("10.9.0.1", "10.9.0.2", 1, 80, 0, time.Second)}, nil, 1, exposureOnly, "RDP open to the internet"},
		{"in the evidence", []*flows.Conn{conn("10.1.0.4", "10.9.0.2", 1, 80, 0, time.Second)}, nil, 1, exposureInScope, "RDP open to the internet"},
		{"refused from the internet", []*flows.Conn{rdpFrom("203.0.113.9", 0, "REJ")}, nil, 1, exposureTried, "tried from it"},
		{"used from the internet", []*flows.Conn{rdpFrom("203.0.113.9", 0, "SF"), rdpFrom("203.0.113.10", 1, "SF")}, nil, 1, exposureUsed, "used from it"},
		{"used from inside only", []*flows.Conn{rdpFrom("10.1.0.5", 0, "SF")}, nil, 1, exposureInScope, "RDP open to the internet"},
		{"another host drilled into", []*flows.Conn{conn("10.9.0.1", "10.9.0.2", 1, 80, 0, time.Second)},
			[]netip.Prefix{netip.MustParsePrefix("10.9.0.0/24")}, 0, 0, ""},
	} {
		s := NewSummary(Options{Detect: DetectOptions{Hosts: tt.hosts}})
		s.AddInventory(testInventory())
		for _, c := range tt.conns {
			s.AddConn(c)
		}
		fs := findingsWhere(s, ofKind("exposure"))
		if len(fs) != tt.findings {
			t.Errorf("%s: %d exposure findings, want %d", tt.name, len(fs), tt.findings)
			continue
		}
		if len(fs) == 0 {
			continue
		}
		f := fs[0]
		if f.Score != tt.score || !strings.Contains(f.Title, tt.titlePart) || f.Technique != "T1133" || f.Src.Name != "Internet" ||
			f.Dst.IP.String() != "10.1.0.4" || f.Evidence.Rules[0] != "UserRule_allow-rdp" ||
			!strings.Contains(f.Why, "NSG web-nsg rule UserRule_allow-rdp (priority 300, allow TCP 3389 from Internet)") ||
			len(f.Evidence.RuleMeanings) != 1 {
			t.Errorf("%s: %+v", tt.name, f)
		}
	}
}

// TestRuleStats: the rules the flow logs name are counted and explained:
// a default rule always, a user rule from the inventory.
func TestRuleStats(t *testing.T) {
	s := NewSummary(Options{})
	s.AddInventory(testInventory())
	s.AddFlowLog(ingest.FlowLogResult{Path: "PT1H.json", Stats: flowlogStats()})
	for i, rule := range []string{"UserRule_allow-rdp", "UserRule_allow-rdp", "DefaultRule_DenyAllInBound", "UserRule_gone"} {
		c := logConn("203.0.113.9", "10.1.0.4", uint16(50000+i), 3389, time.Duration(i)*time.Minute, time.Duration(i)*time.Minute+time.Second, flows.Allow)
		c.FlowLog.Rule, c.FlowLog.Sources = rule, []string{testNSG + " 000D3A100004"}
		if strings.HasPrefix(rule, "Default") {
			c.FlowLog.Decision = flows.Deny
		}
		s.AddConn(c)
	}
	got := map[string]RuleStat{}
	for _, r := range s.Report().FlowLogs.Rules {
		got[r.Rule] = r
	}
	if r := got["UserRule_allow-rdp"]; r.Connections != 2 || r.NSG != "web-nsg" || r.Meaning != "priority 300, allow TCP 3389 from Internet" {
		t.Errorf("allow-rdp: %+v", r)
	}
	if r := got["DefaultRule_DenyAllInBound"]; r.Denied != 1 || r.Meaning != "priority 65500, deny all traffic from any source" {
		t.Errorf("DenyAllInBound: %+v", r)
	}
	if r := got["UserRule_gone"]; r.Connections != 1 || r.Meaning != "" {
		t.Errorf("a rule the inventory lacks: %+v", r)
	}
	if cov := s.Report().FlowLogs.Coverage; len(cov) != 0 {
		t.Errorf("coverage without tuples: %+v", cov)
	}
}

// TestVMInsightsInFindings: a finding names the process VM Insights
// shows behind its connections, and the process listening on the port it
// reached (bound to every address of the VM the inventory names).
func TestVMInsightsInFindings(t *testing.T) {
	s := NewSummary(Options{})
	s.AddInventory(testInventory())
	s.AddAnalytics(ingest.AnalyticsResult{Path: "VMBoundPort.json", Stats: loganalytics.Stats{Table: "vmboundport", Rows: 1, BoundPorts: 1},
		BoundPorts: []loganalytics.BoundPort{{Computer: "VM-WEB-01.corp.example", Process: "svchost.exe", IP: netip.IPv4Unspecified(), Port: 3389, Proto: 6}},
		Names:      []ingest.VMName{{IP: netip.MustParseAddr("10.1.7.7"), Name: "vm-other"}}})
	c := conn("203.0.113.9", "10.1.0.4", 50000, 3389, 0, 10*time.Second)
	c.ConnState = "SF"
	c.Analytics = &flows.AnalyticsView{Process: "svchost.exe", Computer: "vm-web-01"}
	s.AddConn(c)
	fs := findingsWhere(s, ofKind("exposure"))
	if len(fs) != 1 {
		t.Fatalf("%d exposure findings", len(fs))
	}
	e := fs[0].Evidence
	if len(e.Processes) != 1 || e.Processes[0] != "svchost.exe on vm-web-01" || !strings.Contains(fs[0].Why, "VM Insights names the process: svchost.exe") {
		t.Errorf("process: %+v %s", e.Processes, fs[0].Why)
	}
	if !slices.Contains(e.Facts, "listening on 10.1.0.4:3389: svchost.exe on VM-WEB-01.corp.example (VMBoundPort)") {
		t.Errorf("listening: %q", e.Facts)
	}
	r := s.Report()
	if r.Totals.AnalyticsFiles != 1 || len(r.Analytics) != 1 || s.names.best(netip.MustParseAddr("10.1.7.7")) != "vm-other" {
		t.Errorf("the export in the report: %+v, name %q", r.Analytics, s.names.best(netip.MustParseAddr("10.1.7.7")))
	}
}
