package appid

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
)

// HTTPFacts is the first request and response of an HTTP conversation.
type HTTPFacts struct {
	Method    string `json:"method,omitempty"`
	Host      string `json:"host,omitempty"`
	URI       string `json:"uri,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Status    int    `json:"status_code,omitempty"`
	WinRM     bool   `json:"winrm,omitempty"` // POST /wsman: Windows Remote Management
	// AuthFailures counts requests that carried credentials (Basic, Digest,
	// an NTLM AUTHENTICATE, Negotiate) and were answered 401: wrong
	// passwords. The 401s of a handshake, before the credentials, are not.
	AuthFailures int `json:"auth_failures,omitempty"`
	// Logins counts requests with credentials answered 2xx or 3xx: the
	// server took the password.
	Logins int `json:"logins,omitempty"`
}

var httpMethods = [][]byte{[]byte("GET "), []byte("POST "), []byte("HEAD "), []byte("PUT "), []byte("DELETE "),
	[]byte("OPTIONS "), []byte("CONNECT "), []byte("PATCH "), []byte("TRACE "), []byte("PROPFIND ")}

func looksHTTPRequest(p []byte) bool {
	for _, m := range httpMethods {
		if bytes.HasPrefix(p, m) {
			line, _, _ := bytes.Cut(p, []byte("\r\n"))
			return bytes.Contains(line, []byte(" HTTP/1.")) || len(line) == len(p) && len(p) < 2048
		}
	}
	return false
}

func looksHTTPResponse(p []byte) bool { return bytes.HasPrefix(p, []byte("HTTP/1.")) }

// httpHandler reads the first request and response headers, and the NTLM
// messages in the Authorization headers of the requests that follow a
// challenge.
type httpHandler struct {
	buf       [2][]byte
	scanned   int  // client bytes already searched for Authorization headers
	websocket bool // the request asked to upgrade to a WebSocket
	pairing   bool // a 401 or credentials were seen: requests and answers are paired for logins
	// For the pairing: where each direction's reading stopped, whether
	// each request carried credentials, and how many were answered.
	cursor   [2]httpCursor
	creds    []bool
	answered int
	// bodyChecked is set once the first message body of a direction was
	// looked at for an executable (or has none).
	bodyChecked [2]bool
}

// peBodyPrefix is how much of a body is gathered to find a PE header
// (its e_lfanew points a few hundred bytes in).
const peBodyPrefix = 1024

// checkBody looks for a Windows executable at the start of the first
// message body of a direction: a tool downloaded, or uploaded.
func (h *httpHandler) checkBody(in *Inspector, dir int, full bool) {
	if h.bodyChecked[dir] {
		return
	}
	head, body, ok := bytes.Cut(h.buf[dir], []byte("\r\n\r\n"))
	if !ok {
		h.bodyChecked[dir] = full
		return
	}
	n := contentLength(head)
	if chunked(head) {
		size, rest, ok := bytes.Cut(body, []byte("\r\n"))
		if !ok {
			h.bodyChecked[dir] = full
			return
		}
		c, err := strconv.ParseUint(string(bytes.TrimSpace(size)), 16, 31)
		if err != nil {
			h.bodyChecked[dir] = true
			return
		}
		n, body = int(c), rest
	}
	if n == 0 {
		h.bodyChecked[dir] = true
		return
	}
	if len(body) < min(n, peBodyPrefix) && !full {
		return // more of the body is to come
	}
	h.bodyChecked[dir] = true
	if m := peMachine(body[:min(len(body), n)]); m != "" && in.facts.PE == nil {
		in.facts.PE = &PEFacts{Sender: directionNames[dir], Machine: m}
	}
}

// chunked reports whether a header block says Transfer-Encoding: chunked.
func chunked(head []byte) bool {
	for l := range bytes.SplitSeq(head, []byte("\r\n")) {
		if k, v, ok := bytes.Cut(l, []byte(":")); ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("transfer-encoding")) {
			return bytes.Contains(bytes.ToLower(v), []byte("chunked"))
		}
	}
	return false
}

// httpScan bounds the bytes of each direction kept and searched.
const httpScan = 16 << 10

func (h *httpHandler) held() int { return heldBytes(h.buf[0], h.buf[1]) + len(h.creds) }

func (h *httpHandler) feed(in *Inspector, dir int, data []byte) bool {
	in.addService("http")
	if in.facts.HTTP == nil {
		in.facts.HTTP = &HTTPFacts{}
	}
	f := in.facts.HTTP
	if len(h.buf[dir]) < httpScan {
		h.buf[dir] = append(h.buf[dir], data[:min(len(data), httpScan-len(h.buf[dir]))]...)
	}
	b := h.buf[dir]
	if f.Status == 0 && looksHTTPResponse(b) {
		// Only a whole status line: a segment may end inside it.
		line, _, whole := bytes.Cut(b, []byte("\r\n"))
		if parts := bytes.Fields(line); whole && len(parts) >= 2 {
			f.Status, _ = strconv.Atoi(string(parts[1]))
		}
	}
	if f.Status == 101 && h.websocket {
		in.addService("websocket") // the server switched protocols, as Zeek's WebSocket analyzer needs
	}
	if f.Method == "" && looksHTTPRequest(b) {
		if head, _, ok := bytes.Cut(b, []byte("\r\n\r\n")); ok {
			h.request(in, f, head)
		}
	}
	if dir == FromOrig {
		// Search only what is new, backing up over a header cut in two.
		from := max(0, h.scanned-len("\r\nAuthorization: "))
		h.authorization(in, b[from:])
		h.scanned = len(b)
	}
	if f.Status == 401 || h.pairing {
		h.pairing = true
		h.pairLogins(f)
	}
	full := len(h.buf[FromOrig]) >= httpScan || len(h.buf[FromResp]) >= httpScan
	h.checkBody(in, dir, full)
	return !full && (f.Method == "" || f.Status == 0 || h.pairing || !h.bodyChecked[FromResp])
}

// httpCursor walks the messages of one direction's buffered HTTP stream,
// from where it stopped: each message begins where isStart says one does,
// its body skipped by its Content-Length, or by searching for the next
// start.
type httpCursor struct{ pos int }

// next returns the next complete message head in b, or false when b holds
// none yet.
func (hc *httpCursor) next(b []byte, isStart func([]byte) bool) ([]byte, bool) {
	for hc.pos < len(b) {
		rest := b[hc.pos:]
		if !isStart(rest) {
			i := bytes.Index(rest, []byte("\r\n"))
			if i < 0 {
				return nil, false
			}
			hc.pos += i + 2
			continue
		}
		head, _, ok := bytes.Cut(rest, []byte("\r\n\r\n"))
		if !ok {
			return nil, false
		}
		hc.pos += len(head) + 4 + contentLength(head)
		return head, true
	}
	return nil, false
}

// pairLogins reads the request and answer heads that came since the last
// call and counts the requests with credentials answered 401, and those
// answered 2xx or 3xx, pairing
// them in order (HTTP/1.1 answers in order; a 1xx answer is not the final
// one). Each head is read once, so a stream cut into many segments costs
// no more than one in a few.
func (h *httpHandler) pairLogins(f *HTTPFacts) {
	for len(h.creds) < maxPairs {
		head, ok := h.cursor[FromOrig].next(h.buf[FromOrig], looksHTTPRequest)
		if !ok {
			break
		}
		h.creds = append(h.creds, carriesCredentials(head))
	}
	for {
		head, ok := h.cursor[FromResp].next(h.buf[FromResp], looksHTTPResponse)
		if !ok {
			break
		}
		line, _, _ := bytes.Cut(head, []byte("\r\n"))
		status := ""
		if parts := bytes.Fields(line); len(parts) >= 2 {
			status = string(parts[1])
		}
		if strings.HasPrefix(status, "1") {
			continue
		}
		if h.answered < len(h.creds) && h.creds[h.answered] {
			switch {
			case status == "401":
				f.AuthFailures++
			case strings.HasPrefix(status, "2") || strings.HasPrefix(status, "3"):
				f.Logins++
			}
		}
		h.answered++
	}
}

// maxPairs bounds the requests paired with their answers.
const maxPairs = 1024

// contentLength returns a header block's Content-Length, or 0; a hostile
// one is bounded below 2 GiB (a constant that 32-bit builds can hold),
// so that offsets past it cannot overflow.
func contentLength(head []byte) int {
	for l := range bytes.SplitSeq(head, []byte("\r\n")) {
		if k, v, ok := bytes.Cut(l, []byte(":")); ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("content-length")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err == nil && n > 0 {
				return min(n, 1<<31-1)
			}
		}
	}
	return 0
}

// carriesCredentials reports whether a request's headers hold final
// credentials: Basic or Digest, or an NTLM AUTHENTICATE message (bare or
// in Negotiate); an NTLM NEGOTIATE only opens the handshake.
func carriesCredentials(head []byte) bool {
	for l := range bytes.SplitSeq(head, []byte("\r\n")) {
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(k), []byte("authorization")) {
			continue
		}
		scheme, token, _ := bytes.Cut(bytes.TrimSpace(v), []byte(" "))
		switch strings.ToLower(string(scheme)) {
		case "basic", "digest":
			return true
		case "ntlm", "negotiate":
			raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(token)))
			if err != nil {
				return false
			}
			if i := bytes.Index(raw, ntlmSignature); i >= 0 && i+12 <= len(raw) {
				return binary.LittleEndian.Uint32(raw[i+8:]) == 3
			}
			return bytes.EqualFold(scheme, []byte("negotiate")) // Kerberos: a ticket is a credential
		}
	}
	return false
}

func (h *httpHandler) request(in *Inspector, f *HTTPFacts, head []byte) {
	lines := bytes.Split(head, []byte("\r\n"))
	if parts := bytes.Fields(lines[0]); len(parts) >= 2 {
		f.Method, f.URI = printable(parts[0], 16), printable(parts[1], 2048)
	}
	for _, l := range lines[1:] {
		k, v, _ := bytes.Cut(l, []byte(":"))
		switch string(bytes.ToLower(bytes.TrimSpace(k))) {
		case "host":
			f.Host = printable(bytes.TrimSpace(v), 255)
		case "user-agent":
			f.UserAgent = printable(bytes.TrimSpace(v), 512)
		case "upgrade":
			h.websocket = bytes.EqualFold(bytes.TrimSpace(v), []byte("websocket"))
		}
	}
	if f.Method == "POST" && bytes.HasPrefix(bytes.ToLower([]byte(f.URI)), []byte("/wsman")) {
		f.WinRM = true
		in.addService("winrm")
	}
}

// authorization reads NTLM messages from Authorization headers in b.
func (h *httpHandler) authorization(in *Inspector, b []byte) {
	for {
		i := bytes.Index(b, []byte("\r\nAuthorization: "))
		if i < 0 {
			return
		}
		b = b[i+17:]
		h.pairing = true
		line, _, _ := bytes.Cut(b, []byte("\r\n"))
		scheme, token, _ := bytes.Cut(line, []byte(" "))
		if s := string(bytes.ToLower(scheme)); s == "ntlm" || s == "negotiate" {
			if raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(token))); err == nil {
				in.ntlm(raw)
			}
		}
	}
}

// SSHFacts is the two software banners of an SSH conversation.
type SSHFacts struct {
	Client string `json:"client,omitempty"`
	Server string `json:"server,omitempty"`
}

// sshHandler reads the first line of each direction. The conversation is
// SSH when both sides' lines start with "SSH-", as Zeek's signatures
// require of each other (dpd_ssh_client and dpd_ssh_server): a client
// banner alone, on a one-sided capture, confirms nothing.
type sshHandler struct {
	line [2][]byte
}

func (h *sshHandler) held() int { return heldBytes(h.line[0], h.line[1]) }

func (h *sshHandler) feed(in *Inspector, dir int, data []byte) bool {
	if in.facts.SSH == nil {
		in.facts.SSH = &SSHFacts{}
	}
	h.line[dir] = append(h.line[dir], data[:min(len(data), 512)]...)
	for d := range 2 {
		l := h.line[d]
		if !bytes.HasPrefix(l, []byte("SSH-")) {
			continue
		}
		if end := bytes.IndexAny(l, "\r\n"); end > 0 {
			banner := printable(l[:end], 255)
			if d == FromOrig {
				in.facts.SSH.Client = banner
			} else {
				in.facts.SSH.Server = banner
			}
		}
	}
	if len(h.line[0]) >= 4 && len(h.line[1]) >= 4 && bytes.EqualFold(h.line[0][:4], []byte("SSH-")) && bytes.EqualFold(h.line[1][:4], []byte("SSH-")) {
		in.addService("ssh")
	}
	return in.facts.SSH.Client == "" || in.facts.SSH.Server == ""
}

// BannerFacts is the greeting of a text protocol's server.
type BannerFacts struct {
	Server string `json:"server,omitempty"`
	// LoginFailures counts the replies refusing a login: FTP 530, SMTP
	// 535 (authentication failed).
	LoginFailures int `json:"login_failures,omitempty"`
	// Logins counts the replies accepting one: FTP 230 (user logged in),
	// SMTP 235 (authentication succeeded).
	Logins int `json:"logins,omitempty"`
}

func looksBanner(p []byte) bool {
	if !bytes.HasPrefix(p, []byte("220")) || len(p) < 4 {
		return false
	}
	line, _, _ := bytes.Cut(p, []byte("\n"))
	return bytes.Contains(bytes.ToUpper(line), []byte("SMTP")) || bytes.Contains(bytes.ToUpper(line), []byte("FTP")) || bytes.Contains(line, []byte("ESMTP"))
}

// bannerHandler reads an SMTP or FTP server's greeting.
// bannerHandler reads an SMTP or FTP server's greeting, then its replies
// for refused logins, line by line.
type bannerHandler struct {
	lines textLines
	// asked is set when the client asked for TLS (SMTP's STARTTLS, FTP's
	// AUTH TLS), upgraded when the server agreed (220, 234): the TLS
	// handshake follows, which Zeek names ssl too (smtp,ssl).
	asked, upgraded bool
}

func (h *bannerHandler) held() int { return h.lines.held() }

func (h *bannerHandler) feed(in *Inspector, dir int, data []byte) bool {
	if h.upgraded && !h.lines.pending(dir) && looksTLS(data) {
		return in.handOverToTLS(dir, data)
	}
	h.lines.each(dir, data, func(line []byte) {
		switch {
		case dir == FromResp:
			h.reply(in, line)
		case hasPrefixFold(line, "STARTTLS") || hasPrefixFold(line, "AUTH TLS") || hasPrefixFold(line, "AUTH SSL"):
			h.asked = true
		case in.facts.Banner != nil && in.services[0] == "ftp":
			in.ftpCommand(line)
		}
	})
	return true
}

// textLines gathers each direction's bytes into lines, each kept to 512
// bytes.
type textLines struct{ line [2][]byte }

func (t *textLines) held() int { return heldBytes(t.line[0], t.line[1]) }

// each calls fn with every line data completes, without its line end; fn
// must not keep the line.
func (t *textLines) each(dir int, data []byte, fn func(line []byte)) {
	for len(data) > 0 {
		chunk, rest, complete := bytes.Cut(data, []byte("\n"))
		t.line[dir] = append(t.line[dir], chunk[:min(len(chunk), 512-len(t.line[dir]))]...)
		data = rest
		if !complete {
			return
		}
		fn(bytes.TrimRight(t.line[dir], "\r"))
		t.line[dir] = t.line[dir][:0]
	}
}

// pending reports whether a direction has a line begun and not ended.
func (t *textLines) pending(dir int) bool { return len(t.line[dir]) > 0 }

// Expected is a connection an FTP control connection announced, for its
// data: Zeek names it ftp-data. The client connects to a passive-mode
// server (PASV, EPSV); the server connects back to the client in active
// mode (PORT, EPRT). Addr is the address given, or unset when the reply
// gives only a port (EPSV: the control connection's server).
type Expected struct {
	ServerConnects bool
	Addr           netip.Addr
	Port           uint16
}

// TakeExpected returns the connections announced since the last call.
func (in *Inspector) TakeExpected() []Expected {
	e := in.expected
	in.expected = nil
	return e
}

// maxExpected bounds the announcements a conversation holds until taken.
const maxExpected = 16

func (in *Inspector) expect(e Expected) {
	if e.Port != 0 && len(in.expected) < maxExpected {
		in.expected = append(in.expected, e)
	}
}

// ftpCommand reads a client's FTP command for an active-mode data port.
func (in *Inspector) ftpCommand(line []byte) {
	switch {
	case hasPrefixFold(line, "PORT "):
		if addr, port, ok := ftpHostPort(line[5:]); ok {
			in.expect(Expected{ServerConnects: true, Addr: addr, Port: port})
		}
	case hasPrefixFold(line, "EPRT "):
		if addr, port, ok := ftpExtended(line[5:]); ok {
			in.expect(Expected{ServerConnects: true, Addr: addr, Port: port})
		}
	}
}

// ftpPassive reads a server's passive-mode reply: 227 with h1,h2,h3,h4,p1,p2
// or 229 with (|||port|).
func (in *Inspector) ftpPassive(line []byte) {
	switch {
	case bytes.HasPrefix(line, []byte("227")):
		if i := bytes.IndexAny(line[3:], "0123456789"); i >= 0 {
			if addr, port, ok := ftpHostPort(line[3+i:]); ok {
				in.expect(Expected{Addr: addr, Port: port})
			}
		}
	case bytes.HasPrefix(line, []byte("229")):
		if i := bytes.IndexByte(line, '('); i >= 0 {
			if _, port, ok := ftpExtended(line[i+1:]); ok {
				in.expect(Expected{Port: port})
			}
		}
	}
}

// ftpHostPort parses h1,h2,h3,h4,p1,p2 (trailing text ignored).
func ftpHostPort(b []byte) (netip.Addr, uint16, bool) {
	var n [6]int
	for i := range n {
		j := 0
		for j < len(b) && b[j] >= '0' && b[j] <= '9' && j < 3 {
			n[i] = n[i]*10 + int(b[j]-'0')
			j++
		}
		if j == 0 || n[i] > 255 || i < 5 && (j >= len(b) || b[j] != ',') {
			return netip.Addr{}, 0, false
		}
		b = b[min(j+1, len(b)):]
	}
	return netip.AddrFrom4([4]byte{byte(n[0]), byte(n[1]), byte(n[2]), byte(n[3])}), uint16(n[4]<<8 | n[5]), true
}

// ftpExtended parses RFC 2428's <d>proto<d>addr<d>port<d>: the address
// may be empty (EPSV's reply).
func ftpExtended(b []byte) (netip.Addr, uint16, bool) {
	if len(b) < 4 {
		return netip.Addr{}, 0, false
	}
	parts := bytes.Split(b, b[:1])
	if len(parts) < 5 {
		return netip.Addr{}, 0, false
	}
	port, err := strconv.ParseUint(string(parts[3]), 10, 16)
	if err != nil || port == 0 {
		return netip.Addr{}, 0, false
	}
	addr, _ := netip.ParseAddr(string(parts[2]))
	return addr.Unmap(), uint16(port), true
}

// reply takes one line the server sent: the first is its greeting.
func (h *bannerHandler) reply(in *Inspector, line []byte) {
	if in.facts.Banner == nil {
		if bytes.Contains(bytes.ToUpper(line), []byte("FTP")) {
			in.addService("ftp")
		} else {
			in.addService("smtp")
		}
		in.facts.Banner = &BannerFacts{Server: printable(line, 255)}
		return
	}
	switch {
	case bytes.HasPrefix(line, []byte("530 ")) || bytes.HasPrefix(line, []byte("535 ")):
		in.facts.Banner.LoginFailures++
	case bytes.HasPrefix(line, []byte("230 ")) || bytes.HasPrefix(line, []byte("235 ")):
		in.facts.Banner.Logins++
	}
	if h.asked && (bytes.HasPrefix(line, []byte("220 ")) || bytes.HasPrefix(line, []byte("234 "))) {
		h.upgraded = true
	}
	if in.services[0] == "ftp" {
		in.ftpPassive(line)
	}
}

// RDPFacts is the start of an RDP conversation.
type RDPFacts struct {
	Cookie    string `json:"cookie,omitempty"` // the mstshash user name, as the client sent it
	Requested string `json:"requested_protocols,omitempty"`
	Security  string `json:"security_protocol,omitempty"` // the protocol the server chose: RDP, SSL, HYBRID (CredSSP), HYBRID_EX
}

func looksRDP(p []byte) bool {
	// TPKT version 3, then an X.224 Connection Request.
	return len(p) >= 6 && p[0] == 3 && p[1] == 0 && p[5]&0xf0 == 0xe0
}

var rdpProtocols = map[uint32]string{0: "RDP", 1: "SSL", 2: "HYBRID", 8: "HYBRID_EX", 3: "HYBRID", 11: "HYBRID_EX"}

// rdpHandler reads the X.224 connection request and confirm, then hands
// over to TLS when the server chose it.
type rdpHandler struct {
	buf [2][]byte
}

func (h *rdpHandler) held() int { return heldBytes(h.buf[0], h.buf[1]) }

func (h *rdpHandler) feed(in *Inspector, dir int, data []byte) bool {
	in.addService("rdp")
	if in.facts.RDP == nil {
		in.facts.RDP = &RDPFacts{}
	}
	f := in.facts.RDP
	h.buf[dir] = append(h.buf[dir], data...)
	b := h.buf[dir]
	if len(b) < 4 {
		return true
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < 7 || len(b) < n {
		return len(b) < 4096
	}
	pdu := b[:n]
	rest := b[n:]
	body := pdu[min(n, 11):] // after the TPKT header and the X.224 fixed part, if the PDU is that long
	switch pdu[5] & 0xf0 {
	case 0xe0: // connection request
		if i := bytes.Index(body, []byte("Cookie: mstshash=")); i >= 0 {
			c, _, _ := bytes.Cut(body[i+17:], []byte("\r\n"))
			f.Cookie = printable(c, 128)
		}
		if i := bytes.Index(body, []byte{0x01, 0x00, 0x08, 0x00}); i >= 0 && len(body) >= i+8 { // RDP_NEG_REQ
			f.Requested = protocolList(binary.LittleEndian.Uint32(body[i+4:]))
		}
	case 0xd0: // connection confirm
		if len(body) >= 8 && body[0] == 0x02 { // RDP_NEG_RSP
			sel := binary.LittleEndian.Uint32(body[4:])
			f.Security = rdpProtocols[sel]
			if sel != 0 {
				// TLS (and CredSSP inside it) follows on both sides: hand
				// over what is buffered beyond the X.224 exchange.
				tls := &tlsHandler{}
				in.handler = tls
				if other := h.buf[1-dir]; len(other) > 0 {
					tls.feed(in, 1-dir, other)
				}
				if len(rest) > 0 {
					tls.feed(in, dir, rest)
				}
				return true
			}
		}
	}
	h.buf[dir] = rest
	return f.Security == "" || len(h.buf[0])+len(h.buf[1]) < 4096
}

// protocolList names the protocols a client offers in RDP_NEG_REQ.
func protocolList(v uint32) string {
	var names []string
	for _, p := range []struct {
		bit  uint32
		name string
	}{{1, "SSL"}, {2, "HYBRID"}, {4, "RDSTLS"}, {8, "HYBRID_EX"}} {
		if v&p.bit != 0 {
			names = append(names, p.name)
		}
	}
	if len(names) == 0 {
		return "RDP"
	}
	return strings.Join(names, "|")
}

// looksRFB checks for the version message that opens VNC's remote
// framebuffer protocol on both sides, "RFB 003.008\n".
func looksRFB(p []byte) bool {
	if len(p) < 12 || string(p[:4]) != "RFB " || p[7] != '.' || p[11] != '\n' {
		return false
	}
	for _, i := range []int{4, 5, 6, 8, 9, 10} {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// RFBFacts is what a VNC (RFB) handshake showed.
type RFBFacts struct {
	// AuthFailures is 1 when the server answered the password (VNC
	// authentication, or none at all in RFB 3.8) with a failed
	// SecurityResult, as Zeek's rfb.log auth field says F.
	AuthFailures int `json:"auth_failures,omitempty"`
}

// rfbHandler names the protocol, Zeek's service rfb, and follows the
// handshake to its SecurityResult: each side's version message, the
// security types the server offers (3.7 and later) or sets (3.3), the
// client's choice, the VNC authentication challenge and the result.
type rfbHandler struct {
	buf [2][]byte
}

// rfbHandshake bounds the bytes of each side read.
const rfbHandshake = 300

func (h *rfbHandler) held() int { return heldBytes(h.buf[0], h.buf[1]) }

func (h *rfbHandler) feed(in *Inspector, dir int, data []byte) bool {
	in.addService("rfb")
	h.buf[dir] = append(h.buf[dir], data[:min(len(data), rfbHandshake-len(h.buf[dir]))]...)
	result, ok := h.securityResult()
	if !ok {
		return len(h.buf[FromOrig]) < rfbHandshake && len(h.buf[FromResp]) < rfbHandshake
	}
	if result != 0 {
		in.facts.RFB = &RFBFacts{AuthFailures: 1}
	}
	return false
}

// securityResult returns the server's SecurityResult once the handshake
// has come to it; ok is false while it has not, and true with result 0
// when the chosen security type has none to give.
func (h *rfbHandler) securityResult() (result uint32, ok bool) {
	s, c := h.buf[FromResp], h.buf[FromOrig]
	if len(s) < 12 {
		return 0, false
	}
	minor, _ := strconv.Atoi(string(s[8:11]))
	off, chosen := 12, byte(0)
	if minor < 7 { // 3.3: the server sets the type
		if len(s) < 16 {
			return 0, false
		}
		chosen, off = s[15], 16
		if binary.BigEndian.Uint32(s[12:]) > 2 {
			return 0, true
		}
	} else {
		if len(s) < 13 {
			return 0, false
		}
		if s[12] == 0 { // no types: the server refused the connection
			return 0, true
		}
		off = 13 + int(s[12])
		if len(c) < 13 {
			return 0, false
		}
		chosen = c[12]
	}
	switch {
	case chosen == 2: // VNC authentication: a 16-byte challenge, then the result
		off += 16
	case chosen == 1 && minor >= 8: // none: RFB 3.8 still sends a result
	default:
		return 0, true
	}
	if len(s) < off+4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(s[off:]), true
}

// PEFacts is a Windows executable (a PE file) sent at the start of a TCP
// stream that no protocol was found in: a stage of an implant (Metasploit
// sends its DLL after a four-byte length) or a tool copied over a raw
// connection.
type PEFacts struct {
	Sender  string `json:"sender"`            // orig or resp
	Machine string `json:"machine,omitempty"` // x86, x64 or arm64
}

var directionNames = [2]string{FromOrig: "orig", FromResp: "resp"}

// peMachine returns the machine of the PE file that p starts with, at
// once or after a four-byte length, or "": an MZ header whose e_lfanew
// points at a PE signature.
func peMachine(p []byte) string {
	for _, off := range []int{0, 4} {
		if len(p) < off+0x40 || p[off] != 'M' || p[off+1] != 'Z' {
			continue
		}
		pe := off + int(binary.LittleEndian.Uint32(p[off+0x3c:]))
		if pe < off+0x40 || pe+6 > len(p) || string(p[pe:pe+4]) != "PE\x00\x00" {
			continue
		}
		switch binary.LittleEndian.Uint16(p[pe+4:]) {
		case 0x14c:
			return "x86"
		case 0x8664:
			return "x64"
		case 0xaa64:
			return "arm64"
		}
		return "other"
	}
	return ""
}

// handOverToTLS makes TLS the conversation's protocol from here on, as
// after a STARTTLS, and feeds it its first bytes.
func (in *Inspector) handOverToTLS(dir int, data []byte) bool {
	tls := &tlsHandler{}
	in.handler = tls
	return tls.feed(in, dir, data)
}

// startTLSHandler follows an IMAP, POP3 or XMPP conversation, named
// already, to a STARTTLS (IMAP's tagged STARTTLS answered by the same
// tag's OK, POP3's STLS answered +OK, XMPP's <starttls/> answered
// <proceed/>) and hands the TLS that follows to the TLS handler: Zeek
// names it imap,ssl, pop3,ssl and xmpp,ssl.
type startTLSHandler struct {
	lines    textLines
	tag      []byte // IMAP: the STARTTLS command's tag
	asked    bool
	xmpp     bool // asked by XMPP's <starttls/>
	upgraded bool
	read     int
}

// startTLSWatch bounds the bytes read for a STARTTLS.
const startTLSWatch = 16 << 10

func (h *startTLSHandler) held() int { return h.lines.held() + cap(h.tag) }

func (h *startTLSHandler) feed(in *Inspector, dir int, data []byte) bool {
	if h.upgraded && !h.lines.pending(dir) && looksTLS(data) {
		return in.handOverToTLS(dir, data)
	}
	if h.read += len(data); h.read > startTLSWatch {
		return false
	}
	// XMPP: <starttls/> answered <proceed/>, not lines.
	switch {
	case dir == FromOrig && bytes.Contains(data, []byte("<starttls")):
		h.asked, h.xmpp, h.lines = true, true, textLines{} // XML, not lines: none is pending
	case dir == FromResp && h.xmpp && bytes.Contains(data, []byte("<proceed")):
		h.upgraded = true
	}
	if h.xmpp {
		return true
	}
	h.lines.each(dir, data, func(line []byte) {
		words := bytes.Fields(line)
		switch {
		case dir == FromOrig && len(words) == 1 && bytes.EqualFold(words[0], []byte("STLS")):
			h.asked, h.tag = true, nil
		case dir == FromOrig && len(words) == 2 && bytes.EqualFold(words[1], []byte("STARTTLS")):
			h.asked, h.tag = true, bytes.Clone(words[0])
		case dir == FromResp && h.asked && h.tag == nil && len(words) > 0 && bytes.Equal(words[0], []byte("+OK")),
			dir == FromResp && h.asked && h.tag != nil && len(words) > 1 && bytes.Equal(words[0], h.tag) && bytes.EqualFold(words[1], []byte("OK")):
			h.upgraded = true
		}
	})
	return true
}
