package appid

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
	"unsafe"

	"github.com/netfx/netfx/internal/demogen"
)

func TestJA4Hashes(t *testing.T) {
	// A browser's JA4_r from the JA4 documentation and its published hashes.
	ciphers := []uint16{0x1302, 0x002f, 0x0035, 0x009c, 0x009d, 0x1301, 0x1303, 0xc013, 0xc014, 0xc02b, 0xc02c, 0xc02f, 0xc030, 0xcca8, 0xcca9}
	exts := []uint16{0x0005, 0x000a, 0x000b, 0x000d, 0x0012, 0x0017, 0x001b, 0x0023, 0x002b, 0x002d, 0x0033, 0x44cd, 0xfe0d, 0xff01}
	sigs := []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601}
	if got := ja4Hash(ciphers, nil); got != "8daaf6152771" {
		t.Errorf("cipher hash %s, want 8daaf6152771", got)
	}
	if got := ja4Hash(exts, sigs); got != "d8a2da3f94cd" {
		t.Errorf("extension hash %s, want d8a2da3f94cd", got)
	}
	if ja4ALPN([]byte("http/1.1")) != "h1" || ja4ALPN([]byte("h2")) != "h2" || ja4ALPN([]byte{0xab, '!'}) != "a1" {
		t.Errorf("ALPN characters wrong")
	}
}

