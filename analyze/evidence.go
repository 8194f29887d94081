package analyze

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/klauspost/compress/s2"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/record"
	"github.com/netfx/netfx/internal/tempfile"
)

// Detectors keep the first few conversations of every pair, domain, port
// and scan window as evidence for a finding they may report at the end;
// on evidence with ever new peers that is the largest part of the
// analyses' memory, and most of it is never used. The kept conversations
// are therefore stored encoded: the newest in a buffer, and, once it
// fills, in a temporary file (never next to the evidence; in memory when
// TMPDIR cannot be written), compressed with S2 in blocks of about 64 KiB,
// read back only for the findings. Memory does not grow with them, and the
// garbage collector has no pointers to follow. If the temporary file
// cannot be written, they all stay in the buffer.

// keptRef is where an evidenceStore holds a kept conversation: the offset
// of its record among all the records kept.
type keptRef int64

// evidenceBuffer is how many bytes of records are held in memory before
// they are written to the temporary file.
const evidenceBuffer = 4 << 20

// evidenceBlock is how many bytes of records, about, are compressed
// together: a record read back costs the decompression of its block.
const evidenceBlock = 64 << 10

type evidenceStore struct {
	buf     []byte // records from offset base on
	base    int64  // bytes of records written to the file
	limit   int    // buffer size that sends the records to the file
	file    tempfile.File
	blocks  []spilledBlock // the records in the file, in order
	fileEnd int64          // bytes in the file
	memOnly bool           // the file could not be written
	err     error          // the first record that could not be read back
	// block holds the records of blocks[cached], decompressed; packed is
	// a block as the file holds it.
	block, packed []byte
	cached        int
}

// spilledBlock is records compressed together in the file: raw bytes of
// them from offset start on, in size bytes of the file at offset at.
type spilledBlock struct {
	start, at int64
	raw, size int
}

func newEvidenceStore(limit int) *evidenceStore {
	return &evidenceStore{limit: limit, cached: -1}
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

// spill moves the buffered records to the temporary file, in blocks that
// end with a record; on a failure to write, the records not written stay
// in memory from then on.
func (s *evidenceStore) spill() {
	if s.file == nil {
		s.file = tempfile.New("netfx-evidence-*")
	}
	off := 0
	for off < len(s.buf) {
		end := off
		for end < len(s.buf) && end-off < evidenceBlock {
			end += 4 + int(binary.LittleEndian.Uint32(s.buf[end:]))
		}
		s.packed = s2.Encode(s.packed[:cap(s.packed)], s.buf[off:end])
		if _, err := s.file.WriteAt(s.packed, s.fileEnd); err != nil {
			s.memOnly = true
			break
		}
		s.blocks = append(s.blocks, spilledBlock{start: s.base + int64(off), at: s.fileEnd, raw: end - off, size: len(s.packed)})
		s.fileEnd += int64(len(s.packed))
		off = end
	}
	s.base += int64(off)
	s.buf = append(s.buf[:0], s.buf[off:]...)
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

// record returns the record at off, valid until the next call.
func (s *evidenceStore) record(off int64) ([]byte, error) {
	b, rel := s.buf, off-s.base
	if off < s.base {
		i, _ := slices.BinarySearchFunc(s.blocks, off, func(b spilledBlock, off int64) int { return cmp.Compare(b.start, off+1) })
		if i--; i < 0 {
			return nil, errors.New("no block holds it")
		}
		if err := s.readBlock(i); err != nil {
			return nil, err
		}
		b, rel = s.block, off-s.blocks[i].start
	}
	if rel < 0 || rel+4 > int64(len(b)) {
		return nil, errors.New("no record there")
	}
	n := int64(binary.LittleEndian.Uint32(b[rel:]))
	if n > int64(len(b))-rel-4 {
		return nil, errors.New("record runs past the end of its block")
	}
	return b[rel+4 : rel+4+n], nil
}

// readBlock decompresses block i into s.block, unless it is there.
func (s *evidenceStore) readBlock(i int) error {
	if i == s.cached {
		return nil
	}
	s.cached = -1
	blk := s.blocks[i]
	s.packed = slices.Grow(s.packed[:0], blk.size)[:blk.size]
	if _, err := s.file.ReadAt(s.packed, blk.at); err != nil {
		return err
	}
	n, err := s2.DecodedLen(s.packed)
	if err != nil {
		return err
	}
	if n != blk.raw {
		return fmt.Errorf("block of %d bytes where %d were written", n, blk.raw)
	}
	if s.block, err = s2.Decode(s.block[:cap(s.block)], s.packed); err != nil {
		return err
	}
	s.cached = i
	return nil
}

// close releases the temporary file.
func (s *evidenceStore) close() {
	tempfile.Close(s.file)
	s.file = nil
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
