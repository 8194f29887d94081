package connlog

import (
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
)

// value is one field of a record: a scalar, or a list for Zeek's vector
// and set types and JSON arrays.
type value struct {
	s      string
	list   []string
	isList bool
}

// setter stores a field's value in a conversation.
type setter func(c *flows.Conn, v value) error

// setters maps field names to what sets them: Zeek's conn.log fields,
// netfx's own (docs/formats.md), and the payload facts, found through
// appid's JSON names ("ssl.server_name" is Facts.TLS.ServerName).
var setters = func() map[string]setter {
	m := map[string]setter{
		"ts":             timeSetter(func(c *flows.Conn) *int64 { return &c.TS }),
		"duration":       timeSetter(func(c *flows.Conn) *int64 { return &c.Duration }),
		"uid":            tokenSetter("letters and digits", alnum, func(c *flows.Conn) *string { return &c.UID }),
		"service":        tokenSetter("letters, digits, commas, dots, dashes and underscores", serviceByte, func(c *flows.Conn) *string { return &c.Service }),
		"conn_state":     tokenSetter("letters and digits", alnum, func(c *flows.Conn) *string { return &c.ConnState }),
		"history":        tokenSetter("history letters", historyByte, func(c *flows.Conn) *string { return &c.History }),
		"community_id":   tokenSetter("a version and base64", communityIDByte, func(c *flows.Conn) *string { return &c.CommunityID }),
		"source":         sourceSetter,
		"id.orig_h":      addrSetter(func(c *flows.Conn) *netip.Addr { return &c.Orig }),
		"id.resp_h":      addrSetter(func(c *flows.Conn) *netip.Addr { return &c.Resp }),
		"id.orig_p":      uintSetter(16, func(c *flows.Conn, n uint64) { c.OrigPort = uint16(n) }),
		"id.resp_p":      uintSetter(16, func(c *flows.Conn, n uint64) { c.RespPort = uint16(n) }),
		"ip_proto":       uintSetter(8, func(c *flows.Conn, n uint64) { c.Proto = uint8(n) }),
		"orig_bytes":     uintSetter(64, func(c *flows.Conn, n uint64) { c.OrigBytes = n }),
		"resp_bytes":     uintSetter(64, func(c *flows.Conn, n uint64) { c.RespBytes = n }),
		"missed_bytes":   uintSetter(64, func(c *flows.Conn, n uint64) { c.MissedBytes = n }),
		"orig_pkts":      uintSetter(64, func(c *flows.Conn, n uint64) { c.OrigPkts = n }),
		"resp_pkts":      uintSetter(64, func(c *flows.Conn, n uint64) { c.RespPkts = n }),
		"orig_ip_bytes":  uintSetter(64, func(c *flows.Conn, n uint64) { c.OrigIPBytes = n }),
		"resp_ip_bytes":  uintSetter(64, func(c *flows.Conn, n uint64) { c.RespIPBytes = n }),
		"first_record":   uintSetter(63, func(c *flows.Conn, n uint64) { c.FirstRecord = int64(n) }),
		"vlan":           uintSetter(12, func(c *flows.Conn, n uint64) { c.VLAN, c.NumVLANs = uint16(n), max(c.NumVLANs, 1) }),
		"inner_vlan":     uintSetter(12, func(c *flows.Conn, n uint64) { c.InnerVLAN, c.NumVLANs = uint16(n), 2 }),
		"files":          func(c *flows.Conn, v value) error { c.Files = v.strings(); return nil },
		"tunnel_parents": func(c *flows.Conn, v value) error { c.TunnelParents = v.strings(); return nil },
		"proto": func(c *flows.Conn, v value) error {
			if c.Proto == 0 { // ip_proto, when the record has it, is exact
				c.Proto, _ = ipproto.Number(v.s)
			}
			return nil
		},

		"flowlog_rule":       logText(func(l *flows.FlowLogView) *string { return &l.Rule }),
		"flowlog_decision":   logParsed(flows.ParseDecision, func(l *flows.FlowLogView) *flows.Decision { return &l.Decision }),
		"flowlog_direction":  logParsed(flows.ParseDirection, func(l *flows.FlowLogView) *flows.Direction { return &l.Direction }),
		"flowlog_encryption": logText(func(l *flows.FlowLogView) *string { return &l.Encryption }),
		"flowlog_orig_pkts":  logCounter(func(l *flows.FlowLogView) *uint64 { return &l.OrigPkts }),
		"flowlog_orig_bytes": logCounter(func(l *flows.FlowLogView) *uint64 { return &l.OrigBytes }),
		"flowlog_resp_pkts":  logCounter(func(l *flows.FlowLogView) *uint64 { return &l.RespPkts }),
		"flowlog_resp_bytes": logCounter(func(l *flows.FlowLogView) *uint64 { return &l.RespBytes }),
		"flowlog_attempts": uintSetter(31, func(c *flows.Conn, n uint64) {
			logView(c).Attempts = int(n)
		}),
		"vmconnection_process":  analyticsText(func(a *flows.AnalyticsView) *string { return &a.Process }),
		"vmconnection_computer": analyticsText(func(a *flows.AnalyticsView) *string { return &a.Computer }),
		"vmconnection_direction": func(c *flows.Conn, v value) error {
			d, err := flows.ParseDirection(v.s)
			if err == nil {
				analyticsView(c).Direction = d
			}
			return err
		},
		"ta_flow_type": analyticsText(func(a *flows.AnalyticsView) *string { return &a.FlowType }),
		"ta_country":   analyticsText(func(a *flows.AnalyticsView) *string { return &a.Country }),
		"analytics_files": func(c *flows.Conn, v value) error {
			analyticsView(c).Files = v.strings()
			return nil
		},
		"flowlog_sources": func(c *flows.Conn, v value) error { logView(c).Sources = v.strings(); return nil },
		"flowlog_files":   func(c *flows.Conn, v value) error { logView(c).Files = v.strings(); return nil },
		"dns.answers": func(c *flows.Conn, v value) error {
			dns := facts(c).DNS
			if dns == nil {
				dns = &appid.DNSFacts{}
				facts(c).DNS = dns
			}
			answers := slices.Collect(dns.Answers.All())
			for _, a := range v.strings() {
				name, rest, _ := strings.Cut(a, " ")
				typ, val, _ := strings.Cut(rest, " ")
				answers = append(answers, appid.DNSAnswer{Name: name, Type: typ, Value: val})
			}
			dns.Answers = appid.NewDNSAnswers(answers...)
			return nil
		},
	}
	addFactSetters(m)
	return m
}()

