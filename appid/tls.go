package appid

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
)

// TLSFacts is what a TLS handshake showed.
type TLSFacts struct {
	ServerName string   `json:"server_name,omitempty"`
	Version    string   `json:"version,omitempty"`       // negotiated, as Zeek writes it: TLSv12, TLSv13
	ALPN       []string `json:"client_alpn,omitempty"`   // offered by the client
	NextProto  string   `json:"next_protocol,omitempty"` // chosen by the server
	JA4        string   `json:"ja4,omitempty"`
}

func looksTLS(p []byte) bool {
	return len(p) >= 6 && p[0] == 0x16 && p[1] == 0x03 && p[2] <= 0x04 && (p[5] == 1 || p[5] == 2)
}

// tlsHandler collects the handshake bytes of each direction until the
// ClientHello and ServerHello are read or the direction moves past its
// handshake records.
type tlsHandler struct {
	hs      [2][]byte // handshake-layer bytes gathered from records
	rec     [2][]byte // partial record
	stopped [2]bool
	hellos  int
}

func (h *tlsHandler) held() int { return heldBytes(h.hs[0], h.hs[1], h.rec[0], h.rec[1]) }

func (h *tlsHandler) feed(in *Inspector, dir int, data []byte) bool {
	in.addService("ssl")
	if in.facts.TLS == nil {
		in.facts.TLS = &TLSFacts{}
	}
	if h.stopped[dir] {
		return !(h.stopped[0] && h.stopped[1])
	}
	r := &h.rec[dir]
	*r = append(*r, data...)
	for len(*r) >= 5 && !h.stopped[dir] {
		if (*r)[0] != 0x16 {
			h.stopped[dir] = true // past the handshake: change cipher spec, application data
			break
		}
		n := int(binary.BigEndian.Uint16((*r)[3:5]))
		if len(*r) < 5+n {
			break
		}
		h.hs[dir] = append(h.hs[dir], (*r)[5:5+n]...)
		*r = (*r)[5+n:]
		h.parse(in, dir)
	}
	if len(*r) > prefixMax || len(h.hs[dir]) > prefixMax {
		h.stopped[dir] = true
	}
	// What was read whole is let go: a conversation that waits for its
	// peer's hello (a flood of client hellos) holds none of its bytes.
	if len(*r) == 0 {
		*r = nil
	}
	if len(h.hs[dir]) == 0 {
		h.hs[dir] = nil
	}
	if h.stopped[dir] {
		h.rec[dir], h.hs[dir] = nil, nil
	}
	return h.hellos < 2 && !(h.stopped[0] && h.stopped[1])
}

// parse reads complete handshake messages of a direction.
func (h *tlsHandler) parse(in *Inspector, dir int) {
	b := h.hs[dir]
	for len(b) >= 4 {
		n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		if len(b) < 4+n {
			break
		}
		msg := b[4 : 4+n]
		switch b[0] {
		case 1:
			h.hellos++
			parseClientHello(in.facts.TLS, msg, "t")
		case 2:
			h.hellos++
			parseServerHello(in.facts.TLS, msg)
		}
		b = b[4+n:]
	}
	h.hs[dir] = b
}

func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// tlsVersions names protocol versions as Zeek's ssl.log does.
var tlsVersions = map[uint16]string{0x0300: "SSLv3", 0x0301: "TLSv10", 0x0302: "TLSv11", 0x0303: "TLSv12", 0x0304: "TLSv13"}

// ja4Versions is JA4's two-character version.
var ja4Versions = map[uint16]string{0x0300: "s3", 0x0301: "10", 0x0302: "11", 0x0303: "12", 0x0304: "13"}

