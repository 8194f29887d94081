package analyze

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/record"
	"github.com/netfx/netfx/internal/tempfile"
)

// Detectors keep the first few conversations of every pair, domain, port
// and scan window as evidence for a finding they may report at the end;
// on evidence with ever new peers that is the largest part of the
// analyses' memory, and most of it is never used. The kept conversations
// are therefore stored encoded: the newest in a buffer, and, once it
// fills, in a temporary file (never next to the evidence), read back only
// for the findings. Memory does not grow with them, and the garbage
// collector has no pointers to follow. If no temporary file can be used,
// they all stay in the buffer.

// keptRef is where an evidenceStore holds a kept conversation.
type keptRef int64

// evidenceBuffer is how many bytes of records are held in memory before
// they are written to the temporary file.
const evidenceBuffer = 4 << 20

type evidenceStore struct {
	buf     []byte // records from offset base on
	base    int64  // bytes in the file
	limit   int    // buffer size that sends the records to the file
	file    *os.File
	memOnly bool  // the file could not be created or written
	err     error // the first record that could not be read back
	scratch []byte
}

func newEvidenceStore(limit int) *evidenceStore {
	return &evidenceStore{limit: limit}
}

// put stores the evidence fields of conversation c.
func (s *evidenceStore) put(c *flows.Conn) keptRef {
	ref := keptRef(s.base + int64(len(s.buf)))
	start := len(s.buf)
	s.buf = append(s.buf, 0, 0, 0, 0) // the record's length, set below
	s.buf = appendKept(s.buf, c)
	binary.LittleEndian.PutUint32(s.buf[start:], uint32(len(s.buf)-start-4))
	if len(s.buf) >= s.limit && !s.memOnly {
		s.spill()
	}
	return ref
}

// spill moves the buffered records to the temporary file; on any failure
// they stay in memory from then on.
func (s *evidenceStore) spill() {
	if !openTemp(&s.file, "netfx-evidence-*") {
		s.memOnly = true
		return
	}
	if _, err := s.file.WriteAt(s.buf, s.base); err != nil {
		s.memOnly = true
		return
	}
	s.base += int64(len(s.buf))
	s.buf = s.buf[:0]
}

// get returns the kept fields of the conversation at ref as a
// conversation; the other fields are zero. A record that cannot be read
// back gives an empty conversation, and Err says why.
func (s *evidenceStore) get(ref keptRef) *flows.Conn {
	rec, err := s.record(int64(ref))
	if err == nil {
		var c *flows.Conn
		if c, err = decodeKept(rec); err == nil {
			return c
		}
	}
	if s.err == nil {
		s.err = fmt.Errorf("reading back kept evidence at offset %d: %w", ref, err)
	}
	return &flows.Conn{}
}

func (s *evidenceStore) record(off int64) ([]byte, error) {
	if off >= s.base {
		b := s.buf[off-s.base:]
		n := binary.LittleEndian.Uint32(b)
		return b[4 : 4+n], nil
	}
	var size [4]byte
	if _, err := s.file.ReadAt(size[:], off); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(size[:])
	if int64(n) > s.base-off-4 {
		return nil, errors.New("record runs past the end of the file")
	}
	if cap(s.scratch) < int(n) {
		s.scratch = make([]byte, n)
	}
	s.scratch = s.scratch[:n]
	if _, err := s.file.ReadAt(s.scratch, off+4); err != nil {
		return nil, err
	}
	return s.scratch, nil
}

// close releases the temporary file.
func (s *evidenceStore) close() {
	tempfile.Close(s.file)
	s.file = nil
}

// openTemp makes *file, unless it is already made (see package
// tempfile). It reports whether *file can be used.
func openTemp(file **os.File, pattern string) bool {
	if *file == nil {
		f, err := tempfile.New(pattern)
		if err != nil {
			return false
		}
		*file = f
	}
	return true
}

// appendKept encodes the fields of c that evidence needs.
func appendKept(b []byte, c *flows.Conn) []byte {
	b = binary.AppendVarint(b, c.TS)
	b = binary.AppendVarint(b, c.Duration)
	b = record.AppendStrings(b, c.UID, c.CommunityID, c.Service, c.Source)
	b = record.AppendList(b, c.Files)
	b = record.AppendAddr(b, c.Orig)
	b = binary.AppendUvarint(b, uint64(c.OrigPort))
	b = record.AppendAddr(b, c.Resp)
	b = binary.AppendUvarint(b, uint64(c.RespPort))
	b = append(b, c.Proto)
	b = binary.AppendUvarint(b, c.OrigIPBytes)
	b = binary.AppendUvarint(b, c.RespIPBytes)
	return flows.AppendAnalyticsView(flows.AppendFlowLogView(b, c.FlowLog), c.Analytics)
}

// decodeKept reverses appendKept.
func decodeKept(rec []byte) (*flows.Conn, error) {
	d := record.NewDecoder(rec)
	c := &flows.Conn{TS: d.Varint(), Duration: d.Varint(),
		UID: d.Text(), CommunityID: d.Text(), Service: d.Text(), Source: d.Text(), Files: d.List()}
	c.Orig, c.OrigPort = d.Addr(), uint16(d.Uvarint())
	c.Resp = d.Addr()
	c.RespPort, c.Proto = uint16(d.Uvarint()), d.Byte()
	c.OrigIPBytes, c.RespIPBytes = d.Uvarint(), d.Uvarint()
	c.FlowLog = flows.DecodeFlowLogView(d)
	c.Analytics = flows.DecodeAnalyticsView(d)
	return c, d.End()
}

// appendKeptRefs encodes the kept conversations of a pair.
func appendKeptRefs(b []byte, refs [keptPerPair]keptRef) []byte {
	for _, r := range refs {
		b = binary.AppendVarint(b, int64(r))
	}
	return b
}

// mergeKept adds the conversations kept in a later stretch of a pair's
// evidence to those kept in an earlier one, up to keptPerPair; n and
// newerN are how many conversations each stretch saw.
func mergeKept(kept [keptPerPair]keptRef, n int, newer [keptPerPair]keptRef, newerN int) [keptPerPair]keptRef {
	for i := 0; n+i < keptPerPair && i < newerN; i++ {
		kept[n+i] = newer[i]
	}
	return kept
}

// decodeKeptRefs reads what appendKeptRefs wrote.
func decodeKeptRefs(d *record.Decoder) (refs [keptPerPair]keptRef) {
	for i := range refs {
		refs[i] = keptRef(d.Varint())
	}
	return refs
}
