package appid

import (
	"bytes"
	"encoding/binary"
)

// More services Zeek names, told apart by their first bytes as Zeek's
// dynamic protocol detection signatures do (scripts/base/protocols/*/
// dpd.sig): most need both sides to match, the client's first message and
// the server's first reply, so one side that merely looks like a protocol
// confirms nothing. They give the service and no facts.

// signature is a protocol as its two sides begin; a nil side is not
// needed.
type signature struct {
	service    string
	orig, resp func(p []byte) bool
}

var tcpSignatures = []signature{
	{"pop3", pop3Client, func(p []byte) bool { return bytes.HasPrefix(p, []byte("+OK")) }},
	{"imap", imapClient, func(p []byte) bool { return bytes.HasPrefix(p, []byte("* OK")) }},
	{"irc", ircClient, func(p []byte) bool { return len(p) > 1 && p[0] == ':' || hasPrefixFold(p, "NOTICE ") }},
	{"xmpp", xmppStream, xmppStream},
	{"mysql", nil, mysqlGreeting},
	{"postgresql", postgresStartup, func(p []byte) bool { return len(p) > 0 && bytes.IndexByte([]byte("RESN"), p[0]) >= 0 }},
	{"mqtt", mqttConnect, func(p []byte) bool { return len(p) >= 4 && p[0] == 0x20 && p[1] == 0x02 }},
	{"modbus", modbusFrame, modbusFrame},
	{"dnp3", dnp3Frame, dnp3Frame},
}

// sigHandler waits for both sides of a signature that one side matched.
type sigHandler struct {
	sig  signature
	seen [2]bool
}

// detectSignature returns the handler of the signature p, the first bytes
// of one side, matches; nil when none does.
func detectSignature(dir int, p []byte) *sigHandler {
	for _, s := range tcpSignatures {
		match := s.orig
		if dir == FromResp {
			match = s.resp
		}
		if match != nil && match(p) {
			return &sigHandler{sig: s}
		}
	}
	return nil
}

func (h *sigHandler) held() int { return 0 }

func (h *sigHandler) feed(in *Inspector, dir int, data []byte) bool {
	match := h.sig.orig
	if dir == FromResp {
		match = h.sig.resp
	}
	if !h.seen[dir] {
		h.seen[dir] = match == nil || match(data)
		if !h.seen[dir] {
			return false // the other side is not the protocol
		}
	}
	if (h.seen[0] || h.sig.orig == nil) && (h.seen[1] || h.sig.resp == nil) {
		in.addService(h.sig.service)
		switch h.sig.service {
		case "mysql", "postgresql": // read on to the answer to the login
			db := &dbHandler{postgres: h.sig.service == "postgresql"}
			in.handler = db
			return dir == FromOrig || db.feed(in, dir, data)
		case "imap", "pop3", "xmpp": // read on for a STARTTLS
			st := &startTLSHandler{}
			in.handler = st
			return st.feed(in, dir, data)
		}
		return false
	}
	return true
}

// DBFacts is what a database login showed.
type DBFacts struct {
	// LoginFailures counts logins the server refused for the password or
	// the user: MySQL error 1045 (access denied), PostgreSQL SQLSTATE
	// 28P01 (invalid password) and 28000 (invalid authorization).
	LoginFailures int `json:"login_failures,omitempty"`
}

// dbHandler reads the server's first messages of a MySQL or PostgreSQL
// conversation, for the answer to the login.
type dbHandler struct {
	postgres bool
	buf      []byte
}

// dbHandshake bounds the server bytes read.
const dbHandshake = 4 << 10

func (h *dbHandler) held() int { return cap(h.buf) }

func (h *dbHandler) feed(in *Inspector, dir int, data []byte) bool {
	if dir != FromResp {
		return true
	}
	h.buf = append(h.buf, data[:min(len(data), dbHandshake-len(h.buf))]...)
	failed, done := 0, false
	if h.postgres {
		failed, done = postgresLoginFailed(h.buf)
	} else {
		failed, done = mysqlLoginFailed(h.buf)
	}
	if failed > 0 {
		in.facts.DB = &DBFacts{LoginFailures: failed}
	}
	return !done && len(h.buf) < dbHandshake
}

// mysqlLoginFailed walks MySQL packets (a 3-byte length, a sequence
// number): after the greeting, an ERR packet (0xff) with code 1045 is a
// refused login; an OK (0x00) ends the login.
func mysqlLoginFailed(b []byte) (failed int, done bool) {
	for first := true; len(b) >= 4; first = false {
		n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
		if len(b) < 4+n {
			return failed, false
		}
		p := b[4 : 4+n]
		switch {
		case first:
		case len(p) >= 3 && p[0] == 0xff && binary.LittleEndian.Uint16(p[1:]) == 1045:
			failed++
			return failed, true
		case len(p) >= 1 && (p[0] == 0x00 || p[0] == 0xff):
			return failed, true
		}
		b = b[4+n:]
	}
	return failed, false
}

