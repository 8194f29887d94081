package demogen

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The scenario's Log Analytics exports, as a responder downloads them
// from the workspace: Traffic Analytics' hourly rows of vm-web-01's flows
// (NTANetAnalytics, the portal's "Export to CSV": US-locale times, the
// VNet table's words), VMConnection's per-minute connections with the
// process behind each (az monitor log-analytics query -o json, every
// value a string) and VMBoundPort's listening ports (the query API's
// tables, columns and rows).

const analyticsDir = "log-analytics"

// processOf names the process VM Insights shows behind the VM's
// connections: the tools of the intrusion, and the system's own.
func processOf(c *connection) (process, computer string, ok bool) {
	switch {
	case c.client == vm && c.server == c2:
		return "updater.exe", "vm-web-01", true
	case c.client == vm && c.server == dropbox:
		return "rclone.exe", "vm-web-01", true
	case c.client == vm && c.server == database && c.sport == 5985:
		return "powershell.exe", "vm-web-01", true
	case c.client == vm && c.server == dc && c.sport == 3389:
		return "mstsc.exe", "vm-web-01", true
	case c.client == vm && c.server == fileServer && c.rule == "DefaultRule_AllowVnetOutBound" && len(c.packets) > 0 && c.packets[0].ts.Hour() == 10 && c.packets[0].ts.Minute() == 31:
		return "System", "vm-web-01", true // SMB: the kernel's client, PsExec behind it
	case c.client == vm && (c.server == linuxHost || c.server == sshOut):
		return "ssh.exe", "vm-web-01", true
	case c.server == vm && c.sport == 3389 && !c.denied:
		return "svchost.exe", "vm-web-01", true // TermService
	}
	return "", "", false
}

// usTime writes a time as the portal's CSV export does.
func usTime(t time.Time) string { return t.UTC().Format("1/2/2006 3:04:05.000 PM") }

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// countryOf is the country Traffic Analytics gives a public address.
func countryOf(a netip.Addr) string {
	switch {
	case a.As4()[0] == 198:
		return "nl"
	case a.As4()[0] == 203:
		return "us"
	}
	return "de"
}

func (g *generator) writeAnalytics(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, analyticsDir), 0o755); err != nil {
		return err
	}
	if err := g.writeTrafficAnalytics(filepath.Join(dir, analyticsDir, "NTANetAnalytics_vm-web-01.csv")); err != nil {
		return err
	}
	if err := g.writeVMConnection(filepath.Join(dir, analyticsDir, "VMConnection_vm-web-01.json")); err != nil {
		return err
	}
	return writeVMBoundPort(filepath.Join(dir, analyticsDir, "VMBoundPort_vm-web-01.json"))
}

// taColumns are the columns of the demo's Traffic Analytics export, in the
// order and spelling of a real NTANetAnalytics export.
var taColumns = []string{"TenantId", "TimeGenerated", "SubType", "FaSchemaVersion", "FlowIntervalStartTime", "FlowIntervalEndTime",
	"FlowType", "FlowStartTime", "FlowEndTime", "SrcIp", "DestIp", "SrcPorts", "DestPort", "L4Protocol", "L7Protocol", "FlowDirection",
	"FlowStatus", "NsgList", "NsgRule", "MacAddress", "SrcVm", "DestVm", "SrcSubnet", "DestSubnet", "Country", "AzureRegion",
	"AllowedInFlows", "DeniedInFlows", "AllowedOutFlows", "DeniedOutFlows", "PacketsDestToSrc", "PacketsSrcToDest", "BytesDestToSrc",
	"BytesSrcToDest", "CompletedFlows", "SrcPublicIps", "DestPublicIps", "AclGroup", "AclRule", "Type"}

// taRow is one row in the making: the connections of one hour that share
// everything but the source port (and, for public flows, the public
// address, which the row lists).
type taRow struct {
	hour              time.Time
	src, dst          netip.Addr // the public side left invalid
	port              uint16
	proto             uint8
	inbound, denied   bool
	rule              string
	first, last       time.Time
	flows             int
	pktsOut, pktsIn   int
	bytesOut, bytesIn int
	public            map[netip.Addr]*[6]int // started, ended, pkts out, in, bytes out, in
	publicOrder       []netip.Addr
}

