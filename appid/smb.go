package appid

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode/utf16"
)

// SMBFacts is what an SMB conversation showed before any encryption.
type SMBFacts struct {
	Dialect   string   `json:"dialect,omitempty"`
	Trees     []string `json:"trees,omitempty"` // share paths, e.g. \\host\ADMIN$
	Pipes     []string `json:"pipes,omitempty"` // named pipes opened on IPC$, e.g. svcctl
	Files     []string `json:"files,omitempty"` // files opened on other shares
	Encrypted bool     `json:"encrypted,omitempty"`
	// LogonFailures counts session setups the server refused with
	// STATUS_LOGON_FAILURE: wrong passwords.
	LogonFailures int `json:"logon_failures,omitempty"`
	// MS17010 is what an SMB1 conversation showed of MS17-010
	// (EternalBlue, DoublePulsar): the probe answered as unpatched,
	// TRANS2 SESSION_SETUP, a burst of TRANS2 SECONDARY.
	MS17010 []string `json:"ms17_010,omitempty"`
}

// statusLogonFailure is the NT status of a wrong user name or password.
const statusLogonFailure = 0xC000006D

func looksSMB(p []byte) bool {
	return len(p) >= 8 && p[0] == 0 && (bytes.Equal(p[4:8], []byte("\xfeSMB")) || bytes.Equal(p[4:8], []byte("\xffSMB")) || bytes.Equal(p[4:8], []byte("\xfdSMB")))
}

// framer splits a direction's stream into length-prefixed messages,
// keeping the first headMax bytes of each and skipping the rest, so large
// transfers cost no memory.
type framer struct {
	lenBytes int // size of the length prefix: 4 (NBSS, Kerberos), 2 (DNS)
	headMax  int
	buf      []byte // prefix and message head being gathered
	want     int    // bytes of the message still to come, -1 while reading the prefix
	skip     int    // bytes of the message beyond headMax still to skip
}

// messages calls fn with the head of each complete message in data.
func (fr *framer) messages(data []byte, fn func(head []byte, full bool)) {
	for len(data) > 0 {
		if fr.skip > 0 {
			n := min(fr.skip, len(data))
			fr.skip -= n
			data = data[n:]
			continue
		}
		if fr.want <= 0 && len(fr.buf) < fr.lenBytes {
			n := min(fr.lenBytes-len(fr.buf), len(data))
			fr.buf = append(fr.buf, data[:n]...)
			data = data[n:]
			if len(fr.buf) < fr.lenBytes {
				return
			}
			var size int
			if fr.lenBytes == 4 {
				size = int(binary.BigEndian.Uint32(fr.buf) & 0x00ffffff)
			} else {
				size = int(binary.BigEndian.Uint16(fr.buf))
			}
			fr.buf = fr.buf[:0]
			fr.want = size
			if size == 0 {
				fr.want = -1
				continue
			}
		}
		keep := min(fr.want, fr.headMax) - len(fr.buf)
		n := min(keep, len(data))
		fr.buf = append(fr.buf, data[:n]...)
		data = data[n:]
		if len(fr.buf) < min(fr.want, fr.headMax) {
			return
		}
		fn(fr.buf, fr.want <= fr.headMax)
		fr.skip = fr.want - len(fr.buf)
		fr.buf, fr.want = fr.buf[:0], -1
	}
}

// smbHandler follows SMB messages in both directions.
type smbHandler struct {
	fr    [2]framer
	trees map[uint32]string // tree id to share path
	pend  map[uint64]string // message id of a TREE_CONNECT request to its path
	rpc   rpcState
	// SMB1: a PeekNamedPipe asked (the MS17-010 probe), and TRANS2
	// SECONDARY requests seen.
	peeked      bool
	secondaries int
}

// Signs of MS17-010 in SMB1.
const (
	ms17010Unpatched    = "probe answered STATUS_INSUFF_SERVER_RESOURCES: unpatched"
	ms17010SessionSetup = "TRANS2 SESSION_SETUP (DoublePulsar)"
	ms17010Secondaries  = "a burst of TRANS2 SECONDARY (EternalBlue)"
)

