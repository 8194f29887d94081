// Package decompress recognises gzip- and zstd-compressed input by its
// magic number and decompresses it, for captures and logs alike.
package decompress

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Reader returns the decompressed content of src, and the name of its
// compression: "gzip", "zstd", or "" when src is not compressed (then the
// content is src itself).
func Reader(src *bufio.Reader) (io.Reader, string, error) {
	magic, _ := src.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, "gzip", fmt.Errorf("gzip: %w", err)
		}
		return zr, "gzip", nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		// One decoding goroutine and a bounded window: a crafted frame
		// header cannot make the decoder allocate without limit.
		zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, "zstd", fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), "zstd", nil
	}
	return src, "", nil
}
