package flowlog

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"time"

	"github.com/netfx/netfx/flows"
)

// DefaultTolerance is how far apart in time two views of one connection
// may be and still be joined: flow logs are collected each minute, and
// clocks differ. It applies between logs and between logs and captures.
const DefaultTolerance = 2 * time.Minute

// endpointKey is a direction-free 5-tuple.
type endpointKey struct {
	a, b         netip.Addr
	aPort, bPort uint16
	proto        uint8
}

func keyOf(src, dst netip.Addr, sp, dp uint16, proto uint8) endpointKey {
	if c := src.Compare(dst); c > 0 || (c == 0 && sp > dp) {
		src, dst, sp, dp = dst, src, dp, sp
	}
	return endpointKey{src, dst, sp, dp, proto}
}

// Connections joins flows that several logs recorded of one connection
// (same 5-tuple in either direction, times within tolerance) and returns
// one record for each connection, ordered by begin time, with Source
// SourceFlowLog and the Zeek fields filled from the logs.
func Connections(fs []*Flow, tolerance time.Duration, seed uint16) []*flows.Conn {
	sorted := slices.Clone(fs)
	slices.SortStableFunc(sorted, func(x, y *Flow) int {
		kx, ky := keyOf(x.Src, x.Dst, x.SrcPort, x.DstPort, x.Proto), keyOf(y.Src, y.Dst, y.SrcPort, y.DstPort, y.Proto)
		return cmp.Or(kx.a.Compare(ky.a), kx.b.Compare(ky.b), cmp.Compare(kx.aPort, ky.aPort),
			cmp.Compare(kx.bPort, ky.bPort), cmp.Compare(kx.proto, ky.proto), cmp.Compare(x.Begin, y.Begin))
	})
	var out []*flows.Conn
	tol := int64(tolerance)
	for i := 0; i < len(sorted); {
		group := []*Flow{sorted[i]}
		k := keyOf(sorted[i].Src, sorted[i].Dst, sorted[i].SrcPort, sorted[i].DstPort, sorted[i].Proto)
		end := sorted[i].End
		j := i + 1
		for ; j < len(sorted); j++ {
			f := sorted[j]
			if keyOf(f.Src, f.Dst, f.SrcPort, f.DstPort, f.Proto) != k || f.Begin > end+tol {
				break
			}
			group = append(group, f)
			end = max(end, f.End)
		}
		out = append(out, connection(group, seed))
		i = j
	}
	slices.SortStableFunc(out, func(a, b *flows.Conn) int { return cmp.Compare(a.TS, b.TS) })
	return out
}

// connection builds the record of one connection from its flows.
func connection(group []*Flow, seed uint16) *flows.Conn {
	first := group[0]
	v := &flows.FlowLogView{
		Begin: first.Begin, End: first.End, Rule: first.Rule, Decision: "allow", Direction: "out",
		Encryption: first.Encryption,
	}
	if first.Inbound {
		v.Direction = "in"
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
		v.Decision, v.Rule = "deny", denyRule
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
	if first.Proto != 1 && first.Proto != 58 {
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
	case v.Decision == "deny":
		return "S0"
	case proto == 17:
		if v.Counted && v.RespPkts > 0 {
			return "SF"
		}
		return "S0"
	case v.Ended:
		return "SF"
	}
	return "S1"
}