// parseClientHello reads the server name, ALPN and JA4 fingerprint.
// transport is "t" for TLS over TCP, "q" for QUIC.
func parseClientHello(f *TLSFacts, m []byte, transport string) {
	r := reader{b: m}
	version := r.u16()
	r.skip(32)
	r.skip(int(r.u8()))
	ciphersLen := int(r.u16())
	ciphers := r.bytes(ciphersLen)
	r.skip(int(r.u8())) // compression methods
	if r.bad {
		return
	}
	var cipherList []uint16
	for i := 0; i+1 < len(ciphers); i += 2 {
		if c := binary.BigEndian.Uint16(ciphers[i:]); !isGREASE(c) {
			cipherList = append(cipherList, c)
		}
	}
	var exts, sigAlgs []uint16
	extCount := 0
	sni := false
	alpnFirst := ""
	best := version
	if r.len() >= 2 {
		er := reader{b: r.bytes(int(r.u16()))}
		for er.len() >= 4 && !er.bad {
			typ, body := er.u16(), er.bytes(int(er.u16()))
			if isGREASE(typ) {
				continue
			}
			extCount++
			if typ != 0x0000 && typ != 0x0010 {
				exts = append(exts, typ)
			}
			br := reader{b: body}
			switch typ {
			case 0x0000: // server_name
				sni = true
				lr := reader{b: br.bytes(int(br.u16()))}
				for lr.len() >= 3 && !lr.bad {
					kind, name := lr.u8(), lr.bytes(int(lr.u16()))
					if kind == 0 && f.ServerName == "" {
						f.ServerName = printable(name, 255)
					}
				}
			case 0x0010: // ALPN
				lr := reader{b: br.bytes(int(br.u16()))}
				for lr.len() >= 1 && !lr.bad {
					p := lr.bytes(int(lr.u8()))
					if alpnFirst == "" && len(p) > 0 {
						alpnFirst = ja4ALPN(p)
					}
					f.ALPN = appendLimited(f.ALPN, printable(p, 64))
				}
			case 0x000d: // signature_algorithms
				lr := reader{b: br.bytes(int(br.u16()))}
				for lr.len() >= 2 && !lr.bad {
					if s := lr.u16(); !isGREASE(s) {
						sigAlgs = append(sigAlgs, s)
					}
				}
			case 0x002b: // supported_versions
				lr := reader{b: br.bytes(int(br.u8()))}
				for lr.len() >= 2 && !lr.bad {
					if v := lr.u16(); !isGREASE(v) && v > best && v <= 0x0304 {
						best = v
					}
				}
			}
		}
	}
	if f.Version == "" {
		f.Version = tlsVersions[best]
	}
	if alpnFirst == "" {
		alpnFirst = "00"
	}
	v, ok := ja4Versions[best]
	if !ok {
		v = "00"
	}
	d := "i"
	if sni {
		d = "d"
	}
	f.JA4 = fmt.Sprintf("%s%s%s%02d%02d%s_%s_%s", transport, v, d, min(len(cipherList), 99), min(extCount, 99), alpnFirst,
		ja4Hash(cipherList, nil), ja4Hash(exts, sigAlgs))
}

// ja4ALPN is JA4's two characters for the first ALPN value: its first and
// last characters, or the hex digits at its ends when those are not
// alphanumeric.
func ja4ALPN(p []byte) string {
	alnum := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	first, last := p[0], p[len(p)-1]
	if alnum(first) && alnum(last) {
		return string([]byte{first, last})
	}
	h := hex.EncodeToString([]byte{first, last})
	return string([]byte{h[0], h[3]})
}

// ja4Hash is the first 12 hex digits of the SHA-256 of the sorted list,
// followed by "_" and the second list in order when it is not empty.
func ja4Hash(list, after []uint16) string {
	if len(list) == 0 {
		return "000000000000"
	}
	// Four lower-case hex digits each: the values sort as their texts do.
	sorted := slices.Sorted(slices.Values(list))
	b := appendHexList(make([]byte, 0, 5*(len(list)+len(after))), sorted)
	if len(after) > 0 {
		b = appendHexList(append(b, '_'), after)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// appendHexList appends the values as four hex digits each, joined by
// commas.
func appendHexList(b []byte, values []uint16) []byte {
	const digits = "0123456789abcdef"
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, digits[v>>12], digits[v>>8&15], digits[v>>4&15], digits[v&15])
	}
	return b
}

// parseServerHello reads the negotiated version and ALPN.
func parseServerHello(f *TLSFacts, m []byte) {
	r := reader{b: m}
	version := r.u16()
	r.skip(32)
	r.skip(int(r.u8()))
	r.skip(3) // cipher suite, compression
	if r.bad {
		return
	}
	if r.len() >= 2 {
		er := reader{b: r.bytes(int(r.u16()))}
		for er.len() >= 4 && !er.bad {
			typ, body := er.u16(), er.bytes(int(er.u16()))
			br := reader{b: body}
			switch typ {
			case 0x002b:
				if v := br.u16(); !br.bad {
					version = v
				}
			case 0x0010:
				lr := reader{b: br.bytes(int(br.u16()))}
				if p := lr.bytes(int(lr.u8())); !lr.bad {
					f.NextProto = printable(p, 64)
				}
			}
		}
	}
	if v, ok := tlsVersions[version]; ok {
		f.Version = v
	}
}

// reader reads big-endian fields from a byte slice; reading past the end
// sets bad and returns zeros, so parsers need no bounds checks of their own.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) len() int { return len(r.b) }

func (r *reader) u8() uint8 {
	if len(r.b) < 1 {
		r.bad = true
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() uint16 {
	if len(r.b) < 2 {
		r.bad, r.b = true, nil
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.bad, r.b = true, nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) skip(n int) { r.bytes(n) }
