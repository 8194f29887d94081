//go:build !purego

package pcapread

import "golang.org/x/sys/cpu"

// wordSum returns a sum of b's words that folds to the same ones'
// complement sum as sumWords's: with AVX2, the sum of its little-endian
// 16-bit words, 64 bytes a step, about twice as fast on a full-sized
// segment (BenchmarkChecksum).
func wordSum(b []byte) uint64 {
	if !cpu.X86.HasAVX2 || len(b) < minVectorSum {
		return sumWords(b)
	}
	var sum uint64
	for len(b) >= 64 {
		n := min(len(b), maxVectorSum) &^ 63
		sum += sumWordsAVX2(b[:n])
		b = b[n:]
	}
	return sum + sumWords(b)
}

const (
	// minVectorSum is the shortest data summed with vector instructions:
	// below it, their setup costs more than they save.
	minVectorSum = 128
	// maxVectorSum is the most data one call of sumWordsAVX2 sums: each
	// of its 32-bit lanes takes two 16-bit words a step, so 2^15 steps of
	// 64 bytes could overflow it.
	maxVectorSum = 1 << 20
)

// sumWordsAVX2 returns the plain sum of the little-endian 16-bit words of
// b, whose length is a multiple of 64 and at most maxVectorSum.
//
//go:noescape
func sumWordsAVX2(b []byte) uint64