// clientHello builds a TLS record holding a ClientHello.
func clientHello(sni string, alpn ...string) []byte {
	var ext []byte
	u16 := func(b []byte, v int) []byte { return binary.BigEndian.AppendUint16(b, uint16(v)) }
	name := append([]byte{0}, u16(nil, len(sni))...)
	name = append(name, sni...)
	ext = u16(ext, 0x0000)
	ext = u16(ext, len(name)+2)
	ext = u16(ext, len(name))
	ext = append(ext, name...)
	var protos []byte
	for _, p := range alpn {
		protos = append(protos, byte(len(p)))
		protos = append(protos, p...)
	}
	ext = u16(ext, 0x0010)
	ext = u16(ext, len(protos)+2)
	ext = u16(ext, len(protos))
	ext = append(ext, protos...)
	ext = append(ext, 0x0a, 0x0a, 0, 0)                         // a GREASE extension
	ext = append(ext, 0, 0x2b, 0, 5, 4, 0x03, 0x04, 0x03, 0x03) // supported_versions: 1.3, 1.2
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...)
	body = append(body, 0)                                        // session id
	body = append(body, 0, 6, 0x13, 0x01, 0x0a, 0x0a, 0xc0, 0x2f) // ciphers, one GREASE
	body = append(body, 1, 0)                                     // compression
	body = u16(body, len(ext))
	body = append(body, ext...)
	hs := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{0x16, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

func TestTLSClientHello(t *testing.T) {
	hello := clientHello("www.example.org", "h2", "http/1.1")
	for _, split := range []int{len(hello), 7, 40, len(hello) - 1} {
		in := NewInspector(false)
		// Delivered in two segments, as a ClientHello may be.
		in.Stream(FromOrig, hello[:split])
		in.Stream(FromOrig, hello[split:])
		f := in.Facts()
		if in.Services() != "ssl" || f == nil || f.TLS == nil {
			t.Fatalf("split %d: services %q facts %+v", split, in.Services(), f)
		}
		if f.TLS.ServerName != "www.example.org" || !slices.Equal(f.TLS.ALPN, []string{"h2", "http/1.1"}) || f.TLS.Version != "TLSv13" {
			t.Errorf("split %d: %+v", split, f.TLS)
		}
		if !strings.HasPrefix(f.TLS.JA4, "t13d0203h2_") {
			t.Errorf("split %d: JA4 %s, want t13d0203h2_…", split, f.TLS.JA4)
		}
	}
}

func ntlmAuthenticate(user, domain, host string) []byte {
	enc := func(s string) []byte {
		var b []byte
		for _, u := range utf16.Encode([]rune(s)) {
			b = binary.LittleEndian.AppendUint16(b, u)
		}
		return b
	}
	m := make([]byte, 64)
	copy(m, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(m[8:], 3)
	binary.LittleEndian.PutUint32(m[60:], 1) // unicode
	for _, f := range []struct {
		at int
		v  []byte
	}{{28, enc(domain)}, {36, enc(user)}, {44, enc(host)}} {
		binary.LittleEndian.PutUint16(m[f.at:], uint16(len(f.v)))
		binary.LittleEndian.PutUint32(m[f.at+4:], uint32(len(m)))
		m = append(m, f.v...)
	}
	return m
}

func TestHTTPWinRMAndNTLM(t *testing.T) {
	in := NewInspector(false)
	in.Stream(FromOrig, []byte("POST /wsman HTTP/1.1\r\nHost: dc01:5985\r\nUser-Agent: Microsoft WinRM Client\r\nAuthorization: Negotiate TlRMTVNTUAABAAAA\r\n\r\n"))
	in.Stream(FromResp, []byte("HTTP/1.1 401 \r\nWWW-Authenticate: Negotiate x\r\n\r\n"))
	auth := base64.StdEncoding.EncodeToString(ntlmAuthenticate("alice", "CORP", "WS01"))
	in.Stream(FromOrig, []byte("POST /wsman HTTP/1.1\r\nHost: dc01:5985\r\nAuthorization: Negotiate "+auth+"\r\n\r\n"))
	f := in.Facts()
	if in.Services() != "http,winrm,ntlm" || f.HTTP.Method != "POST" || f.HTTP.Host != "dc01:5985" || !f.HTTP.WinRM || f.HTTP.Status != 401 {
		t.Fatalf("services %q http %+v", in.Services(), f.HTTP)
	}
	if f.NTLM == nil || f.NTLM.Username != "alice" || f.NTLM.Domain != "CORP" || f.NTLM.Hostname != "WS01" {
		t.Errorf("ntlm %+v", f.NTLM)
	}
}

func TestSSHOnAnyPort(t *testing.T) {
	in := NewInspector(false)
	in.Stream(FromResp, []byte("SSH-2.0-OpenSSH_9.6\r\n"))
	in.Stream(FromOrig, []byte("SSH-2.0-Go\r\n"))
	if f := in.Facts(); in.Services() != "ssh" || f.SSH.Client != "SSH-2.0-Go" || f.SSH.Server != "SSH-2.0-OpenSSH_9.6" || !in.Done() {
		t.Errorf("services %q ssh %+v done %v", in.Services(), f.SSH, in.Done())
	}
}

// rpcBind is a DCE-RPC bind PDU for one interface UUID (text form).
func rpcBind(uuid [16]byte) []byte {
	p := make([]byte, 72)
	p[0], p[2], p[3] = 5, 11, 3
	binary.LittleEndian.PutUint16(p[8:], 72)
	p[24] = 1 // one context
	copy(p[32:48], uuid[:])
	return p
}

var svcctlUUID = [16]byte{0x81, 0xbb, 0x7a, 0x36, 0x44, 0x98, 0xf1, 0x35, 0xad, 0x32, 0x98, 0xf0, 0x38, 0x00, 0x10, 0x03}

func rpcRequest(opnum uint16) []byte {
	p := make([]byte, 24)
	p[0], p[2] = 5, 0
	binary.LittleEndian.PutUint16(p[8:], 24)
	binary.LittleEndian.PutUint16(p[22:], opnum)
	return p
}

func TestDCERPCOverTCP(t *testing.T) {
	in := NewInspector(false)
	stream := append(rpcBind(svcctlUUID), rpcRequest(12)...)
	in.Stream(FromOrig, stream[:30]) // a PDU split across segments
	in.Stream(FromOrig, stream[30:])
	f := in.Facts()
	if in.Services() != "dce_rpc" || !slices.Equal(f.DCERPC.Interfaces, []string{"svcctl"}) || !slices.Equal(f.DCERPC.Operations, []string{"svcctl:CreateServiceW"}) {
		t.Errorf("services %q rpc %+v", in.Services(), f.DCERPC)
	}
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func TestSMBPipesAndRPC(t *testing.T) {
	path := utf16le(`\\dc01\IPC$`)
	tc := make([]byte, 8)
	binary.LittleEndian.PutUint16(tc[4:], 64+8)
	binary.LittleEndian.PutUint16(tc[6:], uint16(len(path)))
	tc = append(tc, path...)
	name := utf16le("svcctl")
	create := make([]byte, 56)
	binary.LittleEndian.PutUint16(create[44:], 64+56)
	binary.LittleEndian.PutUint16(create[46:], uint16(len(name)))
	create = append(create, name...)
	bind := rpcBind(svcctlUUID)
	write := make([]byte, 48)
	binary.LittleEndian.PutUint16(write[2:], 64+48)
	binary.LittleEndian.PutUint32(write[4:], uint32(len(bind)))
	write = append(write, bind...)
	neg := make([]byte, 8)
	binary.LittleEndian.PutUint16(neg[4:], 0x0311)

	in := NewInspector(false)
	client := slices.Concat(demogen.SMB2(3, false, 1, 0, tc), demogen.SMB2(5, false, 2, 7, create), demogen.SMB2(9, false, 3, 7, write))
	in.Stream(FromResp, demogen.SMB2(0, true, 0, 0, neg))
	in.Stream(FromOrig, client[:100])
	in.Stream(FromResp, demogen.SMB2(3, true, 1, 7, make([]byte, 16)))
	in.Stream(FromOrig, client[100:])
	f := in.Facts()
	if f == nil || f.SMB == nil {
		t.Fatalf("no SMB facts; services %q", in.Services())
	}
	if f.SMB.Dialect != "3.1.1" || !slices.Equal(f.SMB.Trees, []string{`\\dc01\IPC$`}) || !slices.Equal(f.SMB.Pipes, []string{"svcctl"}) {
		t.Errorf("smb %+v", f.SMB)
	}
	if f.DCERPC == nil || !slices.Equal(f.DCERPC.Interfaces, []string{"svcctl"}) || in.Services() != "smb,dce_rpc" {
		t.Errorf("services %q rpc %+v", in.Services(), f.DCERPC)
	}
}

func TestDNS(t *testing.T) {
	q := []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	q = append(q, 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1)
	r := bytes.Clone(q)
	r[2], r[7] = 0x81, 1
	r = append(r, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, 184, 216, 34)
	in := NewInspector(true)
	in.Datagram(FromOrig, q)
	in.Datagram(FromResp, r)
	f := in.Facts()
	if in.Services() != "dns" || !slices.Equal(f.DNS.Queries, []string{"www.example.com A"}) || f.DNS.QueriesTotal != 1 || !slices.Equal(slices.Collect(f.DNS.Answers.All()), []DNSAnswer{{Name: "www.example.com", Type: "A", Addr: netip.MustParseAddr("93.184.216.34")}}) {
		t.Errorf("services %q dns %+v", in.Services(), f.DNS)
	}
	// A compression loop must not hang.
	loop := append(q[:12:12], 0xc0, 12, 0, 1, 0, 1)
	if looksDNS(loop) {
		t.Errorf("a name that points at itself parsed")
	}
}

// TestLDAPOverUDP names connectionless LDAP (a domain controller locator's
// search on UDP 389) ldap_udp, as Zeek's LDAP analyzer over UDP does; a
// datagram that only starts like one is not.
func TestLDAPOverUDP(t *testing.T) {
	search := []byte{0x04, 0x00, 0x0a, 0x01, 0x00, 0x0a, 0x01, 0x00, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x01, 0x01, 0x00,
		0x87, 0x0b, 'o', 'b', 'j', 'e', 'c', 't', 'C', 'l', 'a', 's', 's', 0x30, 0x0a, 0x04, 0x08, 'N', 'e', 't', 'l', 'o', 'g', 'o', 'n'}
	op := append([]byte{0x63, byte(len(search))}, search...)
	msg := append([]byte{0x02, 0x01, 0x07}, op...)
	msg = append([]byte{0x30, byte(len(msg))}, msg...)
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"search", msg, "ldap_udp"},
		{"trailing bytes", append(bytes.Clone(msg), 0), ""},
	} {
		in := NewInspector(true)
		in.Datagram(FromOrig, tt.data)
		if got := in.Services(); got != tt.want {
			t.Errorf("%s: services %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestLDAPSimpleBind(t *testing.T) {
	dn := "cn=admin,dc=corp"
	bind := []byte{0x02, 0x01, 0x03, 0x04, byte(len(dn))}
	bind = append(bind, dn...)
	bind = append(bind, 0x80, 0x03, 'p', 'w', 'd')
	op := append([]byte{0x60, byte(len(bind))}, bind...)
	msg := append([]byte{0x02, 0x01, 0x01}, op...)
	msg = append([]byte{0x30, byte(len(msg))}, msg...)
	in := NewInspector(false)
	in.Stream(FromOrig, msg)
	if f := in.Facts(); in.Services() != "ldap_tcp" || f.LDAP.BindName != dn || f.LDAP.BindType != "simple" {
		t.Errorf("services %q ldap %+v", in.Services(), f)
	}
}

// GSS-API tokens as SMB session setups and LDAP SASL binds carry them: a
// Kerberos AP-REQ and the start of a SPNEGO negotiation.
var (
	apReq  = []byte{0x60, 0x20, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00, 0x6e, 0x10}
	spnego = []byte{0x60, 0x40, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}
)

// TestLDAPSASLGSSAPI names the GSS-API negotiation and the Kerberos
// ticket of an LDAP SASL bind with GSS-SPNEGO, as Zeek's conn.log does for
// its ldap/gap-data-missing trace ("krb,gssapi,ldap_tcp"); a SASL bind
// with another mechanism names LDAP alone.
func TestLDAPSASLGSSAPI(t *testing.T) {
	for _, tt := range []struct {
		mech  string
		token []byte
		want  string
	}{
		{"GSS-SPNEGO", slices.Concat(spnego, apReq, make([]byte, 20)), "gssapi,ldap_tcp,krb"},
		{"DIGEST-MD5", []byte("username=\"a\""), "ldap_tcp"},
	} {
		creds := slices.Concat([]byte{0x04, byte(len(tt.mech))}, []byte(tt.mech), []byte{0x04, byte(len(tt.token))}, tt.token)
		bind := slices.Concat([]byte{0x02, 0x01, 0x03, 0x04, 0x00, 0xa3, byte(len(creds))}, creds)
		msg := slices.Concat([]byte{0x02, 0x01, 0x01, 0x60, byte(len(bind))}, bind)
		msg = slices.Concat([]byte{0x30, byte(len(msg))}, msg)
		in := NewInspector(false)
		in.Stream(FromOrig, msg)
		f := in.Facts()
		if got := in.Services(); got != tt.want || f.LDAP.BindType != "sasl:"+tt.mech {
			t.Errorf("%s: services %q, bind type %q; want %q", tt.mech, got, f.LDAP.BindType, tt.want)
		}
	}
}

func TestUnknownProtocolStops(t *testing.T) {
	in := NewInspector(false)
	for range 10 {
		in.Stream(FromOrig, bytes.Repeat([]byte{0x42}, 1000))
	}
	if f := in.Facts(); !in.Done() || in.Services() != "" || f != nil || in.Unidentified() != 5000 {
		t.Errorf("done %v services %q facts %+v unidentified %d, want 5,000 unidentified bytes", in.Done(), in.Services(), f, in.Unidentified())
	}
	// Bytes the snap length cut, or lost to a gap, are not all the payload.
	in = NewInspector(true)
	in.Cut()
	in.Datagram(FromOrig, bytes.Repeat([]byte{0x42}, 100))
	if n := in.Unidentified(); n != 0 {
		t.Errorf("a cut datagram: %d unidentified bytes", n)
	}
}

// TestDNSAnswers checks the answers a conversation keeps: every type read,
// names shared or not, the bound per conversation, and nothing carried
// over to the next conversation after Reset.
func TestDNSAnswers(t *testing.T) {
	ip := netip.MustParseAddr
	question := []byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'c', 'd', 'n', 2, 'i', 'o', 0, 0, 1, 0, 1}
	response := func(records ...[]byte) []byte {
		r := bytes.Clone(question)
		r[7] = byte(len(records))
		for _, rec := range records {
			r = append(r, rec...)
		}
		return r
	}
	a := func(owner []byte, addr ...byte) []byte {
		return append(append(bytes.Clone(owner), 0, 1, 0, 1, 0, 0, 0, 60, 0, 4), addr...)
	}
	aaaa := append([]byte{0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16}, netip.MustParseAddr("2001:db8::1").AsSlice()...)
	cname := []byte{0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3, 'e', 'd', 'g', 0xc0, 16}
	other := []byte{1, 'x', 0xc0, 12} // x.cdn.io
	self := []byte{0xc0, 12}
	many := make([][]byte, 64)
	for i := range many {
		many[i] = a(self, 10, 0, 0, byte(i))
	}
	for _, tc := range []struct {
		name      string
		responses [][]byte
		want      []DNSAnswer
		count     int // when want is nil: how many answers
	}{
		{"types", [][]byte{response(a(self, 10, 1, 2, 3), aaaa, cname)}, []DNSAnswer{
			{"cdn.io", "A", ip("10.1.2.3"), ""}, {"cdn.io", "AAAA", ip("2001:db8::1"), ""}, {"cdn.io", "CNAME", netip.Addr{}, "edg.io"}}, 0},
		{"names", [][]byte{response(a(self, 1, 1, 1, 1), a(other, 2, 2, 2, 2), a(self, 3, 3, 3, 3))}, []DNSAnswer{
			{"cdn.io", "A", ip("1.1.1.1"), ""}, {"x.cdn.io", "A", ip("2.2.2.2"), ""}, {"cdn.io", "A", ip("3.3.3.3"), ""}}, 0},
		{"bound", [][]byte{response(many...), response(many...)}, nil, maxAnswers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := NewInspector(true)
			in.Datagram(FromResp, response(a(self, 9, 9, 9, 9))) // a conversation before
			in.Reset(true)
			for _, r := range tc.responses {
				in.Datagram(FromResp, r)
			}
			got := slices.Collect(in.Facts().DNS.Answers.All())
			if tc.want == nil {
				if len(got) != tc.count || got[0].Addr != ip("10.0.0.0") {
					t.Errorf("%d answers, first %+v; want %d", len(got), got[0], tc.count)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("answers %+v\nwant    %+v", got, tc.want)
			}
		})
	}
}

// TestKept: what a conversation keeps of its DNS queries and answers is
// counted as it grows, within the lists' bounds, and nothing once the
// Inspector is reset.
func TestKept(t *testing.T) {
	in := NewInspector(true)
	query := func(i int) []byte {
		name := fmt.Sprintf("%040x", i)
		q := append([]byte{0, byte(i), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, byte(len(name))}, name...)
		return append(q, 3, 'c', 'o', 'm', 0, 0, 1, 0, 1)
	}
	before := 0
	for i := range 4 * maxListItems {
		in.Datagram(FromOrig, query(i))
		if kept := in.Kept(); kept < before || i < maxListItems && kept < before+40 {
			t.Fatalf("query %d: %d bytes kept, %d before", i, kept, before)
		}
		before = in.Kept()
	}
	// 16 queries of 48 bytes, then 2 KiB more and their hashes.
	if before > maxListItems*48+maxMoreQueries+8*4*maxListItems {
		t.Errorf("%d bytes kept for %d queries", before, 4*maxListItems)
	}
	if in.Reset(true); in.Kept() != 0 {
		t.Errorf("%d bytes kept after Reset", in.Kept())
	}
	// A response that announces 64 answers and holds three, of long names
	// of their own: the room made for the rest counts, and does not go
	// with the answers.
	name := func(c byte) []byte { // four labels of 50
		return bytes.Repeat(append([]byte{50}, bytes.Repeat([]byte{c}, 50)...), 4)
	}
	r := []byte{0, 1, 0x81, 0x80, 0, 1, 0, 64, 0, 0, 0, 0, 3, 'c', 'd', 'n', 0, 0, 1, 0, 1}
	for _, c := range []byte{'a', 'b', 'c'} {
		r = append(append(r, name(c)...), 0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, c)
	}
	in.Datagram(FromResp, r)
	if kept, room := in.Kept(), cap(in.answers.buf); kept < room || room < 1000 {
		t.Errorf("%d bytes kept for answers with room for %d", kept, room)
	}
	room := unsafe.SliceData(in.answers.buf)
	if a := in.Facts().DNS.Answers; a.Len() != 3 || a.Bytes() > 700 || unsafe.StringData(a.enc) == room {
		t.Errorf("%d answers in %d bytes, in the buffer with room for 64: %v", a.Len(), a.Bytes(), unsafe.StringData(a.enc) == room)
	}
}

// TestRFB names VNC's protocol by its version message, on any port.
func TestRFB(t *testing.T) {
	for _, tt := range []struct {
		first string
		want  string
	}{
		{"RFB 003.008\n", "rfb"},
		{"RFB 003.889\n", "rfb"}, // Apple Remote Desktop
		{"RFB 3.8\n", ""},
		{"RFB 003.008", ""},
	} {
		in := NewInspector(false)
		in.Stream(FromResp, []byte(tt.first))
		if got := in.Services(); got != tt.want {
			t.Errorf("%q: service %q, want %q", tt.first, got, tt.want)
		}
	}
}

// TestRPCAttackOperations names the operations that are attacks on their
// own, after a bind to their interface.
func TestRPCAttackOperations(t *testing.T) {
	eventlog := [16]byte{0xdc, 0x3f, 0x27, 0x82, 0x2a, 0xe3, 0xc3, 0x18, 0x3f, 0x78, 0x82, 0x79, 0x29, 0xdc, 0x23, 0xea}
	drsuapi := [16]byte{0x35, 0x42, 0x51, 0xe3, 0x06, 0x4b, 0xd1, 0x11, 0xab, 0x04, 0x00, 0xc0, 0x4f, 0xc2, 0xdc, 0xd2}
	for _, tt := range []struct {
		uuid  [16]byte
		opnum uint16
		want  string
	}{
		{eventlog, 0, "eventlog:ElfrClearELFW"},
		{drsuapi, 17, "drsuapi:DRSAddEntry"},
		{drsuapi, 5, "drsuapi:DRSReplicaAdd"},
	} {
		in := NewInspector(false)
		in.Stream(FromOrig, append(rpcBind(tt.uuid), rpcRequest(tt.opnum)...))
		if f := in.Facts(); f == nil || f.DCERPC == nil || !slices.Equal(f.DCERPC.Operations, []string{tt.want}) {
			t.Errorf("opnum %d: facts %+v, want %s", tt.opnum, f, tt.want)
		}
	}
}

// TestSMBLogonFailures counts session setups refused for a wrong password,
// in SMB2 and SMB1 replies, and not others.
func TestSMBLogonFailures(t *testing.T) {
	nbss := func(msg []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...) }
	smb2 := func(status uint32, response bool) []byte {
		h := make([]byte, 72)
		copy(h, "\xfeSMB")
		binary.LittleEndian.PutUint16(h[4:], 64)
		binary.LittleEndian.PutUint32(h[8:], status)
		binary.LittleEndian.PutUint16(h[12:], 1) // SESSION_SETUP
		if response {
			h[16] = 1
		}
		return nbss(h)
	}
	smb1 := func(status uint32) []byte {
		h := make([]byte, 40)
		copy(h, "\xffSMB")
		h[4] = 0x73 // SESSION_SETUP_ANDX
		binary.LittleEndian.PutUint32(h[5:], status)
		h[9] = 0x80 // a reply
		return nbss(h)
	}
	for _, tt := range []struct {
		name     string
		messages [][]byte
		want     int
	}{
		{"SMB2, three refused", [][]byte{smb2(0xC000006D, true), smb2(0xC000006D, true), smb2(0xC000006D, true)}, 3},
		{"SMB2, more processing then success", [][]byte{smb2(0xC0000016, true), smb2(0, true)}, 0},
		{"SMB1, one refused", [][]byte{smb1(0xC000006D)}, 1},
	} {
		in := NewInspector(false)
		for _, m := range tt.messages {
			in.Stream(FromResp, m)
		}
		f := in.Facts()
		got := 0
		if f != nil && f.SMB != nil {
			got = f.SMB.LogonFailures
		}
		if got != tt.want || in.Services() != "smb" {
			t.Errorf("%s: %d failures, service %q; want %d", tt.name, got, in.Services(), tt.want)
		}
	}
}

// TestDNSQueriesPastTheFirst: a DNS conversation is read past 16
// datagrams, its queries past the first 16 kept apart, distinct and
// bounded; TXT lookups all counted.
func TestDNSQueriesPastTheFirst(t *testing.T) {
	query := func(name string) []byte {
		q := []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}
		for label := range strings.SplitSeq(name, ".") {
			q = append(append(q, byte(len(label))), label...)
		}
		return append(q, 0, 0, 16, 0, 1) // TXT
	}
	in := NewInspector(true)
	for i := range 300 {
		in.Datagram(FromOrig, query(fmt.Sprintf("%08x.t.example.com", i%200)))
	}
	f := in.Facts().DNS
	more := 0
	for _, q := range f.More {
		more += len(q) + 1
	}
	if len(f.Queries) != 16 || len(f.More) < 50 || more > maxMoreQueries || f.TXT != 300 || in.Done() {
		t.Errorf("%d queries, %d more (%d bytes), %d TXT, done %v", len(f.Queries), len(f.More), more, f.TXT, in.Done())
	}
	if slices.Contains(f.More, f.Queries[0]) || len(slices.Compact(slices.Sorted(slices.Values(f.More)))) != len(f.More) {
		t.Errorf("the queries past the first 16 repeat: %v", f.More[:3])
	}
}

// peFile is the start of a PE file for machine.
func peFile(machine uint16) []byte {
	p := make([]byte, 0x100)
	copy(p, "MZ")
	binary.LittleEndian.PutUint32(p[0x3c:], 0x80)
	copy(p[0x80:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(p[0x84:], machine)
	return p
}

// TestExecutableOverRawTCP finds a PE file at the start of a stream no
// protocol was found in, at once or after a four-byte length, and not a
// lookalike.
func TestExecutableOverRawTCP(t *testing.T) {
	staged := append([]byte{0, 0x30, 0x02, 0}, peFile(0x8664)...) // Metasploit: the DLL's length, then the DLL
	broken := peFile(0x14c)
	broken[0x81] = 'X'
	for _, tt := range []struct {
		name     string
		segments [][]byte
		want     *PEFacts
	}{
		{"x86 at once", [][]byte{peFile(0x14c)}, &PEFacts{Sender: "resp", Machine: "x86"}},
		{"x64 after a length, in two segments", [][]byte{staged[:4], staged[4:]}, &PEFacts{Sender: "resp", Machine: "x64"}},
		{"MZ without a PE signature", [][]byte{broken}, nil},
	} {
		in := NewInspector(false)
		for _, s := range tt.segments {
			in.Stream(FromResp, s)
		}
		var got *PEFacts
		if f := in.Facts(); f != nil {
			got = f.PE
		}
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestMS17010 recognises the signs of EternalBlue in SMB1: the probe
// answered as unpatched, TRANS2 SESSION_SETUP, a burst of TRANS2
// SECONDARY; an ordinary TRANS is none.
func TestMS17010(t *testing.T) {
	smb1 := func(command byte, status uint32, reply bool, words byte, setup uint16) []byte {
		w := make([]byte, 2*int(words))
		if len(w) >= 30 { // a TRANS or TRANS2 request: one setup word
			w[26] = 1
			binary.LittleEndian.PutUint16(w[28:], setup)
		}
		return smb1Msg(command, reply, status, 0, 0, w, nil)
	}
	peek := smb1(0x25, 0, false, 16, 0x23)
	unpatched := smb1(0x25, 0xC0000205, true, 0, 0)
	for _, tt := range []struct {
		name string
		orig [][]byte
		resp [][]byte
		want []string
	}{
		{"probe answered", [][]byte{peek}, [][]byte{unpatched}, []string{ms17010Unpatched}},
		{"probe answered, patched", [][]byte{peek}, [][]byte{smb1(0x25, 0xC0000022, true, 0, 0)}, nil},
		{"TRANS2 SESSION_SETUP", [][]byte{smb1(0x32, 0, false, 15, 0x0e)}, nil, []string{ms17010SessionSetup}},
		{"TRANS2 SECONDARY burst", slices.Repeat([][]byte{smb1(0x33, 0, false, 9, 0)}, 12), nil, []string{ms17010Secondaries}},
		{"a few TRANS2 SECONDARY", slices.Repeat([][]byte{smb1(0x33, 0, false, 9, 0)}, 3), nil, nil},
	} {
		in := NewInspector(false)
		for _, m := range tt.orig {
			in.Stream(FromOrig, m)
		}
		for _, m := range tt.resp {
			in.Stream(FromResp, m)
		}
		if got := in.Facts().SMB.MS17010; !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestEndpointEntries sums the entries an endpoint mapper's ept_lookup
// responses list, and not those of other responses.
func TestEndpointEntries(t *testing.T) {
	epmapper := [16]byte{0x08, 0x83, 0xaf, 0xe1, 0x1f, 0x5d, 0xc9, 0x11, 0x91, 0xa4, 0x08, 0x00, 0x2b, 0x14, 0xa0, 0xfa}
	response := func(callID, entries uint32) []byte {
		p := make([]byte, 24+24)
		p[0], p[2] = 5, 2
		binary.LittleEndian.PutUint16(p[8:], uint16(len(p)))
		binary.LittleEndian.PutUint32(p[12:], callID)
		binary.LittleEndian.PutUint32(p[24+20:], entries)
		return p
	}
	lookup := rpcRequest(2)
	binary.LittleEndian.PutUint32(lookup[12:], 7) // call id
	in := NewInspector(false)
	in.Stream(FromOrig, append(rpcBind(epmapper), lookup...))
	in.Stream(FromResp, append(response(7, 250), response(8, 1000)...)) // 8 answers no lookup
	if f := in.Facts().DCERPC; f == nil || f.EndpointEntries != 250 || !slices.Equal(f.Operations, []string{"epmapper:ept_lookup"}) {
		t.Errorf("facts %+v, want 250 entries", f)
	}
}

// TestLDAPBindFailures counts binds answered invalidCredentials, not
// successful ones.
func TestLDAPBindFailures(t *testing.T) {
	bind := []byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00}
	response := func(code byte) []byte {
		return []byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, code, 0x04, 0x00, 0x04, 0x00}
	}
	in := NewInspector(false)
	in.Stream(FromOrig, bind)
	in.Stream(FromResp, slices.Concat(response(49), response(49), response(0)))
	if f := in.Facts(); f == nil || f.LDAP == nil || f.LDAP.BindFailures != 2 {
		t.Errorf("facts %+v, want 2 bind failures", f)
	}
}

// TestFTPLoginFailures reads an FTP server's replies after its greeting,
// a line split across segments included, and counts refused logins and
// the one accepted.
func TestFTPLoginFailures(t *testing.T) {
	in := NewInspector(false)
	in.Stream(FromResp, []byte("220 ProFTPD Server (ftp.example)\r\n"))
	for range 3 {
		in.Stream(FromResp, []byte("331 Password required\r\n530 Login inc"))
		in.Stream(FromResp, []byte("orrect.\r\n"))
	}
	in.Stream(FromResp, []byte("230 User logged in\r\n"))
	f := in.Facts()
	if in.Services() != "ftp" || f.Banner == nil || f.Banner.Server != "220 ProFTPD Server (ftp.example)" || f.Banner.LoginFailures != 3 || f.Banner.Logins != 1 {
		t.Errorf("service %q, banner %+v", in.Services(), f.Banner)
	}
}

// TestSignatures: the services Zeek names that netfx tells by their first
// bytes, and one side alone confirming nothing where Zeek's signatures
// need both.
func TestSignatures(t *testing.T) {
	mysql := append([]byte{30, 0, 0, 0, 10}, "8.0.36\x00"...)
	mysql = append(mysql, make([]byte, 22)...)
	pgStartup := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 41), 196608)
	pgStartup = append(pgStartup, "user\x00postgres\x00database\x00x\x00\x00"...)
	mqtt := append([]byte{0x10, 0x10, 0x00, 0x04}, "MQTT\x04\x02\x00\x3c\x00\x04abcd"...)
	modbusReq := []byte{0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x0a}
	modbusResp := []byte{0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x01, 0x03, 0x02, 0x00, 0x2a}
	dnp3 := []byte{0x05, 0x64, 0x05, 0xc9, 0x01, 0x00, 0x00, 0x04, 0xe9, 0x21}
	for _, tt := range []struct {
		name       string
		orig, resp string
		want       string
	}{
		{"pop3", "USER alice\r\n", "+OK POP3 server ready\r\n", "pop3"},
		{"imap", "a001 CAPABILITY\r\n", "* OK IMAP4rev1 ready\r\n", "imap"},
		{"irc", "NICK alice\r\nUSER alice 0 * :A\r\n", ":irc.example NOTICE * :hi\r\n", "irc"},
		{"xmpp", "<?xml version='1.0'?><stream:stream to='x'>", "<?xml version='1.0'?><stream:stream from='x'>", "xmpp"},
		{"mysql: the server greets", "", string(mysql), "mysql"},
		{"postgresql", string(pgStartup), "R\x00\x00\x00\x08\x00\x00\x00\x00", "postgresql"},
		{"mqtt", string(mqtt), "\x20\x02\x00\x00", "mqtt"},
		{"modbus", string(modbusReq), string(modbusResp), "modbus"},
		{"dnp3", string(dnp3), string(dnp3), "dnp3"},
		{"websocket", "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
			"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "http,websocket"},
		{"a POP3 command alone confirms nothing", "USER alice\r\n", "", ""},
		{"a POP3 command, answered otherwise", "USER alice\r\n", "HTTP/1.1 400 Bad\r\n\r\n", ""},
	} {
		in := NewInspector(false)
		if tt.orig != "" {
			in.Stream(FromOrig, []byte(tt.orig))
		}
		if tt.resp != "" {
			in.Stream(FromResp, []byte(tt.resp))
		}
		if got := in.Services(); got != tt.want {
			t.Errorf("%s: services %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestDatagramSignatures: UDP services told by one datagram.
func TestDatagramSignatures(t *testing.T) {
	dhcp := make([]byte, 300)
	dhcp[0], dhcp[1], dhcp[2] = 1, 1, 6
	binary.BigEndian.PutUint32(dhcp[236:240], 0x63825363)
	snmp := []byte{0x30, 0x1a, 0x02, 0x01, 0x01, 0x04, 0x06, 'p', 'u', 'b', 'l', 'i', 'c', 0xa0, 0x0d, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x02, 0x30, 0x00}
	radius := append(make([]byte, 20), 1, 7, 'a', 'l', 'i', 'c', 'e') // User-Name
	radius[0], radius[3] = 1, byte(len(radius))
	ptp := make([]byte, 64) // a PTP Announce: a length field where RADIUS has one
	ptp[0], ptp[1], ptp[3] = 0x0b, 0x02, 64
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"dhcp", dhcp, "dhcp"},
		{"snmp", snmp, "snmp"},
		{"syslog", []byte("<34>Oct 11 22:14:15 host su: 'su root' failed"), "syslog"},
		{"sip", []byte("INVITE sip:bob@example.com SIP/2.0\r\nVia: x\r\n"), "sip"},
		{"radius", radius, "radius"},
		{"ptp is not radius", ptp, ""},
		{"random bytes", []byte("\x17\x42 not a protocol at all"), ""},
	} {
		in := NewInspector(true)
		in.Datagram(FromOrig, tt.data)
		if got := in.Services(); got != tt.want {
			t.Errorf("%s: services %q, want %q", tt.name, got, tt.want)
		}
	}
}

// smb1Msg builds an SMB1 message in its NBSS frame, with Unicode strings.
func smb1Msg(cmd byte, reply bool, status uint32, tid, mid uint16, words, data []byte) []byte {
	h := make([]byte, 32)
	copy(h, "\xffSMB")
	h[4] = cmd
	binary.LittleEndian.PutUint32(h[5:], status)
	if reply {
		h[9] = 0x80
	}
	binary.LittleEndian.PutUint16(h[10:], 0x8000)
	binary.LittleEndian.PutUint16(h[24:], tid)
	binary.LittleEndian.PutUint16(h[30:], mid)
	h = append(h, byte(len(words)/2))
	h = append(h, words...)
	h = binary.LittleEndian.AppendUint16(h, uint16(len(data)))
	h = append(h, data...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(h))), h...)
}

// TestSMB1PipesAndRPC follows DCE-RPC over SMB1 named pipes as PsExec-like
// tools drive it: TREE_CONNECT_ANDX to IPC$, NT_CREATE_ANDX of \svcctl,
// the bind written, a call by TransactNmPipe, the answer read.
func TestSMB1PipesAndRPC(t *testing.T) {
	andx := []byte{smb1NoAndX, 0, 0, 0}
	// TREE_CONNECT_ANDX: flags, a password of one byte, then the path
	// (aligned) and the service.
	tcWords := append(slices.Clone(andx), 0, 0, 1, 0)
	tcData := append([]byte{0}, utf16le(`\\DC01\IPC$`)...)
	tcData = append(tcData, 0, 0, '?', '?', '?', '?', '?', 0)
	treeConnect := smb1Msg(smb1TreeConnect, false, 0, 0, 1, tcWords, tcData)
	treeReply := smb1Msg(smb1TreeConnect, true, 0, 2048, 1, append(slices.Clone(andx), 0, 0), nil)
	// NT_CREATE_ANDX: the name's length at word byte 5, the name after a pad.
	name := utf16le(`\svcctl`)
	createWords := make([]byte, 48)
	copy(createWords, andx)
	binary.LittleEndian.PutUint16(createWords[5:], uint16(len(name)))
	create := smb1Msg(smb1NTCreate, false, 0, 2048, 2, createWords, append([]byte{0}, name...))
	createReplyWords := make([]byte, 68)
	copy(createReplyWords, andx)
	binary.LittleEndian.PutUint16(createReplyWords[5:], 0x4000) // the pipe's FID
	createReply := smb1Msg(smb1NTCreate, true, 0, 2048, 2, createReplyWords, nil)
	// WRITE_ANDX of the bind: FID, length and offset of the data.
	bind := rpcBind(svcctlUUID)
	writeWords := make([]byte, 28)
	copy(writeWords, andx)
	binary.LittleEndian.PutUint16(writeWords[4:], 0x4000)
	binary.LittleEndian.PutUint16(writeWords[20:], uint16(len(bind)))
	binary.LittleEndian.PutUint16(writeWords[22:], 32+1+28+2+1)
	write := smb1Msg(smb1WriteAndX, false, 0, 2048, 3, writeWords, append([]byte{0}, bind...))
	// TRANS TransactNmPipe of CreateServiceW: data count and offset, two
	// setup words (the subcommand, the FID).
	call := rpcRequest(12)
	transWords := make([]byte, 32)
	binary.LittleEndian.PutUint16(transWords[22:], uint16(len(call)))
	binary.LittleEndian.PutUint16(transWords[24:], 32+1+32+2)
	transWords[26] = 2
	binary.LittleEndian.PutUint16(transWords[28:], 0x26)
	binary.LittleEndian.PutUint16(transWords[30:], 0x4000)
	trans := smb1Msg(smb1Trans, false, 0, 2048, 4, transWords, call)

	in := NewInspector(false)
	in.Stream(FromOrig, treeConnect)
	in.Stream(FromResp, treeReply)
	in.Stream(FromOrig, create)
	in.Stream(FromResp, createReply)
	in.Stream(FromOrig, write)
	in.Stream(FromOrig, trans)
	// A call on another pipe, whose bind the capture missed: each pipe is
	// an association of its own, so it is not svcctl's.
	binary.LittleEndian.PutUint16(transWords[30:], 0x5000)
	in.Stream(FromOrig, smb1Msg(smb1Trans, false, 0, 2048, 5, transWords, rpcRequest(7)))
	f := in.Facts()
	if f == nil || f.SMB == nil {
		t.Fatalf("no SMB facts; services %q", in.Services())
	}
	if !slices.Equal(f.SMB.Trees, []string{`\\DC01\IPC$`}) || !slices.Equal(f.SMB.Pipes, []string{"svcctl"}) || len(f.SMB.Files) != 0 {
		t.Errorf("smb %+v", f.SMB)
	}
	if f.DCERPC == nil || !slices.Equal(f.DCERPC.Interfaces, []string{"svcctl"}) ||
		!slices.Equal(f.DCERPC.Operations, []string{"svcctl:CreateServiceW"}) || in.Services() != "smb,dce_rpc" {
		t.Errorf("services %q rpc %+v", in.Services(), f.DCERPC)
	}

	// A file on another share is no pipe, and what is written to it is
	// not read as RPC even when it looks like it.
	in = NewInspector(false)
	in.Stream(FromOrig, smb1Msg(smb1TreeConnect, false, 0, 0, 1, tcWords, append([]byte{0}, append(utf16le(`\\DC01\C$`), 0, 0)...)))
	in.Stream(FromResp, smb1Msg(smb1TreeConnect, true, 0, 7, 1, append(slices.Clone(andx), 0, 0), nil))
	in.Stream(FromOrig, smb1Msg(smb1NTCreate, false, 0, 7, 2, createWords, append([]byte{0}, name...)))
	binary.LittleEndian.PutUint16(writeWords[4:], 0x4001)
	in.Stream(FromOrig, smb1Msg(smb1WriteAndX, false, 0, 7, 3, writeWords, append([]byte{0}, bind...)))
	if f := in.Facts(); !slices.Equal(f.SMB.Files, []string{"svcctl"}) || f.DCERPC != nil {
		t.Errorf("a file on C$: smb %+v rpc %+v", f.SMB, f.DCERPC)
	}
}

// TestSMB2PipesAreSeparateAssociations binds two pipes of one session,
// each with context 0, and checks that a call on the first is named by
// the first's interface.
// smb2Write is an SMB2 WRITE of pdu to the pipe whose file id is fid.
func smb2Write(msgID uint64, fid byte, pdu []byte) []byte {
	body := make([]byte, 48)
	binary.LittleEndian.PutUint16(body[2:], 64+48)
	binary.LittleEndian.PutUint32(body[4:], uint32(len(pdu)))
	body[16], body[24] = fid, fid // the file id's persistent and volatile halves
	return demogen.SMB2(9, false, msgID, 0, append(body, pdu...))
}

func TestSMB2PipesAreSeparateAssociations(t *testing.T) {
	write := smb2Write
	winreg := [16]byte{0x01, 0xd0, 0x8c, 0x33, 0x44, 0x22, 0xf1, 0x31, 0xaa, 0xaa, 0x90, 0x00, 0x38, 0x00, 0x10, 0x03}
	in := NewInspector(false)
	in.Stream(FromOrig, slices.Concat(write(1, 1, rpcBind(svcctlUUID)), write(2, 2, rpcBind(winreg)), write(3, 1, rpcRequest(12))))
	f := in.Facts()
	if f.DCERPC == nil || !slices.Equal(f.DCERPC.Operations, []string{"svcctl:CreateServiceW"}) {
		t.Errorf("rpc %+v, want the call on the first pipe named svcctl's", f.DCERPC)
	}
}

// TestLoginFailures reads the answers to logins that HTTP, VNC, MySQL and
// PostgreSQL servers refuse, and not the refusals that are part of a
// handshake.
func TestLoginFailures(t *testing.T) {
	ntlm := func(typ uint32) string {
		m := append([]byte("NTLMSSP\x00"), binary.LittleEndian.AppendUint32(nil, typ)...)
		return base64.StdEncoding.EncodeToString(append(m, make([]byte, 64)...))
	}
	req := func(auth string) string {
		if auth != "" {
			auth = "Authorization: " + auth + "\r\n"
		}
		return "POST /wsman HTTP/1.1\r\nHost: dc\r\n" + auth + "Content-Length: 4\r\n\r\nbody"
	}
	resp := func(status string) string { return "HTTP/1.1 " + status + "\r\nContent-Length: 2\r\n\r\nno" }
	mysqlPacket := func(seq byte, p []byte) []byte {
		return append([]byte{byte(len(p)), byte(len(p) >> 8), 0, seq}, p...)
	}
	greeting := mysqlPacket(0, append([]byte{10}, "8.0.36\x00xxxxxxxxxxxxxxxxxxxxxxxx"...))
	pgStartup := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 8), 196608)
	pgMessage := func(typ byte, body []byte) []byte {
		return append(binary.BigEndian.AppendUint32([]byte{typ}, uint32(4+len(body))), body...)
	}
	rfbVersion := []byte("RFB 003.008\n")
	for _, tt := range []struct {
		name       string
		orig, resp [][]byte
		want       func(*Facts) int
		failures   int
	}{
		{"HTTP Basic refused three times", [][]byte{[]byte(req("Basic YTpi") + req("Basic YTpj") + req("Basic YTpk"))},
			[][]byte{[]byte(resp("401 Unauthorized") + resp("401 Unauthorized") + resp("401 Unauthorized"))}, httpFailures, 3},
		{"HTTP NTLM handshake that succeeds", [][]byte{[]byte(req("") + req("NTLM "+ntlm(1)) + req("NTLM "+ntlm(3)))},
			[][]byte{[]byte(resp("401 Unauthorized") + resp("401 Unauthorized") + resp("200 OK"))}, httpFailures, 0},
		{"HTTP NTLM handshake that succeeds: a login", [][]byte{[]byte(req("") + req("NTLM "+ntlm(1)) + req("NTLM "+ntlm(3)))},
			[][]byte{[]byte(resp("401 Unauthorized") + resp("401 Unauthorized") + resp("200 OK"))}, httpLogins, 1},
		{"HTTP Basic refused, then taken", [][]byte{[]byte(req("Basic YTpi") + req("Basic YTpj") + req("Basic YTpk"))},
			[][]byte{[]byte(resp("401 Unauthorized") + resp("401 Unauthorized") + resp("302 Found"))}, httpLogins, 1},
		{"HTTP Basic taken at once", [][]byte{[]byte(req("Basic YTpi"))}, [][]byte{[]byte(resp("200 OK"))}, httpLogins, 1},
		{"HTTP Basic refused three times: no login", [][]byte{[]byte(req("Basic YTpi") + req("Basic YTpj") + req("Basic YTpk"))},
			[][]byte{[]byte(resp("401 Unauthorized") + resp("401 Unauthorized") + resp("401 Unauthorized"))}, httpLogins, 0},
		{"HTTP NTLM handshake that fails", [][]byte{[]byte(req("") + req("NTLM "+ntlm(1)) + req("NTLM "+ntlm(3)))},
			[][]byte{[]byte(resp("401 Unauthorized") + resp("401 Unauthorized") + resp("401 Unauthorized"))}, httpFailures, 1},
		{"VNC password refused", [][]byte{rfbVersion, {2}, make([]byte, 16)},
			[][]byte{rfbVersion, {1, 2}, make([]byte, 16), {0, 0, 0, 1}}, rfbFailures, 1},
		{"VNC password accepted", [][]byte{rfbVersion, {2}, make([]byte, 16)},
			[][]byte{rfbVersion, {1, 2}, make([]byte, 16), {0, 0, 0, 0}}, rfbFailures, 0},
		{"MySQL access denied", [][]byte{mysqlPacket(1, make([]byte, 40))},
			[][]byte{greeting, mysqlPacket(2, append([]byte{0xff, 0x15, 0x04}, "#28000Access denied"...))}, dbFailures, 1},
		{"MySQL login accepted", [][]byte{mysqlPacket(1, make([]byte, 40))},
			[][]byte{greeting, mysqlPacket(2, []byte{0, 0, 0, 2, 0, 0, 0})}, dbFailures, 0},
		{"PostgreSQL password refused", [][]byte{pgStartup},
			[][]byte{slices.Concat(pgMessage('R', []byte{0, 0, 0, 5, 1, 2, 3, 4}), pgMessage('E', []byte("SFATAL\x00C28P01\x00Mpassword authentication failed\x00\x00")))}, dbFailures, 1},
		{"PostgreSQL login accepted", [][]byte{pgStartup}, [][]byte{pgMessage('R', []byte{0, 0, 0, 0})}, dbFailures, 0},
	} {
		in := NewInspector(false)
		for i := range max(len(tt.orig), len(tt.resp)) {
			if i < len(tt.orig) {
				in.Stream(FromOrig, tt.orig[i])
			}
			if i < len(tt.resp) {
				in.Stream(FromResp, tt.resp[i])
			}
		}
		got := 0
		if f := in.Facts(); f != nil {
			got = tt.want(f)
		}
		// The same, one byte a segment: streams read as they come give the
		// same count.
		bytewise := NewInspector(false)
		for i := range max(len(tt.orig), len(tt.resp)) {
			for dir, msgs := range [][][]byte{tt.orig, tt.resp} {
				if i < len(msgs) {
					for _, b := range msgs[i] {
						bytewise.Stream(dir, []byte{b})
					}
				}
			}
		}
		if f := bytewise.Facts(); (f == nil && got != 0) || f != nil && tt.want(f) != got {
			t.Errorf("%s: one byte a segment gives another count", tt.name)
		}
		if got != tt.failures {
			t.Errorf("%s: %d failures, want %d (services %q)", tt.name, got, tt.failures, in.Services())
		}
	}
}

func httpFailures(f *Facts) int {
	return when(f.HTTP != nil, func() int { return f.HTTP.AuthFailures })
}
func httpLogins(f *Facts) int  { return when(f.HTTP != nil, func() int { return f.HTTP.Logins }) }
func rfbFailures(f *Facts) int { return when(f.RFB != nil, func() int { return f.RFB.AuthFailures }) }
func dbFailures(f *Facts) int  { return when(f.DB != nil, func() int { return f.DB.LoginFailures }) }

func when(ok bool, f func() int) int {
	if ok {
		return f()
	}
	return 0
}

// TestExecutableOverHTTP finds a Windows executable at the start of the
// first response's body, with a Content-Length or chunked, or of an
// upload's; an ordinary body is none.
func TestExecutableOverHTTP(t *testing.T) {
	exe := append(peFile(0x8664), make([]byte, 2000)...)
	get := []byte("GET /tool.exe HTTP/1.1\r\nHost: 203.0.113.9\r\n\r\n")
	for _, tt := range []struct {
		name       string
		orig, resp []byte
		want       *PEFacts
	}{
		{"download", get, fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(exe), exe), &PEFacts{Sender: "resp", Machine: "x64"}},
		{"chunked download", get, fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(exe), exe), &PEFacts{Sender: "resp", Machine: "x64"}},
		{"upload", fmt.Appendf(nil, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(exe), exe), []byte("HTTP/1.1 204 No Content\r\n\r\n"), &PEFacts{Sender: "orig", Machine: "x64"}},
		{"a page", get, []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n<html></html>"), nil},
	} {
		in := NewInspector(false)
		in.Stream(FromOrig, tt.orig)
		for i := 0; i < len(tt.resp); i += 700 { // in segments
			in.Stream(FromResp, tt.resp[i:min(len(tt.resp), i+700)])
		}
		var got *PEFacts
		if f := in.Facts(); f != nil {
			got = f.PE
		}
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("%s: %+v, want %+v (services %q)", tt.name, got, tt.want, in.Services())
		}
	}
}

