// Package record encodes the values netfx spills to its temporary files —
// conversation records, kept evidence, per-pair analysis state — as
// compact bytes, and decodes them back, failing rather than panicking on
// bytes that are cut short or damaged.
package record

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
)

// AppendStrings appends each string, its length first.
func AppendStrings(b []byte, ss ...string) []byte {
	for _, s := range ss {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// AppendList appends a list of strings; nil and empty stay apart.
func AppendList(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(ss))+1)
	return AppendStrings(b, ss...)
}

// AppendAddr appends an address, zone and all; the zero Addr too.
func AppendAddr(b []byte, a netip.Addr) []byte {
	var buf [64]byte
	raw, _ := a.AppendBinary(buf[:0])
	b = binary.AppendUvarint(b, uint64(len(raw)))
	return append(b, raw...)
}

// AppendBool appends v as one byte.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// Decoder reads a record, keeping the first error: after one, every
// method returns a zero value.
type Decoder struct {
	b      []byte
	err    error
	shared map[string]string
}

// maxShared bounds a table of shared strings.
const maxShared = 1 << 12

// ShareStrings makes Shared and List return strings from m, adding new
// ones while it holds fewer than 4,096: records read with one table share
// the values that repeat among them (rules, files, states) instead of
// allocating each.
func (d *Decoder) ShareStrings(m map[string]string) { d.shared = m }

// NewDecoder returns a Decoder of the record b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// End returns the first error, or one if bytes are left over.
func (d *Decoder) End() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = errors.New("bytes left after the record")
	}
	return d.err
}

// Err returns the first error.
func (d *Decoder) Err() error { return d.err }

// Fail records err, if it is the first.
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

// Left is how many bytes are left.
func (d *Decoder) Left() int { return len(d.b) }

func (d *Decoder) Varint() int64 {
	v, n := binary.Varint(d.b)
	return took(d, v, n)
}

func (d *Decoder) Uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	return took(d, v, n)
}

// took consumes the n bytes a varint took and returns its value v; n <= 0
// (cut short, or too long) fails.
func took[T int64 | uint64](d *Decoder, v T, n int) T {
	if n <= 0 {
		d.Fail(io.ErrUnexpectedEOF)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *Decoder) Byte() byte {
	if len(d.b) == 0 {
		d.Fail(io.ErrUnexpectedEOF)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// Bool reads what AppendBool wrote.
func (d *Decoder) Bool() bool { return d.Byte() == 1 }

// Bytes returns the next n bytes, which alias the record.
func (d *Decoder) Bytes(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.Fail(io.ErrUnexpectedEOF)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// Fixed64 reads eight bytes, little-endian.
func (d *Decoder) Fixed64() uint64 {
	if b := d.Bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// Text reads one string of what AppendStrings wrote.
func (d *Decoder) Text() string { return string(d.Bytes(int(d.Uvarint()))) }

// Shared reads one string as Text does, from the table of ShareStrings if
// there is one.
func (d *Decoder) Shared() string {
	b := d.Bytes(int(d.Uvarint()))
	if d.shared == nil {
		return string(b)
	}
	if s, ok := d.shared[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.shared) < maxShared {
		d.shared[s] = s
	}
	return s
}

// List reads what AppendList wrote, its strings as Shared does.
func (d *Decoder) List() []string {
	n := d.Uvarint()
	if n == 0 || uint64(len(d.b)) < n-1 { // each string takes a byte at least
		if n != 0 {
			d.Fail(io.ErrUnexpectedEOF)
		}
		return nil
	}
	ss := make([]string, n-1)
	for i := range ss {
		ss[i] = d.Shared()
	}
	return ss
}

// Addr reads what AppendAddr wrote.
func (d *Decoder) Addr() (a netip.Addr) {
	if raw := d.Bytes(int(d.Uvarint())); d.err == nil {
		if err := a.UnmarshalBinary(raw); err != nil {
			d.Fail(err)
		}
	}
	return a
}
