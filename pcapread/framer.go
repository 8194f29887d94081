package pcapread

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// maxCaptureLength is the longest packet record accepted: libpcap's
// MAXIMUM_SNAPLEN, the limit tshark applies to the link types netfx reads.
const maxCaptureLength = 262144

// maxInterfaces bounds the interfaces of a pcapng section: each costs
// pcapgo hundreds of bytes, and real captures have a few.
const maxInterfaces = 4096

// maxBlockLength bounds a pcapng block, as Wireshark's wiretap does.
const maxBlockLength = 16 << 20

// framer sits between the (decompressed) capture stream and pcapgo. It passes
// the bytes through, except for one fix noted in checkPcapFileHeader, while
// walking the record structure: each record or block header is checked
// before pcapgo sees it. When one is damaged, the bytes before it are still
// delivered and the next Read returns a *FormatError, which pcapgo hands back
// to the caller unchanged. So pcapgo never allocates or skips by a length
// that the file could not hold, and every error carries an exact offset.
type framer struct {
	r      io.Reader
	path   string
	frame  frameState
	off    int64    // stream offset of the next byte to pass through
	err    error    // returned by the next Read
	hdr    [28]byte // the current header, accumulated across reads
	nhdr   int      // bytes of hdr filled
	want   int      // bytes of hdr needed before the next check
	skip   int64    // body bytes left to pass through unchecked
	start  int64    // offset of the current record or block
	record int64    // packet records started so far

	order    binary.ByteOrder // of the file (pcap) or current section (pcapng)
	big      bool             // order is big-endian (u32)
	blockLen uint32           // pcapng: length of the current block
	snaplen0 uint32           // pcapng: snap length of the section's first interface
	ifaces   int              // pcapng: interfaces seen in the section
	// sectionAt is where the pcapng section whose byte order is order
	// begins.
	sectionAt int64
	fraction  uint32 // pcap: the sub-second field's unit, a million or a billion
	fracNS    int64  // pcap: nanoseconds in that unit, 1000 or 1
	// badFractions counts pcap records whose sub-second field is a second
	// or more.
	badFractions int64
}

// frameState is what kind of header the framer expects next.
type frameState uint8

const (
	pcapFileHeader frameState = iota
	pcapRecordHeader
	ngBlockHeader
	ngBlockTrailer
)

func newPcapFramer(r io.Reader, path string) *framer {
	return &framer{r: r, path: path, frame: pcapFileHeader, want: 24}
}

func newNgFramer(r io.Reader, path string) *framer {
	return &framer{r: r, path: path, frame: ngBlockHeader, want: 12}
}

func (f *framer) fail(err error) {
	if f.err == nil {
		f.err = &FormatError{Path: f.path, Record: f.record + 1, Offset: f.start, Err: err}
	}
}

// Read implements io.Reader.
func (f *framer) Read(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	n, rerr := f.r.Read(p)
	cut := f.walk(p[:n])
	f.off += int64(cut)
	if f.err != nil {
		return cut, nil
	}
	// A stream that ends inside a record reaches pcapgo as a short read,
	// which it reports as io.ErrUnexpectedEOF.
	return cut, rerr
}

// walk advances the record structure over buf and returns how many bytes of
// it may be delivered: all of them, or those before a damaged header.
func (f *framer) walk(buf []byte) int {
	if f.err != nil {
		return 0 // what follows a damaged header is not framed
	}
	i := 0
	for i < len(buf) {
		if f.skip > 0 {
			n := int64(len(buf) - i)
			if n > f.skip {
				n = f.skip
			}
			i += int(n)
			f.skip -= n
			continue
		}
		if f.nhdr == 0 {
			f.start = f.off + int64(i)
			if f.frame == pcapRecordHeader && len(buf)-i >= 16 {
				// The common case, the whole header in buf: checked
				// where it lies.
				if !f.checkPcapRecord(buf[i : i+16]) {
					return i
				}
				i += 16
				continue
			}
		}
		n := copy(f.hdr[f.nhdr:f.want], buf[i:])
		f.nhdr += n
		i += n
		if f.nhdr < f.want {
			continue
		}
		hdrStart := i - f.nhdr // may be negative: the header began in an earlier read
		if !f.check(buf[max(hdrStart, 0):i]) {
			return max(hdrStart, 0)
		}
	}
	return len(buf)
}

