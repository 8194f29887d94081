package loganalytics

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// table is the columns of an export, by the names netfx knows them by.
type table struct {
	kind   string
	cols   []string       // as the header writes them
	byName map[string]int // as the header writes them
	at     map[string]int // normalized: lower case, no type or [UTC] suffix
}

// customLogSuffix is the type suffix of a custom-log column
// (AzureNetworkAnalytics_CL's SrcIP_s, DestPort_d, FlowStartTime_t, ...).
var customLogSuffix = regexp.MustCompile(`_[sdtgb]$`)

// normalize is how columns are matched: "SrcIP_s", "srcip" and
// "SrcIp [UTC]" alike.
func normalize(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if i := strings.Index(name, " ["); i > 0 {
		name = name[:i]
	}
	return customLogSuffix.ReplaceAllString(name, "")
}

// addColumn adds a column the header did not name, up to maxCols.
func (t *table) addColumn(name string) {
	if _, known := t.byName[name]; known || len(t.cols) >= maxCols {
		return
	}
	t.cols = append(t.cols, name)
	t.byName[name] = len(t.cols) - 1
	if _, dup := t.at[normalize(name)]; !dup {
		t.at[normalize(name)] = len(t.cols) - 1
	}
}

func newTable(names []string) (*table, bool) {
	t := &table{byName: map[string]int{}, at: map[string]int{}}
	for _, n := range names {
		t.addColumn(n)
	}
	has := func(cols ...string) bool {
		for _, c := range cols {
			if _, ok := t.at[c]; !ok {
				return false
			}
		}
		return true
	}
	switch {
	case has("destinationport", "sourceip", "destinationip", "direction"):
		t.kind = TableVMConnection
	case has("port", "ip") && (has("processname") || has("process")):
		t.kind = TableVMBoundPort
	case has("destport") && (has("srcip") || has("srcpublicips") || has("vmip")) && (has("flowtype") || has("l4protocol")):
		t.kind = TableTrafficAnalytics
	default:
		return nil, false
	}
	return t, true
}

// cells reads the cells of one row by column name.
type cells struct {
	t   *table
	rec []string
}

// get returns the first of the columns the row has a value in.
func (c cells) get(names ...string) string {
	for _, n := range names {
		if i, ok := c.t.at[n]; ok && i < len(c.rec) {
			if v := strings.TrimSpace(c.rec[i]); v != "" {
				return v
			}
		}
	}
	return ""
}

// row reads one row; where says where it is, for its damage.
func (rd *reader) row(rec []string, where *Error) {
	rd.st.Rows++
	c := cells{rd.table, rec}
	var err error
	switch rd.table.kind {
	case TableTrafficAnalytics:
		err = rd.trafficAnalytics(c, where.Line+int(where.Offset))
	case TableVMConnection:
		err = rd.vmConnection(c, where.Line+int(where.Offset))
	case TableVMBoundPort:
		err = rd.vmBoundPort(c)
	}
	if err != nil {
		where.Err = err
		rd.skip(where)
	}
}

func (rd *reader) span(start, end int64) {
	if rd.st.First == 0 || start < rd.st.First {
		rd.st.First = start
	}
	rd.st.Last = max(rd.st.Last, end)
}

// dedupKey is a Traffic Analytics row's flow in its interval: the same
// IntraVNet flow is a row at the NIC of each end (outbound at one,
// inbound at the other), with the same initiator-oriented addresses and
// slightly different times.
type dedupKey struct {
	src, dst netip.Addr
	port     uint16
	proto    uint8
	interval int64
	denied   bool
}