func (v value) strings() []string {
	if v.isList {
		return v.list
	}
	if v.s == "" {
		return nil
	}
	return []string{v.s}
}

// Fields that Zeek and netfx write from a small alphabet are read only
// when they keep to it: every writer passes them on unescaped, so a
// hostile log must not smuggle escapes or quotes through them.
func alnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}
func serviceByte(b byte) bool     { return alnum(b) || b == ',' || b == '.' || b == '-' || b == '_' }
func historyByte(b byte) bool     { return alnum(b) && !(b >= '0' && b <= '9') || b == '^' }
func communityIDByte(b byte) bool { return alnum(b) || b == '+' || b == '/' || b == '=' || b == ':' }

// maxToken bounds a field of a small alphabet.
const maxToken = 256

func tokenSetter(alphabet string, ok func(byte) bool, field func(*flows.Conn) *string) setter {
	return func(c *flows.Conn, v value) error {
		if len(v.s) > maxToken {
			return fmt.Errorf("longer than %d bytes", maxToken)
		}
		for i := 0; i < len(v.s); i++ {
			if !ok(v.s[i]) {
				return fmt.Errorf("%q holds other than %s", v.s, alphabet)
			}
		}
		*field(c) = v.s
		return nil
	}
}

// sourceSetter reads what saw a record: capture, flowlog or both.
func sourceSetter(c *flows.Conn, v value) error {
	switch v.s {
	case flows.SourceCapture, flows.SourceFlowLog, flows.SourceBoth, flows.SourceTrafficAnalytics, flows.SourceVMConnection:
		c.Source = v.s
		return nil
	}
	return fmt.Errorf("%q is not capture, flowlog, both, traffic_analytics or vmconnection", v.s)
}

func addrSetter(field func(*flows.Conn) *netip.Addr) setter {
	return func(c *flows.Conn, v value) error {
		a, err := netip.ParseAddr(v.s)
		if err != nil {
			return fmt.Errorf("bad address %q", v.s)
		}
		*field(c) = a.Unmap() // as every reader of netfx gives addresses
		return nil
	}
}

func uintSetter(bits int, set func(*flows.Conn, uint64)) setter {
	return func(c *flows.Conn, v value) error {
		n, err := strconv.ParseUint(v.s, 10, bits)
		if err != nil {
			return fmt.Errorf("bad count %q", v.s)
		}
		set(c, n)
		return nil
	}
}

// timeSetter parses Zeek's times and intervals: seconds with a fraction, or
// (Zeek's JSON with ISO 8601 timestamps) an RFC 3339 time.
func timeSetter(field func(*flows.Conn) *int64) setter {
	return func(c *flows.Conn, v value) error {
		if t, err := time.Parse(time.RFC3339Nano, v.s); err == nil {
			*field(c) = t.UnixNano()
			return nil
		}
		sec, frac, _ := strings.Cut(v.s, ".")
		s, err := strconv.ParseInt(sec, 10, 64)
		if err != nil || len(frac) > 9 || s > math.MaxInt64/1_000_000_000-1 || s < math.MinInt64/1_000_000_000+1 {
			return fmt.Errorf("bad time %q", v.s)
		}
		ns := int64(0)
		if frac != "" {
			f, err := strconv.ParseUint(frac, 10, 32)
			if err != nil {
				return fmt.Errorf("bad time %q", v.s)
			}
			ns = int64(f) * int64(math.Pow10(9-len(frac)))
		}
		if strings.HasPrefix(sec, "-") {
			ns = -ns
		}
		*field(c) = s*1e9 + ns
		return nil
	}
}