// check validates the complete header in f.hdr[:f.want] and moves on to the
// next state. raw is the part of the header inside the current buffer, which
// check may patch. It reports false after recording an error.
func (f *framer) check(raw []byte) bool {
	switch f.frame {
	case pcapFileHeader:
		return f.checkPcapFileHeader(raw)
	case pcapRecordHeader:
		return f.checkPcapRecord(f.hdr[:16])
	case ngBlockHeader:
		return f.checkNgBlock()
	case ngBlockTrailer:
		return f.checkNgTrailer()
	}
	return false
}

func (f *framer) checkPcapFileHeader(raw []byte) bool {
	order, nano, ok := pcapMagic(f.hdr[:4])
	if !ok {
		f.fail(fmt.Errorf("%w: not a pcap file header", ErrUnsupported))
		return false
	}
	if major, minor := order.Uint16(f.hdr[4:6]), order.Uint16(f.hdr[6:8]); major != 2 || minor != 4 {
		// libpcap and tshark read any version 2 file; pcapgo wants 2.4.
		if major != 2 || len(raw) != 24 {
			f.fail(fmt.Errorf("unsupported pcap version %d.%d", major, minor))
			return false
		}
		order.PutUint16(raw[6:8], 4)
	}
	f.setOrder(order)
	f.fraction, f.fracNS = 1_000_000, 1000
	if nano {
		f.fraction, f.fracNS = 1_000_000_000, 1
	}
	f.frame, f.want, f.nhdr = pcapRecordHeader, 16, 0
	return true
}

// setOrder sets the byte order of the fields that follow.
func (f *framer) setOrder(order binary.ByteOrder) {
	f.order, f.big = order, order == binary.BigEndian
}

