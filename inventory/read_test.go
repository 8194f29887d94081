package inventory

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Documents in the shapes a responder exports: az CLI output (properties
// flattened), the REST API (nested under "properties"), Resource Graph,
// a REST example, the Service Tags file.
const (
	azNICList = `[
  {
    "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/web-nic",
    "name": "web-nic", "type": "Microsoft.Network/networkInterfaces", "macAddress": "00-0D-3A-10-00-04",
    "ipConfigurations": [{"name": "ipconfig1", "privateIPAddress": "10.1.0.4",
      "subnet": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/app"},
      "publicIPAddress": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/web-pip"}}],
    "networkSecurityGroup": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg"},
    "virtualMachine": {"id": "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/vm-web-01"}
  }
]`
	restNSGList = `{"value": [{
  "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg", "name": "web-nsg",
  "type": "Microsoft.Network/networkSecurityGroups",
  "properties": {
    "securityRules": [
      {"name": "allow-rdp", "properties": {"protocol": "Tcp", "sourceAddressPrefix": "Internet", "sourcePortRange": "*",
        "destinationAddressPrefix": "*", "destinationPortRange": "3389", "access": "Allow", "priority": 300, "direction": "Inbound"}},
      {"name": "allow-web", "properties": {"protocol": "*", "sourceAddressPrefixes": ["0.0.0.0/0"], "sourcePortRange": "*",
        "destinationAddressPrefix": "*", "destinationPortRanges": ["80", "443"], "access": "Allow", "priority": "310", "direction": "Inbound"}}
    ],
    "defaultSecurityRules": [
      {"name": "DenyAllInBound", "properties": {"protocol": "*", "sourceAddressPrefix": "*", "sourcePortRange": "*",
        "destinationAddressPrefix": "*", "destinationPortRange": "*", "access": "Deny", "priority": 65500, "direction": "Inbound"}}
    ]
  }
}], "nextLink": null}`
	graphVNets = `{"count": 1, "data": [{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1",
  "name": "vnet1", "type": "microsoft.network/virtualnetworks",
  "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
    "subnets": [{"name": "app", "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/app",
      "properties": {"addressPrefix": "10.1.0.0/24"}}]}}], "skip_token": null, "total_records": 1}`
	restExample = `{"parameters": {"api-version": "2024-05-01"}, "responses": {"200": {"body": {
  "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/web-pip", "name": "web-pip",
  "type": "Microsoft.Network/publicIPAddresses",
  "properties": {"ipAddress": "198.51.100.14",
    "ipConfiguration": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/web-nic/ipConfigurations/ipconfig1"}}}}}}`
	azVMListD = `[{"id": "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/vm-web-01", "name": "vm-web-01",
  "type": "Microsoft.Compute/virtualMachines", "powerState": "VM running", "privateIps": "10.1.0.4", "publicIps": "198.51.100.14",
  "macAddresses": "00-0D-3A-10-00-04", "networkProfile": {"networkInterfaces": [
    {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/web-nic"}]}}]`
	serviceTags = `{"changeNumber": 3, "cloud": "Public", "values": [
  {"name": "AzureCloud", "id": "AzureCloud", "properties": {"region": "", "systemService": "", "addressPrefixes": ["20.0.0.0/8", "2603:1000::/24"], "networkFeatures": null}},
  {"name": "Storage", "id": "Storage", "properties": {"region": "", "systemService": "AzureStorage", "addressPrefixes": ["20.38.96.0/24"]}},
  {"name": "Storage.EastUS", "id": "Storage.EastUS", "properties": {"region": "eastus", "systemService": "AzureStorage", "addressPrefixes": ["20.38.96.0/24", "20.38.97.0/24"]}},
  {"name": "AzureCloud.eastus", "id": "AzureCloud.eastus", "properties": {"region": "eastus", "addressPrefixes": ["20.38.96.0/19", "2603:1030::/40"]}}
]}`
)

func readAll(t *testing.T, docs ...string) (Inventory, Stats) {
	t.Helper()
	var inv Inventory
	var total Stats
	for i, d := range docs {
		st, err := Read(strings.NewReader(d), "doc"+string(rune('0'+i)), &inv)
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		if st.Skipped > 0 {
			t.Fatalf("document %d: skipped %d: %v", i, st.Skipped, st.Damage)
		}
		total.add(st)
	}
	return inv, total
}

func TestReadShapes(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, inv Inventory, st Stats)
	}{
		{"az nic list", azNICList, func(t *testing.T, inv Inventory, st Stats) {
			n := inv.NICs[0]
			if st.NICs != 1 || n.Name != "web-nic" || n.MAC != "000D3A100004" || len(n.IPs) != 1 || n.IPs[0].Prefix.String() != "10.1.0.4/32" ||
				!strings.HasSuffix(n.VM, "/virtualmachines/vm-web-01") || !strings.HasSuffix(n.NSG, "/web-nsg") {
				t.Errorf("%+v", inv.NICs)
			}
		}},
		{"REST list with nested properties", restNSGList, func(t *testing.T, inv Inventory, st Stats) {
			rules := inv.NSGs[0].Rules
			if st.NSGs != 1 || len(rules) != 3 || rules[0].Priority != 300 || rules[1].Priority != 310 || !rules[2].Default ||
				!slices.Equal(rules[1].DestinationPorts, []string{"80", "443"}) || rules[0].Sources[0] != "Internet" {
				t.Errorf("%+v", inv.NSGs)
			}
		}},
		{"Resource Graph", graphVNets, func(t *testing.T, inv Inventory, st Stats) {
			v := inv.VNets[0]
			if st.VNets != 1 || v.Prefixes[0].String() != "10.1.0.0/16" || len(v.Subnets) != 1 || v.Subnets[0].Prefixes[0].String() != "10.1.0.0/24" {
				t.Errorf("%+v", inv.VNets)
			}
		}},
		{"REST example", restExample, func(t *testing.T, inv Inventory, st Stats) {
			if st.PublicIPs != 1 || inv.PublicIPs[0].Addr.String() != "198.51.100.14" || !strings.HasSuffix(inv.PublicIPs[0].IPConfig, "/ipconfigurations/ipconfig1") {
				t.Errorf("%+v", inv.PublicIPs)
			}
		}},
		{"az vm list -d", azVMListD, func(t *testing.T, inv Inventory, st Stats) {
			v := inv.VMs[0]
			if st.VMs != 1 || v.PrivateIPs[0].String() != "10.1.0.4" || v.PublicIPs[0].String() != "198.51.100.14" || v.MACs[0] != "000D3A100004" || len(v.NICs) != 1 {
				t.Errorf("%+v", inv.VMs)
			}
		}},
		{"az vm show -d with lists", strings.NewReplacer(`"privateIps": "10.1.0.4"`, `"privateIps": ["10.1.0.4", "10.1.0.5"]`).Replace(azVMListD),
			func(t *testing.T, inv Inventory, st Stats) {
				if len(inv.VMs[0].PrivateIPs) != 2 {
					t.Errorf("%+v", inv.VMs)
				}
			}},
		{"Service Tags", serviceTags, func(t *testing.T, inv Inventory, st Stats) {
			if st.ServiceTags != 4 || inv.Tags[2].Name != "Storage.EastUS" || inv.Tags[2].Region != "eastus" || len(inv.Tags[0].Prefixes) != 2 {
				t.Errorf("%+v", inv.Tags)
			}
		}},
		{"two documents, a byte-order mark", "\uFEFF" + azNICList + "\n" + azVMListD, func(t *testing.T, inv Inventory, st Stats) {
			if st.NICs != 1 || st.VMs != 1 {
				t.Errorf("%+v", st)
			}
		}},
		{"one resource, other types counted", `{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa", "name": "sa"}`,
			func(t *testing.T, inv Inventory, st Stats) {
				if st.Other != 1 || st.Resources() != 1 {
					t.Errorf("%+v", st)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, st := readAll(t, tt.doc)
			tt.check(t, inv, st)
			if !Detect([]byte(strings.TrimPrefix(tt.doc, "\uFEFF"))) && st.Other == 0 {
				t.Error("Detect does not know it")
			}
		})
	}
}

