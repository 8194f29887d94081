package analyze

import (
	"fmt"
	"strings"
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

// TestRegisteredDomain groups names by the public suffix list, and
// dnscat2-style names under an encoded top-level label by their constant
// label.
func TestRegisteredDomain(t *testing.T) {
	for name, want := range map[string]string{
		"x1.y2.evil.example.co.uk":             "example.co.uk",
		"A.B.Example.COM.":                     "example.com",
		"3f2a9c01d7.dnscat.example.com":        "example.com",
		"dnscat.4b6f2a1c9d0e7f31":              "dnscat.<encoded>",
		"dnscat.4b6f2a1c9d0e7f31.9a8b7c6d5e4f": "dnscat.<encoded>",
		"4b6f2a1c9d0e7f31.9a8b7c6d5e4f":        "",
		"host.corp":                            "host.corp",
		"server1.corp.local":                   "corp.local",
		"myapp.azurewebsites.net":              "myapp.azurewebsites.net",
		"localhost":                            "",
		"co.uk":                                "",
	} {
		if got := registered(name); got != want {
			t.Errorf("registered(%q) = %q, want %q", name, got, want)
		}
	}
	if !underCloud("myapp.azurewebsites.net") || underCloud("evil.example") {
		t.Errorf("cloud domains: the public suffix list's private domains are not under their cloud")
	}
}

// TestDNSTunnelToTheServer: dnscat2 without a domain of its own sends
// hex names straight to its server; they group under "dnscat".
func TestDNSTunnelToTheServer(t *testing.T) {
	runDetectorCases(t, []detectorCase{
		{"dnscat2 to its server", func() (cs []*flows.Conn) {
			for i := range 40 {
				cs = append(cs, dnsConn(i, fmt.Sprintf("dnscat.%016x%016x", uint64(i)*0x9E3779B97F4A7C15, uint64(i+1)*0xBF58476D1CE4E5B9)))
			}
			return cs
		}, "dns_tunnel", true},
	})
}

// TestDNSTunnelInOneConversation: a tunnel on one source port whose
// encoded names come after 16 ordinary lookups is still found, from the
// queries past the first 16.
func TestDNSTunnelInOneConversation(t *testing.T) {
	c := dnsConn(0, "www.example.org")
	c.App.DNS.Queries = nil
	for i := range 16 {
		c.App.DNS.Queries = append(c.App.DNS.Queries, fmt.Sprintf("host%d.example.org A", i))
	}
	for i := range 40 {
		c.App.DNS.More = append(c.App.DNS.More, fmt.Sprintf("q%x7f3a9c2e1b5d%x.t.evil.example TXT", i*7919, i*104729))
	}
	s := NewSummary(Options{})
	s.AddConn(c)
	if fs := findingsWhere(s, ofKind("dns_tunnel")); len(fs) != 1 || !strings.Contains(fs[0].Title, "evil.example") {
		t.Errorf("findings %+v", fs)
	}
}

// TestDNSTunnelQueriesPastTheKept: iodine asks hundreds of NULL queries on
// one source port, of which a conversation keeps the first; the rest count
// alike when the names kept are all of one domain, and not when they are
// of several (a forwarder's port asks for anything).
func TestDNSTunnelQueriesPastTheKept(t *testing.T) {
	tunnel := func(domains ...string) *flows.Conn {
		c := dnsConn(0, "x")
		c.App.DNS.Queries = nil
		for i := range 16 {
			c.App.DNS.Queries = append(c.App.DNS.Queries, fmt.Sprintf("0ab%x9c2e1b5d7f3a%x.%s NULL", i*7919, i*104729, domains[i%len(domains)]))
		}
		c.App.DNS.QueriesTotal = 314
		return c
	}
	s := NewSummary(Options{})
	s.AddConn(tunnel("t.evil.example"))
	fs := findingsWhere(s, ofKind("dns_tunnel"))
	if len(fs) != 1 || !strings.Contains(fs[0].Why, "sent 314 queries") || !strings.Contains(strings.Join(fs[0].Evidence.Facts, ";"), "298 of them counted alike") {
		t.Fatalf("one domain: %+v", fs)
	}
	s = NewSummary(Options{})
	s.AddConn(tunnel("t.evil.example", "t.other.example"))
	for _, f := range findingsWhere(s, ofKind("dns_tunnel")) {
		if strings.Contains(f.Why, "314") || strings.Contains(f.Why, "306") {
			t.Errorf("two domains: the unread queries counted for one: %s", f.Why)
		}
	}
}

// TestDNSTunnelQueryTypes: lookups of the types tunnels carry data in,
// for ever new short names, are a tunnel; the same names looked up as A
// records are not.
func TestDNSTunnelQueryTypes(t *testing.T) {
	lookups := func(typ string) func() []*flows.Conn {
		return func() (cs []*flows.Conn) {
			for i := range 12 {
				c := dnsConn(i, "")
				c.App.DNS.Queries = []string{fmt.Sprintf("x%d.t.evil.example %s", i, typ)}
				cs = append(cs, c)
			}
			return cs
		}
	}
	runDetectorCases(t, []detectorCase{
		{"NULL lookups (iodine)", lookups("NULL"), "dns_tunnel", true},
		{"MX lookups", lookups("MX"), "dns_tunnel", true},
		{"A lookups", lookups("A"), "dns_tunnel", false},
	})
}

// TestDNSVolume: hundreds of distinct names under one domain, thousands of
// bytes of them, are data carried in DNS even when no label looks encoded
// (a low finding); reverse lookups and fewer names are not.
func TestDNSVolume(t *testing.T) {
	many := func(n int, name func(i int) string) func() []*flows.Conn {
		return func() (cs []*flows.Conn) {
			for i := range n {
				cs = append(cs, dnsConn(i, name(i)))
			}
			return cs
		}
	}
	runDetectorCases(t, []detectorCase{
		{"300 short names", many(300, func(i int) string { return fmt.Sprintf("part%d.data%d.exfil.example", i, i%7) }), "dns_tunnel", true},
		{"150 short names", many(150, func(i int) string { return fmt.Sprintf("part%d.data%d.exfil.example", i, i%7) }), "dns_tunnel", false},
		{"300 reverse lookups", many(300, func(i int) string { return fmt.Sprintf("%d.%d.0.10.in-addr.arpa", i%250, i/250) }), "dns_tunnel", false},
	})
	s := NewSummary(Options{})
	for _, c := range many(300, func(i int) string { return fmt.Sprintf("part%d.data%d.exfil.example", i, i%7) })() {
		s.AddConn(c)
	}
	if fs := findingsWhere(s, ofKind("dns_tunnel")); len(fs) != 1 || fs[0].Severity != "low" || fs[0].Title != "DNS volume to exfil.example" ||
		!strings.Contains(fs[0].Evidence.Facts[0], "at least 256 distinct subdomains") {
		t.Errorf("volume: %+v", fs)
	}
}
