package analyze

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/ingest"
	"github.com/netfx/netfx/internal/benchdata"
)

func TestSummaryFlowLogSections(t *testing.T) {
	s := NewSummary(Options{Top: 5})
	capture := conn("10.0.0.4", "203.0.113.1", 50000, 443, 0, time.Second)
	both := conn("10.0.0.4", "203.0.113.1", 50001, 443, time.Second, time.Second)
	both.Source = flows.SourceBoth
	both.FlowLog = &flows.FlowLogView{Begin: int64(time.Second), End: int64(2 * time.Second), Decision: flows.Allow, Counted: true,
		OrigBytes: 900000, RespBytes: 900000}
	s.AddCapture(ingest.CaptureResult{Path: "a.pcap", Stats: statsWindow(0, 10*time.Second)})
	s.AddFlowLog(ingest.FlowLogResult{Path: "PT1H.json", Stats: flowlogStats()})
	for _, c := range []*flows.Conn{
		capture, both,
		logConn("10.0.0.4", "203.0.113.1", 50002, 443, time.Hour, time.Hour+time.Minute, flows.Allow),
		logConn("192.0.2.9", "10.0.0.4", 40000, 3389, 0, 0, flows.Deny),
		logConn("192.0.2.9", "10.0.0.4", 40001, 3389, time.Minute, time.Minute, flows.Deny),
	} {
		s.AddConn(c)
	}
	r := s.Report().FlowLogs
	if r == nil {
		t.Fatal("no flow-log section")
	}
	want := LogCounts{Both: 1, FlowLogOnly: 3, CaptureOnly: 1, InGaps: 1, Denied: 2}
	if r.Connections != want {
		t.Errorf("counts %+v, want %+v", r.Connections, want)
	}
	if len(r.Denied) != 1 || r.Denied[0].Attempts != 2 || r.Denied[0].DstPort != 3389 {
		t.Errorf("denied %+v", r.Denied)
	}
	if len(r.Disagreements) != 1 || r.Disagreements[0].Conn.UID != both.UID {
		t.Errorf("disagreements %+v", r.Disagreements)
	}
	if len(r.InGaps) != 1 || r.InGaps[0].OrigPort != 50002 || len(r.CaptureOnly) != 1 {
		t.Errorf("in gaps %+v, capture only %+v", r.InGaps, r.CaptureOnly)
	}
}

func TestNamesForAddresses(t *testing.T) {
	s := NewSummary(Options{})
	web := conn("10.0.0.4", "203.0.113.7", 50000, 443, time.Second, time.Second)
	web.App = &appid.Facts{TLS: &appid.TLSFacts{ServerName: "Login.Example.COM."}}
	dns := conn("10.0.0.4", "10.0.0.53", 50001, 53, 0, time.Millisecond)
	dns.App = &appid.Facts{DNS: &appid.DNSFacts{Answers: appid.NewDNSAnswers(
		appid.DNSAnswer{Name: "www.example.com", Type: "CNAME", Value: "edge.example.net"},
		appid.DNSAnswer{Name: "edge.example.net", Type: "A", Value: "203.0.113.7"},
	)}}
	s.AddConn(dns)
	s.AddConn(web)
	r := s.Report()
	if len(r.Names) != 1 || r.Names[0].IP != netip.MustParseAddr("203.0.113.7") {
		t.Fatalf("names %+v", r.Names)
	}
	var got []string
	for _, n := range r.Names[0].Names {
		got = append(got, n.Name+"/"+n.Source)
	}
	want := []string{"edge.example.net/dns", "login.example.com/tls_sni", "www.example.com/dns"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("names %v, want %v", got, want)
	}
	for _, h := range r.TopHostsByBytes {
		if h.IP == netip.MustParseAddr("203.0.113.7") && h.Name == "" {
			t.Errorf("talker %v has no name", h.IP)
		}
	}
}

// TestHostPeers counts each host's distinct peers, whichever side it was
// on, a host talking to itself counting itself once.
func TestHostPeers(t *testing.T) {
	s := NewSummary(Options{})
	for _, c := range []*flows.Conn{
		conn("10.0.0.1", "10.0.0.2", 1000, 80, 0, 0),
		conn("10.0.0.2", "10.0.0.1", 1001, 22, time.Second, 0), // the same pair, the other way
		conn("10.0.0.1", "10.0.0.3", 1002, 80, 2*time.Second, 0),
		conn("10.0.0.3", "10.0.0.3", 1003, 80, 3*time.Second, 0),
		conn("10.0.0.4", "10.0.0.1", 1004, 80, 4*time.Second, 0),
	} {
		s.AddConn(c)
	}
	want := map[string]int{"10.0.0.1": 3, "10.0.0.2": 1, "10.0.0.3": 2, "10.0.0.4": 1}
	hosts := s.Report().TopHostsByConns
	if len(hosts) != len(want) {
		t.Fatalf("%d hosts, want %d", len(hosts), len(want))
	}
	for _, h := range hosts {
		if h.Peers != want[h.IP.String()] {
			t.Errorf("%s: %d peers, want %d", h.IP, h.Peers, want[h.IP.String()])
		}
	}
}

