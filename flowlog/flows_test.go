package flowlog

import (
	"bufio"
	"bytes"
	"cmp"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// build reads VNet tuples (one record each, in order) into connections.
func build(t *testing.T, tuples ...string) []*Flow {
	t.Helper()
	var fs []*Flow
	b := NewBuilder(func(f *Flow) { fs = append(fs, f) })
	rd := NewReader()
	for i, tp := range tuples {
		doc := strings.Replace(vnetRecord(tp), "10:01:02", "10:01:0"+string(rune('0'+i%10)), 1)
		if _, err := rd.Read(strings.NewReader(doc), "x.json", b.Add); err != nil {
			t.Fatal(err)
		}
	}
	b.Flush()
	slices.SortFunc(fs, func(x, y *Flow) int { return cmp.Or(cmp.Compare(x.Begin, y.Begin), CompareFlows(x, y)) })
	return fs
}

func TestBuilderJoinsTuples(t *testing.T) {
	const s = 1773482400000 // ms
	ms := func(d time.Duration) string { return strconv.FormatInt(s+d.Milliseconds(), 10) }
	tests := []struct {
		name   string
		tuples []string
		flows  int
		check  func(t *testing.T, f []*Flow)
	}{
		{"B, C, E are one flow with summed counters", []string{
			ms(0) + ",10.1.0.4,203.0.113.10,50000,443,6,O,B,NX,0,0,0,0",
			ms(5*time.Minute) + ",10.1.0.4,203.0.113.10,50000,443,6,O,C,NX,10,1000,12,9000",
			ms(7*time.Minute) + ",10.1.0.4,203.0.113.10,50000,443,6,O,E,NX,2,100,3,300",
		}, 1, func(t *testing.T, f []*Flow) {
			if !f[0].Ended || f[0].PktsSent != 12 || f[0].BytesRecv != 9300 || f[0].End-f[0].Begin != int64(7*time.Minute) {
				t.Errorf("flow %+v", f[0])
			}
		}},
		{"SYN retries seconds apart are one denied attempt", []string{
			ms(0) + ",192.0.2.9,10.1.0.4,40000,3389,6,I,D,NX,0,0,0,0",
			ms(3*time.Second) + ",192.0.2.9,10.1.0.4,40000,3389,6,I,D,NX,0,0,0,0",
			ms(9*time.Second) + ",192.0.2.9,10.1.0.4,40000,3389,6,I,D,NX,0,0,0,0",
			ms(5*time.Minute) + ",192.0.2.9,10.1.0.4,40000,3389,6,I,D,NX,0,0,0,0",
		}, 2, func(t *testing.T, f []*Flow) {
			if !f[0].Denied || f[0].Attempts != 3 || f[1].Attempts != 1 {
				t.Errorf("attempts %d and %d, want 3 and 1", f[0].Attempts, f[1].Attempts)
			}
		}},
		{"a flow without E ends at its last tuple plus a minute", []string{
			ms(0) + ",10.1.0.4,203.0.113.10,50001,443,6,O,B,NX,0,0,0,0",
			ms(5*time.Minute) + ",10.1.0.4,203.0.113.10,50001,443,6,O,C,NX,1,60,1,60",
		}, 1, func(t *testing.T, f []*Flow) {
			if f[0].Ended || f[0].End != f[0].Begin+int64(5*time.Minute+EndGrace) {
				t.Errorf("flow %+v", f[0])
			}
		}},
		{"silence longer than the idle timeout splits", []string{
			ms(0) + ",10.1.0.4,203.0.113.10,50002,443,6,O,C,NX,1,60,1,60",
			ms(20*time.Minute) + ",10.1.0.4,203.0.113.10,50002,443,6,O,C,NX,1,60,1,60",
		}, 2, nil},
		{"a B after traffic is a new connection on the same 5-tuple", []string{
			ms(0) + ",10.1.0.4,203.0.113.10,50003,443,6,O,B,NX,0,0,0,0",
			ms(time.Minute) + ",10.1.0.4,203.0.113.10,50003,443,6,O,C,NX,1,60,1,60",
			ms(2*time.Minute) + ",10.1.0.4,203.0.113.10,50003,443,6,O,B,NX,0,0,0,0",
		}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := build(t, tt.tuples...)
			if len(fs) != tt.flows {
				t.Fatalf("%d flows, want %d", len(fs), tt.flows)
			}
			if tt.check != nil {
				tt.check(t, fs)
			}
		})
	}
}

