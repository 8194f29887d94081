package render

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/timefmt"
)

// fieldKind says how a field's value is got and written.
type fieldKind uint8

const (
	kindTime   fieldKind = iota // Unix ns written as seconds with six decimals
	kindNumber                  // unsigned integer
	kindSafe                    // text netfx writes from a fixed alphabet: no escaping needed
	kindText                    // text from the evidence (rule names, paths): escaped
	kindList                    // list of texts from the evidence: escaped
	kindAddr                    // IP address
	kindBool                    // true or false, written T or F in Zeek logs
)

// connField is one column of a conversation record. Exactly one getter is
// set, by kind; each reports false when the field is unset for a record.
type connField struct {
	name     string
	zeekType string
	kind     fieldKind
	time     func(*flows.Conn) (int64, bool)
	num      func(*flows.Conn) (uint64, bool)
	str      func(*flows.Conn) (string, bool)
	list     func(*flows.Conn) []string
	addr     func(*flows.Conn) netip.Addr
	flag     func(*flows.Conn) (bool, bool)
	answers  func(*flows.Conn) appid.DNSAnswers // a list of DNS answers: see answersField
	group    fieldGroup
}

// fieldGroup gathers fields that are all unset when a part of the record
// is missing, so writers can skip them at once: each is a bit, and
// presentGroups gives a record's, once for all its fields.
type fieldGroup uint32

const (
	groupCore      fieldGroup = 1 << iota // always present
	groupFlowLog                          // unset without Conn.FlowLog
	groupAnalytics                        // unset without Conn.Analytics
	groupApp                              // unset without Conn.App
	// Unset without one protocol's facts in Conn.App: most records have
	// one protocol's at most, and skip the other fifty fields at once.
	groupTLS
	groupHTTP
	groupSSH
	groupRDP
	groupSMB
	groupDCERPC
	groupKerberos
	groupLDAP
	groupNTLM
	groupDNS
	groupBanner
	groupPE
	groupRFB
	groupDB
)

// appGroups gives the group of the fields named prefix.something, by
// prefix, as appid.Facts names its protocols.
var appGroups = map[string]fieldGroup{
	"ssl": groupTLS, "http": groupHTTP, "ssh": groupSSH, "rdp": groupRDP, "smb": groupSMB,
	"dce_rpc": groupDCERPC, "krb": groupKerberos, "ldap": groupLDAP, "ntlm": groupNTLM,
	"dns": groupDNS, "banner": groupBanner, "pe": groupPE, "rfb": groupRFB, "db": groupDB,
}

// presentGroups returns the groups whose fields c may set.
func presentGroups(c *flows.Conn) fieldGroup {
	g := groupCore
	if c.FlowLog != nil {
		g |= groupFlowLog
	}
	if c.Analytics != nil {
		g |= groupAnalytics
	}
	a := c.App
	if a == nil {
		return g
	}
	g |= groupApp
	for _, p := range [...]struct {
		present bool
		group   fieldGroup
	}{
		{a.TLS != nil, groupTLS}, {a.HTTP != nil, groupHTTP}, {a.SSH != nil, groupSSH},
		{a.RDP != nil, groupRDP}, {a.SMB != nil, groupSMB}, {a.DCERPC != nil, groupDCERPC},
		{a.Kerberos != nil, groupKerberos}, {a.LDAP != nil, groupLDAP}, {a.NTLM != nil, groupNTLM},
		{a.DNS != nil, groupDNS}, {a.Banner != nil, groupBanner}, {a.PE != nil, groupPE},
		{a.RFB != nil, groupRFB}, {a.DB != nil, groupDB},
	} {
		if p.present {
			g |= p.group
		}
	}
	return g
}