// BenchmarkSummary measures accounting, detection and the report over the
// demo evidence's conversations, in ns per conversation.
func BenchmarkSummary(b *testing.B) {
	conns := benchdata.DemoConns(b)
	b.ReportAllocs()
	for b.Loop() {
		s := NewSummary(Options{})
		for _, c := range conns {
			s.AddConn(c)
		}
		if r := s.Report(); r.Totals.Conversations != uint64(len(conns)) {
			b.Fatalf("%d conversations in the report, want %d", r.Totals.Conversations, len(conns))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(conns)), "ns/conversation")
}

// TestTop checks the streaming selection against sorting everything.
func TestTop(t *testing.T) {
	type kv struct{ k, v int }
	order := func(a, b kv) int { return cmp.Or(cmp.Compare(b.v, a.v), cmp.Compare(a.k, b.k)) } // v descending, ties by k
	var all []kv
	for i := range 1000 {
		all = append(all, kv{i, (i * 7919) % 97}) // many ties
	}
	for _, n := range []int{1, 3, 10, 999, 1000, 5000} {
		got := top(slices.Values(all), n, order)
		want := slices.SortedFunc(slices.Values(all), order)[:min(n, len(all))]
		if !slices.Equal(got, want) {
			t.Errorf("top %d: got %v..., want %v...", n, got[:min(3, len(got))], want[:min(3, len(want))])
		}
	}
	if got := top(slices.Values([]kv{}), 5, order); got == nil || len(got) != 0 {
		t.Errorf("top of nothing is %#v, want an empty, non-nil list (JSON [])", got)
	}
}

// TestNamesAreBounded: names of ever new addresses (a flood of DNS answers)
// stop at maxNamedAddrs addresses, and the rest are counted, while the
// addresses kept still get names; a CNAME web gives an address at most
// maxAliases names.
func TestNamesAreBounded(t *testing.T) {
	n := newNames()
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
	for i := range maxNamedAddrs + 100_000 {
		n.add(addr(i), "host.example", "dns", 0)
	}
	for i := range maxNamedAddrs {
		n.add(addr(i), "other.example", "tls_sni", 0)
	}
	if n.named.n != maxNamedAddrs || n.index.n != maxNamedAddrs || n.dropped != 100_000 {
		t.Errorf("%d addresses named, %d dropped", n.named.n, n.dropped)
	}
	for i := range maxNamedAddrs {
		if named, ok := n.of(addr(i)); !ok || named.ip != addr(i) || 1+len(named.more) != 2 {
			t.Fatalf("%v: names %+v after the table filled, want two", addr(i), named)
		}
	}
	answers := []appid.DNSAnswer{{Name: "t0.example", Type: "A", Value: "192.0.2.1"}}
	for i := range 40 { // every alias points at the next: a chain and a web
		for j := range 3 {
			answers = append(answers, appid.DNSAnswer{Name: fmt.Sprintf("a%d-%d.example", i, j), Type: "CNAME", Value: fmt.Sprintf("t%d.example", i)})
		}
	}
	c := conn("10.0.0.4", "10.0.0.53", 40000, 53, 0, 0)
	c.App = &appid.Facts{DNS: &appid.DNSFacts{Answers: appid.NewDNSAnswers(answers...)}}
	m := newNames()
	m.fromConn(c)
	named, ok := m.of(netip.MustParseAddr("192.0.2.1"))
	if !ok {
		t.Fatal("192.0.2.1 not named")
	}
	if 1+len(named.more) > maxNamesPerAddr {
		t.Errorf("%d names for one address", 1+len(named.more))
	}
}

// TestHostsLeftOut: past the host table's bound, the sources of
// unanswered attempts are counted, not kept, while the hosts they reach
// keep exact totals and hosts that answer are still added.
func TestHostsLeftOut(t *testing.T) {
	s := NewSummary(Options{})
	s.hosts.max = 4
	s.AddConn(conn("10.0.0.1", "10.0.0.4", 50000, 443, 0, time.Second))
	s.AddConn(conn("10.0.0.2", "10.0.0.4", 50000, 443, time.Second, time.Second))
	const spoofed = 100
	for i := range spoofed {
		c := conn(fmt.Sprintf("198.51.100.%d", i), "10.0.0.4", 40000, 443, time.Duration(2+i)*time.Second, 0)
		c.ConnState, c.History, c.RespPkts, c.RespIPBytes, c.OrigPkts, c.OrigIPBytes = "S0", "S", 0, 0, 1, 40
		s.AddConn(c)
	}
	s.AddConn(conn("203.0.113.9", "10.0.0.4", 50000, 443, 200*time.Second, time.Second)) // answered: kept
	r := s.Report()
	tot := r.Totals
	// 10.0.0.1, 10.0.0.2, 10.0.0.4, the first spoofed source (the table
	// had room), and 203.0.113.9.
	if tot.Hosts != 5 || tot.HostsLeftOut != spoofed-1 || tot.HostsLeftOutEstimated || tot.ConversationsLeftOut != spoofed-1 || tot.Conversations != spoofed+3 {
		t.Errorf("totals %+v", tot)
	}
	vm := r.TopHostsByBytes[0]
	if vm.IP != netip.MustParseAddr("10.0.0.4") || vm.Conversations != spoofed+3 || vm.Bytes != 3*5500+spoofed*40 || vm.Peers != 4 {
		t.Errorf("the VM: %+v", vm)
	}
	if p := r.TopPorts[0]; p.Conversations != spoofed+3 || p.Originators != 4 || p.Responders != 1 {
		t.Errorf("port 443: %+v", p)
	}
}
