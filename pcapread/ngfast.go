package pcapread

import (
	"encoding/binary"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Most blocks of a pcapng capture are enhanced packet blocks without
// options, and pcapgo's work per block (a read of its header, one of the
// packet, one of the padding, one of the options, one of the trailer, and
// a time.Time) took most of the time of reading one: the same gigabyte
// took a third more CPU as pcapng than as pcap. Such a block, when the
// read buffer holds it whole and the interface it names is known, is
// read here instead, as pcapgo reads it; every other block (section and
// interface headers, statistics, names, packets with options) is left to
// pcapgo, after which the interfaces are read from it again.

// ngIface is what reading a packet of an interface needs: pcapgo's link
// type and time conversion (NgReader.convertTime).
type ngIface struct {
	link                           layers.LinkType
	secondMask, scaleUp, scaleDown uint64
	offset                         uint64
}

// loadNgInterfaces reads the current section's interfaces from pcapgo.
func (r *Reader) loadNgInterfaces() {
	r.ngIfaces = r.ngIfaces[:0]
	for i := range r.ng.NInterfaces() {
		in, err := r.ng.Interface(i)
		if err != nil {
			break
		}
		// As pcapgo's readInterfaceDescriptor, which has checked the
		// exponent.
		res := in.TimestampResolution
		mask := uint64(1)
		if res.Binary() {
			mask <<= res.Exponent()
		} else {
			for range res.Exponent() {
				mask *= 10
			}
		}
		iface := ngIface{link: in.LinkType, secondMask: mask, scaleUp: 1, scaleDown: 1, offset: in.TimestampOffset}
		if mask < 1e9 {
			iface.scaleUp = 1e9 / mask
		} else {
			iface.scaleDown = mask / 1e9
		}
		r.ngIfaces = append(r.ngIfaces, iface)
	}
	r.ngIfacesKnown = true
}

// nextEnhancedPacket reads the next record without pcapgo when it is an
// enhanced packet block without options, of an interface pcapgo has read,
// wholly in the read buffer, in a section whose byte order the framer
// knows; ok is false, and nothing is read, when pcapgo must read it.
func (r *Reader) nextEnhancedPacket() (rec record, ok bool) {
	big, known := r.fr.sectionOrderAt(r.fr.off - int64(r.br.Buffered()))
	if !known {
		return record{}, false
	}
	u32 := binary.LittleEndian.Uint32
	if big {
		u32 = binary.BigEndian.Uint32
	}
	hdr, err := r.br.Peek(28)
	if err != nil || u32(hdr[0:4]) != ngEnhancedPacket {
		return record{}, false
	}
	length, id, capLen := u32(hdr[4:8]), u32(hdr[8:12]), u32(hdr[20:24])
	if uint64(length) != ngPacketHeaderLen+(uint64(capLen)+3)&^3 {
		return record{}, false // options, which pcapgo reads and checks
	}
	if !r.ngIfacesKnown {
		r.loadNgInterfaces()
	}
	if uint64(id) >= uint64(len(r.ngIfaces)) {
		return record{}, false // pcapgo's error
	}
	// A Peek that fills the buffer may move what an earlier one returned:
	// the fields are read from the block.
	block, err := r.br.Peek(int(length))
	if err != nil {
		return record{}, false
	}
	in := &r.ngIfaces[id]
	ts := uint64(u32(block[12:16]))<<32 | uint64(u32(block[16:20]))
	t := time.Unix(int64(ts/in.secondMask+in.offset), int64(ts%in.secondMask*in.scaleUp/in.scaleDown)).UTC()
	end := 28 + int(capLen)
	rec = record{data: block[28:end:end], ts: unixNano(t), length: int(u32(block[24:28])), iface: int(id), link: in.link}
	r.br.Discard(int(length))
	return rec, true
}

// sectionOrderAt returns whether the pcapng section that the block at
// offset pos belongs to is big-endian, if the framer knows it: it walks
// ahead of pcapgo, and past a section header beyond pos it does not.
func (f *framer) sectionOrderAt(pos int64) (big, known bool) {
	return f.big, f.order != nil && f.sectionAt <= pos
}
