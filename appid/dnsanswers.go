package appid

import (
	"bytes"
	"encoding/binary"
	"errors"
	"iter"
	"net/netip"
	"slices"
	"unsafe"
)

// DNSAnswer is one address or alias record of an answer.
type DNSAnswer struct {
	Name string
	Type string // the record type's mnemonic: A, AAAA, CNAME, PTR
	// Addr is an A or AAAA answer's address; Value is the text of any
	// other answer (a CNAME's or PTR's name), or of an address that a
	// conversation log gave and that does not parse.
	Addr  netip.Addr
	Value string
}

// DNSAnswers is a conversation's DNS answers, held as one string without
// pointers: a flood of answers finishes hundreds of thousands of
// conversations with 64 answers each, and a struct of strings an answer
// would cost kilobytes each, and the garbage collector its time. Per
// answer, a byte of form, then:
//   - form sameA or sameAAAA: an A or AAAA answer for the previous
//     answer's name, its 4 or 16 address bytes (most answers of a flood);
//   - form general: the name (its length plus one as a uvarint, then its
//     bytes; 0 for the previous answer's name), the type's mnemonic (a
//     byte of length, then its bytes), then the value (a byte, 1 for an
//     address and 0 for text; its length as a uvarint; its 4 or 16
//     address bytes or its text).
type DNSAnswers struct {
	enc   string
	n     int
	texts int // answers whose value is text, not an address
}

// NewDNSAnswers holds answers read back from a conversation log.
func NewDNSAnswers(answers ...DNSAnswer) DNSAnswers {
	var b answerBuilder
	for _, a := range answers {
		if a.Addr.IsValid() {
			b.add([]byte(a.Name), a.Type, a.Addr.AsSlice(), true, 0)
		} else if addr, err := netip.ParseAddr(a.Value); err == nil && (a.Type == "A" && addr.Is4() || a.Type == "AAAA" && addr.Is6()) {
			b.add([]byte(a.Name), a.Type, addr.AsSlice(), true, 0)
		} else {
			b.add([]byte(a.Name), a.Type, []byte(a.Value), false, 0)
		}
	}
	return b.take()
}

// Len returns the number of answers.
func (a DNSAnswers) Len() int { return a.n }

// Bytes returns the bytes the answers are held in.
func (a DNSAnswers) Bytes() int { return len(a.enc) }

// HasText reports whether any answer's value is text rather than an
// address (a CNAME's or PTR's name): whether a reader looking for
// aliases needs to go through them.
func (a DNSAnswers) HasText() bool { return a.texts > 0 }

// All yields the answers in the order they were read; their names and
// values are substrings of one string, so none costs an allocation.
func (a DNSAnswers) All() iter.Seq[DNSAnswer] {
	return func(yield func(DNSAnswer) bool) {
		for e, name := a.enc, ""; len(e) > 0; {
			x, rest, ok := nextAnswer(e, name)
			if !ok || !yield(x) {
				return
			}
			e, name = rest, x.Name
		}
	}
}

// nextAnswer reads the answer at the start of e, of name unless it gives
// its own (name is the answer's before it), and returns it and the rest
// of e; ok is false when e does not start with a whole answer.
func nextAnswer(e, name string) (x DNSAnswer, rest string, ok bool) {
	var r encodedAnswer
	if rest, ok = r.cut(e); !ok {
		return x, "", false
	}
	if r.named {
		name = r.name
	}
	x = DNSAnswer{Name: name, Type: r.typ}
	if r.isAddr {
		x.Addr = r.addr()
	} else {
		x.Value = r.value
	}
	return x, rest, true
}

// Addrs yields the names and addresses of the A and AAAA answers, in the
// order they were read, and skips the others: a flood's answers, all of
// one name, are read here without going through the general form.
func (a DNSAnswers) Addrs() iter.Seq2[string, netip.Addr] {
	return func(yield func(string, netip.Addr) bool) {
		var name string
		var r encodedAnswer
		for e := a.enc; len(e) > 0; {
			if e[0] == sameA && len(e) >= 5 {
				if !yield(name, netip.AddrFrom4([4]byte([]byte(e[1:5])))) {
					return
				}
				e = e[5:]
				continue
			}
			var ok bool
			if e, ok = r.cut(e); !ok {
				return
			}
			if r.named {
				name = r.name
			}
			if r.isAddr && !yield(name, r.addr()) {
				return
			}
		}
	}
}

// addr returns an address answer's address.
func (r *encodedAnswer) addr() netip.Addr { return addrOf(r.value) }

// addrOf returns the address of 4 or 16 bytes.
func addrOf(b string) netip.Addr {
	if len(b) == 4 {
		return netip.AddrFrom4([4]byte([]byte(b)))
	}
	return netip.AddrFrom16([16]byte([]byte(b))).Unmap()
}

