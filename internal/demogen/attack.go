package demogen

import (
	"encoding/binary"
	"net/netip"
	"time"
	"unicode/utf16"
)

// The planted intrusion, among the ordinary traffic:
//
//  1. 10:02 an internet host guesses RDP passwords against the exposed VM
//     (30 short sessions), then logs in with a long RDP session;
//  2. from 10:31 the VM moves laterally: PsExec-style service creation on
//     the file server over SMB (ADMIN$, PSEXESVC.exe, svcctl), RDP to the
//     domain controller, WinRM to the database server and SSH to a Linux
//     host;
//  3. all along, the VM beacons to a C2 server every 60 seconds, through
//     the gaps between the captures (only the flow logs see those);
//  4. 10:44 SSH to an internet host on port 443;
//  5. 10:18, while no capture runs, the VM uploads 40 MB to the internet.
var (
	attacker  = netip.MustParseAddr("203.0.113.66")
	c2        = netip.MustParseAddr("198.51.100.99")
	dropbox   = netip.MustParseAddr("192.0.2.123")
	sshOut    = netip.MustParseAddr("203.0.113.77")
	linuxHost = netip.MustParseAddr("10.1.2.30")
)

// plant adds the intrusion's connections.
func (g *generator) plant() {
	// 1. Brute force, then the login.
	t := time.Date(2026, 3, 14, 10, 2, 0, 0, time.UTC)
	for i := range 30 {
		g.exchange(t.Add(time.Duration(i)*7*time.Second), attacker, g.ephemeral(), vm, 3389, "UserRule_allow-rdp",
			message{true, rdpConnectionRequest("administrator")}, message{false, rdpConnectionConfirm()},
			message{true, make([]byte, 300)}, message{false, make([]byte, 900)})
	}
	login := []message{{true, rdpConnectionRequest("administrator")}, {false, rdpConnectionConfirm()}}
	for range 60 {
		login = append(login, message{true, make([]byte, 400)}, message{false, make([]byte, 3000)})
	}
	g.exchangeSlow(t.Add(4*time.Minute), attacker, g.ephemeral(), vm, 3389, "UserRule_allow-rdp", 4*time.Second, login...)

	// 2. Lateral movement.
	t = time.Date(2026, 3, 14, 10, 31, 0, 0, time.UTC)
	g.exchange(t, vm, g.ephemeral(), fileServer, 445, "DefaultRule_AllowVnetOutBound", psexecSMB()...)
	g.exchange(t.Add(2*time.Minute), vm, g.ephemeral(), dc, 3389, "DefaultRule_AllowVnetOutBound",
		message{true, rdpConnectionRequest("svc-backup")}, message{false, rdpConnectionConfirm()},
		message{true, make([]byte, 2000)}, message{false, make([]byte, 20000)})
	g.exchange(t.Add(3*time.Minute), vm, g.ephemeral(), database, 5985, "DefaultRule_AllowVnetOutBound",
		message{true, []byte("POST /wsman HTTP/1.1\r\nHost: 10.1.2.20:5985\r\nUser-Agent: Microsoft WinRM Client\r\nContent-Length: 0\r\n\r\n")},
		message{false, []byte("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n")})
	g.exchange(t.Add(5*time.Minute), vm, g.ephemeral(), linuxHost, 22, "DefaultRule_AllowVnetOutBound",
		message{false, []byte("SSH-2.0-OpenSSH_8.9p1\r\n")}, message{true, []byte("SSH-2.0-Go\r\n")},
		message{true, make([]byte, 1200)}, message{false, make([]byte, 1500)})

	// 3. The beacon, every 60 s with a second of jitter, all the logs' span.
	for bt := logStart.Add(90 * time.Second); bt.Before(logEnd.Add(-time.Minute)); bt = bt.Add(time.Minute + time.Duration(g.rng.IntN(2000)-1000)*time.Millisecond) {
		g.exchange(bt, vm, g.ephemeral(), c2, 443, "DefaultRule_AllowInternetOutBound",
			message{true, clientHello("cdn-telemetry.example")}, message{false, make([]byte, 1200)},
			message{true, make([]byte, 180)}, message{false, make([]byte, 90)})
	}

	// 4. SSH on 443.
	g.exchange(time.Date(2026, 3, 14, 10, 44, 0, 0, time.UTC), vm, g.ephemeral(), sshOut, 443, "DefaultRule_AllowInternetOutBound",
		message{false, []byte("SSH-2.0-dropbear_2022.83\r\n")}, message{true, []byte("SSH-2.0-OpenSSH_8.9\r\n")},
		message{true, make([]byte, 5000)}, message{false, make([]byte, 2000)})

	// 5. The upload, while no capture runs.
	g.upload(time.Date(2026, 3, 14, 10, 18, 0, 0, time.UTC), 40_000_000)
}

