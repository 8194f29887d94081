package render

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/netfx/netfx/flows"
)

// ConnSchemaVersion is the version of the conversation record schema
// documented in docs/formats.md.
const ConnSchemaVersion = "1"

// connField is one column of a conversation record.
type connField struct {
	name     string
	zeekType string
	// value appends the field's value in its plain text form and reports
	// false when the field is unset for this record.
	value func(b []byte, c *flows.Conn) ([]byte, bool)
	kind  fieldKind
}

type fieldKind uint8

const (
	kindNumber     fieldKind = iota
	kindString               // text that needs no escaping: netfx writes it from a fixed alphabet
	kindStringList           // file names: escaped
)

// connJSONKeys holds `"name":` for each field, in connFields order.
var connJSONKeys = func() []string {
	keys := make([]string, len(connFields))
	for i, f := range connFields {
		keys[i] = string(appendJSONString(nil, f.name)) + ":"
	}
	return keys
}()

// connFields is the record schema, in Zeek conn.log order followed by
// netfx's own fields.
var connFields = []connField{
	{"ts", "time", func(b []byte, c *flows.Conn) ([]byte, bool) { return appendTime(b, c.TS), true }, kindNumber},
	{"uid", "string", func(b []byte, c *flows.Conn) ([]byte, bool) { return append(b, c.UID...), true }, kindString},
	{"id.orig_h", "addr", func(b []byte, c *flows.Conn) ([]byte, bool) { return appendAddr(b, c.Orig), true }, kindString},
	{"id.orig_p", "port", func(b []byte, c *flows.Conn) ([]byte, bool) {
		return strconv.AppendUint(b, uint64(c.OrigPort), 10), true
	}, kindNumber},
	{"id.resp_h", "addr", func(b []byte, c *flows.Conn) ([]byte, bool) { return appendAddr(b, c.Resp), true }, kindString},
	{"id.resp_p", "port", func(b []byte, c *flows.Conn) ([]byte, bool) {
		return strconv.AppendUint(b, uint64(c.RespPort), 10), true
	}, kindNumber},
	{"proto", "enum", func(b []byte, c *flows.Conn) ([]byte, bool) { return append(b, c.ProtoName()...), true }, kindString},
	{"service", "string", func(b []byte, c *flows.Conn) ([]byte, bool) { return append(b, c.Service...), c.Service != "" }, kindString},
	{"duration", "interval", func(b []byte, c *flows.Conn) ([]byte, bool) {
		return appendTime(b, c.Duration), c.Duration > 0
	}, kindNumber},
	{"orig_bytes", "count", func(b []byte, c *flows.Conn) ([]byte, bool) {
		return strconv.AppendUint(b, c.OrigBytes, 10), c.Duration > 0
	}, kindNumber},
	{"resp_bytes", "count", func(b []byte, c *flows.Conn) ([]byte, bool) {
		return strconv.AppendUint(b, c.RespBytes, 10), c.Duration > 0
	}, kindNumber},
	{"conn_state", "string", func(b []byte, c *flows.Conn) ([]byte, bool) { return append(b, c.ConnState...), true }, kindString},
	{"missed_bytes", "count", func(b []byte, c *flows.Conn) ([]byte, bool) { return strconv.AppendUint(b, c.MissedBytes, 10), true }, kindNumber},
	{"history", "string", func(b []byte, c *flows.Conn) ([]byte, bool) { return append(b, c.History...), c.History != "" }, kindString},
	{"orig_pkts", "count", func(b []byte, c *flows.Conn) ([]byte, bool) { return strconv.AppendUint(b, c.OrigPkts, 10), true }, kindNumber},
	{"orig_ip_bytes", "count", func(b []byte, c *flows.Conn) ([]byte, bool) { return strconv.AppendUint(b, c.OrigIPBytes, 10), true }, kindNumber},
	{"resp_pkts", "count", func(b []byte, c *flows.Conn) ([]byte, bool) { return strconv.AppendUint(b, c.RespPkts, 10), true }, kindNumber},
	{"resp_ip_bytes", "count", func(b []byte, c *flows.Conn) ([]byte, bool) { return strconv.AppendUint(b, c.RespIPBytes, 10), true }, kindNumber},
	{"ip_proto", "count", func(b []byte, c *flows.Conn) ([]byte, bool) { return strconv.AppendUint(b, uint64(c.Proto), 10), true }, kindNumber},
	{"community_id", "string", func(b []byte, c *flows.Conn) ([]byte, bool) { return append(b, c.CommunityID...), true }, kindString},
	{"vlan", "int", func(b []byte, c *flows.Conn) ([]byte, bool) {
		return strconv.AppendUint(b, uint64(c.VLAN), 10), c.NumVLANs > 0
	}, kindNumber},
	{"inner_vlan", "int", func(b []byte, c *flows.Conn) ([]byte, bool) {
		return strconv.AppendUint(b, uint64(c.InnerVLAN), 10), c.NumVLANs > 1
	}, kindNumber},
	{"files", "vector[string]", nil, kindStringList},
	{"first_record", "count", func(b []byte, c *flows.Conn) ([]byte, bool) { return strconv.AppendInt(b, c.FirstRecord, 10), true }, kindNumber},
}

// appendTime writes Unix nanoseconds as seconds with six decimals, as Zeek
// writes times and intervals.
func appendTime(b []byte, ns int64) []byte {
	u := uint64(ns)
	if ns < 0 {
		b = append(b, '-')
		u = -u
	}
	us := u / 1000
	b = strconv.AppendUint(b, us/1e6, 10)
	frac := us % 1e6
	b = append(b, '.')
	for d := int64(100000); d > 0; d /= 10 {
		b = append(b, byte('0'+frac/uint64(d)%10))
	}
	return b
}

func appendAddr(b []byte, a netip.Addr) []byte { return a.Unmap().AppendTo(b) }

// FieldNames returns the record's field names in order.
func FieldNames() []string {
	names := make([]string, len(connFields))
	for i, f := range connFields {
		names[i] = f.name
	}
	return names
}

// escapeControl replaces bytes below 0x20, DEL and invalid UTF-8 with \xNN
// escapes, as Zeek does in its logs, so that packet data cannot move a
// terminal's cursor or break a line-oriented format.
func escapeControl(s string, extra byte) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == extra || c == '\\' {
			clean = false
			break
		}
	}
	if clean && utf8.ValidString(s) {
		return s
	}
	var sb strings.Builder
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c < 0x20 || c == 0x7f || c == extra || c == '\\' || (r == utf8.RuneError && size == 1):
			sb.WriteString(`\x`)
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&15])
			i++
		default:
			sb.WriteString(s[i : i+size])
			i += size
		}
	}
	return sb.String()
}