// TestReadDamage: a bad object is skipped and described with its offset,
// the rest is read; a document cut short keeps what came before.
func TestReadDamage(t *testing.T) {
	bad := `[{"id": "/s/providers/Microsoft.Network/networkInterfaces/a", "ipConfigurations": [{"privateIPAddress": "10.0.0.4"}]},
 {"id": "/s/providers/Microsoft.Network/networkInterfaces/b", "ipConfigurations": [{"privateIPAddress": "not-an-address"}]},
 42,
 {"id": "/s/providers/Microsoft.Network/publicIPAddresses/c", "ipAddress": "300.1.1.1"},
 {"id": "/s/providers/Microsoft.Network/networkInterfaces/d", "ipConfigurations": [{"privateIPAddress": "10.0.0.6"}]}]`
	var inv Inventory
	st, err := Read(strings.NewReader(bad), "bad.json", &inv)
	if err != nil {
		t.Fatal(err)
	}
	if st.NICs != 3 || st.Skipped != 3 || len(st.Damage) != 3 {
		t.Fatalf("%+v", st)
	}
	if d := st.Damage[0]; d.Offset != int64(strings.Index(bad, `{"id": "/s/providers/Microsoft.Network/networkInterfaces/b"`)) ||
		!strings.Contains(d.Error(), "bad.json: offset") || !strings.Contains(d.Error(), "not-an-address") {
		t.Errorf("damage %v at %d", d, d.Offset)
	}

	cut := azNICList[:strings.LastIndex(azNICList, "}")+1] + ",\n" + azNICList[4:len(azNICList)/2]
	inv = Inventory{}
	st, err = Read(strings.NewReader(cut), "cut.json", &inv)
	var e *Error
	if !errors.As(err, &e) || e.Offset == 0 || st.NICs != 1 || !strings.Contains(err.Error(), "cut.json: offset") {
		t.Errorf("cut short: %v, %+v", err, st)
	}

	for _, doc := range []string{`{"records": []}`, `[]`, `{"a": 1}`} {
		if _, err := Read(strings.NewReader(doc), "x", &Inventory{}); !errors.Is(err, ErrNotInventory) {
			t.Errorf("%s: %v, want ErrNotInventory", doc, err)
		}
	}
	if _, err := Read(strings.NewReader("not json"), "x", &Inventory{}); err == nil || !strings.Contains(err.Error(), "x: offset 2: reading stopped: invalid character") {
		t.Errorf("not JSON: %v", err)
	}
}