// exchangeSlow is exchange with a pause between messages: an interactive
// session.
func (g *generator) exchangeSlow(t time.Time, client netip.Addr, cport uint16, server netip.Addr, sport uint16, rule string, pause time.Duration, msgs ...message) {
	c := len(g.conns)
	g.exchange(t, client, cport, server, sport, rule, msgs...)
	// Spread the packets out: each one a little after the one before.
	pkts := g.conns[c].packets
	for i := range pkts {
		pkts[i].ts = t.Add(time.Duration(i) * pause / 8)
	}
}

// upload adds a large transfer as flow-log tuples only: it happens while
// no capture runs, so no packets are needed (and the demo stays small).
func (g *generator) upload(t time.Time, n int) {
	c := g.add(vm, g.ephemeral(), dropbox, 443, 6, "DefaultRule_AllowInternetOutBound")
	c.bulk = &bulk{start: t, end: t.Add(4 * time.Minute), pktsOut: n / 1460, bytesOut: n + n/1460*40, pktsIn: n / 2920, bytesIn: n / 2920 * 40}
}

// rdpConnectionRequest is TPKT + X.224 CR with a cookie and RDP_NEG_REQ
// asking for TLS and CredSSP.
func rdpConnectionRequest(user string) []byte {
	body := append([]byte("Cookie: mstshash="+user+"\r\n"), 0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00)
	x224 := append([]byte{byte(6 + len(body)), 0xe0, 0, 0, 0, 0, 0}, body...)
	return append([]byte{3, 0, 0, byte(4 + len(x224))}, x224...)
}

// rdpConnectionConfirm chooses plain RDP security, so nothing follows the
// X.224 exchange that the demo would have to encrypt.
func rdpConnectionConfirm() []byte {
	x224 := []byte{14, 0xd0, 0, 0, 0, 0, 0, 0x02, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00}
	return append([]byte{3, 0, 0, byte(4 + len(x224))}, x224...)
}

