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
	// Sum 32-bit words into 64-bit accumulators, which cannot overflow
	// for any segment an IP packet holds; four of them let the CPU add in
	// parallel.
	var a, b, c, d uint64
	for len(seg) >= 32 {
		w0, w1 := binary.BigEndian.Uint64(seg), binary.BigEndian.Uint64(seg[8:])
		w2, w3 := binary.BigEndian.Uint64(seg[16:]), binary.BigEndian.Uint64(seg[24:])
		a += w0>>32 + w0&0xffffffff
		b += w1>>32 + w1&0xffffffff
		c += w2>>32 + w2&0xffffffff
		d += w3>>32 + w3&0xffffffff
		seg = seg[32:]
	}
	for len(seg) >= 8 {
		w := binary.BigEndian.Uint64(seg)
		a += w>>32 + w&0xffffffff
		seg = seg[8:]
	}
	sum = addCarry(addCarry(addCarry(addCarry(sum, a), b), c), d)
	if len(seg) > 0 {
		var tail [8]byte // the last bytes, padded with zeros on the right
		copy(tail[:], seg)
		sum = addCarry(sum, binary.BigEndian.Uint64(tail[:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return sum
}

// addCarry adds in ones' complement: a carry out of the top bit comes back
// in at the bottom.
func addCarry(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	return s + c
}
