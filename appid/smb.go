package appid

import (
	"bytes"
	"encoding/binary"
	"math/bits"
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
	// SMB1 by message id: the share path of a TREE_CONNECT_ANDX, the pipe
	// of an NT_CREATE_ANDX, the file id of a pipe read or transaction
	// awaiting its answer; by file id: the named pipes opened, and the RPC
	// state of each pipe (each is an association of its own, with its own
	// context ids).
	pendTree, pendPipe, pipeFIDs map[uint16]string
	pendRead                     map[uint16]uint16
	// pipeRPC is the RPC state of each pipe by its file id (SMB1's, or
	// SMB2's two halves folded); pendRead2 the file id of an SMB2 READ
	// awaiting its answer, by message id.
	pipeRPC   map[uint64]*rpcState
	pendRead2 map[uint64]uint64
}

// Signs of MS17-010 in SMB1.
const (
	ms17010Unpatched    = "probe answered STATUS_INSUFF_SERVER_RESOURCES: unpatched"
	ms17010SessionSetup = "TRANS2 SESSION_SETUP (DoublePulsar)"
	ms17010Secondaries  = "a burst of TRANS2 SECONDARY (EternalBlue)"
)

func (h *smbHandler) held() int { return heldBytes(h.fr[0].buf, h.fr[1].buf) }

func (h *smbHandler) feed(in *Inspector, dir int, data []byte) bool {
	in.addService("smb")
	if in.facts.SMB == nil {
		in.facts.SMB = &SMBFacts{}
	}
	if h.trees == nil {
		h.trees, h.pend = map[uint32]string{}, map[uint64]string{}
		h.pendTree, h.pendPipe, h.pipeFIDs = map[uint16]string{}, map[uint16]string{}, map[uint16]string{}
		h.pendRead, h.pipeRPC, h.pendRead2 = map[uint16]uint16{}, map[uint64]*rpcState{}, map[uint64]uint64{}
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
			in.gssapi(msg)
			in.ntlm(msg)
		case cmd == 0x0001 && status == statusLogonFailure:
			f.LogonFailures++
		case cmd == 0x0003 && !response && len(body) >= 8:
			if path := utf16At(msg, int(binary.LittleEndian.Uint16(body[4:])), int(binary.LittleEndian.Uint16(body[6:]))); path != "" {
				f.Trees = in.keep(f.Trees, path)
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
				f.Pipes = in.keep(f.Pipes, strings.ToLower(name))
			} else {
				f.Files = in.keep(f.Files, name)
			}
		case cmd == 0x0009 && !response && len(body) >= 32: // WRITE
			h.pipeData(in, msg, int(binary.LittleEndian.Uint16(body[2:])), int(binary.LittleEndian.Uint32(body[4:])), treeID, smb2FileID(body[16:]))
		case cmd == 0x0008 && !response && len(body) >= 32 && len(h.pendRead2) < 256: // READ
			h.pendRead2[msgID] = smb2FileID(body[16:])
		case cmd == 0x0008 && response && len(body) >= 8:
			fid := h.pendRead2[msgID] // 0 when the capture missed the request
			delete(h.pendRead2, msgID)
			h.pipeData(in, msg, int(body[2]), int(binary.LittleEndian.Uint32(body[4:])), treeID, fid)
		case cmd == 0x000b && len(body) >= 40: // IOCTL: a pipe transceive carries RPC both ways
			fid := smb2FileID(body[8:])
			if response {
				h.pipeData(in, msg, int(binary.LittleEndian.Uint32(body[32:])), int(binary.LittleEndian.Uint32(body[36:])), treeID, fid)
			} else {
				h.pipeData(in, msg, int(binary.LittleEndian.Uint32(body[24:])), int(binary.LittleEndian.Uint32(body[28:])), treeID, fid)
			}
		}
		if next < 64 || next >= len(msg) {
			return
		}
		msg = msg[next:]
	}
}

// smb2FileID folds an SMB2 file id's persistent and volatile halves into
// one key.
func smb2FileID(b []byte) uint64 {
	return binary.LittleEndian.Uint64(b) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(b[8:]), 32)
}

// pipeData passes the data of a pipe read, write or transceive on IPC$
// to the DCE-RPC parser, with the pipe's RPC state.
func (h *smbHandler) pipeData(in *Inspector, msg []byte, off, n int, treeID uint32, fid uint64) {
	if off < 64 || off >= len(msg) || n <= 0 {
		return
	}
	data := msg[off:min(len(msg), off+n)]
	if _, known := h.trees[treeID]; known && !h.isPipeTree(treeID, "") || !looksRPCPDU(data) {
		return
	}
	h.pipeState(fid).pdus(in, data)
}

