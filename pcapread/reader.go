package pcapread

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netfx/netfx/internal/decompress"
	"github.com/netfx/netfx/internal/timespan"
)

// Format is a capture file format, as detected from content.
type Format struct {
	Container   string // "pcap" or "pcapng"
	Compression string // "", "gzip" or "zstd"
	Nanosecond  bool   // pcap only: nanosecond timestamps
}

func (f Format) String() string {
	s := f.Container
	if f.Nanosecond {
		s += "-nsec"
	}
	if f.Compression != "" {
		s += "+" + f.Compression
	}
	return s
}

// Stats counts what a Reader has seen so far.
type Stats struct {
	Records      int64 // packet records read from the file
	Bytes        int64 // sum of original (on-the-wire) frame lengths
	IPPackets    int64 // packets delivered by Next (reassembled datagrams count once)
	NonIP        int64 // frames without an IP layer (ARP, STP, LLDP, ...)
	Truncated    int64 // IP packets whose headers were cut short by the snap length or damaged
	Fragments    int64 // IP fragments read; reassembled datagrams are delivered once
	FragDropped  int64 // fragments that never completed a datagram (timed out or over the limits)
	UnknownLinks int64 // frames of link types netfx cannot decode
	// UnknownLinkTypes are the link types of those frames, each once.
	UnknownLinkTypes []layers.LinkType
	// First and Last are the earliest and latest timestamps (Unix ns) of
	// the file's records, 0 if none; records whose clock was far off the
	// others' (the epoch, a year off, the far future: see package
	// timespan) are left out of them and counted in Outliers, the first
	// of them at OutlierAt.
	First, Last         int64
	Outliers, OutlierAt int64
	// BadFractions counts pcap records whose sub-second field is a second
	// or more (a million microseconds): their time moved on into the next
	// second.
	BadFractions int64
	LinkTypes    []layers.LinkType
}

// Reader reads the packets of one capture file. It is not safe for
// concurrent use.
type Reader struct {
	path   string
	format Format
	closer io.Closer
	fr     *framer
	br     *bufio.Reader
	pcap   *pcapgo.Reader
	ng     *pcapgo.NgReader
	// ngIfaces are the interfaces of the pcapng section being read, as
	// pcapgo read them (ngfast.go), while ngIfacesKnown.
	ngIfaces      []ngIface
	ngIfacesKnown bool
	ngByPcapgo    bool // for tests: every block read by pcapgo
	dec           Decoder
	pkt           Packet
	rec           record // the record read last without reading ahead
	err           error
	done          bool
	stats         Stats
	times         timespan.Tracker // the records' times, for Stats.First and Last
	// carried is the tunnel of the packet last handed on, whose inner
	// packet Next reads before the next record.
	carried carried
	// ahead, once ReadAhead is called, frames the records on a goroutine
	// of its own, which then alone uses fr, br, pcap and ng.
	ahead *ahead
}

// carried is where a carrier's inner packet starts (see carrier), and
// how many tunnels deep that carrier is.
type carried struct {
	kind  uint8
	off   int
	ether uint16
	depth int
}

// maxTunnelDepth is how many tunnels inside each other are opened, as
// Zeek's Tunnel::max_depth (4): a tunnel deeper is read as its carrier's
// inner packet.
const maxTunnelDepth = 4

// readBufferSize is the buffer pcapgo reads through: large reads keep the
// per-record cost low (pcapgo wraps only 4 KiB otherwise).
const readBufferSize = 1 << 20