// TestConnectionsJoinLogs checks that one connection logged by an NSG and a
// VNet flow log, at both ends, is one record listing every log.
func TestConnectionsJoinLogs(t *testing.T) {
	nsgA := &Log{Kind: "nsg", Version: 2, ResourceID: "NSG-A", MAC: "A"}
	nsgB := &Log{Kind: "nsg", Version: 2, ResourceID: "NSG-B", MAC: "B"}
	vnet := &Log{Kind: "vnet", Version: 4, ResourceID: "FL", MAC: "A"}
	src, dst := netip.MustParseAddr("10.0.0.4"), netip.MustParseAddr("10.0.0.5")
	flow := func(l *Log, inbound bool, begin time.Duration) *Flow {
		return &Flow{Log: l, Src: src, Dst: dst, SrcPort: 50000, DstPort: 445, Proto: 6, Inbound: inbound,
			Begin: int64(begin), End: int64(begin + time.Minute), Ended: true, Counted: true, PktsSent: 10, BytesSent: 1000, PktsRecv: 8, BytesRecv: 5000, Rule: "R"}
	}
	fs := []*Flow{flow(nsgA, false, 0), flow(nsgB, true, time.Second), flow(vnet, false, 30*time.Second), flow(nsgA, false, time.Hour)}
	for _, f := range fs {
		f.key = f.endpoints() // as the Builder does when a flow ends
	}
	slices.SortFunc(fs, CompareFlows)
	conns := slices.Collect(Connections(slices.Values(fs), DefaultTolerance, 0))
	if len(conns) != 2 {
		t.Fatalf("%d connections, want 2", len(conns))
	}
	c := conns[0]
	if len(c.FlowLog.Sources) != 3 || c.OrigPkts != 10 || c.RespIPBytes != 5000 || c.FlowLog.Direction != "out" || c.ConnState != "SF" {
		t.Errorf("connection %+v, view %+v", c, c.FlowLog)
	}
	if c.UID == "" || c.CommunityID == "" || c.UID == conns[1].UID {
		t.Errorf("uids %s %s, community id %s", c.UID, conns[1].UID, c.CommunityID)
	}
}

// TestBuilderEndsIdleFlows checks that the Builder's memory follows the
// open flows: a flow left without an E tuple is handed on once its log has
// moved far past it, without waiting for Flush, and ended flows are not
// kept.
func TestBuilderEndsIdleFlows(t *testing.T) {
	log := &Log{Kind: "vnet", Version: 4, ResourceID: "FL", MAC: "A"}
	src, dst := netip.MustParseAddr("10.0.0.4"), netip.MustParseAddr("10.0.0.5")
	var ended []*Flow
	b := NewBuilder(func(f *Flow) { ended = append(ended, f) })
	t0 := int64(1773482400) * int64(time.Second)
	b.Add(&Tuple{Time: t0, Src: src, Dst: dst, SrcPort: 1, DstPort: 22, Proto: 6, State: 'B', Log: log})
	later := t0 + int64(IdleTimeout+SweepSlack+time.Minute)
	for i := range sweepEvery {
		for _, state := range []byte{'B', 'E'} {
			b.Add(&Tuple{Time: later + int64(i), Src: src, Dst: dst, SrcPort: uint16(1000 + i%60000), DstPort: 443, Proto: 6, State: state, Log: log})
		}
	}
	if len(b.open) != 0 {
		t.Errorf("%d flows open, want 0", len(b.open))
	}
	if len(ended) != sweepEvery+1 {
		t.Fatalf("%d flows ended before Flush, want %d", len(ended), sweepEvery+1)
	}
	idle := slices.IndexFunc(ended, func(f *Flow) bool { return f.DstPort == 22 })
	if idle < 0 || ended[idle].End != t0+int64(EndGrace) || ended[idle].Ended {
		t.Errorf("idle flow not ended as expected: %+v", ended[max(idle, 0)])
	}
}

// TestFlowCodecRoundTrip checks that a flow spilled and read back is the
// same flow.
func TestFlowCodecRoundTrip(t *testing.T) {
	log := &Log{Kind: "nsg", Version: 2, ResourceID: "NSG", MAC: "A"}
	in := []*Flow{
		{Log: log, Src: netip.MustParseAddr("10.0.0.4"), Dst: netip.MustParseAddr("2001:db8::1"), SrcPort: 50000, DstPort: 443, Proto: 6,
			Inbound: true, Ended: true, Counted: true, Rule: "R", Encryption: "X", Begin: -5, End: 1 << 60,
			PktsSent: 1, BytesSent: 2, PktsRecv: 3, BytesRecv: 1 << 40, Tuples: 4, Attempts: 5, File: "f.json", Record: 6},
		{Log: log, Src: netip.MustParseAddr("10.0.0.5"), Dst: netip.MustParseAddr("10.0.0.6"), Proto: 1, Denied: true, Rule: "D", File: "g.json"},
	}
	var buf bytes.Buffer
	c := NewFlowCodec()
	w := bufio.NewWriter(&buf)
	for _, f := range in {
		if err := c.Encode(w, f); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	r := bufio.NewReader(&buf)
	for _, want := range in {
		want.key = want.endpoints()
		got, err := c.Decode(r)
		if err != nil || *got != *want {
			t.Fatalf("decoded %+v, %v; want %+v", got, err, want)
		}
	}
	if _, err := c.Decode(r); err != io.EOF {
		t.Errorf("after the last flow: %v, want io.EOF", err)
	}
}
