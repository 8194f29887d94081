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
	// Add 64-bit words in four independent chains, counting the carries
	// out of each apart, so the CPU can run the chains side by side.
	var a, b, c, d, ca, cb, cc, cd uint64
	for len(seg) >= 32 {
		var k uint64
		a, k = bits.Add64(a, binary.BigEndian.Uint64(seg), 0)
		ca += k
		b, k = bits.Add64(b, binary.BigEndian.Uint64(seg[8:]), 0)
		cb += k
		c, k = bits.Add64(c, binary.BigEndian.Uint64(seg[16:]), 0)
		cc += k
		d, k = bits.Add64(d, binary.BigEndian.Uint64(seg[24:]), 0)
		cd += k
		seg = seg[32:]
	}
	for len(seg) >= 8 {
		var k uint64
		a, k = bits.Add64(a, binary.BigEndian.Uint64(seg), 0)
		ca += k
		seg = seg[8:]
	}
	for _, v := range [...]uint64{a, b, c, d, ca, cb, cc, cd} {
		sum = addCarry(sum, v)
	}
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