func (h *smbHandler) feed(in *Inspector, dir int, data []byte) bool {
	in.addService("smb")
	if in.facts.SMB == nil {
		in.facts.SMB = &SMBFacts{}
		h.trees, h.pend = map[uint32]string{}, map[uint64]string{}
	}
	fr := &h.fr[dir]
	if fr.lenBytes == 0 {
		*fr = framer{lenBytes: 4, headMax: 8 << 10, want: -1}
	}
	fr.messages(data, func(msg []byte, _ bool) {
		switch {
		case bytes.HasPrefix(msg, []byte("\xfeSMB")):
			h.smb2(in, msg)
		case bytes.HasPrefix(msg, []byte("\xffSMB")):
			h.smb1(in, msg)
		case bytes.HasPrefix(msg, []byte("\xfdSMB")):
			in.facts.SMB.Encrypted = true
		}
	})
	return !in.facts.SMB.Encrypted
}

var smbDialects = map[uint16]string{0x0202: "2.0.2", 0x0210: "2.1", 0x0300: "3.0", 0x0302: "3.0.2", 0x0311: "3.1.1"}

// smb2 reads one SMB2 message and those compounded after it.
func (h *smbHandler) smb2(in *Inspector, msg []byte) {
	f := in.facts.SMB
	for depth := 0; len(msg) >= 64 && depth < 32; depth++ {
		cmd := binary.LittleEndian.Uint16(msg[12:])
		response := binary.LittleEndian.Uint32(msg[16:])&1 == 1
		next := int(binary.LittleEndian.Uint32(msg[20:]))
		msgID := binary.LittleEndian.Uint64(msg[24:])
		treeID := binary.LittleEndian.Uint32(msg[36:])
		status := binary.LittleEndian.Uint32(msg[8:])
		body := msg[64:]
		if next >= 64 && next <= len(msg) {
			body = msg[64:next]
		}
		switch {
		case cmd == 0x0000 && response && len(body) >= 6:
			if d, ok := smbDialects[binary.LittleEndian.Uint16(body[4:])]; ok {
				f.Dialect = d
			}
		case cmd == 0x0001 && !response:
			in.ntlm(msg)
		case cmd == 0x0001 && status == statusLogonFailure:
			f.LogonFailures++
		case cmd == 0x0003 && !response && len(body) >= 8:
			if path := utf16At(msg, int(binary.LittleEndian.Uint16(body[4:])), int(binary.LittleEndian.Uint16(body[6:]))); path != "" {
				f.Trees = appendLimited(f.Trees, path)
				h.pend[msgID] = path
			}
		case cmd == 0x0003 && response && status == 0:
			if path, ok := h.pend[msgID]; ok && len(h.trees) < 256 {
				h.trees[treeID] = path
				delete(h.pend, msgID)
			}
		case cmd == 0x0005 && !response && len(body) >= 48:
			name := utf16At(msg, int(binary.LittleEndian.Uint16(body[44:])), int(binary.LittleEndian.Uint16(body[46:])))
			if h.isPipeTree(treeID, name) {
				f.Pipes = appendLimited(f.Pipes, strings.ToLower(name))
			} else {
				f.Files = appendLimited(f.Files, name)
			}
		case cmd == 0x0009 && !response && len(body) >= 8: // WRITE
			h.pipeData(in, msg, int(binary.LittleEndian.Uint16(body[2:])), int(binary.LittleEndian.Uint32(body[4:])), treeID)
		case cmd == 0x0008 && response && len(body) >= 8: // READ
			h.pipeData(in, msg, int(body[2]), int(binary.LittleEndian.Uint32(body[4:])), treeID)
		case cmd == 0x000b && len(body) >= 40: // IOCTL: a pipe transceive carries RPC both ways
			if response {
				h.pipeData(in, msg, int(binary.LittleEndian.Uint32(body[32:])), int(binary.LittleEndian.Uint32(body[36:])), treeID)
			} else {
				h.pipeData(in, msg, int(binary.LittleEndian.Uint32(body[24:])), int(binary.LittleEndian.Uint32(body[28:])), treeID)
			}
		}
		if next < 64 || next >= len(msg) {
			return
		}
		msg = msg[next:]
	}
}

