package inventory

import (
	"fmt"
	"net/netip"
	"testing"
)

// bigInventory is a large tenant: 2,000 VNets of four subnets, each with
// an NSG of 50 rules on its first subnet, 20,000 VMs' NICs, and 3,000
// service tags of 30 prefixes each (the real Service Tags file has 3,039
// tags).
func bigInventory() Inventory {
	var inv Inventory
	for v := range 2000 {
		vnet := VNet{ID: fmt.Sprintf("/s/vnet%d", v), Name: fmt.Sprintf("vnet%d", v),
			Prefixes: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(v >> 8), byte(v), 0}), 24)}}
		for s := range 4 {
			vnet.Subnets = append(vnet.Subnets, Subnet{ID: fmt.Sprintf("%s/subnets/s%d", vnet.ID, s), Name: fmt.Sprintf("s%d", s),
				Prefixes: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(v >> 8), byte(v), byte(s * 64)}), 26)}})
		}
		inv.VNets = append(inv.VNets, vnet)
		nsg := NSG{ID: fmt.Sprintf("/s/nsg%d", v), Name: fmt.Sprintf("nsg%d", v), Subnets: []string{vnet.Subnets[0].ID}}
		for r := range 50 {
			src, port := "10.0.0.0/8", fmt.Sprint(3000+r*10)
			if r == 49 && v%10 == 0 {
				src, port = "Internet", "3389" // RDP open on every tenth VNet's first subnet
			}
			nsg.Rules = append(nsg.Rules, Rule{Name: fmt.Sprintf("r%d", r), Priority: 100 + r, Direction: "Inbound", Access: "Allow",
				Protocol: "Tcp", Sources: []string{src}, Destinations: []string{"*"}, DestinationPorts: []string{port}})
		}
		inv.NSGs = append(inv.NSGs, nsg)
		for n := range 10 {
			inv.NICs = append(inv.NICs, NIC{ID: fmt.Sprintf("/s/nic%d-%d", v, n), Name: fmt.Sprintf("nic%d-%d", v, n), VM: fmt.Sprintf("/s/vm%d-%d", v, n),
				IPs: []NICAddress{{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(v >> 8), byte(v), byte(4 + n)}), 32),
					Subnet: vnet.Subnets[0].ID}}})
		}
	}
	for t := range 3000 {
		tag := ServiceTag{Name: fmt.Sprintf("Tag%d.region", t)}
		for p := range 30 {
			tag.Prefixes = append(tag.Prefixes, netip.PrefixFrom(netip.AddrFrom4([4]byte{20 + byte(t%200), byte(t / 200), byte(p), 0}), 20+p%8))
		}
		inv.Tags = append(inv.Tags, tag)
	}
	return inv
}

// BenchmarkLookups: what classing one address costs with a large
// inventory: a NIC's address, one in a VNet range only, and a public one
// in a service tag.
func BenchmarkLookups(b *testing.B) {
	ix := NewIndex(bigInventory())
	nic, ranged, public := netip.MustParseAddr("10.3.7.9"), netip.MustParseAddr("10.3.7.200"), netip.MustParseAddr("45.3.17.1")
	b.Run("host", func(b *testing.B) {
		for b.Loop() {
			ix.Host(nic)
		}
	})
	b.Run("range", func(b *testing.B) {
		for b.Loop() {
			ix.Range(ranged)
		}
	})
	b.Run("service-tag", func(b *testing.B) {
		for b.Loop() {
			ix.ServiceTag(public)
		}
	})
	b.Run("exposures", func(b *testing.B) {
		for b.Loop() {
			if n := len(ix.Exposures()); n != 2000 {
				b.Fatalf("%d exposures, want one for each of the 2,000 NICs behind an NSG that opens RDP", n)
			}
		}
	})
	b.Run("rule", func(b *testing.B) {
		for b.Loop() {
			ix.Rule("UserRule_r49", "", "")
		}
	})
	b.Run("index", func(b *testing.B) {
		inv := bigInventory()
		for b.Loop() {
			NewIndex(inv)
		}
	})
}