func timeField(name, typ string, get func(*flows.Conn) (int64, bool)) connField {
	return connField{name: name, zeekType: typ, kind: kindTime, time: get}
}
func numField(name, typ string, get func(*flows.Conn) (uint64, bool)) connField {
	return connField{name: name, zeekType: typ, kind: kindNumber, num: get}
}
func safeField(name, typ string, get func(*flows.Conn) (string, bool)) connField {
	return connField{name: name, zeekType: typ, kind: kindSafe, str: get}
}
func textField(name string, get func(*flows.Conn) (string, bool)) connField {
	return connField{name: name, zeekType: "string", kind: kindText, str: get}
}
func addrField(name string, get func(*flows.Conn) netip.Addr) connField {
	return connField{name: name, zeekType: "addr", kind: kindAddr, addr: get}
}
func boolField(name string, get func(*flows.Conn) (bool, bool)) connField {
	return connField{name: name, zeekType: "bool", kind: kindBool, flag: get}
}
func listField(name string, get func(*flows.Conn) []string) connField {
	return stringsField(name, "vector[string]", get)
}
func stringsField(name, typ string, get func(*flows.Conn) []string) connField {
	return connField{name: name, zeekType: typ, kind: kindList, list: get}
}

// answersField is a list of DNS answers, each "name type value". Under a
// flood of answers they are most of the output, so writers take them
// whole (appendAnswers, appendAnswerItems), a name and type written once
// for the addresses in a row that share them.
func answersField(name string, get func(*flows.Conn) appid.DNSAnswers) connField {
	return connField{name: name, zeekType: "vector[string]", kind: kindList, answers: get}
}

// seen reports whether the capture saw the conversation: the fields only
// packets give are unset for conversations only flow logs saw.
func seen(c *flows.Conn) bool { return c.Captured() }

// counted reports whether packet and IP byte counts are known: from the
// capture, or logged by the flow logs.
func counted(c *flows.Conn) bool { return seen(c) || (c.FlowLog != nil && c.FlowLog.Counted) }

func logView(c *flows.Conn) (*flows.FlowLogView, bool) { return c.FlowLog, c.FlowLog != nil }

