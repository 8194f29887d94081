package appid

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Directions of a conversation.
const (
	FromOrig = 0
	FromResp = 1
)

// Budgets bound the work and memory per conversation.
const (
	prefixMax    = 16 << 10 // bytes kept per direction until the protocol is known
	streamBudget = 4 << 20  // bytes a framed protocol (SMB, DCE-RPC, LDAP, Kerberos) is followed per direction
	maxListItems = 16       // entries kept in each list of facts
)

// Facts is what the payload told. Unset fields were not seen.
type Facts struct {
	TLS      *TLSFacts      `json:"ssl,omitempty"`
	HTTP     *HTTPFacts     `json:"http,omitempty"`
	SSH      *SSHFacts      `json:"ssh,omitempty"`
	RDP      *RDPFacts      `json:"rdp,omitempty"`
	SMB      *SMBFacts      `json:"smb,omitempty"`
	DCERPC   *DCERPCFacts   `json:"dce_rpc,omitempty"`
	Kerberos *KerberosFacts `json:"krb,omitempty"`
	LDAP     *LDAPFacts     `json:"ldap,omitempty"`
	NTLM     *NTLMFacts     `json:"ntlm,omitempty"`
	DNS      *DNSFacts      `json:"dns,omitempty"`
	Banner   *BannerFacts   `json:"banner,omitempty"` // SMTP and FTP
	PE       *PEFacts       `json:"pe,omitempty"`     // an executable at the start of a stream no protocol was found in
	RFB      *RFBFacts      `json:"rfb,omitempty"`
	DB       *DBFacts       `json:"db,omitempty"` // MySQL, PostgreSQL
}

// Inspector identifies one conversation. The zero value is not usable;
// use NewInspector, or Reset it.
type Inspector struct {
	facts    Facts
	services []string
	// prefix holds each direction's first bytes (detectKeep) while the
	// protocol is unknown; nil until a first segment leaves it unknown.
	prefix   *[2][]byte
	handler  handler // the identified protocol's parser, nil while unknown
	answers  answerBuilder
	more     moreQueries
	expected []Expected // connections announced for data, until taken
	quic     *quicState // a QUIC conversation's Initial packets
	resumed  *Session   // the session an earlier conversation left: see Resume

	// The counters and flags last, together: a live conversation's
	// Inspector is allocated with it, and padding would cost every one of
	// them. The counters stop early: fed at 2*streamBudget bytes or
	// maxDNSDatagrams datagrams, unidentified at detectLimit bytes or
	// maxDatagrams datagrams, kept at the lists' bounds.

	fed [2]int32 // the stream bytes, or the datagrams, of each direction read
	// unidentified counts the payload bytes looked at before any protocol
	// was found (datagrams no protocol claimed).
	unidentified int32
	kept         int32 // bytes of the list items kept (keep): see Kept

	udp        bool
	lost       [2]bool // a gap broke the stream
	done       bool
	cut        bool // the snap length cut a datagram
	replyFirst bool // the first datagram was a reply: see ReplyFirst
	rdpeudpSYN bool // the originator's RDP-UDP SYN, awaiting the SYN-ACK
}

// Kept returns about how many bytes the facts kept so far take that grow
// with a conversation's messages: DNS queries and answers, and the other
// lists of names (LDAP searches, SMB trees, pipes and files, RPC
// interfaces and operations); and the bytes of the stream held to be read
// when more come (an HTTP request waiting for its answer, a TLS record cut
// in two, the CRYPTO frames of a QUIC client hello not yet whole, the
// first bytes of a protocol not known yet). Each is bounded,
// but a table of conversations full of them is bounded only by what its
// owner does with this count (flows.Config.MaxLive). The answers count
// with the room made for them: a message may announce 64 and hold two.
func (in *Inspector) Kept() int {
	n := int(in.kept) + cap(in.answers.buf) + len(in.more.buf) + 8*len(in.more.hashes)
	if in.prefix != nil {
		n += heldBytes(in.prefix[0], in.prefix[1])
	}
	if in.handler != nil {
		n += in.handler.held()
	}
	if in.quic != nil {
		n += in.quic.held()
	}
	return n
}

