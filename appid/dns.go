package appid

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// DNSFacts is the queries and answers of a DNS conversation.
type DNSFacts struct {
	Queries []string `json:"queries,omitempty"` // name and type, e.g. "example.com A"
	// More is the distinct queries past Queries' 16, up to 2 KiB of them,
	// for the analyses (a DNS tunnel can carry thousands of queries on
	// one source port); not written out.
	More    []string   `json:"-"`
	Answers DNSAnswers `json:"answers"`
	// QueriesTotal counts every question the client asked, those past
	// Queries and More too (in the first 4,096 datagrams read).
	QueriesTotal int `json:"queries_total,omitempty"`
	TXT          int `json:"txt_queries,omitempty"`
	NXDomain     int `json:"nxdomain,omitempty"`
}

// typeName returns a DNS record type's mnemonic, or TYPEn as RFC 3597
// writes unknown types.
func typeName(t uint16) string {
	switch t {
	case 1:
		return "A"
	case 2:
		return "NS"
	case 5:
		return "CNAME"
	case 6:
		return "SOA"
	case 12:
		return "PTR"
	case 10:
		return "NULL"
	case 15:
		return "MX"
	case 16:
		return "TXT"
	case 28:
		return "AAAA"
	case 33:
		return "SRV"
	case 65:
		return "HTTPS"
	case 252:
		return "AXFR"
	case 255:
		return "ANY"
	}
	return fmt.Sprintf("TYPE%d", t)
}

// looksDNS checks a UDP payload for a DNS message whose question parses.
func looksDNS(p []byte) bool {
	if len(p) < 17 {
		return false
	}
	flags := binary.BigEndian.Uint16(p[2:])
	qd := binary.BigEndian.Uint16(p[4:])
	if qd == 0 || qd > 4 || flags&0x7800 > 0x1000 { // opcode query or status... up to notify/update are rare
		return false
	}
	n, off, ok := dnsNameTo(p, 12, nil)
	if !ok || off+4 > len(p) {
		return false
	}
	class := binary.BigEndian.Uint16(p[off+2:]) &^ 0x8000 // mDNS sets the top bit
	return class == 1 && (n > 0 || binary.BigEndian.Uint16(p[off:]) != 0)
}

func looksDNSTCP(p []byte) bool {
	return len(p) >= 19 && int(binary.BigEndian.Uint16(p)) >= 17 && looksDNS(p[2:min(len(p), 2+int(binary.BigEndian.Uint16(p)))])
}

// dns reads one DNS message.
func (in *Inspector) dns(p []byte, tcp bool) {
	if len(p) < 12 {
		return
	}
	in.addService("dns")
	if in.facts.DNS == nil {
		in.facts.DNS = &DNSFacts{}
	}
	f := in.facts.DNS
	flags := binary.BigEndian.Uint16(p[2:])
	qd, an := int(binary.BigEndian.Uint16(p[4:])), int(binary.BigEndian.Uint16(p[6:]))
	response := flags&0x8000 != 0
	if response && flags&0x000f == 3 {
		f.NXDomain++
	}
	// Names are read into a buffer on the stack and made strings only
	// when they are kept.
	var buf [256]byte
	off := 12
	for i := 0; i < qd && i < 8; i++ {
		n, next, ok := dnsNameTo(p, off, &buf)
		if !ok || next+4 > len(p) {
			return
		}
		qtype := binary.BigEndian.Uint16(p[next:])
		if !response {
			f.QueriesTotal++
			var q [272]byte
			query := append(append(append(q[:0], buf[:n]...), ' '), typeName(qtype)...)
			if len(f.Queries) < maxListItems {
				f.Queries = in.keep(f.Queries, string(query))
			} else {
				in.more.add(query)
			}
			if qtype == 16 {
				f.TXT++
			}
		}
		off = next + 4
	}
	// Answers usually name their owner by a pointer to the question's
	// name, the same for each: read once. Once an answer of that name is
	// added, the next address answers of it are added as such, without
	// comparing the name again.
	n, lastPointer, added := 0, -1, false
	for i := 0; i < an && i < 64 && in.answers.n < maxAnswers; i++ {
		if added && lastPointer >= 0 && off+16 <= len(p) && binary.BigEndian.Uint16(p[off:]) == 0xc000|uint16(lastPointer) &&
			binary.BigEndian.Uint16(p[off+2:]) == 1 && binary.BigEndian.Uint16(p[off+10:]) == 4 {
			// Another A answer of the name added last, as a flood's
			// answers all are: the name, type and size read at once.
			in.answers.addSameA([4]byte(p[off+12 : off+16]))
			off += 16
			continue
		}
		var next int
		if pointer := dnsPointer(p, off); pointer >= 0 && pointer == lastPointer {
			next = off + 2
		} else {
			var ok bool
			if n, next, ok = dnsNameTo(p, off, &buf); !ok {
				return
			}
			lastPointer, added = pointer, false
		}
		if next+10 > len(p) {
			return
		}
		typ := binary.BigEndian.Uint16(p[next:])
		size := int(binary.BigEndian.Uint16(p[next+8:]))
		data := next + 10
		if data+size > len(p) {
			return
		}
		switch {
		case (typ == 1 && size == 4 || typ == 28 && size == 16) && added:
			in.answers.addSameName(p[data : data+size])
		case typ == 1 && size == 4, typ == 28 && size == 16:
			in.answers.add(buf[:n], typeName(typ), p[data:data+size], true, an-i-1)
			added = true
		case typ == 5, typ == 12:
			var value [256]byte
			if v, _, _ := dnsNameTo(p, data, &value); v > 0 {
				in.answers.add(buf[:n], typeName(typ), value[:v], false, an-i-1)
				added = true
			}
		}
		off = data + size
	}
}

