//go:build !amd64 || purego

package pcapread

// wordSum is sumWords where no vector code is written for the processor.
func wordSum(b []byte) uint64 { return sumWords(b) }
