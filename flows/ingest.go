package flows

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"os"

	"github.com/netfx/netfx/pcapread"
)

// FileResult describes how one capture file was read.
type FileResult struct {
	Path   string
	Format pcapread.Format
	Stats  pcapread.Stats
	SHA256 string // hex, when hashing was asked for
	Err    error  // why reading stopped early, or why the file could not be read
}

// ReadOptions says how ReadCaptures reads its inputs.
type ReadOptions struct {
	Hash bool // compute each file's SHA-256 while reading it
}

// ReadCaptures reads the capture files in order through one Table, so that
// a conversation continuing from one file into the next stays one
// conversation. Each finished conversation goes to emit, and each file's
// result to done once the file is read. Everything read before an error is
// kept.
func ReadCaptures(paths []string, cfg Config, opt ReadOptions, emit func(*Conn), done func(FileResult)) {
	t := NewTable(cfg, emit)
	for _, path := range paths {
		done(t.readFile(path, opt))
	}
	t.Flush()
}

func (t *Table) readFile(path string, opt ReadOptions) FileResult {
	res := FileResult{Path: path}
	var src io.Reader
	if path == "-" {
		src = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			res.Err = err
			return res
		}
		defer f.Close()
		src = f
	}
	var h hash.Hash
	if opt.Hash {
		h = sha256.New()
		src = io.TeeReader(src, h)
	}
	r, err := pcapread.NewReader(src, path)
	if err != nil {
		res.Err = err
		return res
	}
	t.SetFile(path)
	for r.Next() {
		t.Add(r.Packet())
	}
	res.Format, res.Stats, res.Err = r.Format(), r.Stats(), r.Err()
	if h != nil {
		io.Copy(h, src) // the bytes after the last record read, if any

		res.SHA256 = hex.EncodeToString(h.Sum(nil))
	}
	return res
}