// Open opens a capture file by path; "-" is standard input.
func Open(path string) (*Reader, error) {
	if path == "-" {
		return NewReader(os.Stdin, "-")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewReader detects the format of the capture in src and returns a Reader
// for it. name is used in errors. If src is an io.Closer, Close closes it
// only when the Reader was made by Open.
func NewReader(src io.Reader, name string) (*Reader, error) {
	r := &Reader{path: name}
	head := bufio.NewReaderSize(src, 64<<10)
	magic, err := head.Peek(4)
	if len(magic) == 0 && err == io.EOF {
		return nil, &FormatError{Path: name, Err: ErrEmpty}
	}
	stream, compression, err := decompress.Reader(head)
	if err != nil {
		return nil, &FormatError{Path: name, Err: err}
	}
	r.format.Compression = compression
	if r.format.Compression != "" {
		inner := bufio.NewReaderSize(stream, 64<<10)
		if magic, err = inner.Peek(4); len(magic) == 0 && err != nil {
			if err == io.EOF {
				err = ErrEmpty
			}
			return nil, &FormatError{Path: name, Err: fmt.Errorf("%s: %w", r.format.Compression, err)}
		}
		stream = inner
	}
	if err := r.detect(magic); err != nil {
		return nil, err
	}
	if r.format.Container == "pcapng" {
		r.fr = newNgFramer(stream, name)
	} else {
		r.fr = newPcapFramer(stream, name)
	}
	r.br = bigReader(r.fr)
	if r.format.Container == "pcapng" {
		r.ng, err = pcapgo.NewNgReader(r.br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	} else {
		r.pcap, err = pcapgo.NewReader(r.br)
		if err == nil {
			r.noteLinkType(r.pcap.LinkType())
		}
	}
	if err != nil {
		return nil, r.wrap(err, 0)
	}
	return r, nil
}

// detect sets r.format from the first bytes of the (decompressed) stream.
func (r *Reader) detect(magic []byte) error {
	if len(magic) < 4 {
		return &FormatError{Path: r.path, Err: fmt.Errorf("%w: %d bytes are too short for a capture", ErrTruncated, len(magic))}
	}
	if _, nsec, ok := pcapMagic(magic); ok {
		r.format.Container, r.format.Nanosecond = "pcap", nsec
		return nil
	}
	switch {
	case binary.BigEndian.Uint32(magic) == ngSectionHeader:
		r.format.Container = "pcapng"
		return nil
	case string(magic) == "GMBU":
		return &FormatError{Path: r.path, Err: fmt.Errorf("%w: Microsoft Network Monitor capture (convert it to pcapng first, e.g. with editcap)", ErrUnsupported)}
	case bytes.Equal(magic, []byte{0xa1, 0xb2, 0xcd, 0x34}), bytes.Equal(magic, []byte{0x34, 0xcd, 0xb2, 0xa1}):
		return &FormatError{Path: r.path, Err: fmt.Errorf("%w: modified (Kuznetzov) pcap", ErrUnsupported)}
	}
	return &FormatError{Path: r.path, Err: fmt.Errorf("%w: not a pcap or pcapng capture (magic % x)", ErrUnsupported, magic)}
}

// pcapMagic recognises the four pcap magic numbers.
func pcapMagic(b []byte) (order binary.ByteOrder, nanosecond, ok bool) {
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4:
		return binary.LittleEndian, false, true
	case 0xa1b23c4d:
		return binary.LittleEndian, true, true
	}
	switch binary.BigEndian.Uint32(b) {
	case 0xa1b2c3d4:
		return binary.BigEndian, false, true
	case 0xa1b23c4d:
		return binary.BigEndian, true, true
	}
	return nil, false, false
}

// Path returns the name the Reader was opened with.
func (r *Reader) Path() string { return r.path }

// Format returns the detected file format.
func (r *Reader) Format() Format { return r.format }

// Stats returns the counts so far; after Next returns false, for the file.
func (r *Reader) Stats() Stats {
	s := r.stats
	s.First, s.Last, s.Outliers, s.OutlierAt, _ = r.times.Span()
	switch {
	case r.ahead != nil:
		s.BadFractions = r.ahead.badFractions
	case r.fr != nil:
		s.BadFractions = r.fr.badFractions
	}
	return s
}

// Close releases the Reader's buffers and closes the file opened by Open;
// the Reader and its packets must not be used after it.
func (r *Reader) Close() error {
	if r.ahead != nil {
		r.ahead.close() // its goroutine releases the buffer
	} else if r.br != nil {
		r.releaseBuffer()
	}
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// bigReaders recycles the buffers pcapgo reads through, so that a folder of
// many small captures does not allocate and clear a megabyte for each.
var bigReaders sync.Pool

func bigReader(src io.Reader) *bufio.Reader {
	if br, ok := bigReaders.Get().(*bufio.Reader); ok {
		br.Reset(src)
		return br
	}
	return bufio.NewReaderSize(src, readBufferSize)
}

// Err returns the error that ended reading, nil at a clean end of file. It
// is a *FormatError for damaged data.
func (r *Reader) Err() error { return r.err }

// Packet returns the current packet. It and the slices it holds are valid
// until the next call to Next.
func (r *Reader) Packet() *Packet { return &r.pkt }

// Next advances to the next IP packet, decoding its headers. Frames without
// IP, with undecodable link types or with headers cut short are counted in
// Stats and skipped. It returns false at the end of the file or on error.
func (r *Reader) Next() bool {
	if r.carried.kind != TunnelNone {
		// The packet inside the carrier just handed on: its bytes are still
		// in the reader's buffer.
		c := r.carried
		r.carried.kind = TunnelNone
		outer := r.pkt
		if r.dec.inner(&r.pkt, &outer, c.kind, outer.payload(), c.off, c.ether, &r.stats) {
			r.stats.IPPackets++
			if c.depth < maxTunnelDepth {
				if kind, off, ether := carrier(&r.pkt); kind != TunnelNone {
					r.pkt.Carries = kind
					r.carried = carried{kind, off, ether, c.depth + 1}
				}
			}
			return true
		}
	}
	for !r.done {
		var (
			rec *record
			pos int64
			err error
		)
		if r.ahead != nil {
			rec, pos, err = r.ahead.next()
		} else {
			rec = &r.rec
			*rec, pos, err = r.frameRecord()
		}
		if err != nil {
			r.done = true
			if err != io.EOF {
				r.err = r.wrap(err, pos)
			}
			break
		}
		r.count(rec)
		if r.dec.decode(&r.pkt, rec.link, rec.data, rec.length, rec.ts, &r.stats) {
			r.pkt.Record = r.stats.Records
			r.pkt.Interface = uint16(rec.iface)
			r.stats.IPPackets++
			if kind, off, ether := carrier(&r.pkt); kind != TunnelNone {
				r.pkt.Carries = kind
				r.carried = carried{kind, off, ether, 1}
			}
			return true
		}
	}
	r.stats.FragDropped += int64(r.dec.frags.flush())
	return false
}

// frameRecord reads the next record from the file, and where its read
// began.
func (r *Reader) frameRecord() (rec record, pos int64, err error) {
	pos = r.fr.off - int64(r.br.Buffered())
	if r.pcap != nil {
		rec, err = r.nextPcapRecord()
		return rec, pos, err
	}
	if !r.ngByPcapgo {
		if rec, ok := r.nextEnhancedPacket(); ok {
			return rec, pos, nil
		}
	}
	var ci gopacket.CaptureInfo
	rec.data, ci, err = r.ng.ZeroCopyReadPacketData()
	r.ngIfacesKnown = false // pcapgo may have read interfaces and sections
	if err == nil {
		rec.ts, rec.length, rec.iface = unixNano(ci.Timestamp), ci.Length, ci.InterfaceIndex
		rec.link = ci.AncillaryData[0].(layers.LinkType)
	}
	return rec, pos, err
}

// record is one packet record as read: its bytes (valid until the next
// read), time in Unix nanoseconds (0 for a simple packet block, which has
// none), length on the wire, interface and link type.
type record struct {
	data   []byte
	ts     int64
	length int
	iface  int
	link   layers.LinkType
}

// nextPcapRecord reads the next record of a classic pcap file. The framer
// has checked its header (its captured length is at most
// maxCaptureLength, less than the buffer), so the record is taken from
// the buffer without a copy, as pcapgo would read it after its own header
// checks; its time as pcapgo computes it, without building a time.Time.
func (r *Reader) nextPcapRecord() (record, error) {
	hdr, err := r.br.Peek(16)
	if err != nil {
		if len(hdr) > 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return record{}, err
	}
	rec, capLen := r.pcapRecordHeader(hdr)
	r.br.Discard(16)
	if rec.data, err = r.br.Peek(capLen); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return record{}, err
	}
	r.br.Discard(capLen)
	return rec, nil
}

// pcapRecordHeader reads a pcap record's 16-byte header, which the framer
// has checked: the record without its bytes, and how many there are.
func (r *Reader) pcapRecordHeader(hdr []byte) (rec record, capLen int) {
	f := r.fr
	sec, frac, captured := int64(f.u32(hdr[0:4])), int64(f.u32(hdr[4:8])), f.u32(hdr[8:12])
	// Some writers record an original length below the captured one:
	// tshark reads such records (pcapgo refuses them) as if it were the
	// captured length.
	rec = record{length: int(max(f.u32(hdr[12:16]), captured)), link: r.pcap.LinkType()}
	rec.ts = sec*1e9 + frac*f.fracNS
	return rec, int(captured)
}

func (r *Reader) count(rec *record) {
	s := &r.stats
	s.Records++
	s.Bytes += int64(rec.length)
	if rec.ts != 0 { // simple packet blocks have no timestamp
		r.times.Add(rec.ts)
	}
	r.noteLinkType(rec.link)
}

func (r *Reader) noteLinkType(lt layers.LinkType) {
	for _, have := range r.stats.LinkTypes {
		if have == lt {
			return
		}
	}
	r.stats.LinkTypes = append(r.stats.LinkTypes, lt)
}

// wrap turns an error from pcapgo into a *FormatError naming the file and
// the position where the failed read began.
func (r *Reader) wrap(err error, pos int64) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return fe
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = ErrTruncated
	} else if errors.Is(err, pcapgo.ErrNgVersionMismatch) {
		err = fmt.Errorf("unsupported pcapng section version")
	}
	return &FormatError{Path: r.path, Record: r.stats.Records + 1, Offset: pos, Err: err}
}

// unixNano converts a capture timestamp to Unix nanoseconds, saturating
// timestamps outside the years 1678 to 2262 instead of wrapping.
// Records without a timestamp get 0.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0 // a simple packet block, which has no timestamp
	}
	s := t.Unix()
	switch {
	case s >= math.MaxInt64/int64(time.Second):
		return math.MaxInt64
	case s <= math.MinInt64/int64(time.Second):
		return math.MinInt64
	}
	return s*1e9 + int64(t.Nanosecond())
}
