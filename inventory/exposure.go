package inventory

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
)

// RiskyPort is a TCP port that should not be open to the internet: remote
// administration, file sharing and databases.
type RiskyPort struct {
	Port    uint16
	Service string
	Admin   bool // remote administration (ATT&CK T1133, External Remote Services)
}

// RiskyPorts are the ports Exposures looks at.
var RiskyPorts = []RiskyPort{
	{21, "FTP", false}, {22, "SSH", true}, {23, "Telnet", true}, {135, "RPC", false}, {139, "NetBIOS", false},
	{445, "SMB", false}, {1433, "SQL Server", false}, {1521, "Oracle", false}, {2375, "Docker API", true},
	{2376, "Docker API", true}, {3306, "MySQL", false}, {3389, "RDP", true}, {5432, "PostgreSQL", false},
	{5900, "VNC", true}, {5985, "WinRM", true}, {5986, "WinRM", true}, {6379, "Redis", false},
	{9200, "Elasticsearch", false}, {27017, "MongoDB", false},
}

// Exposure is a NIC whose NSGs let the internet reach risky ports on it.
type Exposure struct {
	Host      Host       // the VM and NIC
	Addr      netip.Addr // the NIC's private address
	PublicIPs []netip.Addr
	Ports     []RiskyPort
	// The rule that opens them, and the NSG it is in; both empty when no
	// NSG filters the NIC at all (NoNSG).
	Rule  Rule
	NSG   string
	NoNSG bool
}

// internetProbe is the public address inbound probes come from in
// evaluation; rules match the internet by tag or by 0.0.0.0/0, not by it.
var internetProbe = netip.MustParseAddr("192.0.2.1")

// Exposures returns, for each VM's NIC, the risky ports that inbound TCP
// from the internet may reach through every NSG that filters it (its
// subnet's and its own), grouped by the rule that allows them. A NIC that
// no NSG filters is exposed on every port when it has a public IP. They
// come in the order of the NICs' resource IDs.
func (ix *Index) Exposures() []Exposure {
	if ix == nil {
		return nil
	}
	nics := slices.Clone(ix.inv.NICs)
	slices.SortFunc(nics, func(a, b NIC) int { return cmp.Compare(a.ID, b.ID) })
	nics = slices.CompactFunc(nics, func(a, b NIC) bool { return a.ID == b.ID && a.ID != "" })
	var out []Exposure
	ordered := map[string][]matcher{} // each NSG's rules in order, compiled once
	for id, n := range ix.nsgs {
		ordered[id] = n.inOrder()
	}
	for i := range nics {
		nic := &nics[i]
		if nic.VM == "" {
			continue
		}
		nsgs := ix.nsgsOf(nic)
		for _, a := range nic.IPs {
			if !a.Prefix.IsSingleIP() {
				continue
			}
			host, _ := ix.Host(a.Prefix.Addr())
			host.PublicIP = ""
			public := ix.publicOf(nic, a)
			if len(nsgs) == 0 {
				if len(public) > 0 {
					out = append(out, Exposure{Host: host, Addr: a.Prefix.Addr(), PublicIPs: public, Ports: RiskyPorts, NoNSG: true})
				}
				continue
			}
			byRule := map[string]*Exposure{}
			var order []string
			for _, rp := range RiskyPorts {
				p := Packet{FromInternet: true, Src: internetProbe, Dst: a.Prefix.Addr(), DstASGs: a.ASGs, Proto: 6, Port: rp.Port}
				var opener Rule
				var in string
				allowed := true
				for _, id := range nsgs {
					n := ix.nsgs[id]
					if n == nil {
						continue // an NSG not exported: its rules are unknown
					}
					r := evaluate(ordered[id], p)
					if !strings.EqualFold(r.Access, "Allow") {
						allowed = false
						break
					}
					if !r.Default {
						opener, in = r, n.Name
					}
				}
				if !allowed || opener.Name == "" {
					continue
				}
				k := in + "\x00" + opener.Name
				e := byRule[k]
				if e == nil {
					e = &Exposure{Host: host, Addr: a.Prefix.Addr(), PublicIPs: public, Rule: opener, NSG: in}
					byRule[k] = e
					order = append(order, k)
				}
				e.Ports = append(e.Ports, rp)
			}
			for _, k := range order {
				out = append(out, *byRule[k])
			}
		}
	}
	return out
}

// publicOf returns the public addresses of a NIC's IP configuration.
func (ix *Index) publicOf(nic *NIC, a NICAddress) []netip.Addr {
	var out []netip.Addr
	for _, p := range ix.inv.PublicIPs {
		if p.Addr.IsValid() && (p.ID == a.PublicIP && a.PublicIP != "" || strings.HasPrefix(p.IPConfig, nic.ID+"/ipconfigurations/")) &&
			!slices.Contains(out, p.Addr) {
			out = append(out, p.Addr)
		}
	}
	for _, v := range ix.inv.VMs {
		if v.ID == nic.VM && nic.VM != "" {
			for _, p := range v.PublicIPs {
				if !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
	}
	return out
}