// connFields is the record schema, in Zeek conn.log order followed by
// netfx's own fields.
var connFields = []connField{
	timeField("ts", "time", func(c *flows.Conn) (int64, bool) { return c.TS, true }),
	safeField("uid", "string", func(c *flows.Conn) (string, bool) { return c.UID, true }),
	addrField("id.orig_h", func(c *flows.Conn) netip.Addr { return c.Orig }),
	numField("id.orig_p", "port", func(c *flows.Conn) (uint64, bool) { return uint64(c.OrigPort), true }),
	addrField("id.resp_h", func(c *flows.Conn) netip.Addr { return c.Resp }),
	numField("id.resp_p", "port", func(c *flows.Conn) (uint64, bool) { return uint64(c.RespPort), true }),
	safeField("proto", "enum", func(c *flows.Conn) (string, bool) { return c.ProtoName(), true }),
	safeField("service", "string", func(c *flows.Conn) (string, bool) { return c.Service, c.Service != "" }),
	timeField("duration", "interval", func(c *flows.Conn) (int64, bool) { return c.Duration, c.Duration > 0 }),
	numField("orig_bytes", "count", func(c *flows.Conn) (uint64, bool) { return c.OrigBytes, c.Duration > 0 && seen(c) }),
	numField("resp_bytes", "count", func(c *flows.Conn) (uint64, bool) { return c.RespBytes, c.Duration > 0 && seen(c) }),
	safeField("conn_state", "string", func(c *flows.Conn) (string, bool) { return c.ConnState, true }),
	boolField("local_orig", func(c *flows.Conn) (bool, bool) { return flows.Local(c.Orig), c.Orig.IsValid() }),
	boolField("local_resp", func(c *flows.Conn) (bool, bool) { return flows.Local(c.Resp), c.Resp.IsValid() }),
	numField("missed_bytes", "count", func(c *flows.Conn) (uint64, bool) { return c.MissedBytes, seen(c) }),
	safeField("history", "string", func(c *flows.Conn) (string, bool) { return c.History, c.History != "" }),
	numField("orig_pkts", "count", func(c *flows.Conn) (uint64, bool) { return c.OrigPkts, counted(c) }),
	numField("orig_ip_bytes", "count", func(c *flows.Conn) (uint64, bool) { return c.OrigIPBytes, counted(c) }),
	numField("resp_pkts", "count", func(c *flows.Conn) (uint64, bool) { return c.RespPkts, counted(c) }),
	numField("resp_ip_bytes", "count", func(c *flows.Conn) (uint64, bool) { return c.RespIPBytes, counted(c) }),
	stringsField("tunnel_parents", "set[string]", func(c *flows.Conn) []string { return c.TunnelParents }),
	numField("ip_proto", "count", func(c *flows.Conn) (uint64, bool) { return uint64(c.Proto), true }),
	safeField("community_id", "string", func(c *flows.Conn) (string, bool) { return c.CommunityID, c.CommunityID != "" }),
	numField("vlan", "int", func(c *flows.Conn) (uint64, bool) { return uint64(c.VLAN), c.NumVLANs > 0 }),
	numField("inner_vlan", "int", func(c *flows.Conn) (uint64, bool) { return uint64(c.InnerVLAN), c.NumVLANs > 1 }),
	safeField("source", "string", func(c *flows.Conn) (string, bool) { return c.Source, c.Source != "" }),
	listField("files", func(c *flows.Conn) []string { return c.Files }),
	numField("first_record", "count", func(c *flows.Conn) (uint64, bool) { return uint64(c.FirstRecord), seen(c) }),
	textField("flowlog_rule", func(c *flows.Conn) (string, bool) {
		if v, ok := logView(c); ok {
			return v.Rule, v.Rule != ""
		}
		return "", false
	}),
	safeField("flowlog_decision", "string", func(c *flows.Conn) (string, bool) {
		if v, ok := logView(c); ok {
			return string(v.Decision), true
		}
		return "", false
	}),
	safeField("flowlog_direction", "string", func(c *flows.Conn) (string, bool) {
		if v, ok := logView(c); ok {
			return string(v.Direction), true
		}
		return "", false
	}),
	numField("flowlog_orig_pkts", "count", logCounter(func(v *flows.FlowLogView) uint64 { return v.OrigPkts })),
	numField("flowlog_orig_bytes", "count", logCounter(func(v *flows.FlowLogView) uint64 { return v.OrigBytes })),
	numField("flowlog_resp_pkts", "count", logCounter(func(v *flows.FlowLogView) uint64 { return v.RespPkts })),
	numField("flowlog_resp_bytes", "count", logCounter(func(v *flows.FlowLogView) uint64 { return v.RespBytes })),
	textField("flowlog_encryption", func(c *flows.Conn) (string, bool) {
		if v, ok := logView(c); ok {
			return v.Encryption, v.Encryption != ""
		}
		return "", false
	}),
	numField("flowlog_attempts", "count", func(c *flows.Conn) (uint64, bool) {
		if v, ok := logView(c); ok {
			return uint64(v.Attempts), v.Attempts > 0
		}
		return 0, false
	}),
	listField("flowlog_sources", func(c *flows.Conn) []string {
		if v, ok := logView(c); ok {
			return v.Sources
		}
		return nil
	}),
	listField("flowlog_files", func(c *flows.Conn) []string {
		if v, ok := logView(c); ok {
			return v.Files
		}
		return nil
	}),
	analyticsText("vmconnection_process", func(v *flows.AnalyticsView) string { return v.Process }),
	analyticsText("vmconnection_computer", func(v *flows.AnalyticsView) string { return v.Computer }),
	analyticsText("vmconnection_direction", func(v *flows.AnalyticsView) string { return string(v.Direction) }),
	analyticsText("ta_flow_type", func(v *flows.AnalyticsView) string { return v.FlowType }),
	analyticsText("ta_country", func(v *flows.AnalyticsView) string { return v.Country }),
	listField("analytics_files", func(c *flows.Conn) []string {
		if c.Analytics == nil {
			return nil
		}
		return c.Analytics.Files
	}),
	appText("ssl.server_name", func(f *appid.Facts) string { return when(f.TLS != nil, func() string { return f.TLS.ServerName }) }),
	appText("ssl.version", func(f *appid.Facts) string { return when(f.TLS != nil, func() string { return f.TLS.Version }) }),
	appList("ssl.client_alpn", func(f *appid.Facts) []string { return when(f.TLS != nil, func() []string { return f.TLS.ALPN }) }),
	appText("ssl.next_protocol", func(f *appid.Facts) string { return when(f.TLS != nil, func() string { return f.TLS.NextProto }) }),
	appText("ssl.ja4", func(f *appid.Facts) string { return when(f.TLS != nil, func() string { return f.TLS.JA4 }) }),
	appText("http.method", func(f *appid.Facts) string { return when(f.HTTP != nil, func() string { return f.HTTP.Method }) }),
	appText("http.host", func(f *appid.Facts) string { return when(f.HTTP != nil, func() string { return f.HTTP.Host }) }),
	appText("http.uri", func(f *appid.Facts) string { return when(f.HTTP != nil, func() string { return f.HTTP.URI }) }),
	appText("http.user_agent", func(f *appid.Facts) string { return when(f.HTTP != nil, func() string { return f.HTTP.UserAgent }) }),
	numField("http.status_code", "count", func(c *flows.Conn) (uint64, bool) {
		if c.App != nil && c.App.HTTP != nil && c.App.HTTP.Status > 0 {
			return uint64(c.App.HTTP.Status), true
		}
		return 0, false
	}),
	boolField("http.winrm", func(c *flows.Conn) (bool, bool) {
		return true, c.App != nil && c.App.HTTP != nil && c.App.HTTP.WinRM
	}),
	appText("ssh.client", func(f *appid.Facts) string { return when(f.SSH != nil, func() string { return f.SSH.Client }) }),
	appText("ssh.server", func(f *appid.Facts) string { return when(f.SSH != nil, func() string { return f.SSH.Server }) }),
	appText("rdp.cookie", func(f *appid.Facts) string { return when(f.RDP != nil, func() string { return f.RDP.Cookie }) }),
	appText("rdp.requested_protocols", func(f *appid.Facts) string { return when(f.RDP != nil, func() string { return f.RDP.Requested }) }),
	appText("rdp.security_protocol", func(f *appid.Facts) string { return when(f.RDP != nil, func() string { return f.RDP.Security }) }),
	appText("smb.dialect", func(f *appid.Facts) string { return when(f.SMB != nil, func() string { return f.SMB.Dialect }) }),
	appList("smb.trees", func(f *appid.Facts) []string { return when(f.SMB != nil, func() []string { return f.SMB.Trees }) }),
	appList("smb.pipes", func(f *appid.Facts) []string { return when(f.SMB != nil, func() []string { return f.SMB.Pipes }) }),
	appList("smb.files", func(f *appid.Facts) []string { return when(f.SMB != nil, func() []string { return f.SMB.Files }) }),
	boolField("smb.encrypted", func(c *flows.Conn) (bool, bool) {
		return true, c.App != nil && c.App.SMB != nil && c.App.SMB.Encrypted
	}),
	appList("smb.ms17_010", func(f *appid.Facts) []string { return when(f.SMB != nil, func() []string { return f.SMB.MS17010 }) }),
	appCount("smb.logon_failures", func(f *appid.Facts) int { return when(f.SMB != nil, func() int { return f.SMB.LogonFailures }) }),
	appList("dce_rpc.endpoints", func(f *appid.Facts) []string {
		return when(f.DCERPC != nil, func() []string { return f.DCERPC.Interfaces })
	}),
	appList("dce_rpc.operations", func(f *appid.Facts) []string {
		return when(f.DCERPC != nil, func() []string { return f.DCERPC.Operations })
	}),
	appCount("dce_rpc.endpoint_entries", func(f *appid.Facts) int { return when(f.DCERPC != nil, func() int { return f.DCERPC.EndpointEntries }) }),
	appText("krb.request_type", func(f *appid.Facts) string {
		return when(f.Kerberos != nil, func() string { return f.Kerberos.RequestType })
	}),
	appText("krb.client", func(f *appid.Facts) string {
		return when(f.Kerberos != nil, func() string { return f.Kerberos.Client })
	}),
	appText("krb.service", func(f *appid.Facts) string {
		return when(f.Kerberos != nil, func() string { return f.Kerberos.Service })
	}),
	appCount("krb.error_code", func(f *appid.Facts) int { return when(f.Kerberos != nil, func() int { return f.Kerberos.Error }) }),
	boolField("krb.success", func(c *flows.Conn) (bool, bool) {
		return true, c.App != nil && c.App.Kerberos != nil && c.App.Kerberos.Success
	}),
	appText("ldap.bind_name", func(f *appid.Facts) string { return when(f.LDAP != nil, func() string { return f.LDAP.BindName }) }),
	appText("ldap.bind_type", func(f *appid.Facts) string { return when(f.LDAP != nil, func() string { return f.LDAP.BindType }) }),
	appCount("ldap.bind_failures", func(f *appid.Facts) int { return when(f.LDAP != nil, func() int { return f.LDAP.BindFailures }) }),
	appList("ldap.search_bases", func(f *appid.Facts) []string {
		return when(f.LDAP != nil, func() []string { return f.LDAP.Searches })
	}),
	appText("ntlm.username", func(f *appid.Facts) string { return when(f.NTLM != nil, func() string { return f.NTLM.Username }) }),
	appText("ntlm.domainname", func(f *appid.Facts) string { return when(f.NTLM != nil, func() string { return f.NTLM.Domain }) }),
	appText("ntlm.hostname", func(f *appid.Facts) string { return when(f.NTLM != nil, func() string { return f.NTLM.Hostname }) }),
	appList("dns.queries", func(f *appid.Facts) []string { return when(f.DNS != nil, func() []string { return f.DNS.Queries }) }),
	appCount("dns.queries_total", func(f *appid.Facts) int {
		// Set when there were more than dns.queries lists.
		return when(f.DNS != nil && f.DNS.QueriesTotal > len(f.DNS.Queries), func() int { return f.DNS.QueriesTotal })
	}),
	answersField("dns.answers", func(c *flows.Conn) appid.DNSAnswers {
		if c.App == nil || c.App.DNS == nil {
			return appid.DNSAnswers{}
		}
		return c.App.DNS.Answers
	}),
	appText("banner.server", func(f *appid.Facts) string { return when(f.Banner != nil, func() string { return f.Banner.Server }) }),
	appCount("banner.login_failures", func(f *appid.Facts) int { return when(f.Banner != nil, func() int { return f.Banner.LoginFailures }) }),
	appCount("banner.logins", func(f *appid.Facts) int { return when(f.Banner != nil, func() int { return f.Banner.Logins }) }),
	appCount("http.auth_failures", func(f *appid.Facts) int { return when(f.HTTP != nil, func() int { return f.HTTP.AuthFailures }) }),
	appCount("http.logins", func(f *appid.Facts) int { return when(f.HTTP != nil, func() int { return f.HTTP.Logins }) }),
	appCount("rfb.auth_failures", func(f *appid.Facts) int { return when(f.RFB != nil, func() int { return f.RFB.AuthFailures }) }),
	appCount("db.login_failures", func(f *appid.Facts) int { return when(f.DB != nil, func() int { return f.DB.LoginFailures }) }),
	appText("pe.sender", func(f *appid.Facts) string { return when(f.PE != nil, func() string { return f.PE.Sender }) }),
	appText("pe.machine", func(f *appid.Facts) string { return when(f.PE != nil, func() string { return f.PE.Machine }) }),
}