// keep appends s to list as appendLimited does, counting its bytes among
// those Kept reports.
func (in *Inspector) keep(list []string, s string) []string {
	n := len(list)
	if list = appendLimited(list, s); len(list) > n {
		in.kept += int32(len(s))
	}
	return list
}

// ReplyFirst reports whether a UDP conversation's first datagram, from
// its originator, was a reply (a DNS response, an NTP server's message):
// the originator is the server.
func (in *Inspector) ReplyFirst() bool { return in.replyFirst }

// handler follows an identified protocol's stream.
type handler interface {
	// feed takes the next in-order bytes of one direction and reports
	// whether it wants more.
	feed(in *Inspector, dir int, data []byte) bool
	// held returns the bytes of the stream the handler holds, to be
	// read when more come.
	held() int
}

// heldBytes is the room byte slices take.
func heldBytes(bufs ...[]byte) int {
	n := 0
	for _, b := range bufs {
		n += cap(b)
	}
	return n
}

// NewInspector returns an Inspector for a TCP (udp false) or UDP
// conversation.
func NewInspector(udp bool) *Inspector { return &Inspector{udp: udp} }

// Reset makes the Inspector ready for a new conversation, keeping its
// buffers' memory.
func (in *Inspector) Reset(udp bool) {
	services, answers := in.services[:0], in.answers
	if cap(services) == 1 {
		services = nil // perhaps shared: see oneService
	}
	answers.reset()
	more := moreQueries{buf: in.more.buf[:0], hashes: in.more.hashes[:0]}
	*in = Inspector{udp: udp, services: services, answers: answers, more: more}
}

// Done reports whether the Inspector wants no more payload.
func (in *Inspector) Done() bool { return in.done }

// Services returns the identified protocols in Zeek's service names, in
// the order they were recognised, comma-separated.
// First returns the first service recognised, or "".
func (in *Inspector) First() string {
	if len(in.services) == 0 {
		return ""
	}
	return in.services[0]
}

func (in *Inspector) Services() string {
	if len(in.services) == 1 {
		return in.services[0]
	}
	return strings.Join(in.services, ",")
}

// Facts returns what was read, or nil if nothing was, as FactsTo does.
func (in *Inspector) Facts() *Facts {
	if !in.HasFacts() {
		return nil
	}
	f := new(Facts)
	in.FactsTo(f)
	return f
}

// HasFacts reports whether the payload told anything.
func (in *Inspector) HasFacts() bool { return in.facts != (Facts{}) }

// FactsTo puts into f what Facts returns, when it is not nil: f may be
// part of a larger allocation. The DNS facts and answers go with it, not
// copies: call it once, when the conversation ends.
func (in *Inspector) FactsTo(f *Facts) {
	*f = in.facts
	if f.DNS != nil && (in.answers.n > 0 || len(in.more.buf) > 0) {
		f.DNS.Answers, f.DNS.More = in.answers.take(), in.more.list()
	}
}

func (in *Inspector) addService(s string) {
	if cap(in.services) == 0 {
		if one, ok := oneService[s]; ok {
			in.services = one
			return
		}
	}
	if !slices.Contains(in.services, s) {
		in.services = append(in.services, s)
	}
}

// oneService holds, for each service name, a slice of that name alone,
// which Inspectors share while it is their only service: most
// conversations have one, and a flood's millions of them are spared an
// allocation each. Its capacity is 1, so that adding a second service
// copies it (Reset drops it).
var oneService = func() map[string][]string {
	names := []string{"dce_rpc", "dhcp", "dns", "ftp", "http", "krb", "krb_tcp", "ldap_tcp", "ldap_udp", "ntlm", "ntp", "quic", "radius", "rdp", "rdpeudp", "rfb", "sip", "smb", "smtp", "snmp", "ssh", "ssl", "syslog", "websocket", "winrm"}
	for _, sig := range tcpSignatures {
		names = append(names, sig.service)
	}
	m := make(map[string][]string, len(names))
	for _, name := range names {
		m[name] = []string{name}[:1:1]
	}
	return m
}()

// minUnidentified is the payload, in bytes, that must be looked at before
// a conversation is said to carry no protocol netfx knows.
const minUnidentified = 16