func logView(c *flows.Conn) *flows.FlowLogView {
	if c.FlowLog == nil {
		c.FlowLog = &flows.FlowLogView{}
	}
	return c.FlowLog
}

// analyticsView is the record's Log Analytics view, made on its first
// field.
func analyticsView(c *flows.Conn) *flows.AnalyticsView {
	if c.Analytics == nil {
		c.Analytics = &flows.AnalyticsView{}
	}
	return c.Analytics
}

func analyticsText(field func(*flows.AnalyticsView) *string) setter {
	return func(c *flows.Conn, v value) error { *field(analyticsView(c)) = v.s; return nil }
}

func logText(field func(*flows.FlowLogView) *string) setter {
	return func(c *flows.Conn, v value) error { *field(logView(c)) = v.s; return nil }
}

// logParsed sets a field of the flow-log view that takes a few values.
func logParsed[T any](parse func(string) (T, error), field func(*flows.FlowLogView) *T) setter {
	return func(c *flows.Conn, v value) error {
		x, err := parse(v.s)
		if err != nil {
			return err
		}
		*field(logView(c)) = x
		return nil
	}
}

func logCounter(field func(*flows.FlowLogView) *uint64) setter {
	return func(c *flows.Conn, v value) error {
		n, err := strconv.ParseUint(v.s, 10, 64)
		if err != nil {
			return fmt.Errorf("bad count %q", v.s)
		}
		l := logView(c)
		*field(l), l.Counted = n, true
		return nil
	}
}

func facts(c *flows.Conn) *appid.Facts {
	if c.App == nil {
		c.App = &appid.Facts{}
	}
	return c.App
}

// addFactSetters adds a setter for each payload fact, named as netfx
// writes it: the JSON name of the protocol, a dot, the JSON name of the
// fact. Facts of types other than text, lists of text, counts and flags
// have setters of their own.
func addFactSetters(m map[string]setter) {
	ft := reflect.TypeFor[appid.Facts]()
	for i := range ft.NumField() {
		proto := ft.Field(i)
		group := jsonName(proto)
		st := proto.Type.Elem()
		for j := range st.NumField() {
			name := group + "." + jsonName(st.Field(j))
			if _, ok := m[name]; ok {
				continue
			}
			if set := factSetter(st.Field(j).Type); set != nil {
				pi, fj := i, j
				m[name] = func(c *flows.Conn, v value) error {
					p := reflect.ValueOf(facts(c)).Elem().Field(pi)
					if p.IsNil() {
						p.Set(reflect.New(p.Type().Elem()))
					}
					return set(p.Elem().Field(fj), v)
				}
			}
		}
	}
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// factSetter returns how to store a value in a field of type t, or nil.
func factSetter(t reflect.Type) func(reflect.Value, value) error {
	switch {
	case t.Kind() == reflect.String:
		return func(f reflect.Value, v value) error { f.SetString(v.s); return nil }
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return func(f reflect.Value, v value) error { f.Set(reflect.ValueOf(v.strings())); return nil }
	case t.Kind() == reflect.Int:
		return func(f reflect.Value, v value) error {
			n, err := strconv.ParseInt(v.s, 10, 32)
			if err != nil {
				return fmt.Errorf("bad number %q", v.s)
			}
			f.SetInt(n)
			return nil
		}
	case t.Kind() == reflect.Bool:
		return func(f reflect.Value, v value) error {
			switch v.s {
			case "T", "true":
				f.SetBool(true)
			case "F", "false":
			default:
				return fmt.Errorf("bad flag %q", v.s)
			}
			return nil
		}
	}
	return nil
}

// finish completes a record once all its fields are set: the protocol
// number of ICMPv6, and the source of a record from Zeek, which only sees
// captures.
func finish(c *flows.Conn) error {
	if !c.Orig.IsValid() || !c.Resp.IsValid() {
		return fmt.Errorf("record has no id.orig_h or id.resp_h")
	}
	if c.Proto == ipproto.ICMP && c.Orig.Is6() && !c.Orig.Is4In6() {
		c.Proto = 58
	}
	if c.Source == "" {
		c.Source = flows.SourceCapture
	}
	if v := c.FlowLog; v != nil {
		// The record does not carry the logs' own time span: the
		// conversation's stands in for it.
		v.Begin, v.End = c.TS, c.TS+c.Duration
	}
	return nil
}