// postgresLoginFailed walks PostgreSQL backend messages (a type byte, a
// 4-byte length): an ErrorResponse whose SQLSTATE is 28P01 or 28000 is a
// refused login; AuthenticationOk or ReadyForQuery end the login. The
// one-byte answer to an SSL request comes first: 'S' means TLS follows.
func postgresLoginFailed(b []byte) (failed int, done bool) {
	if len(b) > 0 && (b[0] == 'N' || b[0] == 'S') && (len(b) == 1 || b[1] != 0) {
		if b[0] == 'S' {
			return 0, true
		}
		b = b[1:]
	}
	for len(b) >= 5 {
		n := int(binary.BigEndian.Uint32(b[1:]))
		if n < 4 || len(b) < 1+n {
			return failed, n < 4
		}
		body := b[5 : 1+n]
		switch b[0] {
		case 'E':
			for f := range bytes.SplitSeq(body, []byte{0}) {
				if len(f) > 1 && f[0] == 'C' && (string(f[1:]) == "28P01" || string(f[1:]) == "28000") {
					return 1, true
				}
			}
			return 0, true
		case 'R':
			if len(body) >= 4 && binary.BigEndian.Uint32(body) == 0 { // AuthenticationOk
				return 0, true
			}
		case 'Z':
			return 0, true
		}
		b = b[1+n:]
	}
	return failed, false
}

func hasPrefixFold(p []byte, s string) bool {
	return len(p) >= len(s) && bytes.EqualFold(p[:len(s)], []byte(s))
}

func anyPrefixFold(p []byte, words ...string) bool {
	for _, w := range words {
		if hasPrefixFold(p, w) {
			return true
		}
	}
	return false
}

func pop3Client(p []byte) bool {
	return anyPrefixFold(p, "USER ", "PASS ", "APOP ", "AUTH", "STAT", "LIST", "RETR ", "DELE ", "RSET", "QUIT", "TOP ", "CAPA", "UIDL", "STLS", "NOOP")
}

// imapClient is a tagged command: a tag, a space, a command word.
func imapClient(p []byte) bool {
	sp := bytes.IndexByte(p, ' ')
	if sp < 1 || sp > 32 {
		return false
	}
	return anyPrefixFold(p[sp+1:], "CAPABILITY", "LOGIN ", "AUTHENTICATE ", "STARTTLS", "NOOP", "LOGOUT", "ID ")
}

func ircClient(p []byte) bool { return anyPrefixFold(p, "NICK ", "USER ", "PASS ", "CAP LS") }

func xmppStream(p []byte) bool {
	head := p[:min(len(p), 512)]
	return bytes.HasPrefix(head, []byte("<?xml")) && bytes.Contains(head, []byte("<stream:stream")) || bytes.HasPrefix(head, []byte("<stream:stream"))
}

