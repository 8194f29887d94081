package flows

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/internal/ipproto"
	"github.com/netfx/netfx/internal/record"
)

// Conn is one finished conversation: a connection as Zeek's conn.log
// describes it, with netfx's provenance fields. Times are Unix nanoseconds.
type Conn struct {
	TS       int64 // first packet
	Duration int64 // from the first to the last packet that counts (Zeek excludes packets after both sides closed)
	UID      string

	Orig, Resp         netip.Addr
	OrigPort, RespPort uint16 // for ICMP: the type, and the counterpart type or code
	Proto              uint8  // IP protocol number

	Service     string
	OrigBytes   uint64 // payload bytes; for TCP from sequence numbers, as Zeek
	RespBytes   uint64
	ConnState   string
	MissedBytes uint64
	History     string
	OrigPkts    uint64
	RespPkts    uint64
	OrigIPBytes uint64
	RespIPBytes uint64
	CommunityID string
	// TunnelParents are the uids of the conversations that carried this
	// one out of a tunnel (Zeek's tunnel_parents).
	TunnelParents []string
	// Unidentified is the payload bytes the capture had whole in which no
	// protocol was found (see appid.Inspector.Unidentified), 0 otherwise.
	Unidentified uint64

	VLAN, InnerVLAN uint16 // outermost and innermost 802.1Q IDs of the first packet
	NumVLANs        uint8

	// App is what the payload showed: handshake facts and names; nil when
	// nothing was identified.
	App *appid.Facts

	Files       []string // capture files with packets of this conversation, in input order
	FirstRecord int64    // record number of the first packet in Files[0]

	// Source says what saw the conversation: SourceCapture, SourceFlowLog
	// or SourceBoth; SourceTrafficAnalytics or SourceVMConnection when only
	// a Log Analytics export did.
	Source string
	// FlowLog is what the flow logs recorded of it; nil when no log did.
	// Traffic Analytics' rows, made from flow logs, give one too.
	FlowLog *FlowLogView
	// Analytics is what Log Analytics exports (Traffic Analytics, VM
	// Insights) said of it; nil when none did.
	Analytics *AnalyticsView
}

// AnalyticsView is what the rows of Log Analytics exports that match a
// conversation (addresses, responder port, protocol and time; they have
// no source port) said of it.
type AnalyticsView struct {
	Process, Computer string // VMConnection: the process that made or took it, and its machine
	// Direction is VMConnection's: Outbound when the process made the
	// connection (it runs on the originator), Inbound when it took it.
	Direction         Direction
	FlowType, Country string   // Traffic Analytics: IntraVNet, ExternalPublic, ...; the public side's country
	Files             []string // the exports
}

// Captured reports whether a capture saw the conversation.
func (c *Conn) Captured() bool { return c.Source == SourceCapture || c.Source == SourceBoth }

// Values of Conn.Source.
const (
	SourceCapture = "capture"
	SourceFlowLog = "flowlog"
	SourceBoth    = "both"
	// Records only a Log Analytics export gave: a row of Traffic Analytics
	// (NTANetAnalytics, AzureNetworkAnalytics_CL) or of VMConnection that
	// no capture or flow log showed.
	SourceTrafficAnalytics = "traffic_analytics"
	SourceVMConnection     = "vmconnection"
)

// FlowLogView is a connection as Azure flow logs recorded it, joined over
// every log that saw it (NSGs on subnet and NIC, the NICs at both ends,
// NSG and VNet flow logs).
type FlowLogView struct {
	Begin, End int64     // Unix ns: first tuple, and last tuple (plus a grace minute when no E tuple ended it)
	Rule       string    // the rule of the first log; deny rules win over allow rules
	Decision   Decision  // Allow or Deny
	Direction  Direction // Inbound or Outbound, relative to the first log's NIC
	Encryption string    // VNet flow logs only
	Ended      bool      // an E tuple ended the flow
	Attempts   int       // denied connections: attempts joined into this one
	// Counters as logged, originator to responder and back; Counted is
	// false when no tuple carried any (B-only, denied, NSG version 1).
	Counted             bool
	OrigPkts, OrigBytes uint64
	RespPkts, RespBytes uint64
	Sources             []string // each log that saw it: resource ID and MAC
	Files               []string // the flow-log files its tuples came from
}