// TestHostileContentLength: a Content-Length near the largest integer must
// not overflow the position of the next message.
func TestHostileContentLength(t *testing.T) {
	in := NewInspector(false)
	in.Stream(FromOrig, []byte("GET / HTTP/1.1\r\nAuthorization: Basic YTpi\r\n\r\nGET / HTTP/1.1\r\n\r\n"))
	in.Stream(FromResp, []byte("HTTP/1.1 401 No\r\nContent-Length: 9223372036854775807\r\n\r\n"))
	in.Stream(FromResp, []byte("HTTP/1.1 401 No\r\n\r\n"))
	if f := in.Facts(); f == nil || f.HTTP == nil || f.HTTP.AuthFailures != 1 {
		t.Errorf("facts %+v", f)
	}
}

// TestGSSAPIInSMB names the GSS-API negotiation of an SMB session setup,
// ahead of SMB, and Kerberos when the client sends a ticket, as Zeek's
// conn.log does ("gssapi,smb,ntlm", "gssapi,smb,krb").
func TestGSSAPIInSMB(t *testing.T) {
	ntlmAuth := append([]byte("NTLMSSP\x00\x03\x00\x00\x00"), make([]byte, 80)...)
	for _, tt := range []struct {
		name string
		blob []byte
		want string
	}{
		{"SPNEGO with NTLM", slices.Concat(spnego, ntlmAuth), "gssapi,smb,ntlm"},
		{"SPNEGO with a Kerberos ticket", slices.Concat(spnego, apReq, make([]byte, 40)), "gssapi,smb,krb"},
		{"bare NTLM", ntlmAuth, "smb,ntlm"},
	} {
		body := make([]byte, 24)
		binary.LittleEndian.PutUint16(body[12:], 64+24)
		binary.LittleEndian.PutUint16(body[14:], uint16(len(tt.blob)))
		in := NewInspector(false)
		in.Stream(FromOrig, demogen.SMB2(1, false, 1, 0, append(body, tt.blob...)))
		if got := in.Services(); got != tt.want {
			t.Errorf("%s: services %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestRDPEUDP names RDP over UDP at the server's SYN-ACK, as Zeek's
// RDPEUDP analyzer confirms it, and not on a SYN alone, one of the wrong
// size, or an answer without SYN or ACK.
func TestRDPEUDP(t *testing.T) {
	datagram := func(ack uint32, flags uint16, size int) []byte {
		d := make([]byte, size)
		binary.BigEndian.PutUint32(d, ack)
		binary.BigEndian.PutUint16(d[4:], 64)
		binary.BigEndian.PutUint16(d[6:], flags)
		return d
	}
	syn, synAck := datagram(0xffffffff, 0x1801, 1232), datagram(0x0b127f15, 0x1005, 1232)
	for _, tt := range []struct {
		name      string
		orig, ans []byte
		want      string
	}{
		{"handshake", syn, synAck, "rdpeudp"},
		{"no answer", syn, nil, ""},
		{"SYN not padded", datagram(0xffffffff, 0x0001, 200), synAck, ""},
		{"SYN acknowledging", datagram(0xffffffff, 0x0005, 1232), synAck, ""},
		{"answer without SYN or ACK", syn, datagram(1, 0x0008, 1232), ""},
	} {
		in := NewInspector(true)
		in.Datagram(FromOrig, tt.orig)
		if tt.ans != nil {
			in.Datagram(FromResp, tt.ans)
		}
		if got := in.Services(); got != tt.want {
			t.Errorf("%s: services %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestSTARTTLS follows SMTP's and IMAP's STARTTLS, POP3's STLS and FTP's
// AUTH TLS into the TLS handshake, as Zeek names it: smtp,ssl, imap,ssl,
// pop3,ssl and ftp,ssl; a refusal leaves the protocol alone.
func TestSTARTTLS(t *testing.T) {
	for _, tt := range []struct {
		greeting, ask, agree, want string
	}{
		{"220 mail.example.com ESMTP\r\n", "STARTTLS\r\n", "220 2.0.0 Ready to start TLS\r\n", "smtp,ssl"},
		{"220 FTP server ready\r\n", "AUTH TLS\r\n", "234 AUTH TLS successful\r\n", "ftp,ssl"},
		{"220 mail.example.com ESMTP\r\n", "STARTTLS\r\n", "454 TLS not available\r\n", "smtp"},
		{"* OK IMAP4rev1 ready\r\n", "a1 STARTTLS\r\n", "a1 OK Begin TLS negotiation now\r\n", "imap,ssl"},
		{"+OK POP3 ready\r\n", "STLS\r\n", "+OK Begin TLS\r\n", "pop3,ssl"},
		{"* OK IMAP4rev1 ready\r\n", "a1 STARTTLS\r\n", "a1 BAD no\r\n", "imap"},
		{"<?xml version='1.0'?><stream:stream from='example.com'>", "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
			"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", "xmpp,ssl"},
	} {
		in := NewInspector(false)
		in.Stream(FromResp, []byte(tt.greeting))
		if strings.HasPrefix(tt.greeting, "<?xml") { // the client's stream opens before it asks
			in.Stream(FromOrig, []byte("<?xml version='1.0'?><stream:stream to='example.com'>"))
		}
		in.Stream(FromOrig, []byte(tt.ask))
		in.Stream(FromResp, []byte(tt.agree))
		in.Stream(FromOrig, clientHello("mail.example.com"))
		if got := in.Services(); got != tt.want {
			t.Errorf("%q then %q: services %q, want %q", tt.ask, tt.agree, got, tt.want)
		}
		if f := in.Facts(); strings.HasSuffix(tt.want, ",ssl") && (f == nil || f.TLS == nil || f.TLS.ServerName != "mail.example.com") {
			t.Errorf("%q: TLS %+v", tt.ask, f.TLS)
		}
	}
}

// TestSessionContinues: a conversation that continues another (after an
// inactivity timeout, or across the gap between two capture files) names
// the operations on contexts the earlier one bound, over TCP and in SMB
// pipes, and only when the same protocol continues.
func TestSessionContinues(t *testing.T) {
	tests := []struct {
		name           string
		before, after  []byte
		resume         bool
		wantService    string
		wantOperations []string
	}{
		{"RPC over TCP", slices.Concat(rpcBind(svcctlUUID), rpcRequest(15)), rpcRequest(12), true, "dce_rpc", []string{"svcctl:CreateServiceW"}},
		{"RPC in an SMB2 pipe", smb2Write(1, 7, rpcBind(svcctlUUID)), smb2Write(9, 7, rpcRequest(12)), true, "smb,dce_rpc", []string{"svcctl:CreateServiceW"}},
		{"not resumed", slices.Concat(rpcBind(svcctlUUID), rpcRequest(15)), rpcRequest(12), false, "dce_rpc", nil},
		{"the port reused for HTTP", rpcBind(svcctlUUID), []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), true, "http", nil},
		{"nothing bound before", rpcRequest(15), rpcRequest(12), true, "dce_rpc", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			earlier := NewInspector(false)
			earlier.Stream(FromOrig, tt.before)
			s := earlier.Session()
			if (s != nil) != (tt.name != "nothing bound before") {
				t.Fatalf("session %v", s)
			}
			later := NewInspector(false)
			if tt.resume && s != nil {
				later.Resume(s)
			}
			later.Stream(FromOrig, tt.after)
			f := later.Facts()
			var ops []string
			if f != nil && f.DCERPC != nil {
				ops = f.DCERPC.Operations
				if len(ops) > 0 && !slices.Equal(f.DCERPC.Interfaces, []string{"svcctl"}) {
					t.Errorf("interfaces %v, want the one the earlier conversation bound", f.DCERPC.Interfaces)
				}
			}
			if later.Services() != tt.wantService || !slices.Equal(ops, tt.wantOperations) {
				t.Errorf("services %q operations %v, want %q %v", later.Services(), ops, tt.wantService, tt.wantOperations)
			}
		})
	}
}

// TestDNSAnswersRoundTrip checks that answers read back from a
// conversation log come out as they went in: an A or AAAA value that is
// an address of its kind as the address, any other value as text (an "A"
// answer whose text is four bytes is not taken for an address), empty and
// repeated names kept apart.
func TestDNSAnswersRoundTrip(t *testing.T) {
	ip := netip.MustParseAddr
	in := []DNSAnswer{
		{Name: "a.example", Type: "A", Value: "192.0.2.1"},
		{Name: "a.example", Type: "A", Value: "abcd"},
		{Name: "a.example", Type: "AAAA", Value: "192.0.2.2"},
		{Name: "", Type: "AAAA", Value: "2001:db8::1"},
		{Name: "", Type: "CNAME", Value: "b.example"},
		{Name: "b.example", Type: "TYPE65", Value: strings.Repeat("x", 300)},
		{Name: "c.example", Type: "A", Addr: ip("198.51.100.7")},
		{Name: "c.example", Type: "A", Value: "198.51.100.8"},
		{Name: "c.example", Type: "AAAA", Addr: ip("2001:db8::3")},
		{Name: "c.example", Type: "CNAME", Value: "d.example"},
		{Name: "d.example", Type: "AAAA", Addr: ip("2001:db8::4")},
	}
	want := []DNSAnswer{
		{Name: "a.example", Type: "A", Addr: ip("192.0.2.1")},
		{Name: "a.example", Type: "A", Value: "abcd"},
		{Name: "a.example", Type: "AAAA", Value: "192.0.2.2"},
		{Name: "", Type: "AAAA", Addr: ip("2001:db8::1")},
		{Name: "", Type: "CNAME", Value: "b.example"},
		{Name: "b.example", Type: "TYPE65", Value: strings.Repeat("x", 300)},
		{Name: "c.example", Type: "A", Addr: ip("198.51.100.7")},
		{Name: "c.example", Type: "A", Addr: ip("198.51.100.8")},
		{Name: "c.example", Type: "AAAA", Addr: ip("2001:db8::3")},
		{Name: "c.example", Type: "CNAME", Value: "d.example"},
		{Name: "d.example", Type: "AAAA", Addr: ip("2001:db8::4")},
	}
	got := NewDNSAnswers(in...)
	if all := slices.Collect(got.All()); got.Len() != len(want) || !slices.Equal(all, want) {
		t.Errorf("%d answers %+v\nwant %+v", got.Len(), all, want)
	}
	checkAddrs(t, got)
	checkRuns(t, got)
	if n := NewDNSAnswers().Len(); n != 0 {
		t.Errorf("no answers: Len %d", n)
	}
	if addrs := NewDNSAnswers(in[0], in[3], in[6]); !got.HasText() || addrs.HasText() || NewDNSAnswers().HasText() {
		t.Errorf("HasText: %v with text values, %v with addresses only, %v with none", got.HasText(), addrs.HasText(), NewDNSAnswers().HasText())
	}
	// Through a sorter's temporary file, whole and cut short.
	b, _ := got.GobEncode()
	var back DNSAnswers
	if err := back.GobDecode(b); err != nil || !slices.Equal(slices.Collect(back.All()), want) || !back.HasText() {
		t.Errorf("gob: %v, %+v", err, slices.Collect(back.All()))
	}
	for i := range len(b) {
		if err := back.GobDecode(b[:i]); err == nil {
			t.Errorf("gob cut to %d of %d bytes: no error", i, len(b))
		}
	}
}

// TestServicesShared checks that Inspectors whose only service is the
// same share its slice (oneService) without ever writing into it: an
// Inspector reset and given another service leaves the others' alone.
func TestServicesShared(t *testing.T) {
	rfb, ssh := []byte("RFB 003.008\n"), []byte("SSH-2.0-OpenSSH_9.6\r\n")
	reused := NewInspector(false)
	reused.Stream(FromResp, rfb)
	reused.Reset(false)
	reused.Stream(FromResp, ssh)
	reused.Stream(FromOrig, []byte("SSH-2.0-Go\r\n"))
	other := NewInspector(false)
	other.Stream(FromResp, rfb)
	if got, want := reused.Services()+" "+other.Services(), "ssh rfb"; got != want {
		t.Errorf("services %q, want %q", got, want)
	}
	if got := oneService["rfb"]; len(got) != 1 || cap(got) != 1 || got[0] != "rfb" {
		t.Errorf("the shared slice of rfb is %q (capacity %d)", got, cap(got))
	}
}

// TestManyAnswersReadBack: a conversation log may give more answers than
// a capture's conversation keeps, each of a name of its own: all are held.
func TestManyAnswersReadBack(t *testing.T) {
	var in []DNSAnswer
	for i := range 3 * maxAnswers {
		in = append(in, DNSAnswer{Name: fmt.Sprintf("h%d.example", i), Type: "A", Addr: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})})
	}
	if got := slices.Collect(NewDNSAnswers(in...).All()); !slices.Equal(got, in) {
		t.Errorf("%d answers read back, want %d", len(got), len(in))
	}
}

// checkRuns checks that Runs yields, once its runs are spread out, the
// answers All yields, in order.
func checkRuns(t *testing.T, answers DNSAnswers) {
	t.Helper()
	var got []DNSAnswer
	for a, same := range answers.Runs() {
		got = append(got, a)
		for i := range same.Len() {
			got = append(got, DNSAnswer{Name: a.Name, Type: a.Type, Addr: same.Addr(i)})
		}
	}
	if want := slices.Collect(answers.All()); !slices.Equal(got, want) {
		t.Errorf("Runs yields %+v\nwant %+v", got, want)
	}
}

// TestRuns: runs of addresses of one name and type, A and AAAA, mapped
// IPv4 addresses among the AAAA, broken by another type or name, and a
// last answer cut short.
func TestRuns(t *testing.T) {
	ip := netip.MustParseAddr
	answers := NewDNSAnswers(
		DNSAnswer{Name: "a.example", Type: "A", Addr: ip("192.0.2.1")},
		DNSAnswer{Name: "a.example", Type: "A", Addr: ip("192.0.2.2")},
		DNSAnswer{Name: "a.example", Type: "A", Addr: ip("192.0.2.3")},
		DNSAnswer{Name: "a.example", Type: "AAAA", Addr: ip("2001:db8::1")},
		DNSAnswer{Name: "a.example", Type: "AAAA", Addr: ip("::ffff:192.0.2.9")},
		DNSAnswer{Name: "a.example", Type: "CNAME", Value: "b.example"},
		DNSAnswer{Name: "a.example", Type: "A", Addr: ip("192.0.2.4")},
		DNSAnswer{Name: "b.example", Type: "A", Addr: ip("192.0.2.5")},
		DNSAnswer{Name: "b.example", Type: "A", Addr: ip("192.0.2.6")})
	var lens []int
	for _, same := range answers.Runs() {
		lens = append(lens, same.Len())
	}
	if want := []int{2, 1, 0, 0, 1}; !slices.Equal(lens, want) {
		t.Errorf("runs of %v answers after their first, want %v", lens, want)
	}
	checkRuns(t, answers)
	b, _ := answers.GobEncode()
	var cut DNSAnswers
	cut.enc = string(b[1 : len(b)-2])
	checkRuns(t, cut)
}

// checkAddrs checks that Addrs yields the names and addresses of the
// answers All yields that are addresses, in order.
func checkAddrs(t *testing.T, answers DNSAnswers) {
	t.Helper()
	var want, got []DNSAnswer
	for a := range answers.All() {
		if a.Addr.IsValid() {
			want = append(want, DNSAnswer{Name: a.Name, Addr: a.Addr})
		}
	}
	for name, addr := range answers.Addrs() {
		got = append(got, DNSAnswer{Name: name, Addr: addr})
	}
	if !slices.Equal(got, want) {
		t.Errorf("Addrs yields %+v\nwant %+v", got, want)
	}
}

// BenchmarkDNSAnswers identifies a conversation of one DNS response of 64
// A answers, as a flood of them brings, and takes its facts.
func BenchmarkDNSAnswers(b *testing.B) {
	m := []byte{0, 1, 0x81, 0x80, 0, 1, 0, 64, 0, 0, 0, 0}
	m = append(m, 3, 'c', 'd', 'n', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1)
	for i := range 64 {
		m = append(m, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, byte(i), byte(i*7), 1)
	}
	in := NewInspector(true)
	b.ReportAllocs()
	for b.Loop() {
		in.Reset(true)
		in.Datagram(FromResp, m)
		var f Facts
		in.FactsTo(&f)
		if f.DNS.Answers.Len() != 64 {
			b.Fatal(f.DNS.Answers.Len())
		}
	}
}

// TestDNSSameNameAnswers: an A answer is taken as one more of the name
// added last only when its name points where that one's did. After an
// answer whose name is written out (no pointer), a name of 0xffff, a
// pointer past the message, ends the answers, as it does elsewhere.
func TestDNSSameNameAnswers(t *testing.T) {
	question := []byte{3, 'c', 'd', 'n', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1}
	answer := func(name ...byte) []byte { return append(name, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1) }
	for _, tc := range []struct {
		name    string
		answers [][]byte
		want    int
	}{
		{"pointers to the question", [][]byte{answer(0xc0, 12), answer(0xc0, 12), answer(0xc0, 12)}, 3},
		{"written out, then a pointer past the message", [][]byte{answer(1, 'a', 0), answer(0xff, 0xff), answer(0xc0, 12)}, 1},
	} {
		m := []byte{0, 1, 0x81, 0x80, 0, 1, 0, byte(len(tc.answers)), 0, 0, 0, 0}
		m = append(m, question...)
		for _, a := range tc.answers {
			m = append(m, a...)
		}
		in := NewInspector(true)
		in.Datagram(FromResp, m)
		var f Facts
		in.FactsTo(&f)
		if f.DNS == nil || f.DNS.Answers.Len() != tc.want {
			t.Errorf("%s: %+v, want %d answers", tc.name, f.DNS, tc.want)
		}
	}
}
