package flowlog

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// build reads VNet tuples (one record each, in order) into connections.
func build(t *testing.T, tuples ...string) []*Flow {
	t.Helper()
	b := NewBuilder()
	rd := NewReader()
	for i, tp := range tuples {
		doc := strings.Replace(vnetRecord(tp), "10:01:02", "10:01:0"+string(rune('0'+i%10)), 1)
		if _, err := rd.Read(strings.NewReader(doc), "x.json", b.Add); err != nil {
			t.Fatal(err)
		}
	}
	return b.Flows()
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
	conns := Connections(fs, DefaultTolerance, 0)
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