// Decision is what the NSG rule that matched a flow decided.
type Decision string

// Decisions, as netfx writes them (flow logs say A and D).
const (
	Allow Decision = "allow"
	Deny  Decision = "deny"
)

// Direction is which way a flow went through the NIC that logged it.
type Direction string

// Directions, as netfx writes them (flow logs say I and O).
const (
	Inbound  Direction = "in"
	Outbound Direction = "out"
)

// ParseDecision reads a Decision as netfx writes it.
func ParseDecision(s string) (Decision, error) {
	if d := Decision(s); d == Allow || d == Deny {
		return d, nil
	}
	return "", fmt.Errorf("decision %q is not allow or deny", s)
}

// ParseDirection reads a Direction as netfx writes it.
func ParseDirection(s string) (Direction, error) {
	if d := Direction(s); d == Inbound || d == Outbound {
		return d, nil
	}
	return "", fmt.Errorf("direction %q is not in or out", s)
}

// Denied reports whether the flow logs saw the conversation denied.
func (c *Conn) Denied() bool { return c.FlowLog != nil && c.FlowLog.Decision == Deny }

// ProtoName returns Zeek's name for the transport: tcp, udp, icmp (ICMP and
// ICMPv6), sctp or unknown_transport.
func (c *Conn) ProtoName() string { return ipproto.Name(c.Proto) }

// AppendFlowLogView encodes v, which may be nil, for netfx's temporary
// files (see package record).
func AppendFlowLogView(b []byte, v *FlowLogView) []byte {
	if v == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, v.Begin)
	b = binary.AppendVarint(b, v.End)
	b = record.AppendStrings(b, v.Rule, string(v.Decision), string(v.Direction), v.Encryption)
	b = record.AppendBool(record.AppendBool(b, v.Ended), v.Counted)
	b = binary.AppendVarint(b, int64(v.Attempts))
	for _, n := range []uint64{v.OrigPkts, v.OrigBytes, v.RespPkts, v.RespBytes} {
		b = binary.AppendUvarint(b, n)
	}
	b = record.AppendList(b, v.Sources)
	return record.AppendList(b, v.Files)
}

// AppendAnalyticsView encodes v, which may be nil.
func AppendAnalyticsView(b []byte, v *AnalyticsView) []byte {
	if v == nil {
		return append(b, 0)
	}
	b = record.AppendStrings(append(b, 1), v.Process, v.Computer, string(v.Direction), v.FlowType, v.Country)
	return record.AppendList(b, v.Files)
}

// DecodeAnalyticsView reads what AppendAnalyticsView wrote.
func DecodeAnalyticsView(d *record.Decoder) *AnalyticsView {
	if !d.Bool() {
		return nil
	}
	v := &AnalyticsView{Process: d.Shared(), Computer: d.Shared(), Direction: Direction(d.Shared()), FlowType: d.Shared(), Country: d.Shared()}
	v.Files = d.List()
	return v
}

// DecodeFlowLogView reads what AppendFlowLogView wrote.
func DecodeFlowLogView(d *record.Decoder) *FlowLogView {
	if !d.Bool() {
		return nil
	}
	v := &FlowLogView{Begin: d.Varint(), End: d.Varint(),
		Rule: d.Shared(), Decision: Decision(d.Shared()), Direction: Direction(d.Shared()), Encryption: d.Shared()}
	v.Ended, v.Counted = d.Bool(), d.Bool()
	v.Attempts = int(d.Varint())
	v.OrigPkts, v.OrigBytes, v.RespPkts, v.RespBytes = d.Uvarint(), d.Uvarint(), d.Uvarint(), d.Uvarint()
	v.Sources, v.Files = d.List(), d.List()
	return v
}
