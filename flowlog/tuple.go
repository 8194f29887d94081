package flowlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
)

// Log identifies one flow log: a network security group's (NSG flow logs)
// or a flow log resource's (VNet flow logs), as seen on one NIC.
type Log struct {
	Kind       string // "nsg" or "vnet"
	Version    int    // 1 or 2 for NSG flow logs, 4 for VNet flow logs
	ResourceID string // the NSG's or the flow log's resource ID, upper case
	MAC        string // the NIC's MAC address, 12 upper-case hex digits; "" if the log does not say
}

// Source names the log in flowlog_sources: its resource ID and MAC.
func (l *Log) Source() string {
	if l.MAC == "" {
		return l.ResourceID
	}
	return l.ResourceID + " " + l.MAC
}

// Tuple is one flow-log tuple: one direction's view of a flow in one
// collection interval.
type Tuple struct {
	Time             int64 // Unix nanoseconds
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8 // IANA protocol number
	Inbound          bool  // direction relative to the NIC
	Denied           bool
	State            byte // 'B', 'C', 'E' or 'D'; 0 for NSG version 1, which has no state
	Encryption       string
	// Counters since the previous tuple of the flow, source to destination
	// (Sent) and back (Received). Counted is false when the tuple carries
	// none (B and D tuples, NSG version 1, denied flows).
	Counted             bool
	PktsSent, BytesSent uint64
	PktsRecv, BytesRecv uint64
	Rule                string
	Log                 *Log
	File                string
	Record              int // 1-based record number in the file
}

var (
	protoByLetter = map[byte]uint8{'T': 6, 'U': 17}
	encryptions   = map[string]string{}
)

// intern returns a shared copy of short, repeated strings (encryption
// values), so tuples do not each allocate one.
func intern(b []byte) string {
	if s, ok := encryptions[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(encryptions) < 64 {
		encryptions[s] = s
	}
	return s
}

// splitFields splits a tuple at commas, keeping empty fields (a v2 B tuple
// ends in ",,,,"), into out; it reports the number of fields, len(out)+1
// when there are more. It looks for commas eight bytes at a time.
func splitFields(b []byte, out *[14][]byte) int {
	n, start := 0, 0
	i := 0
	for ; i+8 <= len(b); i += 8 {
		for m := commaBits(binary.LittleEndian.Uint64(b[i:])); m != 0; m &= m - 1 {
			if n == len(out) {
				return n + 1
			}
			end := i + bits.TrailingZeros64(m)/8
			out[n], n, start = b[start:end], n+1, end+1
		}
	}
	for ; i < len(b); i++ {
		if b[i] == ',' {
			if n == len(out) {
				return n + 1
			}
			out[n], n, start = b[start:i], n+1, i+1
		}
	}
	if n == len(out) {
		return n + 1
	}
	out[n] = b[start:]
	return n + 1
}

// commaBits sets the high bit of each byte of w that is a comma, and no
// other bit (the exact zero-byte test, without borrows between bytes).
func commaBits(w uint64) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	x := w ^ 0x2c2c2c2c2c2c2c2c // commas become zero bytes
	return ^((x&low7 + low7) | x | low7)
}

// errTuple is a malformed tuple.
type errTuple struct{ msg string }

func (e *errTuple) Error() string { return e.msg }

func tupleError(format string, args ...any) error { return &errTuple{fmt.Sprintf(format, args...)} }