func (g *generator) writeTrafficAnalytics(path string) error {
	rows := map[string]*taRow{}
	var order []string
	for _, c := range g.conns {
		if c.client == azureDNS || c.server == azureDNS || c.proto != 6 && c.proto != 17 {
			continue // Traffic Analytics leaves Azure's own platform traffic out
		}
		ts := c.tuples()
		if len(ts) == 0 || ts[0].ts.Before(logStart) || !ts[0].ts.Before(logEnd) {
			continue
		}
		hour := ts[0].ts.Truncate(time.Hour)
		publicSrc, publicDst := !isPrivate(c.client), !isPrivate(c.server)
		r := taRow{hour: hour, src: c.client, dst: c.server, port: c.sport, proto: c.proto, inbound: c.server == vm, denied: c.denied, rule: c.rule}
		var publicAddr netip.Addr
		if publicSrc {
			publicAddr, r.src = c.client, netip.Addr{}
		}
		if publicDst {
			publicAddr, r.dst = c.server, netip.Addr{}
		}
		key := fmt.Sprint(r.hour.Unix(), r.src, r.dst, r.port, r.proto, r.inbound, r.denied, r.rule)
		row := rows[key]
		if row == nil {
			row = &r
			row.first, row.last = ts[0].ts, ts[0].ts
			rows[key] = row
			order = append(order, key)
		}
		row.flows++
		var p [6]int
		p[0], p[1] = 1, 1
		for _, t := range ts {
			row.first, row.last = minTime(row.first, t.ts), maxTime(row.last, t.ts)
			if t.counted {
				p[2], p[3], p[4], p[5] = p[2]+t.pktsOut, p[3]+t.pktsIn, p[4]+t.bytesOut, p[5]+t.bytesIn
			}
		}
		row.pktsOut, row.pktsIn, row.bytesOut, row.bytesIn = row.pktsOut+p[2], row.pktsIn+p[3], row.bytesOut+p[4], row.bytesIn+p[5]
		if publicAddr.IsValid() {
			if row.public == nil {
				row.public = map[netip.Addr]*[6]int{}
			}
			acc := row.public[publicAddr]
			if acc == nil {
				acc = &[6]int{}
				row.public[publicAddr] = acc
				row.publicOrder = append(row.publicOrder, publicAddr)
			}
			for i := range acc {
				acc[i] += p[i]
			}
		}
	}
	var b bytes.Buffer
	b.WriteString("\uFEFF") // the portal's CSV starts with a byte-order mark
	w := csv.NewWriter(&b)
	w.Write(taColumns)
	for _, key := range order {
		r := rows[key]
		flowType, country, srcPublic, dstPublic := "IntraVNet", "", "", ""
		if r.public != nil {
			flowType = "ExternalPublic"
			var entries []string
			slices.SortFunc(r.publicOrder, func(a, b netip.Addr) int { return a.Compare(b) })
			for _, a := range r.publicOrder {
				p := r.public[a]
				entries = append(entries, fmt.Sprintf("%s|%d|%d|%d|%d|%d|%d", a, p[0], p[1], p[2], p[3], p[4], p[5]))
				country = cmp.Or(country, countryOf(a))
			}
			if !r.src.IsValid() {
				srcPublic = strings.Join(entries, " ")
			} else {
				dstPublic = strings.Join(entries, " ")
			}
		}
		direction, status := "Outbound", "Allowed"
		if r.inbound {
			direction = "Inbound"
		}
		in, out := [2]int{}, [2]int{} // allowed, denied
		idx := 0
		if r.denied {
			status, idx = "Denied", 1
		}
		if r.inbound {
			in[idx] = r.flows
		} else {
			out[idx] = r.flows
		}
		counters := []string{fmt.Sprint(r.pktsIn), fmt.Sprint(r.pktsOut), fmt.Sprint(r.bytesIn), fmt.Sprint(r.bytesOut)}
		if r.denied {
			counters = []string{"0", "0", "0", "0"}
		}
		vmOf := func(a netip.Addr) string {
			for _, v := range demoVMs {
				if a.IsValid() && v.ip == a.String() {
					return "demo-rg/" + v.name
				}
			}
			return ""
		}
		subnetOf := func(a netip.Addr) string {
			for _, v := range demoVMs {
				if a.IsValid() && v.ip == a.String() {
					return "demo-rg/vnet1/" + v.subnet
				}
			}
			return ""
		}
		rule := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(r.rule, "DefaultRule_"), "UserRule_"))
		w.Write([]string{"7d1e5f3a-0b9c-4c2d-8e6f-1a2b3c4d5e6f", usTime(r.hour.Add(time.Hour + 12*time.Minute)), "FlowLog", "3",
			usTime(r.hour), usTime(r.hour.Add(time.Hour)), flowType, usTime(r.first), usTime(r.last), addrText(r.src), addrText(r.dst), "",
			fmt.Sprint(r.port), map[uint8]string{6: "TCP", 17: "UDP"}[r.proto], "Unknown", direction, status,
			"7d1e5f3a-0b9c-4c2d-8e6f-1a2b3c4d5e6f/demo-rg/vm1-nsg", "", "00-0D-3A-10-00-04", vmOf(r.src), vmOf(r.dst),
			subnetOf(r.src), subnetOf(r.dst), country, "westeurope",
			fmt.Sprint(in[0]), fmt.Sprint(in[1]), fmt.Sprint(out[0]), fmt.Sprint(out[1]), counters[0], counters[1], counters[2], counters[3],
			fmt.Sprint(r.flows), srcPublic, dstPublic,
			"7d1e5f3a-0b9c-4c2d-8e6f-1a2b3c4d5e6f/demo-rg/vm1-nsg", rule, "NTANetAnalytics"})
	}
	w.Flush()
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func isPrivate(a netip.Addr) bool { return a.IsPrivate() }

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// writeVMConnection writes a row for each minute of each connection VM
// Insights names a process for, as az prints a query's result.
func (g *generator) writeVMConnection(path string) error {
	var rows []map[string]string
	for _, c := range g.conns {
		process, computer, ok := processOf(c)
		if !ok {
			continue
		}
		ts := c.tuples()
		if len(ts) == 0 {
			continue
		}
		start, end := ts[0].ts, ts[len(ts)-1].ts
		sent, received := 0, 0
		for _, t := range ts {
			if t.counted {
				sent, received = sent+t.bytesOut, received+t.bytesIn
			}
		}
		direction := "outbound"
		if c.server == vm {
			direction, sent, received = "inbound", received, sent
		}
		minutes := int(end.Truncate(time.Minute).Sub(start.Truncate(time.Minute))/time.Minute) + 1
		for m := range minutes {
			at := start.Truncate(time.Minute).Add(time.Duration(m) * time.Minute)
			established, terminated := "0", "0"
			if m == 0 {
				established = "1"
			}
			if m == minutes-1 {
				terminated = "1"
			}
			rows = append(rows, map[string]string{
				"TimeGenerated": isoTime(at), "Computer": computer, "Machine": "m-3c1f9a27-5d2e-4b8a-9f60-1e7d2c4b8a90",
				"Process": "p-" + fmt.Sprintf("%x", len(process)*7919), "ProcessName": process, "Direction": direction,
				"SourceIp": c.client.String(), "DestinationIp": c.server.String(), "DestinationPort": fmt.Sprint(c.sport),
				"Protocol": "tcp", "RemoteIp": map[bool]string{true: c.client.String(), false: c.server.String()}[direction == "inbound"],
				"LinksEstablished": established, "LinksTerminated": terminated, "LinksFailed": "0", "LinksLive": "1",
				"BytesSent": fmt.Sprint(sent / minutes), "BytesReceived": fmt.Sprint(received / minutes),
				"Type": "VMConnection",
			})
		}
	}
	slices.SortStableFunc(rows, func(a, b map[string]string) int { return strings.Compare(a["TimeGenerated"], b["TimeGenerated"]) })
	out, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(out, '\n'), 0o644)
}

// writeVMBoundPort writes the VM's listening ports in the query API's
// form.
func writeVMBoundPort(path string) error {
	type column struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	doc := map[string]any{"tables": []map[string]any{{
		"name": "PrimaryResult",
		"columns": []column{{"TimeGenerated", "datetime"}, {"Computer", "string"}, {"ProcessName", "string"}, {"Ip", "string"},
			{"Port", "int"}, {"Protocol", "string"}, {"IsWildcardBind", "bool"}, {"Type", "string"}},
		"rows": [][]any{
			{"2026-03-14T10:00:00.000Z", "vm-web-01", "svchost.exe", "0.0.0.0", 3389, "tcp", true, "VMBoundPort"},
			{"2026-03-14T10:00:00.000Z", "vm-web-01", "sshd.exe", "0.0.0.0", 22, "tcp", true, "VMBoundPort"},
			{"2026-03-14T10:00:00.000Z", "vm-web-01", "System", "0.0.0.0", 5985, "tcp", true, "VMBoundPort"},
			{"2026-03-14T10:00:00.000Z", "vm-web-01", "System", "10.1.0.4", 445, "tcp", false, "VMBoundPort"},
		},
	}}}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(out, '\n'), 0o644)
}