// Unidentified returns the payload bytes looked at, all captured, in which
// no protocol was found: 0 for a conversation with a service, or whose
// payload the snap length cut or a gap lost.
func (in *Inspector) Unidentified() int {
	if len(in.services) == 0 && in.unidentified >= minUnidentified && !in.cut && !in.lost[0] && !in.lost[1] {
		return int(in.unidentified)
	}
	return 0
}

// Cut tells the Inspector that the snap length cut a datagram: what it
// saw of the payload is not all of it.
func (in *Inspector) Cut() { in.cut = true }

// Gap tells the Inspector that bytes of one direction were not captured.
// Framed protocols cannot resynchronise, so that direction is abandoned.
func (in *Inspector) Gap(dir int) {
	in.lost[dir] = true
	if in.lost[0] && in.lost[1] {
		in.done = true
	}
}

// Stream takes the next in-order TCP payload bytes of one direction.
func (in *Inspector) Stream(dir int, data []byte) {
	if in.done || in.lost[dir] || len(data) == 0 {
		return
	}
	in.fed[dir] += int32(len(data))
	if in.handler != nil {
		if !in.handler.feed(in, dir, data) || in.fed[0]+in.fed[1] > 2*streamBudget {
			in.done = true
		}
		return
	}
	// Detect on the new bytes directly when nothing is buffered, which is
	// the common case: a protocol shows itself in its first segment.
	p := data
	if in.prefix != nil && len(in.prefix[dir]) > 0 {
		in.prefix[dir] = append(in.prefix[dir], data[:min(len(data), detectKeep-len(in.prefix[dir]))]...)
		p = in.prefix[dir]
	}
	if in.detectTCP(dir, p) {
		in.resume()
		in.unidentified = 0
		// Hand over what the other direction buffered, then this one's.
		if in.prefix != nil {
			if other := in.prefix[1-dir]; len(other) > 0 && !in.handler.feed(in, 1-dir, other) {
				in.done = true
			}
			in.prefix = nil
		}
		if !in.done && in.handler != nil && !in.handler.feed(in, dir, p) {
			in.done = true
		}
		return
	}
	in.unidentified += int32(len(data))
	if in.facts.PE == nil {
		if machine := peMachine(p); machine != "" {
			in.facts.PE = &PEFacts{Sender: directionNames[dir], Machine: machine}
		}
	}
	if in.fed[0]+in.fed[1] >= detectLimit {
		in.done = true // an unknown protocol: stop looking
		in.prefix = nil
		return
	}
	if in.prefix == nil {
		in.prefix = new([2][]byte)
	}
	if len(in.prefix[dir]) == 0 {
		in.prefix[dir] = append(make([]byte, 0, detectKeep), data[:min(len(data), detectKeep)]...)
	}
}

// detectKeep is how many bytes of a direction are kept while its protocol
// is unknown: enough for any signature that a first segment cut short.
const detectKeep = 1024

// detectLimit is how many bytes of a conversation are looked at before its
// protocol is declared unknown: every protocol netfx identifies shows
// itself in its first messages.
const detectLimit = 4 << 10

// Datagram takes one UDP payload of one direction.
func (in *Inspector) Datagram(dir int, data []byte) {
	if in.done || len(data) == 0 || !in.countDatagram(dir) {
		return
	}
	if in.quic != nil {
		in.quicDatagram(dir, data)
		return
	}
	if in.rdpeudpSYN && dir == FromResp && isRDPEUDPSynAck(data) {
		in.addService("rdpeudp")
		in.done = true
		return
	}
	kind := datagramKind(data)
	if in.fed[0]+in.fed[1] == 1 && dir == FromOrig {
		// The first datagram, the originator's, is a reply: a DNS response
		// or an NTP server's message. Zeek's analyzers flip the roles.
		in.replyFirst = kind == "dns" && data[2]&0x80 != 0 || kind == "ntp" && data[0]&7 == 4
	}
	switch kind {
	case "dns":
		in.addService("dns")
		in.dns(data, false)
	case "krb":
		in.addService("krb")
		in.kerberos(data)
	case "quic":
		in.addService("quic")
		in.quic = &quicState{}
		in.quicDatagram(dir, data)
	case "rdpeudp":
		// Zeek's RDPEUDP analyzer confirms the protocol, and names the
		// service, at the SYN-ACK that answers the originator's SYN.
		in.rdpeudpSYN = in.rdpeudpSYN || dir == FromOrig
	case "ldap_udp":
		in.ldap(data)
	case "ntp", "dhcp", "snmp", "sip", "syslog", "radius":
		in.addService(kind)
		in.done = true
	default:
		in.unidentified += int32(len(data))
	}
}

