//go:build !unix

package tempfile

// newChunk takes memChunk bytes from Go's heap, where memory cannot be
// mapped apart from it.
func newChunk() []byte { return make([]byte, memChunk) }

// freeChunk leaves a chunk to the garbage collector.
func freeChunk([]byte) {}
