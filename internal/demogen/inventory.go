package demogen

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// The scenario's Azure inventory, as a responder exports it with the az
// CLI (VMs, NICs, NSGs and public IPs, whose properties az prints at the
// top level) and Azure Resource Graph (the VNet, with its properties
// nested): the compromised VM vm-web-01 and its neighbours, one VNet, and
// the NSG on vm-web-01's NIC, whose rule allow-rdp opens RDP to the
// internet.

// inventoryDir is where the demo keeps its inventory.
const inventoryDir = "azure-inventory"

const resourceGroup = "/subscriptions/7d1e5f3a-0b9c-4c2d-8e6f-1a2b3c4d5e6f/resourceGroups/demo-rg/providers/"

// demoVM is one VM of the scenario and its NIC.
type demoVM struct {
	name, ip, mac, subnet string
	nsg                   bool // the NSG in the flow logs is on its NIC
	publicIP              string
}

var demoVMs = []demoVM{
	{"vm-web-01", "10.1.0.4", "00-0D-3A-10-00-04", "snet-app", true, "198.51.100.14"},
	{"dc-01", "10.1.0.5", "00-0D-3A-10-00-05", "snet-app", false, ""},
	{"fs-01", "10.1.1.10", "00-0D-3A-10-01-0A", "snet-data", false, ""},
	{"sql-01", "10.1.2.20", "00-0D-3A-10-02-14", "snet-db", false, ""},
	{"lnx-app-01", "10.1.2.30", "00-0D-3A-10-02-1E", "snet-db", false, ""},
	{"vm-jump-01", "10.1.3.7", "00-0D-3A-10-03-07", "snet-mgmt", false, ""},
}

var demoSubnets = []struct{ name, prefix string }{
	{"snet-app", "10.1.0.0/24"}, {"snet-data", "10.1.1.0/24"}, {"snet-db", "10.1.2.0/24"}, {"snet-mgmt", "10.1.3.0/24"},
}

type object = map[string]any

func id(kind, name string) string { return resourceGroup + kind + "/" + name }

func vnetSubnetID(subnet string) string {
	return id("Microsoft.Network/virtualNetworks", "vnet1") + "/subnets/" + subnet
}

func nicName(vm string) string { return vm + "-nic" }

