package demogen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The Azure resources of the scenario. The NSG on the VM's NIC and the
// VNet flow log both log the VM's traffic, as happens while an
// organisation moves from NSG to VNet flow logs; netfx must count each
// connection once.
const (
	subscription = "7D1E5F3A-0B9C-4C2D-8E6F-1A2B3C4D5E6F"
	nsgID        = "/SUBSCRIPTIONS/" + subscription + "/RESOURCEGROUPS/DEMO-RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/VM1-NSG"
	flowLogID    = "/SUBSCRIPTIONS/" + subscription + "/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/VNET1-FLOWLOG"
	vnetID       = "/subscriptions/7d1e5f3a-0b9c-4c2d-8e6f-1a2b3c4d5e6f/resourceGroups/demo-rg/providers/Microsoft.Network/virtualNetworks/vnet1"
	macAddress   = "000D3A100004"
	nsgSystemID  = "3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
	flowLogGUID  = "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d"
	aclID        = "2e4f6a8c-0b1d-4f3e-8a5c-7b9d1e3f5a7c"
)

// statsInterval is how often flow logs write a C tuple for a live flow.
const statsInterval = 5 * time.Minute

// tuple is one flow-log tuple before formatting.
type tuple struct {
	ts                                 time.Time
	conn                               *connection
	state                              byte // B, C, E or D
	counted                            bool
	pktsOut, bytesOut, pktsIn, bytesIn int
}

// tuples returns the flow-log tuples of a connection: B when it starts, C
// every five minutes with the counters since the previous tuple, E when it
// ends; a denied connection gives a D tuple per attempt.
func (c *connection) tuples() []tuple {
	if c.denied {
		var out []tuple
		for _, t := range c.attempts {
			out = append(out, tuple{ts: t, conn: c, state: 'D'})
		}
		return out
	}
	if b := c.bulk; b != nil {
		// Counters spread evenly over the transfer, a C tuple every five
		// minutes, the rest with the E tuple.
		out := []tuple{{ts: b.start, conn: c, state: 'B'}}
		steps := int(b.end.Sub(b.start)/statsInterval) + 1
		for i := 1; i <= steps; i++ {
			state, at := byte('C'), b.start.Add(time.Duration(i)*statsInterval)
			if i == steps {
				state, at = 'E', b.end
			}
			out = append(out, tuple{ts: at, conn: c, state: state, counted: true,
				pktsOut: b.pktsOut / steps, bytesOut: b.bytesOut / steps, pktsIn: b.pktsIn / steps, bytesIn: b.bytesIn / steps})
		}
		return out
	}
	begin := c.packets[0].ts
	out := []tuple{{ts: begin, conn: c, state: 'B'}}
	cur := tuple{conn: c, state: 'C', counted: true}
	next := begin.Add(statsInterval)
	for _, p := range c.packets {
		for !p.ts.Before(next) {
			cur.ts = next
			out = append(out, cur)
			cur = tuple{conn: c, state: 'C', counted: true}
			next = next.Add(statsInterval)
		}
		fromClient := bytes.Equal(p.data[26:30], c.client.AsSlice())
		if fromClient {
			cur.pktsOut++
			cur.bytesOut += len(p.data) - 14
		} else {
			cur.pktsIn++
			cur.bytesIn += len(p.data) - 14
		}
	}
	cur.ts, cur.state = c.packets[len(c.packets)-1].ts, 'E'
	return append(out, cur)
}

// nsgTuple formats a tuple as an NSG flow log version 2 tuple, or returns
// "" for protocols NSG flow logs do not record.
func (t tuple) nsg() string {
	proto := map[uint8]string{6: "T", 17: "U"}[t.conn.proto]
	if proto == "" {
		return ""
	}
	decision, state := "A", string(t.state)
	if t.state == 'D' {
		decision, state = "D", "B"
	}
	counters := ",,,"
	if t.counted {
		counters = fmt.Sprintf("%d,%d,%d,%d", t.pktsOut, t.bytesOut, t.pktsIn, t.bytesIn)
	}
	return fmt.Sprintf("%d,%s,%s,%d,%d,%s,%s,%s,%s,%s", t.ts.Unix(), t.conn.client, t.conn.server,
		t.conn.cport, t.conn.sport, proto, t.conn.direction(), decision, state, counters)
}

// vnet formats a tuple as a VNet flow log tuple.
func (t tuple) vnet() string {
	counters := "0,0,0,0"
	if t.counted {
		counters = fmt.Sprintf("%d,%d,%d,%d", t.pktsOut, t.bytesOut, t.pktsIn, t.bytesIn)
	}
	return fmt.Sprintf("%d,%s,%s,%d,%d,%d,%s,%c,NX,%s", t.ts.UnixMilli(), t.conn.client, t.conn.server,
		t.conn.cport, t.conn.sport, t.conn.proto, t.conn.direction(), t.state, counters)
}

func (c *connection) direction() string {
	if c.client == vm {
		return "O"
	}
	return "I"
}