// pipeState returns the RPC state of a pipe: each pipe is an association
// of its own, with its own context ids. Past 64 pipes, they share one.
func (h *smbHandler) pipeState(fid uint64) *rpcState {
	rpc := h.pipeRPC[fid]
	if rpc == nil {
		rpc = &h.rpc
		if len(h.pipeRPC) < 64 {
			rpc = &rpcState{}
			h.pipeRPC[fid] = rpc
		}
	}
	return rpc
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

// SMB1 commands netfx reads.
const (
	smb1Trans           = 0x25
	smb1ReadAndX        = 0x2e
	smb1WriteAndX       = 0x2f
	smb1Trans2          = 0x32
	smb1Trans2Secondary = 0x33
	smb1Negotiate       = 0x72
	smb1SessionSetup    = 0x73
	smb1TreeConnect     = 0x75
	smb1NTCreate        = 0xa2
	smb1NoAndX          = 0xff
)

// smb1Block is one command of an SMB1 message (the first, or one chained
// after it by AndX): its parameter words and data bytes, with the offset
// of the bytes from the start of the SMB header, which offsets count from.
type smb1Block struct {
	cmd      byte
	words    []byte
	data     []byte
	dataOff  int
	andxNext int // offset of the chained command's block, 0 if none
	andxCmd  byte
}

// smb1BlockAt reads the block of command cmd at offset off of msg.
func smb1BlockAt(msg []byte, cmd byte, off int) (b smb1Block, ok bool) {
	if off < 32 || off >= len(msg) {
		return b, false
	}
	wEnd := off + 1 + 2*int(msg[off])
	if wEnd > len(msg) {
		return b, false
	}
	b = smb1Block{cmd: cmd, words: msg[off+1 : wEnd], dataOff: wEnd + 2}
	if wEnd+2 <= len(msg) {
		n := int(binary.LittleEndian.Uint16(msg[wEnd:]))
		b.data = msg[wEnd+2 : min(len(msg), wEnd+2+n)]
	}
	switch cmd {
	case smb1ReadAndX, smb1WriteAndX, smb1SessionSetup, smb1TreeConnect, smb1NTCreate:
		if len(b.words) >= 4 && b.words[0] != smb1NoAndX {
			b.andxCmd = b.words[0]
			b.andxNext = int(binary.LittleEndian.Uint16(b.words[2:]))
		}
	}
	return b, true
}

// smb1 reads an SMB1 message and the commands chained to it: the dialect,
// NTLM identities, logon failures, share paths, the named pipes opened and
// the DCE-RPC they carry (pipe writes, reads and TRANS transactions, as
// over SMB2), and the signs of MS17-010.
func (h *smbHandler) smb1(in *Inspector, msg []byte) {
	if len(msg) < 33 {
		return
	}
	reply := msg[9]&0x80 != 0
	status := binary.LittleEndian.Uint32(msg[5:])
	tid := binary.LittleEndian.Uint16(msg[24:])
	mid := binary.LittleEndian.Uint16(msg[30:])
	unicode := binary.LittleEndian.Uint16(msg[10:])&0x8000 != 0
	cmd, off := msg[4], 32
	for range 8 {
		b, ok := smb1BlockAt(msg, cmd, off)
		if !ok {
			return
		}
		h.smb1Command(in, msg, b, reply, status, tid, mid, unicode)
		if b.andxNext <= off || reply && status != 0 {
			return
		}
		cmd, off = b.andxCmd, b.andxNext
	}
}

// smb1Command reads one command block of an SMB1 message.
func (h *smbHandler) smb1Command(in *Inspector, msg []byte, b smb1Block, reply bool, status uint32, tid, mid uint16, unicode bool) {
	f := in.facts.SMB
	w := b.words
	u16 := func(i int) int {
		if i+2 > len(w) {
			return -1
		}
		return int(binary.LittleEndian.Uint16(w[i:]))
	}
	switch b.cmd {
	case smb1Negotiate:
		if f.Dialect == "" {
			f.Dialect = "NT LM 0.12"
		}
	case smb1SessionSetup:
		if reply && status == statusLogonFailure {
			f.LogonFailures++
		}
		if !reply {
			in.gssapi(msg)
		}
		in.ntlm(msg)
	case smb1TreeConnect:
		if !reply {
			if path := smb1String(msg, b.dataOff+max(u16(6), 0), unicode); strings.HasPrefix(path, `\\`) {
				f.Trees = in.keep(f.Trees, path)
				h.remember(h.pendTree, mid, path)
			}
		} else if path, ok := h.pendTree[mid]; ok && status == 0 {
			delete(h.pendTree, mid)
			if len(h.trees) < 256 {
				h.trees[uint32(tid)] = path
			}
		}
	case smb1NTCreate:
		if !reply {
			if n := u16(5); n > 0 {
				name := strings.TrimPrefix(smb1Name(msg, b.dataOff, n, unicode), `\`)
				if h.isPipeTree(uint32(tid), name) {
					f.Pipes = in.keep(f.Pipes, strings.ToLower(name))
					h.remember(h.pendPipe, mid, strings.ToLower(name))
				} else if name != "" {
					f.Files = in.keep(f.Files, name)
				}
			}
		} else if name, ok := h.pendPipe[mid]; ok && status == 0 && u16(5) >= 0 {
			delete(h.pendPipe, mid)
			h.remember(h.pipeFIDs, uint16(u16(5)), name)
		}
	case smb1WriteAndX:
		if !reply && h.smb1Pipe(tid, u16(4)) {
			h.smb1PipeData(in, msg, uint16(u16(4)), u16(22), u16(20))
		}
	case smb1ReadAndX:
		if !reply {
			if h.smb1Pipe(tid, u16(4)) && len(h.pendRead) < 256 {
				h.pendRead[mid] = uint16(u16(4))
			}
		} else if fid, ok := h.pendRead[mid]; ok {
			delete(h.pendRead, mid)
			h.smb1PipeData(in, msg, fid, u16(12), u16(10))
		}
	case smb1Trans:
		switch {
		case !reply && len(w) >= 30 && w[26] >= 1:
			switch binary.LittleEndian.Uint16(w[28:]) {
			case 0x23: // PeekNamedPipe: MS17-010's probe
				h.peeked = true
			case 0x26: // TransactNmPipe: an RPC call and its answer
				if w[26] >= 2 && h.smb1Pipe(tid, u16(30)) {
					h.smb1PipeData(in, msg, uint16(u16(30)), u16(24), u16(22))
					if len(h.pendRead) < 256 {
						h.pendRead[mid] = uint16(u16(30))
					}
				}
			}
		case reply && status == 0xC0000205 && h.peeked:
			f.MS17010 = in.keep(f.MS17010, ms17010Unpatched)
		case reply:
			if fid, ok := h.pendRead[mid]; ok {
				delete(h.pendRead, mid)
				h.smb1PipeData(in, msg, fid, u16(14), u16(12))
			}
		}
	case smb1Trans2:
		if !reply && len(w) >= 30 && w[26] >= 1 && binary.LittleEndian.Uint16(w[28:]) == 0x0e {
			f.MS17010 = in.keep(f.MS17010, ms17010SessionSetup)
		}
	case smb1Trans2Secondary:
		if h.secondaries++; h.secondaries == 10 {
			f.MS17010 = in.keep(f.MS17010, ms17010Secondaries)
		}
	}
}

// smb1Pipe reports whether a file id on a tree is a named pipe: one opened
// on IPC$ or by a pipe's name; when the capture missed the open, any file
// on IPC$ or an unknown tree may be (the data must then look like RPC).
func (h *smbHandler) smb1Pipe(tid uint16, fid int) bool {
	if fid < 0 {
		return false
	}
	if _, ok := h.pipeFIDs[uint16(fid)]; ok {
		return true
	}
	_, known := h.trees[uint32(tid)]
	return !known || h.isPipeTree(uint32(tid), "")
}

// smb1PipeData passes n bytes at offset off of an SMB1 message, data of
// pipe fid, to the DCE-RPC parser, with that pipe's RPC state.
func (h *smbHandler) smb1PipeData(in *Inspector, msg []byte, fid uint16, off, n int) {
	if off < 32 || n <= 0 || off >= len(msg) {
		return
	}
	if data := msg[off:min(len(msg), off+n)]; looksRPCPDU(data) {
		h.pipeState(uint64(fid)).pdus(in, data)
	}
}

// remember notes a value under an SMB1 id, in a map bounded at 256.
func (h *smbHandler) remember(m map[uint16]string, id uint16, v string) {
	if len(m) < 256 {
		m[id] = v
	}
}

// smb1String reads the NUL-terminated string at off of an SMB1 message,
// UTF-16LE (aligned to two bytes from the header) or ASCII.
func smb1String(msg []byte, off int, unicode bool) string {
	if off < 0 || off >= len(msg) {
		return ""
	}
	if !unicode {
		end := bytes.IndexByte(msg[off:], 0)
		if end < 0 {
			end = len(msg) - off
		}
		return printable(msg[off:off+min(end, 512)], 512)
	}
	off += off & 1
	end := off
	for end+1 < len(msg) && (msg[end] != 0 || msg[end+1] != 0) {
		end += 2
	}
	return utf16At(msg, off, end-off)
}

// smb1Name reads a name of n bytes at off of an SMB1 message (NT Create's
// file name), UTF-16LE after its alignment pad, or ASCII.
func smb1Name(msg []byte, off, n int, unicode bool) string {
	if unicode {
		off += off & 1
		return strings.TrimRight(utf16At(msg, off, min(n, len(msg)-off)), "\x00")
	}
	if off < 0 || off+n > len(msg) {
		return ""
	}
	return printable(bytes.TrimRight(msg[off:off+n], "\x00"), 512)
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
