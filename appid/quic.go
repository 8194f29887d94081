package appid

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"slices"
)

// QUIC's Initial packets are encrypted with keys derived from the client's
// first Destination Connection ID (RFC 9001, section 5.2), which travels
// in the clear: any observer can decrypt them, as Zeek's QUIC analyzer
// does, to read the TLS ClientHello and ServerHello inside their CRYPTO
// frames. netfx reads the server name, ALPN, JA4 (with QUIC's "q") and the
// chosen version from them; the service becomes "quic,ssl" once the
// ServerHello is read, as Zeek's SSL analyzer confirms itself inside QUIC.

// quicVersion is what differs between QUIC versions for Initial packets:
// the salt, the labels of the key derivation and the Initial packet type.
type quicVersion struct {
	salt        []byte
	labelPrefix string // "quic " (v1) or "quicv2 " (v2)
	initialType byte
	retryType   byte
}

var quicVersions = map[uint32]*quicVersion{
	1: {salt: []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a},
		labelPrefix: "quic ", initialType: 0, retryType: 3},
	0x6b3343cf: {salt: []byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9},
		labelPrefix: "quicv2 ", initialType: 1, retryType: 0},
}

// quicKeys are one direction's Initial packet protection keys.
type quicKeys struct {
	aead cipher.AEAD
	iv   []byte
	hp   cipher.Block
}

// hkdfExpandLabel is TLS 1.3's HKDF-Expand-Label with an empty context,
// of at most one SHA-256 output (32 bytes): HKDF-Expand's first block,
// HMAC(secret, info || 1) (RFC 5869), with mac keyed by the secret.
func hkdfExpandLabel(mac hash.Hash, label string, n int) []byte {
	full := "tls13 " + label
	var buf [64]byte
	info := binary.BigEndian.AppendUint16(buf[:0], uint16(n))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0, 1) // the empty context, and the block's counter
	mac.Reset()
	mac.Write(info)
	return mac.Sum(nil)[:n]
}

// initialSecrets derives the Initial packet protection key, IV and header
// protection key of the client (server false) or the server from the
// client's first Destination Connection ID. The three come from one
// secret, so one HMAC keyed by it serves them: a flood of QUIC Initials
// from ever new clients derives keys for each.
func initialSecrets(v *quicVersion, dcid []byte, server bool) (key, iv, hp []byte) {
	initial, err := hkdf.Extract(sha256.New, dcid, v.salt)
	if err != nil {
		panic(err)
	}
	side := "client in"
	if server {
		side = "server in"
	}
	secret := hkdfExpandLabel(hmac.New(sha256.New, initial), side, 32)
	mac := hmac.New(sha256.New, secret)
	return hkdfExpandLabel(mac, v.labelPrefix+"key", 16), hkdfExpandLabel(mac, v.labelPrefix+"iv", 12),
		hkdfExpandLabel(mac, v.labelPrefix+"hp", 16)
}

// newQuicKeys makes the ciphers of an Initial key, IV and header
// protection key (16 bytes each but the IV: AES-128, which never fails).
func newQuicKeys(key, iv, hp []byte) *quicKeys {
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	hpBlock, _ := aes.NewCipher(hp)
	return &quicKeys{aead: aead, iv: iv, hp: hpBlock}
}

// quicState follows the Initial packets of a QUIC conversation.
type quicState struct {
	version *quicVersion
	dcid    []byte // the client's first Destination Connection ID
	keys    [2]*quicKeys
	crypto  [2]cryptoStream
	hellos  [2]bool
	packets int
}

// cryptoStream gathers one direction's CRYPTO frames, which may come in
// any order and across packets, up to cryptoMax bytes.
type cryptoStream struct {
	chunks []cryptoChunk
}

type cryptoChunk struct {
	off  int
	data []byte
}

// Bounds: the CRYPTO bytes kept per direction (a ClientHello with a
// post-quantum key share is under 2 KiB), and the Initial packets read.
const (
	cryptoMax         = 8 << 10
	quicInitialPacket = 16
)

// quicDatagram reads the QUIC packets coalesced in one datagram.
func (in *Inspector) quicDatagram(dir int, data []byte) {
	q := in.quic
	for len(data) >= 7 && data[0]&0x80 != 0 && q.packets < quicInitialPacket {
		n := q.longPacket(in, dir, data)
		if n <= 0 {
			return
		}
		data = data[n:]
	}
}

// longPacket reads one long-header packet and returns its length, or 0
// when it cannot be read.
func (q *quicState) longPacket(in *Inspector, dir int, p []byte) int {
	version := binary.BigEndian.Uint32(p[1:])
	v := quicVersions[version]
	if v == nil {
		return 0
	}
	r := reader{b: p[5:]}
	dcid := r.bytes(int(r.u8()))
	scid := r.bytes(int(r.u8()))
	if r.bad || len(dcid) > 20 || len(scid) > 20 {
		return 0
	}
	typ := p[0] >> 4 & 3
	if typ == v.retryType {
		if dir == FromResp && len(scid) > 0 { // the client's next Initial goes to the new ID
			q.dcid, q.keys = slices.Clone(scid), [2]*quicKeys{}
		}
		return 0 // a Retry fills the datagram
	}
	if typ == v.initialType {
		token, _ := quicVarint(&r)
		r.skip(int(token))
	}
	length, ok := quicVarint(&r)
	if r.bad || !ok || length > uint64(r.len()) {
		return 0
	}
	pnOffset := len(p) - r.len()
	end := pnOffset + int(length)
	if typ != v.initialType {
		return end // Handshake and 0-RTT packets are not readable without the handshake's secrets
	}
	q.packets++
	if q.version == nil {
		q.version = v
	}
	if dir == FromOrig && q.dcid == nil {
		q.dcid = slices.Clone(dcid)
	}
	if q.dcid == nil || q.version != v {
		return end
	}
	if q.keys[dir] == nil {
		q.keys[dir] = newQuicKeys(initialSecrets(v, q.dcid, dir == FromResp))
	}
	if plain := q.keys[dir].open(p[:end], pnOffset); plain != nil {
		q.frames(in, dir, plain)
	}
	return end
}