// appText makes the getter of a text fact from the payload.
func appText(name string, get func(*appid.Facts) string) connField {
	return textField(name, func(c *flows.Conn) (string, bool) {
		if c.App == nil {
			return "", false
		}
		v := get(c.App)
		return v, v != ""
	})
}

// analyticsText makes the getter of what a Log Analytics export said.
func analyticsText(name string, get func(*flows.AnalyticsView) string) connField {
	return textField(name, func(c *flows.Conn) (string, bool) {
		if c.Analytics == nil {
			return "", false
		}
		v := get(c.Analytics)
		return v, v != ""
	})
}

// appList makes the getter of a list fact from the payload.
func appList(name string, get func(*appid.Facts) []string) connField {
	return listField(name, func(c *flows.Conn) []string {
		if c.App == nil {
			return nil
		}
		return get(c.App)
	})
}

// appCount makes the getter of a count from the payload, unset when 0.
func appCount(name string, get func(*appid.Facts) int) connField {
	return numField(name, "count", func(c *flows.Conn) (uint64, bool) {
		if c.App == nil {
			return 0, false
		}
		n := get(c.App)
		return uint64(n), n > 0
	})
}

// when returns get's value if ok, else the zero value: a fact of a
// protocol the payload may not have shown.
func when[T any](ok bool, get func() T) T {
	if !ok {
		var zero T
		return zero
	}
	return get()
}

