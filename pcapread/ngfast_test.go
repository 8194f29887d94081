package pcapread

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ngWriter writes pcapng blocks by hand, in a byte order of its choosing,
// for files pcapgo's writer cannot make (big-endian sections, binary
// time resolutions, options on packets).
type ngWriter struct {
	buf   bytes.Buffer
	order byteOrder
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func (w *ngWriter) block(typ uint32, body []byte) {
	body = append(body, make([]byte, (4-len(body)%4)%4)...)
	n := uint32(12 + len(body))
	w.buf.Write(w.order.AppendUint32(w.order.AppendUint32(nil, typ), n))
	w.buf.Write(body)
	w.buf.Write(w.order.AppendUint32(nil, n))
}

func (w *ngWriter) section(order byteOrder) {
	w.order = order
	b := order.AppendUint32(nil, ngByteOrderMagic)
	b = order.AppendUint16(order.AppendUint16(b, 1), 0)
	w.block(ngSectionHeader, order.AppendUint64(b, ^uint64(0)))
}

// iface writes an interface block; opts are option code and value pairs.
func (w *ngWriter) iface(link layers.LinkType, opts ...any) {
	b := w.order.AppendUint32(w.order.AppendUint16(w.order.AppendUint16(nil, uint16(link)), 0), 65535)
	w.block(ngInterface, append(b, w.options(opts...)...))
}

func (w *ngWriter) options(opts ...any) []byte {
	if len(opts) == 0 {
		return nil
	}
	var b []byte
	for i := 0; i < len(opts); i += 2 {
		v := opts[i+1].([]byte)
		b = w.order.AppendUint16(w.order.AppendUint16(b, uint16(opts[i].(int))), uint16(len(v)))
		b = append(append(b, v...), make([]byte, (4-len(v)%4)%4)...)
	}
	return append(b, 0, 0, 0, 0)
}

// packet writes an enhanced packet block of frame on interface id at ts
// (in the interface's units), with options.
func (w *ngWriter) packet(id uint32, ts uint64, frame []byte, opts ...any) {
	b := w.order.AppendUint32(nil, id)
	b = w.order.AppendUint32(w.order.AppendUint32(b, uint32(ts>>32)), uint32(ts))
	b = w.order.AppendUint32(w.order.AppendUint32(b, uint32(len(frame))), uint32(len(frame)+4))
	b = append(append(b, frame...), make([]byte, (4-len(frame)%4)%4)...)
	w.block(ngEnhancedPacket, append(b, w.options(opts...)...))
}

// plain writes a little-endian section of one Ethernet interface and n
// packets of frame, a second apart.
func (w *ngWriter) plain(n int, frame []byte) {
	w.section(binary.LittleEndian)
	w.iface(layers.LinkTypeEthernet)
	for i := range n {
		w.packet(0, uint64(1_700_000_000+i)*1e6+7, frame)
	}
}

// TestEnhancedPacketsReadAsPcapgoReads: packets read without pcapgo
// (nextEnhancedPacket) are the same, with the same counts and errors, as
// pcapgo reads them, in every shape of section and interface.
func TestEnhancedPacketsReadAsPcapgoReads(t *testing.T) {
	frame := tcpFrame(33)
	const at = 1_700_000_000
	tests := []struct {
		name  string
		build func(w *ngWriter)
		want  int // packets
		err   string
	}{
		{"little-endian", func(w *ngWriter) { w.plain(50, frame) }, 50, ""},
		{"big-endian, nanoseconds, an offset", func(w *ngWriter) {
			w.section(binary.BigEndian)
			w.iface(layers.LinkTypeEthernet, 9, []byte{9}, 14, binary.BigEndian.AppendUint64(nil, 3600))
			for i := range 50 {
				w.packet(0, uint64(i)*1e9+123456789, frame)
			}
		}, 50, ""},
		{"binary resolution, two interfaces of two link types", func(w *ngWriter) {
			w.section(binary.LittleEndian)
			w.iface(layers.LinkTypeEthernet, 9, []byte{0x80 | 20})
			w.iface(layers.LinkTypeRaw)
			for i := range 50 {
				if i%2 == 0 {
					w.packet(0, uint64(at+i)<<20|12345, frame)
				} else {
					w.packet(1, uint64(at+i)*1e6, frame[14:])
				}
			}
		}, 50, ""},
		{"sections of both orders, interfaces added among packets", func(w *ngWriter) {
			for s, order := range []byteOrder{binary.LittleEndian, binary.BigEndian, binary.LittleEndian} {
				w.section(order)
				w.iface(layers.LinkTypeEthernet)
				for i := range 20 {
					w.packet(0, uint64(at+s*100+i)*1e6, frame)
					if i == 10 {
						w.iface(layers.LinkTypeRaw, 9, []byte{3})
					}
				}
				w.packet(1, uint64(at+s*100)*1e3, frame[14:])
			}
		}, 63, ""},
		{"packets with options among packets without", func(w *ngWriter) {
			w.section(binary.LittleEndian)
			w.iface(layers.LinkTypeEthernet)
			for i := range 30 {
				if i%3 == 0 {
					w.packet(0, uint64(at+i)*1e6, frame, 1, []byte("a comment"), 2, []byte{1, 0, 0, 0})
				} else {
					w.packet(0, uint64(at+i)*1e6, frame)
				}
			}
		}, 30, ""},
		{"a packet of an interface not in the section", func(w *ngWriter) {
			w.plain(5, frame)
			w.packet(3, at*1e6, frame)
			w.packet(0, at*1e6, frame)
		}, 5, "Interface id 3"},
		{"cut in the last packet", func(w *ngWriter) {
			w.plain(5, frame)
			w.buf.Truncate(w.buf.Len() - 9)
		}, 4, "cut short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w ngWriter
			tt.build(&w)
			data := w.buf.Bytes()
			n, _, err := readAll(t, data)
			if n != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%d packets, error %v; want %d, an error with %q", n, err, tt.want, tt.err)
			}
			checkReadAhead(t, data) // read by pcapgo alone, and ahead: the same
		})
	}
}

// BenchmarkReaderPcapng reads BenchmarkReader's packets from a pcapng file.
func BenchmarkReaderPcapng(b *testing.B) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10000 {
		f := tcpFrame(i % 1460)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)), CaptureLength: len(f), Length: len(f)}, f); err != nil {
			b.Fatal(err)
		}
	}
	w.Flush()
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		n, _, err := readAll(b, data)
		if err != nil || n != 10000 {
			b.Fatal(n, err)
		}
	}
}
