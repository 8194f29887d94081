package pcapread

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// checksumOK reports whether a whole TCP or UDP segment's checksum is
// right: the ones' complement sum over the pseudo-header (RFC 793, RFC
// 8200 section 8.1) and the segment, checksum field included, is all ones.
func checksumOK(src, dst netip.Addr, proto uint8, seg []byte) bool {
	return onesSum(src, dst, proto, seg) == 0xffff
}

// onesSum is the 16-bit ones' complement sum of the pseudo-header and seg.
func onesSum(src, dst netip.Addr, proto uint8, seg []byte) uint64 {
	var sum uint64
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		sum = uint64(binary.BigEndian.Uint32(s[:])) + uint64(binary.BigEndian.Uint32(d[:]))
	} else {
		s, d := src.As16(), dst.As16()
		for i := 0; i < 16; i += 8 {
			sum = addCarry(sum, binary.BigEndian.Uint64(s[i:]))
			sum = addCarry(sum, binary.BigEndian.Uint64(d[i:]))
		}
	}
	sum = addCarry(sum, uint64(proto)+uint64(len(seg)))
	// The data is summed as little-endian words into plain 64-bit sums,
	// which no segment an IP packet holds can overflow: no carry chain,
	// so the additions run in parallel. A ones' complement sum depends
	// neither on how its 16-bit words are grouped nor on their byte
	// order, except that it comes out byte-swapped (RFC 1071, section 2).
	blocks := len(seg) &^ 31
	data := wordSum(seg[:blocks])
	seg = seg[blocks:]
	for len(seg) >= 4 {
		data += uint64(binary.LittleEndian.Uint32(seg))
		seg = seg[4:]
	}
	if len(seg) > 0 {
		var tail [4]byte // the last bytes, padded with zeros
		copy(tail[:], seg)
		data += uint64(binary.LittleEndian.Uint32(tail[:]))
	}
	folded := fold(data)
	sum = addCarry(sum, uint64(bits.ReverseBytes16(uint16(folded))))
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return sum
}

// sumWords returns the plain sum of the little-endian 32-bit words of b,
// whose length is a multiple of 32, in four sums that run in parallel.
func sumWords(b []byte) uint64 {
	var s0, s1, s2, s3 uint64
	for len(b) >= 32 {
		w := (*[32]byte)(b)
		s0 += uint64(binary.LittleEndian.Uint32(w[0:]))
		s1 += uint64(binary.LittleEndian.Uint32(w[4:]))
		s2 += uint64(binary.LittleEndian.Uint32(w[8:]))
		s3 += uint64(binary.LittleEndian.Uint32(w[12:]))
		s0 += uint64(binary.LittleEndian.Uint32(w[16:]))
		s1 += uint64(binary.LittleEndian.Uint32(w[20:]))
		s2 += uint64(binary.LittleEndian.Uint32(w[24:]))
		s3 += uint64(binary.LittleEndian.Uint32(w[28:]))
		b = b[32:]
	}
	return s0 + s1 + s2 + s3
}

// fold reduces a 64-bit ones' complement sum to 16 bits.
func fold(v uint64) uint64 {
	v = v&0xffffffff + v>>32
	v = v&0xffffffff + v>>32
	v = v&0xffff + v>>16
	return v&0xffff + v>>16
}

// addCarry adds in ones' complement: a carry out of the top bit comes back
// in at the bottom.
func addCarry(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	return s + c
}
