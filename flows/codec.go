package flows

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"io"
	"slices"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/internal/extsort"
	"github.com/netfx/netfx/internal/record"
)

// ConnCodec returns the codec the sorters of conversation records spill
// with: every field by hand, which is all that flow logs' records have,
// and the payload facts, when there are any, with encoding/gob, whose
// type information goes once a run. A sorter spills and merges flow-log
// records with it in a third of the time gob takes (BenchmarkConnCodec).
func ConnCodec() extsort.Codec[*Conn] { return &connCodec{} }

// maxConnRecord bounds an encoded record read back: the payload facts are
// bounded by package appid, the rest is small.
const maxConnRecord = 16 << 20

// connCodec holds the state of one run: the gob encoder or decoder of its
// payload facts, the strings its records share, and buffers.
type connCodec struct {
	b      []byte
	shared map[string]string
	app    bytes.Buffer
	appEnc *gob.Encoder
	feed   byteFeed
	appDec *gob.Decoder
}

func (*connCodec) ForRun() extsort.Codec[*Conn] { return &connCodec{} }

func (cc *connCodec) Encode(w *bufio.Writer, c *Conn) error {
	b := binary.AppendVarint(cc.b[:0], c.TS)
	b = binary.AppendVarint(b, c.Duration)
	b = record.AppendStrings(b, c.UID)
	b = record.AppendAddr(b, c.Orig)
	b = record.AppendAddr(b, c.Resp)
	b = binary.AppendUvarint(b, uint64(c.OrigPort))
	b = binary.AppendUvarint(b, uint64(c.RespPort))
	b = append(b, c.Proto)
	b = record.AppendStrings(b, c.Service, c.ConnState, c.History, c.CommunityID, c.Source)
	for _, n := range []uint64{c.OrigBytes, c.RespBytes, c.MissedBytes, c.OrigPkts, c.RespPkts, c.OrigIPBytes, c.RespIPBytes,
		uint64(c.VLAN), uint64(c.InnerVLAN), uint64(c.NumVLANs), c.Unidentified} {
		b = binary.AppendUvarint(b, n)
	}
	b = record.AppendList(b, c.Files)
	b = record.AppendList(b, c.TunnelParents)
	b = binary.AppendVarint(b, c.FirstRecord)
	b = AppendFlowLogView(b, c.FlowLog)
	b = AppendAnalyticsView(b, c.Analytics)
	b = record.AppendBool(b, c.App != nil)
	if c.App != nil {
		if cc.appEnc == nil {
			cc.appEnc = gob.NewEncoder(&cc.app)
		}
		cc.app.Reset()
		if err := cc.appEnc.Encode(c.App); err != nil {
			return err
		}
		b = binary.AppendUvarint(b, uint64(cc.app.Len()))
		b = append(b, cc.app.Bytes()...)
	}
	cc.b = b
	var n [binary.MaxVarintLen64]byte
	if _, err := w.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func (cc *connCodec) ReadRun(r io.Reader) extsort.Run[*Conn] { return extsort.Decoding(r, cc.Decode) }

func (cc *connCodec) Decode(r *bufio.Reader) (*Conn, error) {
	n, err := binary.ReadUvarint(r)
	switch {
	case err != nil:
		return nil, err // io.EOF at the end of the run
	case n > maxConnRecord:
		return nil, errors.New("conversation record longer than any netfx writes")
	}
	cc.b = slices.Grow(cc.b[:0], int(n))[:n]
	if _, err := io.ReadFull(r, cc.b); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	d := record.NewDecoder(cc.b)
	if cc.shared == nil {
		cc.shared = map[string]string{}
	}
	d.ShareStrings(cc.shared)
	c := &Conn{TS: d.Varint(), Duration: d.Varint(), UID: d.Text(), Orig: d.Addr(), Resp: d.Addr(),
		OrigPort: uint16(d.Uvarint()), RespPort: uint16(d.Uvarint()), Proto: d.Byte(),
		Service: d.Shared(), ConnState: d.Shared(), History: d.Shared(), CommunityID: d.Text(), Source: d.Shared()}
	c.OrigBytes, c.RespBytes, c.MissedBytes = d.Uvarint(), d.Uvarint(), d.Uvarint()
	c.OrigPkts, c.RespPkts, c.OrigIPBytes, c.RespIPBytes = d.Uvarint(), d.Uvarint(), d.Uvarint(), d.Uvarint()
	c.VLAN, c.InnerVLAN, c.NumVLANs = uint16(d.Uvarint()), uint16(d.Uvarint()), uint8(d.Uvarint())
	c.Unidentified = d.Uvarint()
	c.Files, c.TunnelParents, c.FirstRecord = d.List(), d.List(), d.Varint()
	c.FlowLog = DecodeFlowLogView(d)
	c.Analytics = DecodeAnalyticsView(d)
	if d.Bool() {
		if raw := d.Bytes(int(d.Uvarint())); d.Err() == nil {
			if cc.appDec == nil {
				cc.appDec = gob.NewDecoder(&cc.feed)
			}
			cc.feed.b = raw
			c.App = new(appid.Facts)
			if err := cc.appDec.Decode(c.App); err != nil {
				d.Fail(err)
			}
		}
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	return c, nil
}

// byteFeed hands gob one record's bytes at a time; as an io.ByteReader,
// gob reads from it directly, never ahead.
type byteFeed struct{ b []byte }

func (f *byteFeed) Read(p []byte) (int, error) {
	if len(f.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, f.b)
	f.b = f.b[n:]
	return n, nil
}

func (f *byteFeed) ReadByte() (byte, error) {
	if len(f.b) == 0 {
		return 0, io.EOF
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c, nil
}