// logCounter makes the getter of a logged counter, set when the logs
// counted the connection.
func logCounter(get func(*flows.FlowLogView) uint64) func(*flows.Conn) (uint64, bool) {
	return func(c *flows.Conn) (uint64, bool) {
		if v, ok := logView(c); ok && v.Counted {
			return get(v), true
		}
		return 0, false
	}
}

func init() {
	for i := range connFields {
		f := &connFields[i]
		switch {
		case strings.HasPrefix(f.name, "flowlog_"):
			f.group = groupFlowLog
		case strings.HasPrefix(f.name, "vmconnection_"), strings.HasPrefix(f.name, "ta_"), f.name == "analytics_files":
			f.group = groupAnalytics
		case strings.HasPrefix(f.name, "id."):
			f.group = groupCore
		case strings.Contains(f.name, "."):
			prefix, _, _ := strings.Cut(f.name, ".")
			if f.group = appGroups[prefix]; f.group == 0 {
				f.group = groupApp
			}
		default:
			f.group = groupCore
		}
	}
}

// connJSONKeys holds `"name":` for each field, in connFields order.
var connJSONKeys = func() []string {
	keys := make([]string, len(connFields))
	for i, f := range connFields {
		keys[i] = string(appendJSONString(nil, f.name)) + ":"
	}
	return keys
}()

