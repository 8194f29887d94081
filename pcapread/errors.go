package pcapread

import (
	"errors"
	"fmt"
)

// Errors wrapped by FormatError.
var (
	ErrTruncated   = errors.New("file is cut short in the middle of a record")
	ErrUnsupported = errors.New("unsupported format")
	ErrEmpty       = errors.New("empty file")
)

// FormatError reports damaged capture data, in the style of
// debug/elf.FormatError and encoding/csv.ParseError. Offset counts bytes of
// the decompressed stream for compressed files.
type FormatError struct {
	Path   string // the file as named by the user, "-" for standard input
	Record int64  // 1-based number of the packet record being read
	Offset int64  // byte offset of the damaged record or block
	Err    error
}

func (e *FormatError) Error() string {
	if e.Record == 0 {
		return fmt.Sprintf("%s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("%s: record %d at offset %d: %v", e.Path, e.Record, e.Offset, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// lengthError is a length field that the file cannot hold or that no real
// capture writes.
type lengthError struct {
	what  string
	value uint64
	limit string
}

func (e *lengthError) Error() string {
	return fmt.Sprintf("%s %d %s", e.what, e.value, e.limit)
}