func TestDetect(t *testing.T) {
	for _, tt := range []struct {
		doc  string
		want bool
	}{
		{azNICList, true}, {restNSGList, true}, {graphVNets, true}, {restExample, true}, {azVMListD, true}, {serviceTags, true},
		{azNICList[:200], true}, // the id comes first: enough
		{`{"records": [{"resourceId": "/SUBSCRIPTIONS/S/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N", "id": "/subscriptions/s/providers/Microsoft.Network/networkInterfaces/x"}]}`, false},
		{`[{"TimeGenerated": "8/25/2025 8:11:21.937 PM", "SrcIp": "10.0.0.4"}]`, false},
		{`{"id": "/subscriptions/s/providers/Microsoft.Storage/storageAccounts/sa"}`, false},
		{`[1, 2, 3]`, false}, {`{`, false}, {``, false},
	} {
		if got := Detect([]byte(tt.doc)); got != tt.want {
			t.Errorf("Detect(%.60q) = %v, want %v", tt.doc, got, tt.want)
		}
	}
}

// TestCorpusSamples reads the real examples of ../shared/corpus/azure-context
// with nothing skipped, and checks what the manifest says of each.
func TestCorpusSamples(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "corpus", "azure-context")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Skipf("no corpus at %s: the Azure context samples are not here", dir)
	}
	var inv Inventory
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !Detect(b[:min(len(b), 64<<10)]) {
			t.Errorf("%s: not detected", filepath.Base(f))
		}
		st, err := Read(strings.NewReader(string(b)), f, &inv)
		if err != nil || st.Skipped > 0 {
			t.Errorf("%s: %v, %d skipped: %v", filepath.Base(f), err, st.Skipped, st.Damage)
		}
	}
	ix := NewIndex(inv)
	// NetworkInterfaceGet: a NIC IP prefix; NetworkInterfaceListAll: the same
	// private address in two VNets.
	if h, ok := ix.Host(netip.MustParseAddr("172.20.2.20")); !ok || h.NIC != "test-nic" {
		t.Errorf("an address in test-nic's delegated prefix: %+v %v", h, ok)
	}
	if h, ok := ix.Host(netip.MustParseAddr("172.20.2.4")); !ok || len(h.Others) != 1 || !strings.Contains(h.Label(), " or ") {
		t.Errorf("172.20.2.4, on two NICs: %+v", h)
	}
	if h, ok := ix.NIC("00:0d:3a:1b:c7:21"); !ok || h.NIC != "test-nic" || h.VM != "vm1" {
		t.Errorf("MAC 00-0D-3A-1B-C7-21: %+v %v", h, ok)
	}
	if r, ok := ix.Range(netip.MustParseAddr("10.0.1.9")); !ok || r.Subnet != "subnet1" || r.VNet != "test-vnet" {
		t.Errorf("10.0.1.9: %+v", r)
	}
	var nsg NSG
	for _, n := range inv.NSGs {
		if n.Name == "testnsg" {
			nsg = n
		}
	}
	if len(nsg.Rules) != 7 {
		t.Errorf("testnsg has %d rules, want 1 and 6 default rules", len(nsg.Rules))
	}
	// The Service Tags sample: an address of Storage.EastUS is named so,
	// not Storage or AzureCloud.eastus.
	var storageEast ServiceTag
	for _, tag := range inv.Tags {
		if tag.Name == "Storage.EastUS" {
			storageEast = tag
		}
	}
	if len(storageEast.Prefixes) == 0 {
		t.Fatal("no Storage.EastUS in the Service Tags sample")
	}
	if tag, ok := ix.ServiceTag(storageEast.Prefixes[0].Addr()); !ok || tag.Name != "Storage.EastUS" {
		t.Errorf("%s: %s, want Storage.EastUS", storageEast.Prefixes[0], tag.Name)
	}
}