// SkipDatagram counts a UDP payload of n bytes of one direction that
// DatagramIdentifies said nothing about, without its bytes: the
// Inspector ends as Datagram would have left it.
func (in *Inspector) SkipDatagram(dir, n int) {
	if !in.done && n > 0 && in.countDatagram(dir) {
		in.unidentified += int32(n)
	}
}

// countDatagram counts a datagram and reports whether it is to be read:
// the first maxDatagrams, or maxDNSDatagrams of a DNS conversation.
func (in *Inspector) countDatagram(dir int) bool {
	in.fed[dir]++
	limit := int32(maxDatagrams)
	if len(in.services) == 1 && in.services[0] == "dns" {
		limit = maxDNSDatagrams
	}
	if in.fed[0]+in.fed[1] > limit {
		in.done = true
		return false
	}
	return true
}

// DatagramIdentifies reports whether a UDP payload shows a protocol that
// Datagram reads. A payload that does not only counts toward the
// datagrams read (see SkipDatagram).
func DatagramIdentifies(data []byte) bool { return datagramKind(data) != "" }

// datagramKind returns the service a UDP payload shows, or "".
func datagramKind(data []byte) string {
	switch {
	case looksDNS(data):
		return "dns"
	case looksKerberosUDP(data):
		return "krb"
	case looksQUIC(data):
		return "quic"
	case looksNTP(data):
		return "ntp"
	case looksDHCP(data):
		return "dhcp"
	case looksSNMP(data):
		return "snmp"
	case looksSIP(data):
		return "sip"
	case looksSyslog(data):
		return "syslog"
	case looksRADIUS(data):
		return "radius"
	case isRDPEUDPSyn(data):
		return "rdpeudp"
	case looksLDAPDatagram(data):
		return "ldap_udp"
	}
	return ""
}

// maxDatagrams is how many datagrams of a UDP conversation are read;
// maxDNSDatagrams of one that is DNS, whose later queries a tunnel
// detector needs (the rest of the facts are bounded on their own).
const (
	maxDatagrams    = 16
	maxDNSDatagrams = 4096
)

// detectTCP tries each protocol's signature on the first bytes p of a
// direction and sets the handler; it reports whether one matched.
func (in *Inspector) detectTCP(dir int, p []byte) bool {
	switch {
	case looksTLS(p):
		in.handler = &tlsHandler{}
	case looksHTTPRequest(p) || (dir == FromResp && looksHTTPResponse(p)):
		in.handler = &httpHandler{}
	case len(p) >= 4 && string(p[:4]) == "SSH-":
		in.handler = &sshHandler{}
	case looksRDP(p):
		in.handler = &rdpHandler{}
	case looksSMB(p):
		in.handler = &smbHandler{}
	case looksDCERPC(p):
		in.handler = &rpcHandler{}
	case looksKerberosTCP(p):
		in.handler = &framedHandler{kind: "krb"}
	case looksLDAP(p):
		in.handler = &framedHandler{kind: "ldap"}
	case looksDNSTCP(p):
		in.handler = &framedHandler{kind: "dns"}
	case looksRFB(p):
		in.handler = &rfbHandler{}
	case dir == FromResp && looksBanner(p):
		in.handler = &bannerHandler{}
	default:
		h := detectSignature(dir, p)
		if h == nil {
			return false
		}
		in.handler = h
	}
	return true
}

// appendLimited appends s to list unless it is present or the list is full.
func appendLimited(list []string, s string) []string {
	if s == "" || len(list) >= maxListItems || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// printable returns b as text with control characters dropped, invalid
// UTF-8 replaced and its length bounded to max bytes: facts come from
// packets and end up on terminals.
func printable(b []byte, max int) string {
	var sb strings.Builder
	for len(b) > 0 && sb.Len() < max {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r == utf8.RuneError && size == 1:
			sb.WriteByte('?')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// Release drops the buffers of an Inspector that is done, keeping what it
// found.
func (in *Inspector) Release() {
	in.prefix = nil
	in.handler = nil
	in.done = true
}