// writeInventory writes the inventory files into dir.
func writeInventory(dir string) error {
	var vms, nics, pips []object
	for _, v := range demoVMs {
		vms = append(vms, object{
			"id": id("Microsoft.Compute/virtualMachines", v.name), "name": v.name, "type": "Microsoft.Compute/virtualMachines",
			"location": "westeurope", "resourceGroup": "demo-rg", "powerState": "VM running",
			"privateIps": v.ip, "publicIps": v.publicIP, "macAddresses": v.mac, "fqdns": "",
			"networkProfile": object{"networkInterfaces": []object{{"id": id("Microsoft.Network/networkInterfaces", nicName(v.name)), "primary": true}}},
		})
		ipConfig := object{
			"id":   id("Microsoft.Network/networkInterfaces", nicName(v.name)) + "/ipConfigurations/ipconfig1",
			"name": "ipconfig1", "primary": true, "privateIPAddress": v.ip, "privateIPAllocationMethod": "Static",
			"privateIPAddressVersion": "IPv4", "subnet": object{"id": vnetSubnetID(v.subnet), "resourceGroup": "demo-rg"},
		}
		if v.publicIP != "" {
			ipConfig["publicIPAddress"] = object{"id": id("Microsoft.Network/publicIPAddresses", "pip-"+v.name), "resourceGroup": "demo-rg"}
			pips = append(pips, object{
				"id": id("Microsoft.Network/publicIPAddresses", "pip-"+v.name), "name": "pip-" + v.name,
				"type": "Microsoft.Network/publicIPAddresses", "location": "westeurope", "ipAddress": v.publicIP,
				"publicIPAllocationMethod": "Static", "sku": object{"name": "Standard", "tier": "Regional"},
				"ipConfiguration": object{"id": ipConfig["id"], "resourceGroup": "demo-rg"},
			})
		}
		nic := object{
			"id": id("Microsoft.Network/networkInterfaces", nicName(v.name)), "name": nicName(v.name),
			"type": "Microsoft.Network/networkInterfaces", "location": "westeurope", "macAddress": v.mac, "primary": true,
			"ipConfigurations": []object{ipConfig},
			"virtualMachine":   object{"id": id("Microsoft.Compute/virtualMachines", v.name), "resourceGroup": "demo-rg"},
		}
		if v.nsg {
			nic["networkSecurityGroup"] = object{"id": id("Microsoft.Network/networkSecurityGroups", "vm1-nsg"), "resourceGroup": "demo-rg"}
		}
		nics = append(nics, nic)
	}
	files := []struct {
		name string
		doc  any
	}{
		{"az-vm-list-d.json", vms},
		{"az-network-nic-list.json", nics},
		{"az-network-nsg-list.json", []object{demoNSG()}},
		{"az-network-public-ip-list.json", pips},
		{"az-graph-query-vnets.json", object{"count": 1, "data": []object{demoVNet()}, "skip_token": nil, "total_records": 1}},
	}
	if err := os.MkdirAll(filepath.Join(dir, inventoryDir), 0o755); err != nil {
		return err
	}
	for _, f := range files {
		b, err := json.MarshalIndent(f.doc, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, inventoryDir, f.name), append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// demoNSG is the NSG on vm-web-01's NIC, as az network nsg list prints
// it: RDP and SSH open to the internet, SSH from the jump host.
func demoNSG() object {
	nsg := id("Microsoft.Network/networkSecurityGroups", "vm1-nsg")
	rule := func(kind, name string, priority int, direction, access, proto, src, dstPort string) object {
		return object{
			"id": nsg + "/" + kind + "/" + name, "name": name, "priority": priority, "direction": direction, "access": access,
			"protocol": proto, "sourceAddressPrefix": src, "sourcePortRange": "*", "destinationAddressPrefix": "*",
			"destinationPortRange": dstPort, "sourceAddressPrefixes": []string{}, "destinationAddressPrefixes": []string{},
			"provisioningState": "Succeeded", "type": "Microsoft.Network/networkSecurityGroups/" + kind,
		}
	}
	var defaults []object
	for _, d := range []struct {
		name, direction, access, src, dst, description string
		priority                                       int
	}{
		{"AllowVnetInBound", "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork", "Allow inbound traffic from all VMs in VNET", 65000},
		{"AllowAzureLoadBalancerInBound", "Inbound", "Allow", "AzureLoadBalancer", "*", "Allow inbound traffic from azure load balancer", 65001},
		{"DenyAllInBound", "Inbound", "Deny", "*", "*", "Deny all inbound traffic", 65500},
		{"AllowVnetOutBound", "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork", "Allow outbound traffic from all VMs to all VMs in VNET", 65000},
		{"AllowInternetOutBound", "Outbound", "Allow", "*", "Internet", "Allow outbound traffic from all VMs to Internet", 65001},
		{"DenyAllOutBound", "Outbound", "Deny", "*", "*", "Deny all outbound traffic", 65500},
	} {
		r := rule("defaultSecurityRules", d.name, d.priority, d.direction, d.access, "*", d.src, "*")
		r["destinationAddressPrefix"], r["description"] = d.dst, d.description
		defaults = append(defaults, r)
	}
	jump := rule("securityRules", "allow-ssh-from-jumphost", 200, "Inbound", "Allow", "Tcp", "10.1.3.7/32", "22")
	return object{
		"id": nsg, "name": "vm1-nsg", "type": "Microsoft.Network/networkSecurityGroups", "location": "westeurope",
		"resourceGroup": "demo-rg",
		"securityRules": []object{
			jump,
			rule("securityRules", "allow-rdp", 300, "Inbound", "Allow", "Tcp", "Internet", "3389"),
			rule("securityRules", "allow-ssh", 310, "Inbound", "Allow", "Tcp", "*", "22"),
		},
		"defaultSecurityRules": defaults,
		"networkInterfaces":    []object{{"id": id("Microsoft.Network/networkInterfaces", nicName("vm-web-01")), "resourceGroup": "demo-rg"}},
	}
}

// demoVNet is the VNet as Resource Graph returns it: properties nested.
func demoVNet() object {
	var subnets []object
	for _, s := range demoSubnets {
		subnets = append(subnets, object{
			"id": vnetSubnetID(s.name), "name": s.name,
			"properties": object{"addressPrefix": s.prefix, "provisioningState": "Succeeded"},
		})
	}
	return object{
		"id": id("Microsoft.Network/virtualNetworks", "vnet1"), "name": "vnet1", "type": "microsoft.network/virtualnetworks",
		"location": "westeurope", "resourceGroup": "demo-rg", "subscriptionId": "7d1e5f3a-0b9c-4c2d-8e6f-1a2b3c4d5e6f",
		"properties": object{"addressSpace": object{"addressPrefixes": []string{"10.1.0.0/16"}}, "subnets": subnets, "provisioningState": "Succeeded"},
	}
}