// moreQueries holds a conversation's distinct queries past the first 16
// as bytes, each ending in a newline, up to maxMoreQueries bytes.
type moreQueries struct {
	buf    []byte
	hashes []uint64 // of the queries held, sorted
}

// maxMoreQueries bounds the bytes of queries kept past the first 16: a
// tunnel shows in its first few dozen names.
const maxMoreQueries = 2 << 10

func (m *moreQueries) add(query []byte) {
	if len(m.buf)+len(query)+1 > maxMoreQueries {
		return
	}
	h := uint64(14695981039346656037) // FNV-1a
	for _, b := range query {
		h = (h ^ uint64(b)) * 1099511628211
	}
	i, found := slices.BinarySearch(m.hashes, h)
	if found {
		return
	}
	m.hashes = slices.Insert(m.hashes, i, h)
	m.buf = append(append(m.buf, query...), '\n')
}

// list returns the queries, substrings of one string.
func (m *moreQueries) list() []string {
	if len(m.buf) == 0 {
		return nil
	}
	return strings.Split(string(m.buf[:len(m.buf)-1]), "\n")
}

// maxAnswers bounds the DNS answers kept per conversation.
const maxAnswers = maxListItems * 4

// dnsPointer returns where the compression pointer at off points, or -1
// when there is none.
func dnsPointer(p []byte, off int) int {
	if off+1 >= len(p) || p[off]&0xc0 != 0xc0 {
		return -1
	}
	return int(binary.BigEndian.Uint16(p[off:]) & 0x3fff)
}

// dnsNameTo writes the name at off into buf and returns its length and
// the offset after it, without allocating. With buf nil it only reads
// the name's structure, as a check that a message parses.
func dnsNameTo(p []byte, off int, buf *[256]byte) (int, int, bool) {
	n, end := 0, -1
	for jumps := 0; jumps < 64; {
		if off >= len(p) {
			return 0, 0, false
		}
		l := int(p[off])
		switch {
		case l == 0:
			if end < 0 {
				end = off + 1
			}
			return n, end, true
		case l&0xc0 == 0xc0:
			if off+1 >= len(p) {
				return 0, 0, false
			}
			if end < 0 {
				end = off + 2
			}
			off = int(binary.BigEndian.Uint16(p[off:]) & 0x3fff)
			jumps++
		case l&0xc0 != 0:
			return 0, 0, false
		default:
			if off+1+l > len(p) || n+1+l > len(buf) {
				return 0, 0, false
			}
			if buf == nil {
				n += min(n, 1) + l // a dot before all labels but the first
				off += 1 + l
				continue
			}
			if n > 0 {
				buf[n] = '.'
				n++
			}
			for _, c := range p[off+1 : off+1+l] {
				if c < 0x21 || c > 0x7e {
					c = '?'
				}
				buf[n] = c
				n++
			}
			off += 1 + l
		}
	}
	return 0, 0, false
}

// framedHandler follows protocols whose messages carry their length:
// Kerberos over TCP (4-byte prefix), DNS over TCP (2-byte prefix) and LDAP
// (BER elements).
type framedHandler struct {
	kind string
	fr   [2]framer
	ber  [2][]byte
}

func (h *framedHandler) held() int {
	return heldBytes(h.fr[0].buf, h.fr[1].buf, h.ber[0], h.ber[1])
}

func (h *framedHandler) feed(in *Inspector, dir int, data []byte) bool {
	switch h.kind {
	case "ldap":
		return h.feedLDAP(in, dir, data)
	case "krb":
		in.addService("krb_tcp") // Zeek's name for Kerberos over TCP
	case "dns":
		in.addService("dns")
	}
	fr := &h.fr[dir]
	if fr.lenBytes == 0 {
		*fr = framer{lenBytes: 4, headMax: 64 << 10, want: -1}
		if h.kind == "dns" {
			fr.lenBytes = 2
		}
	}
	fr.messages(data, func(msg []byte, full bool) {
		if !full {
			return
		}
		if h.kind == "krb" {
			in.kerberos(msg)
		} else {
			in.dns(msg, true)
		}
	})
	return true
}

// feedLDAP splits the stream into BER messages; after StartTLS it hands
// over to TLS.
func (h *framedHandler) feedLDAP(in *Inspector, dir int, data []byte) bool {
	b := append(h.ber[dir], data...)
	for len(b) > 0 {
		if in.facts.LDAP != nil && in.facts.LDAP.StartTLS && looksTLS(b) {
			return in.handOverToTLS(dir, b)
		}
		_, _, rest, ok := berNext(b)
		if !ok {
			break
		}
		in.ldap(b[:len(b)-len(rest)])
		b = rest
	}
	if len(b) > 1<<20 {
		return false
	}
	h.ber[dir] = append(h.ber[dir][:0], b...)
	return true
}

// looksQUIC checks for a QUIC long-header packet of a known version.
func looksQUIC(p []byte) bool {
	if len(p) < 7 || p[0]&0xc0 != 0xc0 {
		return false
	}
	v := binary.BigEndian.Uint32(p[1:])
	return v == 1 || v == 0x6b3343cf || v&0xffffff00 == 0xff000000
}

// looksNTP checks for a 48-byte NTP message of version 3 or 4 in client,
// server or symmetric mode.
func looksNTP(p []byte) bool {
	if len(p) != 48 && len(p) != 68 && len(p) != 72 {
		return false
	}
	vn, mode := p[0]>>3&7, p[0]&7
	return (vn == 3 || vn == 4) && mode >= 1 && mode <= 4 && p[1] <= 16
}