// Runs yields the answers as All does, grouped: an answer, then the
// addresses of the A or AAAA answers right after it that have its name
// and type (most of a flood's answers), which a writer can write without
// telling their names and types apart, and without a call each.
func (a DNSAnswers) Runs() iter.Seq2[DNSAnswer, SameAddrs] {
	return func(yield func(DNSAnswer, SameAddrs) bool) {
		for e, name := a.enc, ""; len(e) > 0; {
			x, rest, ok := nextAnswer(e, name)
			if !ok {
				return
			}
			e, name = rest, x.Name
			var same SameAddrs
			if x.Type == "A" || x.Type == "AAAA" {
				form, size := byte(sameA), 4
				if x.Type == "AAAA" {
					form, size = sameAAAA, 16
				}
				k := 0
				for k+1+size <= len(e) && e[k] == form {
					k += 1 + size
				}
				same, e = SameAddrs{enc: e[:k], size: size}, e[k:]
			}
			if !yield(x, same) {
				return
			}
		}
	}
}

// SameAddrs is the addresses of answers that repeat the name and type of
// the answer before them (Runs).
type SameAddrs struct {
	enc  string // each address: a byte of form, then its size bytes
	size int
}

// Len returns how many addresses there are.
func (s SameAddrs) Len() int {
	if s.size == 0 {
		return 0
	}
	return len(s.enc) / (1 + s.size)
}

// Is4 reports whether the addresses are IPv4 (A answers), which A4
// returns as they are held.
func (s SameAddrs) Is4() bool { return s.size == 4 }

// A4 returns IPv4 address i, 0 <= i < Len(), when Is4.
func (s SameAddrs) A4(i int) [4]byte {
	at := i*5 + 1
	return [4]byte([]byte(s.enc[at : at+4]))
}

// Addr returns address i, 0 <= i < Len().
func (s SameAddrs) Addr(i int) netip.Addr {
	at := i*(1+s.size) + 1
	return addrOf(s.enc[at : at+s.size])
}

// encodedAnswer is one answer as DNSAnswers holds it.
type encodedAnswer struct {
	name, typ, value string
	named            bool // false: the previous answer's name
	isAddr           bool // value is an address's 4 or 16 bytes
}

// The forms of an encoded answer.
const (
	general  = 0
	sameA    = 1
	sameAAAA = 2
)

// cut reads the answer at the start of e into r and returns the rest of
// e; ok is false when e does not start with a whole answer.
func (r *encodedAnswer) cut(e string) (rest string, ok bool) {
	if len(e) == 0 {
		return "", false
	}
	form, e := e[0], e[1:]
	switch form {
	case sameA, sameAAAA:
		typ, size := "A", 4
		if form == sameAAAA {
			typ, size = "AAAA", 16
		}
		if len(e) < size {
			return "", false
		}
		r.named, r.typ, r.isAddr, r.value = false, typ, true, e[:size]
		return e[size:], true
	case general:
	default:
		return "", false
	}
	l, k := uvarint(e)
	if k == 0 || l > uint64(len(e)-k)+1 {
		return "", false
	}
	e = e[k:]
	r.named = l > 0
	if r.named {
		r.name, e = e[:l-1], e[l-1:]
	}
	if len(e) < 2 || len(e) < 2+int(e[0]) {
		return "", false
	}
	t := int(e[0])
	r.typ, r.isAddr = e[1:1+t], e[1+t] == 1
	if e[1+t] > 1 {
		return "", false
	}
	e = e[2+t:]
	size, k := uvarint(e)
	if k == 0 || size > uint64(len(e)-k) || r.isAddr && size != 4 && size != 16 {
		return "", false
	}
	r.value = e[k : k+int(size)]
	return e[k+int(size):], true
}

// AppendBinary appends the answers as they are held, for a sorter's
// temporary file, which GobDecode reads back (encoding.BinaryAppender).
func (a DNSAnswers) AppendBinary(b []byte) ([]byte, error) {
	return append(binary.AppendUvarint(b, uint64(a.n)), a.enc...), nil
}

// GobEncode writes the answers for a sorter's temporary file.
func (a DNSAnswers) GobEncode() ([]byte, error) { return a.AppendBinary(nil) }

// GobDecode reads answers GobEncode or AppendBinary wrote, checking that
// each is whole.
func (a *DNSAnswers) GobDecode(b []byte) error {
	n, k := binary.Uvarint(b)
	return a.decode(n, k, string(b[max(k, 0):]))
}

// DecodeBorrowed reads answers as GobDecode does without copying them:
// the answers hold b's bytes, and must not be used once b changes. A
// writer formatting a record read back from a temporary file needs its
// answers only until they are written out (a copy took 6 % of the CPU
// of a flood of 64 answers of distinct names a response).
func (a *DNSAnswers) DecodeBorrowed(b []byte) error {
	n, k := binary.Uvarint(b)
	enc := b[max(k, 0):]
	return a.decode(n, k, unsafe.String(unsafe.SliceData(enc), len(enc)))
}

