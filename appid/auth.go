package appid

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// NTLMFacts is the identity in an NTLM AUTHENTICATE message.
type NTLMFacts struct {
	Username string `json:"username,omitempty"`
	Domain   string `json:"domainname,omitempty"`
	Hostname string `json:"hostname,omitempty"`
}

var ntlmSignature = []byte("NTLMSSP\x00")

// GSS-API as SMB session setups carry it: the SPNEGO mechanism's OID
// (1.3.6.1.5.5.2), and Kerberos 5's (1.2.840.113554.1.2.2, and Microsoft's
// 1.2.840.48018.1.2.2) followed by an AP-REQ's token id and tag.
var (
	spnegoOID  = []byte{0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}
	krb5APReqs = [][]byte{
		{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00, 0x6e},
		{0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00, 0x6e},
	}
)

// gssapi names the GSS-API negotiation that an SMB session setup's
// security blob or an LDAP SASL bind's credentials b start, and Kerberos
// when the client sends a ticket in it, as Zeek's GSSAPI and KRB analyzers
// name them: "gssapi,smb,ntlm" or "gssapi,smb,krb" in Zeek's conn.log
// (and "krb,gssapi,ldap_tcp" for LDAP), GSS-API before its carrier.
func (in *Inspector) gssapi(b []byte) {
	if !bytes.Contains(b, spnegoOID) {
		return
	}
	if !slices.Contains(in.services, "gssapi") {
		i := max(0, slices.IndexFunc(in.services, func(s string) bool { return s == "smb" || s == "ldap_tcp" }))
		in.services = slices.Insert(in.services, i, "gssapi")
	}
	for _, apReq := range krb5APReqs {
		if bytes.Contains(b, apReq) {
			in.addService("krb")
		}
	}
}

// ntlm finds an NTLM AUTHENTICATE message in b, wherever a protocol put
// it (SMB session setup, HTTP headers, RPC auth, LDAP SASL), and reads the
// user, domain and workstation from it.
func (in *Inspector) ntlm(b []byte) {
	for {
		i := bytes.Index(b, ntlmSignature)
		if i < 0 {
			return
		}
		m := b[i:]
		b = m[len(ntlmSignature):]
		if len(m) < 64 {
			continue
		}
		in.addService("ntlm")
		if binary.LittleEndian.Uint32(m[8:]) != 3 {
			continue
		}
		unicode := binary.LittleEndian.Uint32(m[60:])&1 == 1
		field := func(at int) string {
			n, off := int(binary.LittleEndian.Uint16(m[at:])), int(binary.LittleEndian.Uint32(m[at+4:]))
			if n == 0 || off < 0 || off+n > len(m) || n > 1024 {
				return ""
			}
			if unicode {
				return utf16At(m, off, n)
			}
			return printable(m[off:off+n], 256)
		}
		in.facts.NTLM = &NTLMFacts{Domain: field(28), Username: field(36), Hostname: field(44)}
	}
}

// KerberosFacts is what a Kerberos request showed.
type KerberosFacts struct {
	RequestType string `json:"request_type,omitempty"` // AS or TGS
	Client      string `json:"client,omitempty"`       // user@REALM
	Service     string `json:"service,omitempty"`      // e.g. krbtgt/REALM, cifs/host
	Error       int    `json:"error_code,omitempty"`
	// Success is set when the KDC answered with a ticket (AS-REP or
	// TGS-REP), as Zeek's kerberos.log success field.
	Success bool `json:"success,omitempty"`
}

func looksKerberosUDP(p []byte) bool {
	if len(p) < 4 || (p[0] != 0x6a && p[0] != 0x6c && p[0] != 0x6b && p[0] != 0x6d && p[0] != 0x7e) {
		return false
	}
	_, content, rest, ok := berNext(p)
	return ok && len(rest) == 0 && len(content) > 0
}

func looksKerberosTCP(p []byte) bool {
	return len(p) >= 8 && p[0] == 0 && looksKerberosPrefix(p[4:])
}

func looksKerberosPrefix(p []byte) bool {
	return len(p) >= 2 && (p[0] == 0x6a || p[0] == 0x6c) && (p[1] == 0x82 || p[1] == 0x81 || p[1] < 0x80)
}

// kerberos reads an AS-REQ or TGS-REQ (application tags 10 and 12), or a
// KRB-ERROR (30).
func (in *Inspector) kerberos(msg []byte) {
	tag, body, _, ok := berNext(msg)
	if !ok {
		return
	}
	if in.facts.Kerberos == nil {
		in.facts.Kerberos = &KerberosFacts{}
	}
	f := in.facts.Kerberos
	_, seq, _, ok := berNext(body)
	if !ok {
		return
	}
	switch tag {
	case 0x6a, 0x6c:
		if tag == 0x6a {
			f.RequestType = "AS"
		} else {
			f.RequestType = "TGS"
		}
		reqBody := berField(seq, 0xa4)
		_, rb, _, ok := berNext(reqBody)
		if !ok {
			return
		}
		realm := berString(berField(rb, 0xa2))
		if c := principal(berField(rb, 0xa1)); c != "" {
			f.Client = c + "@" + realm
		}
		if s := principal(berField(rb, 0xa3)); s != "" {
			f.Service = s
		}
	case 0x6b, 0x6d:
		f.Success = true
	case 0x7e:
		if _, v, _, ok := berNext(berField(seq, 0xa6)); ok && len(v) <= 4 {
			code := 0
			for _, c := range v {
				code = code<<8 | int(c)
			}
			f.Error = code
		}
	}
}

