package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/netfx/netfx/connlog"
	"github.com/netfx/netfx/internal/decompress"
	"github.com/netfx/netfx/inventory"
	"github.com/netfx/netfx/loganalytics"
)

// sources holds the inputs that can be read only once — standard input
// ("-"), and pipes such as a shell's <(zcat capture.gz) — buffered, so that
// sniffing them leaves every byte for the reader they are handed to.
type sources struct {
	stdin *bufio.Reader
	open  map[string]*bufio.Reader // pipes sniffed, by path
	files []*os.File               // to close at the end
}

func newSources(stdin io.Reader) *sources {
	if stdin == nil {
		stdin = os.Stdin
	}
	return &sources{stdin: bufio.NewReaderSize(stdin, sniffLen), open: map[string]*bufio.Reader{}}
}

// reader opens path for reading: a stream already opened, or the file.
func (in *sources) reader(path string) (io.Reader, error) {
	if path == "-" {
		return in.stdin, nil
	}
	if br, ok := in.open[path]; ok {
		return br, nil
	}
	return os.Open(path)
}

func (in *sources) close() {
	for _, f := range in.files {
		f.Close()
	}
}

// openAndRead opens a file or stream and reads it, through wrap and
// decompressed if it is gzip or zstd, with read.
func openAndRead[S any](in *sources, path string, wrap func(io.Reader) io.Reader, read func(io.Reader) (S, error)) (S, error) {
	var none S
	src, err := in.reader(path)
	if err != nil {
		return none, err
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	content, _, err := decompress.Reader(bufio.NewReaderSize(wrap(src), 64<<10))
	if err != nil {
		return none, fmt.Errorf("%s: %w", path, err)
	}
	return read(content)
}

// Kinds of input file, by content.
const (
	kindUnknown = iota
	kindCapture
	kindFlowLog
	kindConnLog
	kindInventory
	kindAnalytics
)

// sniffLen is how much of a file sniff reads: enough compressed bytes to
// decompress the first 512.
const sniffLen = 64 << 10

// sniff tells captures, flow logs, conversation logs and Azure inventory
// apart by their first bytes, decompressed when the file is gzip or zstd:
// capture magic numbers, a Zeek log header or JSON conversation records,
// ARM resources or service tags (inventory.Detect), or other JSON text. Standard input and pipes are only peeked at, and kept open.
func (in *sources) sniff(path string) (int, error) {
	br := in.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return kindUnknown, err
		}
		br = bufio.NewReaderSize(f, sniffLen)
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			defer f.Close()
		} else {
			in.open[path], in.files = br, append(in.files, f)
		}
	}
	raw, err := br.Peek(sniffLen)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return kindUnknown, fmt.Errorf("%s: %w", path, err)
	}
	content, _, err := decompress.Reader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return kindCapture, nil // a damaged compressed file: the capture reader reports it
	}
	head, _ := bufio.NewReaderSize(content, sniffLen).Peek(sniffLen) // what the prefix gives
	return sniffBytes(head), nil
}

// sniffBytes sorts a file by its first bytes: up to 512 of them, and up
// to sniffLen for JSON, whose first keys may come after a long value.
func sniffBytes(head []byte) int {
	magics := [][]byte{
		{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4}, {0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d},
		{0x0a, 0x0d, 0x0d, 0x0a}, []byte("GMBU"),
	}
	for _, m := range magics {
		if bytes.HasPrefix(head, m) {
			return kindCapture
		}
	}
	if _, ok := connlog.Detect(head[:min(len(head), 512)]); ok {
		return kindConnLog
	}
	text := bytes.TrimLeft(bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF}), " \t\r\n")
	if loganalytics.Detect(text) {
		return kindAnalytics
	}
	if len(text) > 0 && strings.ContainsRune("{[", rune(text[0])) && inventory.Detect(text) {
		return kindInventory
	}
	if len(text) > 0 && strings.ContainsRune("{[,", rune(text[0])) {
		return kindFlowLog
	}
	return kindUnknown
}