// appendTime writes Unix nanoseconds as seconds with six decimals, as Zeek
// writes times and intervals.
func appendTime(b []byte, ns int64) []byte {
	u := uint64(ns)
	if ns < 0 {
		b = append(b, '-')
		u = -u
	}
	us := u / 1000
	return timefmt.AppendDigits(append(appendUint(b, us/1e6), '.'), us%1e6, 6)
}

func appendUint(b []byte, v uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// appendAddr appends a's text, as netip.Addr.AppendTo writes it; an IPv4
// or plain IPv6 address's text is written in place from tables of each
// byte's digits, as a flood of DNS answers writes millions of them.
func appendAddr(b []byte, a netip.Addr) []byte {
	if !a.Is4() {
		if !a.Is6() || a.Is4In6() || a.Zone() != "" {
			return a.AppendTo(b)
		}
		return appendAddr6(b, a.As16())
	}
	return appendDotted(slices.Grow(b, 16), a.As4())
}

// appendDotted appends an IPv4 address in dotted decimal to b, which has
// room for 16 bytes more (dottedText).
func appendDotted(b []byte, v [4]byte) []byte {
	n := len(b)
	lo, hi, half, size := dottedText(v)
	binary.LittleEndian.PutUint64(b[n:n+8], lo)
	binary.LittleEndian.PutUint64(b[n+half:n+half+8], hi)
	return b[:n+size]
}

// dottedText returns an IPv4 address in dotted decimal as two numbers at
// a time, each number's digits and dot (dottedDigits) shifted past the
// one before in a register: the first half's eight bytes, to store at the
// text's start, the second's, to store half bytes on, and the text's
// size. Stored as eight bytes each over what is past them, without a
// branch, they leave the last dot and the rest past size. Small enough to
// be inlined in a loop.
func dottedText(v [4]byte) (lo, hi uint64, half, size int) {
	b0, b2 := dottedBits[v[0]], dottedBits[v[2]]
	lo = dottedDigits[v[0]] | dottedDigits[v[1]]<<b0
	hi = dottedDigits[v[2]] | dottedDigits[v[3]]<<b2
	half = int(b0+dottedBits[v[1]]) >> 3
	return lo, hi, half, half + int(b2+dottedBits[v[3]])>>3 - 1
}

// appendSameAddrs appends each of the addresses of a run of DNS answers
// between prefix and suffix; IPv4 addresses, most of a flood's answers,
// with room made for all of them at once and, when prefix and suffix are
// short (a name of up to about 27 bytes), each written as one store of 32 or 8
// bytes over what is past it instead of a copy of its length.
func appendSameAddrs(b []byte, same appid.SameAddrs, prefix []byte, suffix string) []byte {
	if !same.Is4() {
		for i := range same.Len() {
			b = append(appendAddr(append(b, prefix...), same.Addr(i)), suffix...)
		}
		return b
	}
	n := same.Len()
	if len(prefix) > 32 || len(suffix) > 8 {
		b = slices.Grow(b, n*(len(prefix)+16+len(suffix)))
		for i := range n {
			b = append(appendDotted(append(b, prefix...), same.A4(i)), suffix...)
		}
		return b
	}
	var pre [32]byte
	var suf [8]byte
	copy(pre[:], prefix)
	copy(suf[:], suffix)
	// Room for the last store of each part, past the end of the last.
	at := len(b)
	b = slices.Grow(b, n*(len(prefix)+16+len(suffix))+32)
	out := b[:cap(b)]
	for i := range n {
		*(*[32]byte)(out[at:]) = pre
		at += len(prefix)
		lo, hi, half, size := dottedText(same.A4(i))
		binary.LittleEndian.PutUint64(out[at:], lo)
		binary.LittleEndian.PutUint64(out[at+half:], hi)
		at += size
		*(*[8]byte)(out[at:]) = suf
		at += len(suffix)
	}
	return b[:at]
}

// appendAddr6 appends an IPv6 address's text as RFC 5952 and netip write
// it: groups in lower-case hex without leading zeros, the first longest
// run of two or more zero groups written "::". Each group's digits are
// written as four bytes at once, over what is past them (netip's
// appendHex writes them one by one: it took a quarter of the CPU of a
// flood of 64 AAAA answers a response).
func appendAddr6(b []byte, ip [16]byte) []byte {
	var groups [8]uint16
	var zeros uint8 // bit i: group i is zero
	for i := range groups {
		groups[i] = binary.BigEndian.Uint16(ip[2*i:])
		if groups[i] == 0 {
			zeros |= 1 << i
		}
	}
	runStart, runEnd := 8, 8
	for i := 0; i < 8; {
		j := i + bits.TrailingZeros8(^(zeros >> i))
		if j-i >= 2 && j-i > runEnd-runStart {
			runStart, runEnd = i, j
		}
		i = max(j, i+1)
	}
	const longest = len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
	n := len(b)
	b = slices.Grow(b, longest+4)[:n+longest+4]
	out := b[n:]
	at := 0
	for i := 0; i < 8; i++ {
		if i == runStart {
			out[at], out[at+1] = ':', ':'
			at += 2
			if i = runEnd; i == 8 {
				break
			}
		} else if i > 0 {
			out[at] = ':'
			at++
		}
		g := groups[i]
		digits := max(1, (bits.Len16(g)+3)/4)
		hex := uint32(hexPair[g>>8])<<16 | uint32(hexPair[g&0xff])
		binary.BigEndian.PutUint32(out[at:], hex<<(32-8*digits))
		at += digits
	}
	return b[:n+at]
}

// hexPair holds each byte's two lower-case hex digits, the first in the
// high byte.
var hexPair = func() (t [256]uint16) {
	const digits = "0123456789abcdef"
	for i := range t {
		t[i] = uint16(digits[i>>4])<<8 | uint16(digits[i&0xf])
	}
	return t
}()

// dottedDigits holds each byte's decimal digits followed by a dot, in the
// low bytes of a word, and dottedBits their length in bits.
var dottedDigits, dottedBits = func() (digits [256]uint64, bits [256]uint8) {
	for i := range digits {
		d := strconv.Itoa(i) + "."
		var word [8]byte
		copy(word[:], d)
		digits[i], bits[i] = binary.LittleEndian.Uint64(word[:]), uint8(8*len(d))
	}
	return digits, bits
}()

// FieldNames returns the record's field names in order.
func FieldNames() []string {
	names := make([]string, len(connFields))
	for i, f := range connFields {
		names[i] = f.name
	}
	return names
}

// zeekEscape replaces bytes below 0x20, DEL, backslashes, the set
// separator (a comma) and invalid UTF-8 with \xNN escapes, as Zeek does
// in its logs, the C1 and bidi controls too, byte by byte, so that
// evidence cannot move a terminal's cursor, reorder what it shows, or
// break a line-oriented format.
func zeekEscape(s string) string {
	return escapeRunes(s, unsafeRune, zeekSpecial, true)
}

// zeekSpecial is the printable ASCII that zeekEscape escapes.
const zeekSpecial = `\,`
