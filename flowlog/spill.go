package flowlog

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"

	"github.com/netfx/netfx/internal/extsort"
)

// FlowCodec writes ended flows to a sorter's temporary files and reads
// them back, in one process: logs and repeated strings (files, rules)
// are written as numbers into tables the codec keeps, which grow with the
// logs and files, not with the flows.
type FlowCodec struct {
	logs    []*Log
	logIDs  map[*Log]uint64
	strs    []string
	strIDs  map[string]uint64
	scratch []byte
}

// NewFlowCodec returns an empty FlowCodec.
func NewFlowCodec() *FlowCodec {
	return &FlowCodec{logIDs: map[*Log]uint64{}, strIDs: map[string]uint64{}}
}

func (c *FlowCodec) str(s string) uint64 {
	id, ok := c.strIDs[s]
	if !ok {
		id = uint64(len(c.strs))
		c.strs = append(c.strs, s)
		c.strIDs[s] = id
	}
	return id
}

// Flags of an encoded flow.
const (
	flagInbound = 1 << iota
	flagDenied
	flagEnded
	flagCounted
)

// Encode writes f.
func (c *FlowCodec) Encode(w *bufio.Writer, f *Flow) error {
	id, ok := c.logIDs[f.Log]
	if !ok {
		id = uint64(len(c.logs))
		c.logs = append(c.logs, f.Log)
		c.logIDs[f.Log] = id
	}
	var flags byte
	for i, set := range []bool{f.Inbound, f.Denied, f.Ended, f.Counted} {
		if set {
			flags |= 1 << i
		}
	}
	b := binary.AppendUvarint(c.scratch[:0], id)
	b = appendAddr(b, f.Src)
	b = appendAddr(b, f.Dst)
	b = binary.BigEndian.AppendUint16(b, f.SrcPort)
	b = binary.BigEndian.AppendUint16(b, f.DstPort)
	b = append(b, f.Proto, flags)
	for _, s := range []string{f.Rule, f.Encryption, f.File} {
		b = binary.AppendUvarint(b, c.str(s))
	}
	for _, v := range []int64{f.Begin, f.End} {
		b = binary.AppendVarint(b, v)
	}
	for _, v := range []uint64{f.PktsSent, f.BytesSent, f.PktsRecv, f.BytesRecv, uint64(f.Tuples), uint64(f.Attempts), uint64(f.Record)} {
		b = binary.AppendUvarint(b, v)
	}
	c.scratch = b
	_, err := w.Write(b)
	return err
}

func appendAddr(b []byte, a netip.Addr) []byte {
	switch {
	case a.Is4():
		v := a.As4()
		return append(append(b, 4), v[:]...)
	case a.IsValid():
		v := a.As16()
		return append(append(b, 16), v[:]...)
	}
	return append(b, 0)
}

// ReadRun reads a run of flows back.
func (c *FlowCodec) ReadRun(r io.Reader) extsort.Run[*Flow] { return extsort.Decoding(r, c.Decode) }

// Decode reads the next flow, io.EOF after the last.
func (c *FlowCodec) Decode(r *bufio.Reader) (*Flow, error) {
	d := decoder{r: r}
	id := d.uvarint()
	if d.err == io.EOF {
		return nil, io.EOF
	}
	f := &Flow{}
	f.Src, f.Dst = d.addr(), d.addr()
	f.SrcPort, f.DstPort = d.uint16(), d.uint16()
	f.Proto = d.byte()
	flags := d.byte()
	f.Inbound, f.Denied, f.Ended, f.Counted = flags&flagInbound != 0, flags&flagDenied != 0, flags&flagEnded != 0, flags&flagCounted != 0
	rule, enc, file := d.uvarint(), d.uvarint(), d.uvarint()
	f.Begin, f.End = d.varint(), d.varint()
	f.PktsSent, f.BytesSent, f.PktsRecv, f.BytesRecv = d.uvarint(), d.uvarint(), d.uvarint(), d.uvarint()
	f.Tuples, f.Attempts, f.Record = int(d.uvarint()), int(d.uvarint()), int(d.uvarint())
	if d.err != nil {
		return nil, fmt.Errorf("reading a spilled flow: %w", d.err)
	}
	n := uint64(len(c.strs))
	if id >= uint64(len(c.logs)) || rule >= n || enc >= n || file >= n {
		return nil, fmt.Errorf("reading a spilled flow: bad table reference")
	}
	f.Log, f.Rule, f.Encryption, f.File = c.logs[id], c.strs[rule], c.strs[enc], c.strs[file]
	f.key = f.endpoints()
	return f, nil
}

// decoder reads the fields of one encoded flow, keeping the first error.
type decoder struct {
	r   *bufio.Reader
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	d.err = err
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(d.r)
	d.err = err
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	v, err := d.r.ReadByte()
	d.err = err
	return v
}

func (d *decoder) uint16() uint16 { return uint16(d.byte())<<8 | uint16(d.byte()) }

func (d *decoder) addr() netip.Addr {
	var b [16]byte
	n := int(d.byte())
	if d.err != nil || (n != 0 && n != 4 && n != 16) {
		if d.err == nil {
			d.err = fmt.Errorf("bad address length %d", n)
		}
		return netip.Addr{}
	}
	if _, err := io.ReadFull(d.r, b[:n]); err != nil {
		d.err = err
		return netip.Addr{}
	}
	switch n {
	case 4:
		return netip.AddrFrom4([4]byte(b[:4]))
	case 16:
		return netip.AddrFrom16(b)
	}
	return netip.Addr{}
}
