package flowlog

import (
	"encoding/binary"
	"iter"
	"slices"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
)

// DefaultTolerance is how far apart in time two views of one connection
// may be and still be joined: flow logs are collected each minute, and
// clocks differ. It applies between logs and between logs and captures.
const DefaultTolerance = 2 * time.Minute

// Connections joins flows that several logs recorded of one connection
// (same Endpoints, times within tolerance) into one record each, with
// Source SourceFlowLog and the Zeek fields filled from the logs. The flows
// must come in CompareFlows order; the connections come out in the order
// of their Endpoints, and by begin time for equal Endpoints.
func Connections(fs iter.Seq[*Flow], tolerance time.Duration, seed uint16) iter.Seq[*flows.Conn] {
	return func(yield func(*flows.Conn) bool) {
		tol := int64(tolerance)
		var (
			group []*Flow
			key   flows.Endpoints
			end   int64
		)
		for f := range fs {
			k := f.key
			if len(group) > 0 && (k != key || f.Begin > end+tol) {
				if !yield(connection(group, seed)) {
					return
				}
				group = group[:0]
			}
			if len(group) == 0 {
				key, end = k, f.End
			}
			group = append(group, f)
			end = max(end, f.End)
		}
		if len(group) > 0 {
			yield(connection(group, seed))
		}
	}
}

// connection builds the record of one connection from its flows.
func connection(group []*Flow, seed uint16) *flows.Conn {
	first := group[0]
	v := &flows.FlowLogView{
		Begin: first.Begin, End: first.End, Rule: first.Rule, Decision: flows.Allow, Direction: flows.Outbound,
		Encryption: first.Encryption,
	}
	if first.Inbound {
		v.Direction = flows.Inbound
	}
	var denyRule string
	for _, f := range group {
		v.Begin, v.End = min(v.Begin, f.Begin), max(v.End, f.End)
		v.Ended = v.Ended || f.Ended
		v.Attempts = max(v.Attempts, f.Attempts)
		if f.Denied && denyRule == "" {
			denyRule = f.Rule
		}
		if src := f.Log.Source(); !slices.Contains(v.Sources, src) {
			v.Sources = append(v.Sources, src)
		}
		if !slices.Contains(v.Files, f.File) {
			v.Files = append(v.Files, f.File)
		}
		if f.Counted {
			// Every log of the connection counts the same packets: keep
			// the largest count of each direction rather than add them.
			sent, recv := [2]uint64{f.PktsSent, f.BytesSent}, [2]uint64{f.PktsRecv, f.BytesRecv}
			if f.Src != first.Src || f.SrcPort != first.SrcPort {
				sent, recv = recv, sent
			}
			v.Counted = true
			v.OrigPkts, v.OrigBytes = max(v.OrigPkts, sent[0]), max(v.OrigBytes, sent[1])
			v.RespPkts, v.RespBytes = max(v.RespPkts, recv[0]), max(v.RespBytes, recv[1])
		}
	}
	if denyRule != "" {
		v.Decision, v.Rule = flows.Deny, denyRule
	}
	c := &flows.Conn{
		TS: v.Begin, Duration: v.End - v.Begin,
		Orig: first.Src, Resp: first.Dst, OrigPort: first.SrcPort, RespPort: first.DstPort, Proto: first.Proto,
		ConnState: logConnState(v, first.Proto),
		Source:    flows.SourceFlowLog, FlowLog: v,
	}
	if v.Counted {
		c.OrigPkts, c.OrigIPBytes, c.RespPkts, c.RespIPBytes = v.OrigPkts, v.OrigBytes, v.RespPkts, v.RespBytes
	}
	if !ipproto.IsICMP(first.Proto) {
		// ICMP tuples carry no type or code, which the ID needs.
		c.CommunityID = flows.CommunityID(seed, first.Proto, first.Src, first.Dst, first.SrcPort, first.DstPort)
	}
	var buf [96]byte
	b := first.Src.AppendTo(buf[:0])
	b = first.Dst.AppendTo(b)
	b = binary.BigEndian.AppendUint16(b, first.SrcPort)
	b = binary.BigEndian.AppendUint16(b, first.DstPort)
	b = append(b, first.Proto)
	b = binary.BigEndian.AppendUint64(b, uint64(v.Begin))
	b = append(b, first.Log.Source()...)
	c.UID = flows.UID(b)
	return c
}

// logConnState gives a flow-log connection the closest Zeek conn_state:
// denied attempts were dropped unanswered (S0); an E tuple means the
// connection ended (SF); otherwise it was established and not seen to end
// (S1). UDP flows are SF when the logs counted packets back, else S0.
func logConnState(v *flows.FlowLogView, proto uint8) string {
	switch {
	case v.Decision == flows.Deny:
		return "S0"
	case proto == ipproto.UDP:
		if v.Counted && v.RespPkts > 0 {
			return "SF"
		}
		return "S0"
	case v.Ended:
		return "SF"
	}
	return "S1"
}