// JSON shapes of the two record kinds, in the documented field order.
type (
	nsgRecord struct {
		Time          string        `json:"time"`
		SystemID      string        `json:"systemId"`
		MACAddress    string        `json:"macAddress"`
		Category      string        `json:"category"`
		ResourceID    string        `json:"resourceId"`
		OperationName string        `json:"operationName"`
		Properties    nsgProperties `json:"properties"`
	}
	nsgProperties struct {
		Version int       `json:"Version"`
		Flows   []nsgRule `json:"flows"`
	}
	nsgRule struct {
		Rule  string    `json:"rule"`
		Flows []nsgFlow `json:"flows"`
	}
	nsgFlow struct {
		MAC        string   `json:"mac"`
		FlowTuples []string `json:"flowTuples"`
	}
	vnetRecord struct {
		Time              string      `json:"time"`
		FlowLogVersion    int         `json:"flowLogVersion"`
		FlowLogGUID       string      `json:"flowLogGUID"`
		MACAddress        string      `json:"macAddress"`
		Category          string      `json:"category"`
		FlowLogResourceID string      `json:"flowLogResourceID"`
		TargetResourceID  string      `json:"targetResourceID"`
		OperationName     string      `json:"operationName"`
		FlowRecords       vnetRecords `json:"flowRecords"`
	}
	vnetRecords struct {
		Flows []vnetACL `json:"flows"`
	}
	vnetACL struct {
		ACLID      string      `json:"aclID"`
		FlowGroups []vnetGroup `json:"flowGroups"`
	}
	vnetGroup struct {
		Rule       string   `json:"rule"`
		FlowTuples []string `json:"flowTuples"`
	}
)

// writeFlowLogs writes both logs as hourly PT1H.json blobs, one record per
// minute with traffic, each written a few seconds after its minute ends (so
// the last minute of an hour lands in the next hour's blob, as in Azure).
func (g *generator) writeFlowLogs(dir string) error {
	byMinute := map[time.Time][]tuple{}
	for _, c := range g.conns {
		for _, t := range c.tuples() {
			if t.ts.Before(logStart) || !t.ts.Before(logEnd) {
				continue
			}
			m := t.ts.Truncate(time.Minute)
			byMinute[m] = append(byMinute[m], t)
		}
	}
	minutes := make([]time.Time, 0, len(byMinute))
	for m := range byMinute {
		minutes = append(minutes, m)
	}
	slices.SortFunc(minutes, func(a, b time.Time) int { return a.Compare(b) })
	nsgBlobs, vnetBlobs := map[time.Time][]any{}, map[time.Time][]any{}
	for _, m := range minutes {
		ts := byMinute[m]
		slices.SortStableFunc(ts, func(a, b tuple) int { return a.ts.Compare(b.ts) })
		at := m.Add(time.Minute + 2500*time.Millisecond)
		hour := at.Truncate(time.Hour)
		if rec, ok := nsgRecordOf(at, ts); ok {
			nsgBlobs[hour] = append(nsgBlobs[hour], rec)
		}
		vnetBlobs[hour] = append(vnetBlobs[hour], vnetRecordOf(at, ts))
	}
	nsgRoot := filepath.Join(dir, "insights-logs-networksecuritygroupflowevent", "resourceId="+nsgID)
	if err := writeBlobs(nsgRoot, nsgBlobs); err != nil {
		return err
	}
	return writeBlobs(filepath.Join(dir, "insights-logs-flowlogflowevent", "flowLogResourceID="+flowLogID), vnetBlobs)
}

// rules returns the rules of the tuples in first-seen order, with each
// rule's tuples formatted by format ("" results left out).
func rules(ts []tuple, format func(tuple) string) ([]string, map[string][]string) {
	var order []string
	byRule := map[string][]string{}
	for _, t := range ts {
		s := format(t)
		if s == "" {
			continue
		}
		if _, ok := byRule[t.conn.rule]; !ok {
			order = append(order, t.conn.rule)
		}
		byRule[t.conn.rule] = append(byRule[t.conn.rule], s)
	}
	return order, byRule
}

func nsgRecordOf(at time.Time, ts []tuple) (nsgRecord, bool) {
	order, byRule := rules(ts, tuple.nsg)
	rec := nsgRecord{
		Time: at.Format("2006-01-02T15:04:05.0000000Z"), SystemID: nsgSystemID, MACAddress: macAddress,
		Category: "NetworkSecurityGroupFlowEvent", ResourceID: nsgID, OperationName: "NetworkSecurityGroupFlowEvents",
		Properties: nsgProperties{Version: 2},
	}
	for _, r := range order {
		rec.Properties.Flows = append(rec.Properties.Flows, nsgRule{Rule: r, Flows: []nsgFlow{{MAC: macAddress, FlowTuples: byRule[r]}}})
	}
	return rec, len(order) > 0
}

func vnetRecordOf(at time.Time, ts []tuple) vnetRecord {
	order, byRule := rules(ts, tuple.vnet)
	acl := vnetACL{ACLID: aclID}
	for _, r := range order {
		acl.FlowGroups = append(acl.FlowGroups, vnetGroup{Rule: r, FlowTuples: byRule[r]})
	}
	return vnetRecord{
		Time: at.Format("2006-01-02T15:04:05.0000000Z"), FlowLogVersion: 4, FlowLogGUID: flowLogGUID, MACAddress: macAddress,
		Category: "FlowLogFlowEvent", FlowLogResourceID: flowLogID, TargetResourceID: vnetID, OperationName: "FlowLogFlowEvent",
		FlowRecords: vnetRecords{Flows: []vnetACL{acl}},
	}
}

// writeBlobs writes one PT1H.json per hour under root, in the
// y=/m=/d=/h=/m=00/macAddress= layout of the storage account.
func writeBlobs(root string, blobs map[time.Time][]any) error {
	for hour, records := range blobs {
		dir := filepath.Join(root, fmt.Sprintf("y=%04d", hour.Year()), fmt.Sprintf("m=%02d", hour.Month()),
			fmt.Sprintf("d=%02d", hour.Day()), fmt.Sprintf("h=%02d", hour.Hour()), "m=00", "macAddress="+macAddress)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		doc, err := json.Marshal(map[string][]any{"records": records})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "PT1H.json"), doc, 0o644); err != nil {
			return err
		}
	}
	return nil
}