// pipeData passes the data of a pipe read, write or transceive on IPC$
// to the DCE-RPC parser.
func (h *smbHandler) pipeData(in *Inspector, msg []byte, off, n int, treeID uint32) {
	if off < 64 || off >= len(msg) || n <= 0 {
		return
	}
	data := msg[off:min(len(msg), off+n)]
	if _, known := h.trees[treeID]; known && !h.isPipeTree(treeID, "") || !looksRPCPDU(data) {
		return
	}
	h.rpc.pdus(in, data)
}

// isPipeTree reports whether a tree is IPC$, where files are named pipes.
// For a conversation captured after its TREE_CONNECT, the tree is unknown:
// then well-known pipe names count as pipes.
func (h *smbHandler) isPipeTree(treeID uint32, name string) bool {
	if path, ok := h.trees[treeID]; ok {
		return strings.HasSuffix(strings.ToUpper(path), `\IPC$`)
	}
	return knownPipes[strings.ToLower(name)]
}

var knownPipes = map[string]bool{
	"svcctl": true, "atsvc": true, "winreg": true, "samr": true, "lsarpc": true, "lsass": true, "srvsvc": true,
	"wkssvc": true, "netlogon": true, "spoolss": true, "epmapper": true, "ntsvcs": true, "eventlog": true,
	"efsrpc": true, "browser": true, "protected_storage": true, "psexesvc": true, "remcom_communicaton": true,
}

// looksRPCPDU checks for a DCE-RPC connection-oriented PDU header.
func looksRPCPDU(b []byte) bool {
	return len(b) >= 16 && b[0] == 5 && b[1] <= 1 && b[2] <= 20
}

// smb1 reads what SMB1 shows without deep parsing: the dialect, NTLM
// identities, logon failures, tree paths, RPC binds found in its
// messages, and the signs of MS17-010.
func (h *smbHandler) smb1(in *Inspector, msg []byte) {
	f := in.facts.SMB
	if len(msg) < 33 {
		return
	}
	reply := msg[9]&0x80 != 0
	status := binary.LittleEndian.Uint32(msg[5:])
	// setup returns the first setup word of a TRANS or TRANS2 request
	// whose word count holds words (14 or 15, and the setup words).
	setup := func(words int) (uint16, bool) {
		if reply || int(msg[32]) < words || len(msg) < 63 || msg[59] == 0 {
			return 0, false
		}
		return binary.LittleEndian.Uint16(msg[61:]), true
	}
	switch msg[4] {
	case 0x25: // TRANS
		if sub, ok := setup(16); ok && sub == 0x23 { // PeekNamedPipe
			h.peeked = true
		}
		if reply && status == 0xC0000205 && h.peeked {
			f.MS17010 = appendLimited(f.MS17010, ms17010Unpatched)
		}
	case 0x32: // TRANS2
		if sub, ok := setup(15); ok && sub == 0x0e {
			f.MS17010 = appendLimited(f.MS17010, ms17010SessionSetup)
		}
	case 0x33: // TRANS2 SECONDARY
		if h.secondaries++; h.secondaries == 10 {
			f.MS17010 = appendLimited(f.MS17010, ms17010Secondaries)
		}
	}
	switch msg[4] {
	case 0x72:
		if f.Dialect == "" {
			f.Dialect = "NT LM 0.12"
		}
	case 0x73:
		if reply && status == statusLogonFailure {
			f.LogonFailures++
		}
		in.ntlm(msg)
	case 0x75:
		if i := bytes.Index(msg, []byte{'\\', 0, '\\', 0}); i >= 0 {
			end := i
			for end+1 < len(msg) && (msg[end] != 0 || msg[end+1] != 0) {
				end += 2
			}
			f.Trees = appendLimited(f.Trees, utf16At(msg, i, end-i))
		}
	case 0x25, 0x2f:
		if i := bytes.Index(msg, []byte{5, 0, 0x0b}); i >= 0 {
			h.rpc.pdus(in, msg[i:])
		}
	}
}

// utf16At decodes a UTF-16LE string at msg[off:off+n], or "".
func utf16At(msg []byte, off, n int) string {
	if off < 0 || n <= 0 || off+n > len(msg) || n > 4096 {
		return ""
	}
	u := make([]uint16, n/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(msg[off+2*i:])
	}
	return printable([]byte(string(utf16.Decode(u))), 512)
}