// parseTuple parses one tuple of a log of the given kind and version.
func parseTuple(b []byte, log *Log, t *Tuple) error {
	var f [14][]byte
	n := splitFields(b, &f)
	want := 13
	if log.Kind == "nsg" && log.Version == 1 {
		want = 8
	}
	if n != want {
		if log.Kind == "vnet" && n == 13 {
			want = 13
		} else {
			return tupleError("tuple %q has %d fields, a %s has %d", truncate(b), n, log.describe(), want)
		}
	}
	var err error
	if t.Time, err = parseEpoch(f[0]); err != nil {
		return tupleError("tuple %q: %v", truncate(b), err)
	}
	if t.Src, err = parseIP(f[1]); err != nil {
		return tupleError("tuple %q: bad source address", truncate(b))
	}
	if t.Dst, err = parseIP(f[2]); err != nil {
		return tupleError("tuple %q: bad destination address", truncate(b))
	}
	sp, err1 := parseUint(f[3], 65535)
	dp, err2 := parseUint(f[4], 65535)
	if err1 != nil || err2 != nil {
		return tupleError("tuple %q: bad port", truncate(b))
	}
	t.SrcPort, t.DstPort = uint16(sp), uint16(dp)
	if len(f[6]) != 1 || (f[6][0] != 'I' && f[6][0] != 'O') {
		return tupleError("tuple %q: direction %q is not I or O", truncate(b), f[6])
	}
	t.Inbound = f[6][0] == 'I'
	counters := f[9:13]
	switch log.Kind {
	case "nsg":
		if len(f[5]) != 1 || protoByLetter[f[5][0]] == 0 {
			return tupleError("tuple %q: protocol %q is not T or U", truncate(b), f[5])
		}
		t.Proto = protoByLetter[f[5][0]]
		if len(f[7]) != 1 || (f[7][0] != 'A' && f[7][0] != 'D') {
			return tupleError("tuple %q: decision %q is not A or D", truncate(b), f[7])
		}
		t.Denied = f[7][0] == 'D'
		if log.Version == 1 {
			t.State = 0
			return nil
		}
		if len(f[8]) != 1 || (f[8][0] != 'B' && f[8][0] != 'C' && f[8][0] != 'E') {
			return tupleError("tuple %q: flow state %q is not B, C or E", truncate(b), f[8])
		}
		t.State = f[8][0]
	case "vnet":
		p, err := parseUint(f[5], 255)
		if err != nil {
			if len(f[5]) == 1 && protoByLetter[f[5][0]] != 0 {
				return tupleError("tuple %q has NSG protocol letter %q: an NSG flow log tuple in a VNet flow log document", truncate(b), f[5])
			}
			return tupleError("tuple %q: protocol %q is not a number", truncate(b), f[5])
		}
		t.Proto = uint8(p)
		if len(f[7]) != 1 || (f[7][0] != 'B' && f[7][0] != 'C' && f[7][0] != 'E' && f[7][0] != 'D') {
			if len(f[7]) == 1 && f[7][0] == 'A' {
				return tupleError("tuple %q has an NSG decision %q where VNet flow logs put the flow state: an NSG flow log tuple in a VNet flow log document", truncate(b), f[7])
			}
			return tupleError("tuple %q: flow state %q is not B, C, E or D", truncate(b), f[7])
		}
		t.State = f[7][0]
		t.Denied = t.State == 'D'
		t.Encryption = intern(f[8])
	}
	if t.State == 'C' || t.State == 'E' {
		var vals [4]uint64
		present := 0
		for i, c := range counters {
			if len(c) == 0 {
				continue
			}
			v, err := parseUint(c, 1<<62)
			if err != nil {
				return tupleError("tuple %q: bad counter %q", truncate(b), c)
			}
			vals[i] = v
			present++
		}
		if present > 0 {
			t.Counted = true
			t.PktsSent, t.BytesSent, t.PktsRecv, t.BytesRecv = vals[0], vals[1], vals[2], vals[3]
		}
	}
	return nil
}

func (l *Log) describe() string {
	if l.Kind == "nsg" {
		return fmt.Sprintf("NSG flow log version %d tuple", l.Version)
	}
	return "VNet flow log tuple"
}

func truncate(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "..."
	}
	return string(b)
}

// parseEpoch reads a Unix timestamp in seconds or, with 13 or more digits,
// milliseconds (VNet flow logs use milliseconds; their documentation's
// examples sometimes seconds).
func parseEpoch(b []byte) (int64, error) {
	v, err := parseUint(b, 1<<53)
	if err != nil {
		return 0, errors.New("bad timestamp")
	}
	if len(b) >= 13 {
		return int64(v) * 1e6, nil
	}
	return int64(v) * 1e9, nil
}

func parseUint(b []byte, limit uint64) (uint64, error) {
	if len(b) == 0 || len(b) > 19 {
		return 0, strconv.ErrSyntax
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
		v = v*10 + uint64(c-'0')
	}
	if v > limit {
		return 0, strconv.ErrRange
	}
	return v, nil
}

// parseIP parses a dotted IPv4 address without allocating, and anything
// else with netip (parseOtherIP).
func parseIP(b []byte) (netip.Addr, error) {
	var a [4]byte
	n, v, digits := 0, 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v*10 + int(c-'0')
			digits++
			if v > 255 || digits > 3 {
				return parseOtherIP(b)
			}
		case c == '.' && digits > 0 && n < 3:
			a[n] = byte(v)
			n, v, digits = n+1, 0, 0
		default:
			return parseOtherIP(b)
		}
	}
	if n != 3 || digits == 0 {
		return parseOtherIP(b)
	}
	a[3] = byte(v)
	return netip.AddrFrom4(a), nil
}

// parseOtherIP parses an IPv6 address, an IPv4-mapped one coming out as
// the IPv4 address (as every reader of netfx gives addresses).
func parseOtherIP(b []byte) (netip.Addr, error) {
	a, err := netip.ParseAddr(string(b))
	return a.Unmap(), err
}
