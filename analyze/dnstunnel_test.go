package analyze

import (
	"fmt"
	"testing"
	"time"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flows"
)

func dnsConn(i int, name string) *flows.Conn {
	c := conn("10.0.0.4", "10.0.0.53", uint16(40000+i), 53, time.Duration(i)*time.Second, time.Millisecond)
	c.Proto, c.UID = 17, fmt.Sprint("Cd", i)
	c.App = &appid.Facts{DNS: &appid.DNSFacts{Queries: []string{name + " A"}}}
	return c
}

// TestDNSTunnel fires on encoded-looking names under one domain, not on
// ordinary ones.
func TestDNSTunnel(t *testing.T) {
	runDetectorCases(t, []detectorCase{
		{"dns tunnel", func() (cs []*flows.Conn) {
			for i := range 40 {
				cs = append(cs, dnsConn(i, fmt.Sprintf("q%x7f3a9c2e1b5d%x.t.evil.example", i*7919, i*104729)))
			}
			return cs
		}, "dns_tunnel", true},
		{"dns, ordinary names", func() (cs []*flows.Conn) {
			for i := range 40 {
				cs = append(cs, dnsConn(i, fmt.Sprintf("host%d.corp.example", i%5)))
			}
			return cs
		}, "dns_tunnel", false},
	})
}
