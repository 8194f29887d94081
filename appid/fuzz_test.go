package appid

import (
	"bytes"
	"slices"
	"testing"

	"github.com/netfx/netfx/internal/demogen"
)

// FuzzInspector feeds arbitrary bytes, cut into segments of both
// directions, to a TCP and a UDP Inspector. Parsers must not panic or read
// out of bounds, and what they report stays bounded.
func FuzzInspector(f *testing.F) {
	f.Add(clientHello("a.example", "h2"), uint8(7))
	f.Add(slices.Concat(rpcBind(svcctlUUID), rpcRequest(12)), uint8(3))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: NTLM TlRMTVNTUAADAAAA\r\n\r\n"), uint8(5))
	f.Add(demogen.SMB2(3, false, 1, 0, make([]byte, 8)), uint8(2))
	f.Add(slices.Concat(smb1Msg(smb1NTCreate, false, 0, 1, 2, make([]byte, 48), utf16le(`\svcctl`)),
		smb1Msg(smb1WriteAndX, false, 0, 1, 3, []byte{smb1TreeConnect, 0, 40, 0, 0, 0}, rpcBind(svcctlUUID))), uint8(0))
	f.Add([]byte("\x03\x00\x00\x2c\x27\xe0\x00\x00\x00\x00\x00Cookie: mstshash=bob\r\n\x01\x00\x08\x00\x03\x00\x00\x00"), uint8(9))
	f.Add([]byte("SSH-2.0-x\r\n"), uint8(1))
	f.Add([]byte("GET / HTTP/1.1\r\nAuthorization: Basic YTpi\r\n\r\nHTTP/1.1 401 No\r\nContent-Length: 9223372036854775807\r\n\r\nHTTP/1.1 401 No\r\n\r\n"), uint8(46))
	dcid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	f.Add(sealInitial(f, false, dcid, dcid, nil, 0, cryptoFrame(0, clientHello("q.example", "h3")[5:])), uint8(255))
	f.Add([]byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1}, uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		tcp, udp := NewInspector(false), NewInspector(true)
		udp.Datagram(FromOrig, data) // whole, as a datagram comes
		step := int(cut)%64 + 1
		for i, dir := 0, 0; i < len(data); i, dir = i+step, 1-dir {
			seg := data[i:min(len(data), i+step)]
			tcp.Stream(dir*int(cut&1), seg)
			udp.Datagram(dir, seg)
		}
		tcp.Stream(FromOrig, data)
		// A client's first bytes, then the server's: the servers' parsers
		// (HTTP answers, database and VNC handshakes) read whole messages.
		split := NewInspector(false)
		k := int(cut) % (len(data) + 1)
		split.Stream(FromOrig, data[:k])
		split.Stream(FromResp, data[k:])
		split.Facts()
		for _, in := range []*Inspector{tcp, udp} {
			// Each list is bounded, so what they keep is too: a few
			// dozen KiB at most (flows.Config.MaxLive's share).
			if k := in.Kept(); k < 0 || k > 64<<10 {
				t.Fatalf("%d bytes kept", k)
			}
			if f := in.Facts(); f != nil {
				if f.DNS != nil && (len(f.DNS.Queries) > maxListItems || f.DNS.Answers.Len() > 4*maxListItems) {
					t.Fatalf("unbounded DNS facts")
				}
				if f.SMB != nil && len(f.SMB.Files) > maxListItems {
					t.Fatalf("unbounded SMB facts")
				}
			}
		}
	})
}

// FuzzDNSAnswersGob checks that any bytes given to GobDecode are refused
// or make answers that All walks without panicking, as many as Len says,
// with text values where HasText says, whose addresses Addrs yields, and
// which Runs yields in runs.
func FuzzDNSAnswersGob(f *testing.F) {
	good, _ := NewDNSAnswers(DNSAnswer{Name: "a.example", Type: "A", Value: "192.0.2.1"},
		DNSAnswer{Name: "a.example", Type: "CNAME", Value: "b.example"}).GobEncode()
	f.Add(good)
	compact, _ := NewDNSAnswers(DNSAnswer{Name: "a.example", Type: "A", Value: "192.0.2.1"},
		DNSAnswer{Name: "a.example", Type: "A", Value: "192.0.2.2"},
		DNSAnswer{Name: "a.example", Type: "AAAA", Value: "2001:db8::1"}).GobEncode()
	f.Add(compact)
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a DNSAnswers
		if a.GobDecode(b) != nil {
			return
		}
		n, text := 0, false
		for x := range a.All() {
			n++
			text = text || !x.Addr.IsValid()
		}
		if n != a.Len() || text != a.HasText() {
			t.Fatalf("%d answers walked, Len %d; text values %v, HasText %v", n, a.Len(), text, a.HasText())
		}
		checkAddrs(t, a)
		checkRuns(t, a)
	})
}

// FuzzDNSNameCheck: reading a name's structure alone (no buffer) accepts
// and measures every name as reading it into a buffer does.
func FuzzDNSNameCheck(f *testing.F) {
	f.Add([]byte{3, 'c', 'd', 'n', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0}, uint8(0))
	f.Add([]byte{1, 'a', 0xc0, 0, 0}, uint8(0))
	f.Add(append(bytes.Repeat([]byte{63}, 64), 0), uint8(0))
	f.Add([]byte{0xc0, 2, 1, 'b', 0xc0, 0}, uint8(2))
	f.Fuzz(func(t *testing.T, p []byte, off uint8) {
		var buf [256]byte
		n, next, ok := dnsNameTo(p, int(off), &buf)
		cn, cnext, cok := dnsNameTo(p, int(off), nil)
		if n != cn || next != cnext || ok != cok {
			t.Fatalf("into a buffer: %d %d %v; checked alone: %d %d %v", n, next, ok, cn, cnext, cok)
		}
	})
}
