package analyze

import (
	"testing"
	"time"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flows"
)

// TestRecon fires on endpoint-mapper enumeration and on SAMR, LSA and
// server-service queries, not on one ordinary RPC call.
func TestRecon(t *testing.T) {
	rpc := func(facts appid.DCERPCFacts) func() []*flows.Conn {
		return func() []*flows.Conn {
			c := conn("10.0.0.7", "10.0.0.2", 50000, 445, 0, time.Second)
			c.App = &appid.Facts{DCERPC: &facts}
			return []*flows.Conn{c}
		}
	}
	runDetectorCases(t, []detectorCase{
		{"endpoint-mapper enumeration", rpc(appid.DCERPCFacts{Interfaces: []string{"epmapper"}, Requests: 40}), "scan", true},
		{"one lookup listing every endpoint", rpc(appid.DCERPCFacts{Interfaces: []string{"epmapper"}, Requests: 1, EndpointEntries: 300}), "scan", true},
		{"one lookup listing a few", rpc(appid.DCERPCFacts{Interfaces: []string{"epmapper"}, Requests: 1, EndpointEntries: 4}), "scan", false},
		{"AD collection", rpc(appid.DCERPCFacts{Interfaces: []string{"samr", "lsarpc", "srvsvc"}, Operations: []string{"srvsvc:NetrSessionEnum"}}), "scan", true},
		{"one lookup", rpc(appid.DCERPCFacts{Interfaces: []string{"epmapper"}, Requests: 2}), "scan", false},
	})
}
