package flows

import (
	"encoding/binary"
	"math/bits"
	"path/filepath"
)

// connUID derives a Zeek-style connection uid from what identifies the
// conversation in its input: the tuple, the first packet's time and record,
// and the name of its first file without the folder, so the same capture
// gives the same uids however its path is written and wherever it is moved.
func connUID(k *key, start, firstRecord int64, file string) string {
	var out [uidLen]byte
	return string(appendConnUID(out[:0], k, start, firstRecord, file))
}

// appendConnUID appends connUID's text to dst: UID of the tuple's
// addresses (16 bytes each), the time and record (8 bytes each, big
// endian), the ports (2 each), the protocol and the file's name. The
// zero bytes that open an IPv4 address (as IPv6 holds it) and a small
// record number are hashed all at once.
func appendConnUID(dst []byte, k *key, start, firstRecord int64, file string) []byte {
	h := newUIDHash()
	h.addr(&k.lo)
	h.addr(&k.hi)
	h.word(uint64(start))
	h.word(uint64(firstRecord))
	var tail [5]byte
	binary.BigEndian.PutUint16(tail[:], k.loPort)
	binary.BigEndian.PutUint16(tail[2:], k.hiPort)
	tail[4] = k.proto
	hashBytes(&h, tail[:])
	hashBytes(&h, filepath.Base(file))
	return h.appendTo(dst)
}

// UID returns a Zeek-style connection uid, "C" and 17 base62 digits (the 96
// bits Zeek's uids carry), derived from data: the same data always gives
// the same uid. Two 64-bit FNV-1a hashes provide the bits.
func UID(data []byte) string {
	var out [uidLen]byte
	return string(appendUID(out[:0], data))
}

// uidLen is the length of a uid.
const uidLen = 18

// appendUID appends UID's text to dst.
func appendUID(dst, data []byte) []byte {
	h := newUIDHash()
	hashBytes(&h, data)
	return h.appendTo(dst)
}

// uidHash is the state of UID's two hashes: 64-bit FNV-1a from two
// offsets.
type uidHash struct{ h1, h2 uint64 }

// fnvPrime is the 64-bit FNV prime; fnvZeros[n] is it to the power n,
// which hashes n zero bytes at once (a zero byte leaves the exclusive or
// unchanged).
const fnvPrime = 1099511628211

var fnvZeros = func() (t [11]uint64) {
	t[0] = 1
	for i := 1; i < len(t); i++ {
		t[i] = t[i-1] * fnvPrime
	}
	return t
}()

func newUIDHash() uidHash { return uidHash{14695981039346656037, 0x9ae16a3b2f90404f} }

func hashBytes[T string | []byte](h *uidHash, data T) {
	h1, h2 := h.h1, h.h2
	for i := 0; i < len(data); i++ {
		h1 = (h1 ^ uint64(data[i])) * fnvPrime
		h2 = (h2 ^ uint64(data[i])) * fnvPrime
	}
	h.h1, h.h2 = h1, h2
}

// zeros hashes n zero bytes, n <= 10.
func (h *uidHash) zeros(n int) {
	h.h1 *= fnvZeros[n]
	h.h2 *= fnvZeros[n]
}

// addr hashes an address's 16 bytes.
func (h *uidHash) addr(a *[16]byte) {
	if binary.LittleEndian.Uint64(a[:8]) == 0 && binary.LittleEndian.Uint16(a[8:10]) == 0 {
		h.zeros(10)
		hashBytes(h, a[10:])
		return
	}
	hashBytes(h, a[:])
}

// word hashes v's 8 bytes, big endian.
func (h *uidHash) word(v uint64) {
	zeros := bits.LeadingZeros64(v) / 8
	h.zeros(zeros)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	hashBytes(h, b[zeros:])
}

// appendTo appends the uid's text to dst: the 64 bits of h1 in 11 base62
// digits and 35 of h2 in 6, lowest first.
func (h *uidHash) appendTo(dst []byte) []byte {
	h1, h2 := h.h1, h.h2>>29 // 62^11 > 2^64, 62^6 > 2^35
	var out [uidLen]byte
	out[0] = 'C'
	// Two digits a division: half as many divisions, each waiting on the
	// one before.
	for i := 1; i < 11; i += 2 {
		out[i], out[i+1] = base62Pairs[h1%3844][0], base62Pairs[h1%3844][1]
		h1 /= 3844
	}
	out[11] = base62Pairs[h1][0]
	for i := 12; i < uidLen; i += 2 {
		out[i], out[i+1] = base62Pairs[h2%3844][0], base62Pairs[h2%3844][1]
		h2 /= 3844
	}
	return append(dst, out[:]...)
}

// base62Pairs holds the two base62 digits of each number below 62², the
// lower first.
var base62Pairs = func() (t [62 * 62][2]byte) {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for i := range t {
		t[i] = [2]byte{digits[i%62], digits[i/62]}
	}
	return t
}()