// open removes header protection and decrypts an Initial packet whose
// packet number starts at pnOffset. It returns nil when the packet does
// not decrypt.
func (k *quicKeys) open(packet []byte, pnOffset int) []byte {
	if pnOffset+4+16 > len(packet) {
		return nil
	}
	var mask [16]byte
	k.hp.Encrypt(mask[:], packet[pnOffset+4:pnOffset+20])
	first := packet[0] ^ mask[0]&0x0f
	pnLen := int(first&3) + 1
	header := make([]byte, pnOffset+pnLen)
	copy(header, packet)
	header[0] = first
	var pn uint64
	for i := range pnLen {
		header[pnOffset+i] ^= mask[1+i]
		pn = pn<<8 | uint64(header[pnOffset+i])
	}
	nonce := slices.Clone(k.iv)
	for i := range 8 {
		nonce[len(nonce)-1-i] ^= byte(pn >> (8 * i))
	}
	plain, err := k.aead.Open(nil, nonce, packet[pnOffset+pnLen:], header)
	if err != nil {
		return nil
	}
	return plain
}

// frames reads the frames of a decrypted Initial packet: CRYPTO frames
// are gathered; PADDING, PING, ACK and CONNECTION_CLOSE skipped.
func (q *quicState) frames(in *Inspector, dir int, b []byte) {
	r := reader{b: b}
	for r.len() > 0 && !r.bad {
		typ, _ := quicVarint(&r)
		switch typ {
		case 0x00: // PADDING, of which a client's Initial holds hundreds in a row
			r.b = r.b[nonZero(r.b):]
		case 0x01: // PING
		case 0x02, 0x03: // ACK
			quicVarint(&r)
			quicVarint(&r)
			ranges, _ := quicVarint(&r)
			quicVarint(&r)
			for i := uint64(0); i < ranges && !r.bad; i++ {
				quicVarint(&r)
				quicVarint(&r)
			}
			if typ == 0x03 {
				quicVarint(&r)
				quicVarint(&r)
				quicVarint(&r)
			}
		case 0x06: // CRYPTO
			off, _ := quicVarint(&r)
			n, _ := quicVarint(&r)
			data := r.bytes(int(n))
			if !r.bad && off+n <= cryptoMax {
				q.crypto[dir].add(int(off), data)
			}
		case 0x1c, 0x1d: // CONNECTION_CLOSE
			quicVarint(&r)
			if typ == 0x1c {
				quicVarint(&r)
			}
			n, _ := quicVarint(&r)
			r.skip(int(n))
		default:
			r.bad = true
		}
	}
	q.hello(in, dir)
}

// add keeps a CRYPTO frame's data at its offset.
// held returns the bytes of CRYPTO frames kept, of both directions.
func (q *quicState) held() int {
	n := 0
	for _, s := range q.crypto {
		for _, c := range s.chunks {
			n += cap(c.data)
		}
	}
	return n
}

func (s *cryptoStream) add(off int, data []byte) {
	if len(data) == 0 || len(s.chunks) >= 64 {
		return
	}
	s.chunks = append(s.chunks, cryptoChunk{off, slices.Clone(data)})
}

// contiguous returns the stream's bytes from offset 0 as far as they have
// all come.
func (s *cryptoStream) contiguous() []byte {
	slices.SortFunc(s.chunks, func(a, b cryptoChunk) int { return a.off - b.off })
	var out []byte
	for _, c := range s.chunks {
		if c.off > len(out) {
			break
		}
		if end := c.off + len(c.data); end > len(out) {
			out = append(out, c.data[len(out)-c.off:]...)
		}
	}
	return out
}

// hello parses the direction's ClientHello or ServerHello once its CRYPTO
// bytes hold it whole.
func (q *quicState) hello(in *Inspector, dir int) {
	if q.hellos[dir] {
		return
	}
	b := q.crypto[dir].contiguous()
	if len(b) < 4 {
		return
	}
	n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	if len(b) < 4+n {
		return
	}
	if in.facts.TLS == nil {
		in.facts.TLS = &TLSFacts{}
	}
	switch {
	case dir == FromOrig && b[0] == 1:
		parseClientHello(in.facts.TLS, b[4:4+n], "q")
	case dir == FromResp && b[0] == 2:
		parseServerHello(in.facts.TLS, b[4:4+n])
		in.addService("ssl")
	default:
		return
	}
	q.hellos[dir] = true
	q.crypto[dir] = cryptoStream{}
	if q.hellos[0] && q.hellos[1] {
		in.done = true
	}
}

// quicVarint reads a QUIC variable-length integer (RFC 9000, 16).
// nonZero returns the index of b's first byte that is not zero, or len(b).
func nonZero(b []byte) int {
	for i, c := range b {
		if c != 0 {
			return i
		}
	}
	return len(b)
}

func quicVarint(r *reader) (uint64, bool) {
	first := r.u8()
	if r.bad {
		return 0, false
	}
	v := uint64(first & 0x3f)
	for range 1<<(first>>6) - 1 {
		v = v<<8 | uint64(r.u8())
	}
	return v, !r.bad
}