// clientHello is a TLS 1.2 record with a minimal ClientHello naming sni.
func clientHello(sni string) []byte {
	u16 := func(b []byte, v int) []byte { return binary.BigEndian.AppendUint16(b, uint16(v)) }
	name := append([]byte{0}, u16(nil, len(sni))...)
	name = append(name, sni...)
	ext := u16(u16(u16(nil, 0), len(name)+2), len(name))
	ext = append(ext, name...)
	body := append([]byte{3, 3}, make([]byte, 33)...)
	body = append(body, 0, 4, 0xc0, 0x2f, 0x13, 0x01, 1, 0)
	body = u16(body, len(ext))
	body = append(body, ext...)
	hs := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{0x16, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

// psexecSMB is the client and server messages of a PsExec-style run over
// SMB2: tree connect to ADMIN$, the service binary written, then IPC$, the
// svcctl pipe, and the RPC bind and requests that create and start the
// service.
func psexecSMB() []message {
	neg := make([]byte, 8)
	binary.LittleEndian.PutUint16(neg[4:], 0x0302)
	msgs := []message{
		{false, SMB2(0, true, 0, 0, neg)},
		{true, SMB2(3, false, 1, 0, treeConnect(`\\10.1.1.10\ADMIN$`))}, {false, SMB2(3, true, 1, 5, make([]byte, 16))},
		{true, SMB2(5, false, 2, 5, create("PSEXESVC.exe"))}, {false, SMB2(5, true, 2, 5, make([]byte, 88))},
		{true, SMB2(9, false, 3, 5, write(make([]byte, 60000)))}, {false, SMB2(9, true, 3, 5, make([]byte, 16))},
		{true, SMB2(3, false, 4, 0, treeConnect(`\\10.1.1.10\IPC$`))}, {false, SMB2(3, true, 4, 6, make([]byte, 16))},
		{true, SMB2(5, false, 5, 6, create("svcctl"))}, {false, SMB2(5, true, 5, 6, make([]byte, 88))},
		{true, SMB2(9, false, 6, 6, write(RPCBind(SvcctlUUID)))}, {false, SMB2(9, true, 6, 6, make([]byte, 16))},
		{true, SMB2(9, false, 7, 6, write(RPCRequest(15)))}, {false, SMB2(9, true, 7, 6, make([]byte, 16))},
		{true, SMB2(9, false, 8, 6, write(RPCRequest(12)))}, {false, SMB2(9, true, 8, 6, make([]byte, 16))},
		{true, SMB2(9, false, 9, 6, write(RPCRequest(19)))}, {false, SMB2(9, true, 9, 6, make([]byte, 16))},
	}
	return msgs
}

// SMB2 is an NBSS-framed SMB2 message: command, request or response,
// message ID, tree ID and body. The appid tests build their streams with it.
func SMB2(cmd uint16, response bool, msgID uint64, tree uint32, body []byte) []byte {
	h := make([]byte, 64)
	copy(h, "\xfeSMB")
	binary.LittleEndian.PutUint16(h[4:], 64)
	binary.LittleEndian.PutUint16(h[12:], cmd)
	if response {
		h[16] = 1
	}
	binary.LittleEndian.PutUint64(h[24:], msgID)
	binary.LittleEndian.PutUint32(h[36:], tree)
	m := append(h, body...)
	return append([]byte{0, byte(len(m) >> 16), byte(len(m) >> 8), byte(len(m))}, m...)
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func treeConnect(path string) []byte {
	p := utf16le(path)
	b := make([]byte, 8)
	binary.LittleEndian.PutUint16(b, 9)
	binary.LittleEndian.PutUint16(b[4:], 64+8)
	binary.LittleEndian.PutUint16(b[6:], uint16(len(p)))
	return append(b, p...)
}

func create(name string) []byte {
	n := utf16le(name)
	b := make([]byte, 56)
	binary.LittleEndian.PutUint16(b, 57)
	binary.LittleEndian.PutUint16(b[44:], 64+56)
	binary.LittleEndian.PutUint16(b[46:], uint16(len(n)))
	return append(b, n...)
}

func write(data []byte) []byte {
	b := make([]byte, 48)
	binary.LittleEndian.PutUint16(b, 49)
	binary.LittleEndian.PutUint16(b[2:], 64+48)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(data)))
	return append(b, data...)
}

// SvcctlUUID is the service control manager's interface (MS-SCMR), as a
// bind carries it.
var SvcctlUUID = [16]byte{0x81, 0xbb, 0x7a, 0x36, 0x44, 0x98, 0xf1, 0x35, 0xad, 0x32, 0x98, 0xf0, 0x38, 0x00, 0x10, 0x03}

// RPCBind is a DCE-RPC bind of one presentation context, id 0, to the
// interface uuid (little-endian, as on the wire).
func RPCBind(uuid [16]byte) []byte {
	p := make([]byte, 72)
	p[0], p[2], p[3] = 5, 11, 3
	p[4] = 0x10 // little-endian data
	binary.LittleEndian.PutUint16(p[8:], 72)
	p[24] = 1
	copy(p[32:48], uuid[:])
	return p
}

// RPCRequest is a DCE-RPC request for operation opnum on context 0.
func RPCRequest(opnum uint16) []byte {
	p := make([]byte, 24, 64)
	p[0], p[2], p[3], p[4] = 5, 0, 3, 0x10
	binary.LittleEndian.PutUint16(p[22:], opnum)
	p = append(p, make([]byte, 40)...)
	binary.LittleEndian.PutUint16(p[8:], uint16(len(p)))
	return p
}
