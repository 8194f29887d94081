package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netfx/netfx/flows"
)

// Discovery over RPC (ATT&CK T1046, T1087.002): one host asking another's
// RPC endpoint mapper about its interfaces again and again, or querying
// the SAMR, LSA, server and workstation services for sessions, users and
// groups as BloodHound/SharpHound collect Active Directory.

// reconDetector keeps one finding per source and target.
type reconDetector struct {
	found map[[2]netip.Addr]*Finding
}

func newReconDetector() *reconDetector { return &reconDetector{found: map[[2]netip.Addr]*Finding{}} }

// epmLookups is how many endpoint-mapper requests, or epmEntries how many
// entries listed, in one connection make RPC service discovery.
const (
	epmLookups = 20
	epmEntries = 100
)

var reconInterfaces = []string{"samr", "lsarpc", "srvsvc", "wkssvc", "winreg"}

func (s *reconDetector) observe(d *detection, c *flows.Conn) {
	if c.App == nil || c.App.DCERPC == nil {
		return
	}
	r := c.App.DCERPC
	var facts []string
	technique := ""
	if slices.Contains(r.Interfaces, "epmapper") && (r.Requests >= epmLookups || r.EndpointEntries >= epmEntries) {
		technique = "T1046"
		facts = append(facts, fmt.Sprintf("%d endpoint-mapper requests in one connection, listing %d endpoints", r.Requests, r.EndpointEntries))
	}
	for _, op := range r.Operations {
		if op == "srvsvc:NetrSessionEnum" || op == "wkssvc:NetrWkstaUserEnum" || strings.HasPrefix(op, "samr:") || strings.HasPrefix(op, "lsarpc:LsarLookup") {
			facts = append(facts, "rpc "+op)
		}
	}
	n := 0
	for _, i := range reconInterfaces {
		if slices.Contains(r.Interfaces, i) {
			n++
		}
	}
	if technique == "" && n >= 3 {
		technique = "T1087.002"
	}
	if technique == "" {
		return
	}
	k := [2]netip.Addr{c.Orig, c.Resp}
	f := s.found[k]
	if f == nil {
		f = newFinding("scan", technique, c, d.endpoint(k[0], nil), d.endpoint(k[1], port(c.RespPort)))
		s.found[k] = f
	}
	f.add(c, facts...)
}

func (s *reconDetector) findings(d *detection) []*Finding {
	var out []*Finding
	for k, f := range s.found {
		if f.Technique == "T1046" {
			f.Score = 60
			f.Title = "RPC service discovery"
			f.Why = fmt.Sprintf("%s asked the RPC endpoint mapper of %s about its interfaces again and again: RPC service discovery", k[0], k[1])
		} else {
			f.Score = 65
			f.Title = "AD reconnaissance over RPC"
			f.Why = fmt.Sprintf("%s queried %s for sessions, users, groups and policy over SMB pipes (SAMR, LSA, server and workstation services): Active Directory reconnaissance as BloodHound/SharpHound collects it", k[0], k[1])
		}
		out = append(out, f)
	}
	return out
}