func (rd *reader) trafficAnalytics(c cells, line int) error {
	if sub := c.get("subtype"); sub != "" && !strings.EqualFold(sub, "FlowLog") {
		rd.st.Ignored++ // Topology and other internal subtypes
		return nil
	}
	f := Flow{Table: TableTrafficAnalytics, File: rd.path, Line: line}
	var err error
	if f.Proto, err = protocol(c.get("l4protocol")); err != nil {
		return err
	}
	if f.DstPort, err = port(c.get("destport")); err != nil {
		return err
	}
	switch strings.ToLower(c.get("flowstatus")) {
	case "a", "allowed", "allow":
	case "d", "denied", "deny":
		f.Denied = true
	case "":
	default:
		return fmt.Errorf("FlowStatus %q is not A, D, Allowed or Denied", c.get("flowstatus"))
	}
	switch strings.ToLower(c.get("flowdirection")) {
	case "i", "inbound", "in":
		f.Inbound = true
	case "o", "outbound", "out", "":
	default:
		return fmt.Errorf("FlowDirection %q is not I, O, Inbound or Outbound", c.get("flowdirection"))
	}
	if f.Start, err = timeOf(c.get("flowstarttime", "flowintervalstarttime", "timegenerated")); err != nil {
		return err
	}
	if f.End, err = timeOf(c.get("flowendtime", "flowintervalendtime", "flowstarttime", "flowintervalstarttime", "timegenerated")); err != nil {
		return err
	}
	f.End = max(f.End, f.Start)
	f.Rule = c.get("nsgrule", "aclrule")
	f.FlowType = c.get("flowtype")
	f.Country = strings.ToLower(c.get("country"))
	f.SrcVM, f.DstVM = lastPart(c.get("srcvm", "vm1")), lastPart(c.get("destvm", "vm2"))
	f.Connections = 0
	for _, col := range []string{"allowedinflows", "deniedinflows", "allowedoutflows", "deniedoutflows"} {
		n, _ := count(c.get(col))
		f.Connections += int(n)
	}
	f.Connections = max(f.Connections, 1)
	counters := [4]string{c.get("packetssrctodest", "outboundpackets"), c.get("packetsdesttosrc", "inboundpackets"),
		c.get("bytessrctodest", "outboundbytes"), c.get("bytesdesttosrc", "inboundbytes")}
	if err := f.setCounters(counters); err != nil {
		return err
	}
	interval, _ := timeOf(c.get("flowintervalstarttime"))
	src, dst := c.get("srcip", "vmip"), c.get("destip")
	srcPublic, dstPublic := c.get("srcpublicips"), c.get("destpublicips")
	if src == "" && dst == "" && srcPublic == "" && dstPublic == "" {
		rd.st.Ignored++
		return nil
	}
	flows, err := expandPublic(f, src, dst, srcPublic, dstPublic)
	if err != nil {
		return err
	}
	if rd.dedup == nil {
		rd.dedup = map[dedupKey]struct{}{}
	}
	for _, fl := range flows {
		if fl.Denied {
			fl.Counted = false // zeros: a denied flow carries no traffic
		}
		k := dedupKey{fl.Src, fl.Dst, fl.DstPort, fl.Proto, interval, fl.Denied}
		if _, seen := rd.dedup[k]; seen {
			continue // the other NIC's row of the same flow
		}
		if len(rd.dedup) < maxDedup {
			rd.dedup[k] = struct{}{}
		}
		rd.st.Flows++
		rd.span(fl.Start, fl.End)
		rd.flow(fl)
	}
	return nil
}

// maxDedup bounds the flows remembered to drop the second NIC's row.
const maxDedup = 1 << 20