// decode checks enc, the answers after their count n, read in k bytes.
func (a *DNSAnswers) decode(n uint64, k int, enc string) error {
	c, texts := countAnswers(enc)
	if k <= 0 || c < 0 || uint64(c) != n {
		return errors.New("damaged DNS answers")
	}
	*a = DNSAnswers{enc: enc, n: c, texts: texts}
	return nil
}

// countAnswers returns how many whole answers enc holds, or -1 if any
// part of it is not one, and how many of them have text values.
func countAnswers(enc string) (n, texts int) {
	var r encodedAnswer
	for e := enc; len(e) > 0; n++ {
		// An address of the name before, as most of a flood's answers
		// are, at once.
		if e[0] == sameA && len(e) > 4 {
			e = e[5:]
			continue
		}
		var ok bool
		if e, ok = r.cut(e); !ok {
			return -1, 0
		}
		if !r.isAddr {
			texts++
		}
	}
	return n, texts
}

// uvarint reads a uvarint from a string, as binary.Uvarint from bytes.
func uvarint(s string) (uint64, int) {
	var x uint64
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			return x | uint64(b)<<(7*i), i + 1
		}
		x |= uint64(b&0x7f) << (7 * i)
	}
	return 0, 0
}

// answerBuilder gathers a conversation's answers while it is in progress.
type answerBuilder struct {
	buf   []byte
	n     int32
	texts int32    // answers whose value is text
	last  [2]int32 // where the last name written is in buf: start and end
}

// add appends an answer: value is an address's 4 or 16 bytes when
// isAddr, else text. A type's mnemonic is cut to 255 bytes. More answers
// follow it in its message.
func (b *answerBuilder) add(name []byte, typ string, value []byte, isAddr bool, more int) {
	if b.buf == nil {
		// Room for this answer and the rest of its message, if they are
		// of its name and size: appending would leave up to half the
		// buffer unused, after copies.
		b.buf = make([]byte, 0, len(name)+6+len(typ)+(1+min(more, maxAnswers))*(1+len(value)))
	}
	sameName := b.n > 0 && string(name) == string(b.buf[b.last[0]:b.last[1]])
	if sameName && isAddr && (typ == "A" && len(value) == 4 || typ == "AAAA" && len(value) == 16) {
		b.addSameName(value)
		return
	}
	if need := len(name) + len(typ) + len(value) + 8; b.n > 0 && cap(b.buf)-len(b.buf) < need {
		// A second name, and no room: the rest of the message is likely
		// to be of names of their own too. Room for them all at once,
		// not a copy each time the buffer doubles.
		b.buf = slices.Grow(b.buf, need*(1+max(0, min(more, maxAnswers-int(b.n)))))
	}
	b.buf = append(b.buf, general)
	if sameName {
		b.buf = append(b.buf, 0)
	} else {
		b.buf = binary.AppendUvarint(b.buf, uint64(len(name))+1)
		b.last[0] = int32(len(b.buf))
		b.buf = append(b.buf, name...)
		b.last[1] = int32(len(b.buf))
	}
	typ = typ[:min(len(typ), 255)]
	flag := byte(0)
	if isAddr {
		flag = 1
	} else {
		b.texts++
	}
	b.buf = append(append(b.buf, byte(len(typ))), typ...)
	b.buf = append(binary.AppendUvarint(append(b.buf, flag), uint64(len(value))), value...)
	b.n++
}

// addSameName appends an A answer (value is 4 bytes) or an AAAA answer
// (16) of the name of the answer added last.
func (b *answerBuilder) addSameName(value []byte) {
	form := byte(sameA)
	if len(value) == 16 {
		form = sameAAAA
	}
	b.buf = append(append(b.buf, form), value...)
	b.n++
}

// addSameA is addSameName for an A answer, its 5 bytes written at once.
func (b *answerBuilder) addSameA(addr [4]byte) {
	n := len(b.buf)
	b.buf = slices.Grow(b.buf, 5)[:n+5]
	b.buf[n] = sameA
	copy(b.buf[n+1:n+5], addr[:])
	b.n++
}

// take returns the answers gathered and empties the builder. Its buffer
// goes with them, as their string's bytes, which nothing writes again: a
// flood of answers is not copied once more at the end of each
// conversation. A buffer mostly unused (room made for answers a message
// announced and did not hold) is copied to one of their size, so that
// what the answers hold is what Bytes says.
func (b *answerBuilder) take() DNSAnswers {
	if b.n == 0 {
		return DNSAnswers{}
	}
	if cap(b.buf) > 2*len(b.buf)+64 {
		b.buf = bytes.Clone(b.buf)
	}
	a := DNSAnswers{enc: unsafe.String(unsafe.SliceData(b.buf), len(b.buf)), n: int(b.n), texts: int(b.texts)}
	*b = answerBuilder{}
	return a
}

// reset empties the builder, keeping its buffer.
func (b *answerBuilder) reset() { *b = answerBuilder{buf: b.buf[:0]} }