// mysqlGreeting is the server's handshake: a packet with sequence 0 and
// protocol version 10, then a printable server version ending in NUL.
func mysqlGreeting(p []byte) bool {
	if len(p) < 8 || p[3] != 0 || p[4] != 10 {
		return false
	}
	n := int(p[0]) | int(p[1])<<8 | int(p[2])<<16
	if n < 8 || n > 1<<16 {
		return false
	}
	end := bytes.IndexByte(p[5:], 0)
	if end < 1 || end > 64 {
		return false
	}
	for _, c := range p[5 : 5+end] {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// postgresStartup is a startup message (protocol 3.0) or an SSL or GSS
// encryption request.
func postgresStartup(p []byte) bool {
	if len(p) < 8 {
		return false
	}
	n, code := binary.BigEndian.Uint32(p[0:4]), binary.BigEndian.Uint32(p[4:8])
	switch code {
	case 196608: // 3.0
		return n >= 8 && n < 10000
	case 80877103, 80877104: // SSLRequest, GSSENCRequest
		return n == 8
	}
	return false
}

// mqttConnect is a CONNECT packet naming MQTT (3.1.1, 5) or MQIsdp (3.1).
func mqttConnect(p []byte) bool {
	if len(p) < 10 || p[0] != 0x10 {
		return false
	}
	i := 1
	for ; i < 5 && i < len(p) && p[i]&0x80 != 0; i++ { // the remaining length
	}
	i++
	return bytes.HasPrefix(p[min(i, len(p)):], []byte("\x00\x04MQTT")) || bytes.HasPrefix(p[min(i, len(p)):], []byte("\x00\x06MQIsdp"))
}

// modbusFrame is a Modbus/TCP frame: protocol identifier 0, a length that
// covers the rest, a function code.
func modbusFrame(p []byte) bool {
	if len(p) < 8 || p[2] != 0 || p[3] != 0 {
		return false
	}
	n := int(binary.BigEndian.Uint16(p[4:6]))
	return n >= 2 && n <= 254 && n == len(p)-6 && p[7] != 0 && p[7]&0x7f <= 0x2b
}

// dnp3Frame is a DNP3 link-layer frame: start bytes 0x05 0x64, a length
// of at least 5.
func dnp3Frame(p []byte) bool { return len(p) >= 10 && p[0] == 0x05 && p[1] == 0x64 && p[2] >= 5 }

// UDP services Zeek names that netfx tells by one datagram: those with
// enough structure to check.

// looksDHCP is a BOOTP message with the DHCP magic cookie.
func looksDHCP(p []byte) bool {
	return len(p) >= 240 && (p[0] == 1 || p[0] == 2) && p[1] == 1 && p[2] == 6 &&
		binary.BigEndian.Uint32(p[236:240]) == 0x63825363
}

// looksSNMP is an SNMP message: a BER SEQUENCE starting with the version
// (v1, v2c or v3) and, for v1 and v2c, a community string.
func looksSNMP(p []byte) bool {
	_, seq, _, ok := berNext(p)
	if !ok || len(p) == 0 || p[0] != 0x30 {
		return false
	}
	tag, v, rest, ok := berNext(seq)
	if !ok || tag != 0x02 || len(v) != 1 || v[0] > 3 {
		return false
	}
	if v[0] == 3 {
		return len(rest) > 0 && rest[0] == 0x30
	}
	tag, _, _, ok = berNext(rest)
	return ok && tag == 0x04
}

// looksSyslog is a syslog message: <PRI> with a priority of 0 to 191.
func looksSyslog(p []byte) bool {
	if len(p) < 4 || p[0] != '<' {
		return false
	}
	end := bytes.IndexByte(p[:min(len(p), 5)], '>')
	if end < 2 {
		return false
	}
	pri := 0
	for _, c := range p[1:end] {
		if c < '0' || c > '9' {
			return false
		}
		pri = pri*10 + int(c-'0')
	}
	return pri <= 191
}

// looksSIP is a SIP request or response line.
func looksSIP(p []byte) bool {
	line, _, found := bytes.Cut(p[:min(len(p), 256)], []byte("\r\n"))
	if !found {
		return false
	}
	if bytes.HasPrefix(line, []byte("SIP/2.0 ")) {
		return true
	}
	return bytes.HasSuffix(line, []byte(" SIP/2.0")) &&
		anyPrefixFold(line, "INVITE ", "REGISTER ", "OPTIONS ", "ACK ", "BYE ", "CANCEL ", "SUBSCRIBE ", "NOTIFY ", "MESSAGE ", "INFO ", "PRACK ", "UPDATE ", "REFER ", "PUBLISH ")
}

// looksRADIUS is a RADIUS packet whose length field is the datagram's and
// whose attributes, one at least, fill the rest exactly (a PTP message has
// a length field in the same place).
func looksRADIUS(p []byte) bool {
	if len(p) < 22 {
		return false
	}
	switch p[0] {
	case 1, 2, 3, 4, 5, 11, 12, 13, 40, 41, 42, 43, 44, 45:
	default:
		return false
	}
	if int(binary.BigEndian.Uint16(p[2:4])) != len(p) {
		return false
	}
	for a := p[20:]; len(a) > 0; {
		if len(a) < 2 || a[0] == 0 || a[1] < 2 || int(a[1]) > len(a) {
			return false
		}
		a = a[a[1]:]
	}
	return true
}

// RDP over UDP (MS-RDPEUDP): every datagram starts with an FEC header of
// the sequence number acknowledged (4 bytes), the receive window (2) and
// flags (2), big-endian.
const (
	rdpeudpSYNFlag = 0x0001
	rdpeudpACKFlag = 0x0004
	// rdpeudpSYNSize is the size the SYN and SYN-ACK datagrams are padded
	// to (MS-RDPEUDP 3.1.5.1.1).
	rdpeudpSYNSize = 1232
)

// isRDPEUDPSyn is a client's SYN: nothing acknowledged yet (the sequence
// number -1), the SYN flag without ACK, padded to 1232 bytes. Zeek reads
// it on UDP port 3389; the padding makes it distinctive on any port.
func isRDPEUDPSyn(p []byte) bool {
	if len(p) != rdpeudpSYNSize || binary.BigEndian.Uint32(p) != 0xffffffff {
		return false
	}
	flags := binary.BigEndian.Uint16(p[6:])
	return flags&rdpeudpSYNFlag != 0 && flags&rdpeudpACKFlag == 0
}

// isRDPEUDPSynAck is the server's answer to it: SYN or ACK set, as Zeek's
// analyzer checks, in a datagram padded as the SYN is.
func isRDPEUDPSynAck(p []byte) bool {
	return len(p) == rdpeudpSYNSize && binary.BigEndian.Uint16(p[6:])&(rdpeudpSYNFlag|rdpeudpACKFlag) != 0
}