// u32 reads a 32-bit field in the byte order of the file (order), without
// the interface call that a record header's four fields would each cost.
func (f *framer) u32(b []byte) uint32 {
	if f.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (f *framer) checkPcapRecord(hdr []byte) bool {
	capLen := f.u32(hdr[8:12])
	if capLen > maxCaptureLength {
		f.fail(&lengthError{"record claims", uint64(capLen), fmt.Sprintf("captured bytes, more than the maximum of %d", maxCaptureLength)})
		return false
	}
	if f.u32(hdr[4:8]) >= f.fraction {
		// A fraction of a second of a second or more: readers add it to
		// the seconds, so the time moves on silently. Counted and reported.
		f.badFractions++
	}
	f.record++
	f.skip = int64(capLen)
	f.nhdr = 0
	return true
}

// pcapng block types that netfx needs to know.
const (
	ngSectionHeader   = 0x0A0D0D0A
	ngInterface       = 0x00000001
	ngPacket          = 0x00000002
	ngSimplePacket    = 0x00000003
	ngEnhancedPacket  = 0x00000006
	ngByteOrderMagic  = 0x1A2B3C4D
	ngMinBlockLength  = 12
	ngPacketHeaderLen = 32 // type, length, 20 bytes of fields, trailing length
)

func (f *framer) checkNgBlock() bool {
	typ := binary.LittleEndian.Uint32(f.hdr[0:4])
	if typ == ngSectionHeader && f.want == 12 {
		switch {
		case binary.BigEndian.Uint32(f.hdr[8:12]) == ngByteOrderMagic:
			f.setOrder(binary.BigEndian)
		case binary.LittleEndian.Uint32(f.hdr[8:12]) == ngByteOrderMagic:
			f.setOrder(binary.LittleEndian)
		default:
			f.fail(errors.New("pcapng section header has a bad byte-order magic"))
			return false
		}
		f.snaplen0, f.ifaces, f.sectionAt = 0, 0, f.start
	} else if f.order == nil {
		f.fail(fmt.Errorf("%w: pcapng file does not start with a section header", ErrUnsupported))
		return false
	}
	if typ != ngSectionHeader {
		typ = f.u32(f.hdr[0:4])
	}
	length := f.u32(f.hdr[4:8])
	if f.want == 12 {
		switch {
		case length < ngMinBlockLength || length%4 != 0:
			f.fail(&lengthError{"pcapng block length", uint64(length), "is not a multiple of 4 of at least 12"})
			return false
		case length > maxBlockLength:
			f.fail(&lengthError{"pcapng block length", uint64(length), fmt.Sprintf("exceeds the maximum of %d", maxBlockLength)})
			return false
		}
		if typ != ngSectionHeader && length == ngMinBlockLength {
			// An empty block: its trailing length is already in hdr.
			f.blockLen = length
			return f.checkNgTrailerAt(8)
		}
		// Read up to 28 bytes of the block before checking its fields.
		if w := int(min(length-4, 28)); w > 12 {
			f.want = w
			return true
		}
	}
	f.blockLen = length
	switch typ {
	case ngSectionHeader:
		if length < 28 {
			f.fail(&lengthError{"pcapng section header length", uint64(length), "is too short"})
			return false
		}
		major, minor := f.order.Uint16(f.hdr[12:14]), f.order.Uint16(f.hdr[14:16])
		if major != 1 || minor != 0 {
			f.fail(fmt.Errorf("unsupported pcapng section version %d.%d", major, minor))
			return false
		}
	case ngInterface:
		if length < 20 {
			f.fail(&lengthError{"pcapng interface block length", uint64(length), "is too short"})
			return false
		}
		if f.ifaces >= maxInterfaces {
			f.fail(&lengthError{"pcapng section with more than", maxInterfaces, "interfaces: no capture has so many"})
			return false
		}
		if f.ifaces == 0 {
			f.snaplen0 = f.u32(f.hdr[12:16])
		}
		f.ifaces++
	case ngEnhancedPacket, ngPacket:
		if length < ngPacketHeaderLen {
			f.fail(&lengthError{"packet block length", uint64(length), "is too short"})
			return false
		}
		capLen := f.u32(f.hdr[20:24])
		if capLen > length-ngPacketHeaderLen || capLen > maxCaptureLength {
			f.fail(&lengthError{"packet block claims", uint64(capLen), fmt.Sprintf("captured bytes in a block of %d", length)})
			return false
		}
	case ngSimplePacket:
		if length < 16 {
			f.fail(&lengthError{"simple packet block length", uint64(length), "is too short"})
			return false
		}
		origLen := f.u32(f.hdr[8:12])
		captured := origLen
		if f.snaplen0 != 0 && captured > f.snaplen0 {
			captured = f.snaplen0
		}
		if captured > length-16 {
			f.fail(&lengthError{"simple packet block claims", uint64(captured), fmt.Sprintf("bytes in a block of %d", length)})
			return false
		}
	}
	if typ == ngEnhancedPacket || typ == ngPacket || typ == ngSimplePacket {
		f.record++
	}
	f.skip = int64(length) - int64(f.want) - 4
	f.frame, f.want, f.nhdr = ngBlockTrailer, 4, 0
	return true
}

func (f *framer) checkNgTrailer() bool {
	f.start -= int64(f.blockLen) - 4 // report the block, not its trailer
	return f.checkNgTrailerAt(0)
}

// checkNgTrailerAt compares the trailing length at hdr[at:] with the block's.
func (f *framer) checkNgTrailerAt(at int) bool {
	if got := f.u32(f.hdr[at : at+4]); got != f.blockLen {
		f.fail(fmt.Errorf("pcapng block length %d does not match its trailing length %d", f.blockLen, got))
		return false
	}
	f.frame, f.want, f.nhdr = ngBlockHeader, 12, 0
	return true
}