// principal reads a PrincipalName: SEQUENCE { name-type [0], name-string [1] SEQUENCE OF GeneralString }.
func principal(b []byte) string {
	_, seq, _, ok := berNext(b)
	if !ok {
		return ""
	}
	_, names, _, ok := berNext(berField(seq, 0xa1))
	if !ok {
		return ""
	}
	var parts []string
	for len(names) > 0 && len(parts) < 8 {
		_, v, rest, ok := berNext(names)
		if !ok {
			break
		}
		parts = append(parts, printable(v, 128))
		names = rest
	}
	return joinSlash(parts)
}

func joinSlash(parts []string) string {
	var b []byte
	for i, p := range parts {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, p...)
	}
	return string(b)
}

// berNext reads one BER element: its tag, its content and what follows.
func berNext(b []byte) (tag byte, content, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	tag = b[0]
	n := int(b[1])
	off := 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 4 || len(b) < 2+k {
			return 0, nil, nil, false
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		off = 2 + k
	}
	if n < 0 || off+n > len(b) {
		return 0, nil, nil, false
	}
	return tag, b[off : off+n], b[off+n:], true
}

// berField returns the element with the given context tag among the
// elements of a SEQUENCE's content, or nil.
func berField(seq []byte, tag byte) []byte {
	for len(seq) > 0 {
		t, v, rest, ok := berNext(seq)
		if !ok {
			return nil
		}
		if t == tag {
			return v
		}
		seq = rest
	}
	return nil
}

// berString reads a string element.
func berString(b []byte) string {
	if _, v, _, ok := berNext(b); ok {
		return printable(v, 255)
	}
	return ""
}

// LDAPFacts is what LDAP binds showed.
type LDAPFacts struct {
	BindName string   `json:"bind_name,omitempty"`
	BindType string   `json:"bind_type,omitempty"` // simple, or sasl:MECHANISM
	Searches []string `json:"search_bases,omitempty"`
	StartTLS bool     `json:"starttls,omitempty"`
	// BindFailures counts binds answered invalidCredentials (49): wrong
	// passwords.
	BindFailures int `json:"bind_failures,omitempty"`
}

func looksLDAP(p []byte) bool {
	tag, content, _, ok := berNextPartial(p)
	if !ok || tag != 0x30 {
		return false
	}
	t, _, rest, ok := berNext(content)
	if !ok || t != 0x02 {
		return false
	}
	return len(rest) > 0 && rest[0]&0xe0 == 0x60 // an application-tagged protocol op
}

// looksLDAPDatagram is a whole LDAPMessage filling a UDP datagram, as
// connectionless LDAP (CLDAP) sends them: Active Directory's domain
// controller locator pings on UDP 389.
func looksLDAPDatagram(p []byte) bool {
	tag, _, rest, ok := berNext(p)
	return ok && tag == 0x30 && len(rest) == 0 && looksLDAP(p)
}

// berNextPartial is berNext for an element whose content may not have
// arrived yet: it returns what there is.
func berNextPartial(b []byte) (byte, []byte, []byte, bool) {
	if t, c, r, ok := berNext(b); ok {
		return t, c, r, ok
	}
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	off := 2
	if b[1]&0x80 != 0 {
		off += int(b[1] & 0x7f)
	}
	if off > len(b) {
		return 0, nil, nil, false
	}
	return b[0], b[off:], nil, true
}

// ldap reads one LDAPMessage.
func (in *Inspector) ldap(msg []byte) {
	_, seq, _, ok := berNext(msg)
	if !ok {
		return
	}
	_, _, op, ok := berNext(seq) // messageID
	if !ok || len(op) == 0 {
		return
	}
	if in.udp {
		in.addService("ldap_udp") // Zeek's names: its LDAP analyzers over UDP and TCP
	} else {
		in.addService("ldap_tcp")
	}
	if in.facts.LDAP == nil {
		in.facts.LDAP = &LDAPFacts{}
	}
	f := in.facts.LDAP
	tag, body, _, ok := berNext(op)
	if !ok {
		return
	}
	switch tag {
	case 0x60: // bindRequest
		_, _, rest, ok := berNext(body) // version
		if !ok {
			return
		}
		_, name, rest, ok := berNext(rest)
		if !ok {
			return
		}
		f.BindName = printable(name, 512)
		auth, cred, _, ok := berNext(rest)
		if !ok {
			return
		}
		switch auth {
		case 0x80:
			f.BindType = "simple"
		case 0xa3:
			mech := berString(cred)
			f.BindType = "sasl:" + mech
			in.gssapi(cred)
			in.ntlm(cred)
		}
	case 0x61: // bindResponse: resultCode first
		if t, code, _, ok := berNext(body); ok && t == 0x0a && len(code) == 1 && code[0] == 49 {
			f.BindFailures++
		}
	case 0x63: // searchRequest
		if _, base, _, ok := berNext(body); ok {
			f.Searches = in.keep(f.Searches, printable(base, 512))
		}
	case 0x77: // extendedRequest
		if bytes.Contains(body, []byte("1.3.6.1.4.1.1466.20037")) {
			f.StartTLS = true
		}
	}
}