// expandPublic makes a row's flows: one, between its addresses; or, when
// one side is public, one for each public address listed, with that
// address's counters ("ip|flowsStarted|flowsEnded|pktsOut|pktsIn|
// bytesOut|bytesIn", entries space-separated).
func expandPublic(f Flow, src, dst, srcPublic, dstPublic string) ([]Flow, error) {
	var err error
	if src != "" {
		if f.Src, err = addr(src, "SrcIp"); err != nil {
			return nil, err
		}
	}
	if dst != "" {
		if f.Dst, err = addr(dst, "DestIp"); err != nil {
			return nil, err
		}
	}
	if f.Src.IsValid() && f.Dst.IsValid() {
		return []Flow{f}, nil
	}
	publicIsSrc := !f.Src.IsValid()
	public := dstPublic
	if publicIsSrc {
		public = srcPublic
	}
	if public == "" || !f.Src.IsValid() && !f.Dst.IsValid() {
		return nil, fmt.Errorf("a flow with one address only")
	}
	var out []Flow
	for _, entry := range strings.Fields(public) {
		parts := strings.Split(entry, "|")
		a, err := addr(parts[0], "public IP")
		if err != nil {
			return nil, err
		}
		g := f
		if publicIsSrc {
			g.Src = a
		} else {
			g.Dst = a
		}
		if len(parts) == 7 {
			started, _ := count(parts[1])
			g.Connections = max(int(started), 1)
			if err := g.setCounters([4]string{parts[3], parts[4], parts[5], parts[6]}); err != nil {
				return nil, err
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// setCounters reads packets and bytes, source to destination and back;
// empty counters are none (Counted false), not zero.
func (f *Flow) setCounters(v [4]string) error {
	f.Counted = false
	for i, dst := range []*uint64{&f.PktsSent, &f.PktsRecv, &f.BytesSent, &f.BytesRecv} {
		if v[i] == "" {
			*dst = 0
			continue
		}
		n, err := count(v[i])
		if err != nil {
			return err
		}
		*dst, f.Counted = n, true
	}
	return nil
}

func (rd *reader) vmConnection(c cells, line int) error {
	f := Flow{Table: TableVMConnection, File: rd.path, Line: line, Process: c.get("processname", "process"), Computer: c.get("computer")}
	var err error
	if f.Src, err = addr(c.get("sourceip"), "SourceIp"); err != nil {
		return err
	}
	if f.Dst, err = addr(c.get("destinationip"), "DestinationIp"); err != nil {
		return err
	}
	if f.DstPort, err = port(c.get("destinationport")); err != nil {
		return err
	}
	if f.Proto, err = protocol(c.get("protocol")); err != nil {
		return err
	}
	if f.Start, err = timeOf(c.get("timegenerated")); err != nil {
		return err
	}
	f.End = f.Start + int64(time.Minute) // a row is one minute
	f.Inbound = strings.EqualFold(c.get("direction"), "inbound")
	established, _ := count(c.get("linksestablished"))
	f.Connections = max(int(established), 1)
	sent, err1 := count(c.get("bytessent"))
	received, err2 := count(c.get("bytesreceived"))
	if err1 == nil && err2 == nil {
		f.Counted = true
		f.BytesSent, f.BytesRecv = sent, received // the machine's view: it is the source of an outbound row
		if f.Inbound {
			f.BytesSent, f.BytesRecv = received, sent
		}
	}
	rd.st.Flows++
	rd.span(f.Start, f.End)
	rd.flow(f)
	return nil
}

func (rd *reader) vmBoundPort(c cells) error {
	b := BoundPort{Computer: c.get("computer"), Process: c.get("processname", "process")}
	var err error
	if b.IP, err = addr(c.get("ip"), "Ip"); err != nil {
		return err
	}
	if b.Port, err = port(c.get("port")); err != nil {
		return err
	}
	if p := c.get("protocol"); p != "" {
		if b.Proto, err = protocol(p); err != nil {
			return err
		}
	} else {
		b.Proto = 6
	}
	if b.Time, err = timeOf(c.get("timegenerated")); err != nil {
		return err
	}
	rd.st.BoundPorts++
	rd.span(b.Time, b.Time)
	rd.bound(b)
	return nil
}

func addr(s, what string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s %q is not an address", what, s)
	}
	return a.Unmap(), nil
}

func protocol(s string) (uint8, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "t", "tcp", "6":
		return 6, nil
	case "u", "udp", "17":
		return 17, nil
	case "icmp", "1":
		return 1, nil
	}
	return 0, fmt.Errorf("protocol %q is not T, U, TCP, UDP or ICMP", s)
}

// port reads a port, which _d columns may write as a decimal ("443.0").
func port(s string) (uint16, error) {
	n, err := count(s)
	if err != nil || n > 65535 {
		return 0, fmt.Errorf("port %q is not a port number", s)
	}
	return uint16(n), nil
}

// count reads a counter: an integer, or a decimal with no fraction.
func count(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f != float64(uint64(f)) || f > 1<<62 {
		return 0, fmt.Errorf("%q is not a count", s)
	}
	return uint64(f), nil
}

// timeLayouts are the times exports write: ISO 8601 (az, the query API),
// and the portal's US locale ("8/25/2025 8:11:21.937 PM"), without a
// zone: UTC, as the portal exports by default.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "1/2/2006 3:04:05 PM", "1/2/2006, 3:04:05 PM"}

func timeOf(s string) (int64, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UnixNano(), nil
		}
	}
	return 0, fmt.Errorf("time %q is neither ISO 8601 nor M/D/YYYY h:mm:ss AM/PM", s)
}

// lastPart is a resource's name in Traffic Analytics' "rg/name" form.
func lastPart(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }
