package flows

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"testing"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/internal/extsort"
)

// fullConn is a record with every field set, as a capture and the flow
// logs both saw it, payload facts and all.
func fullConn(i int) *Conn {
	return &Conn{
		TS: 1700000000_000000000 + int64(i), Duration: 1500000, UID: fmt.Sprintf("C%017d", i),
		Orig: netip.MustParseAddr("fe80::1%eth0"), Resp: netip.MustParseAddr("10.0.0.4"), OrigPort: 49152, RespPort: 445, Proto: 6,
		Service: "smb,dce_rpc", OrigBytes: 1, RespBytes: 2, ConnState: "SF", MissedBytes: 3, History: "ShADadFf",
		OrigPkts: 4, RespPkts: 5, OrigIPBytes: 6, RespIPBytes: 7, CommunityID: "1:abc=", VLAN: 8, InnerVLAN: 9, NumVLANs: 2,
		App: &appid.Facts{
			SMB:  &appid.SMBFacts{Trees: []string{`\\srv\C$`}, Pipes: []string{"svcctl"}},
			NTLM: &appid.NTLMFacts{Username: "admin", Domain: "CORP"},
			DNS:  &appid.DNSFacts{Queries: []string{fmt.Sprintf("h%d.example.com A", i)}},
		},
		Files: []string{"a.pcap", "b.pcap"}, FirstRecord: 10, Source: SourceBoth, TunnelParents: []string{"CoutercarrierUID01"}, Unidentified: 18,
		FlowLog: &FlowLogView{Begin: 11, End: 12, Rule: "DefaultRule_AllowVnetInBound", Decision: Allow, Direction: "in",
			Encryption: "NX_HW_NOT_SUPPORTED", Ended: true, Attempts: 13, Counted: true,
			OrigPkts: 14, OrigBytes: 15, RespPkts: 16, RespBytes: 17, Sources: []string{"nic"}, Files: []string{"PT1H.json"}},
		Analytics: &AnalyticsView{Process: "powershell.exe", Computer: "vm-jump-01", Direction: Outbound, FlowType: "IntraVNet", Country: "nl",
			Files: []string{"VMConnection.csv"}},
	}
}

// TestConnCodecRoundTrip: records written in one run, with and without
// payload facts or flow-log views, read back equal; every field of Conn,
// FlowLogView and AnalyticsView is set in the sample, so a field added later and not
// encoded fails here.
func TestConnCodecRoundTrip(t *testing.T) {
	for _, v := range []any{*fullConn(0), *fullConn(0).FlowLog, *fullConn(0).Analytics} {
		rv := reflect.ValueOf(v)
		for i := range rv.NumField() {
			if rv.Field(i).IsZero() {
				t.Fatalf("the sample leaves %s.%s unset", rv.Type().Name(), rv.Type().Field(i).Name)
			}
		}
	}
	var want []*Conn
	for i := range 5 {
		c := fullConn(i)
		switch i {
		case 1:
			c.App, c.FlowLog, c.Analytics, c.Files = nil, nil, nil, []string{} // empty stays empty
		case 3:
			c.Orig, c.Resp = netip.Addr{}, netip.Addr{}
		}
		want = append(want, c)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	codec := ConnCodec() // one per run
	boundaries := map[int]bool{0: true}
	for _, c := range want {
		if err := codec.Encode(w, c); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		boundaries[buf.Len()] = true
	}
	encoded := buf.Bytes()
	r := bufio.NewReader(bytes.NewReader(encoded))
	dec := &connCodec{}
	for i, c := range want {
		got, err := dec.Decode(r)
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("record %d: %+v, %v; want %+v", i, got, err, c)
		}
	}
	if _, err := dec.Decode(r); err != io.EOF {
		t.Errorf("after the last record: %v, want io.EOF", err)
	}
	for cut := range len(encoded) { // cut short anywhere: an error, never a panic
		r := bufio.NewReader(bytes.NewReader(encoded[:cut]))
		dec := &connCodec{}
		var err error
		for err == nil {
			_, err = dec.Decode(r)
		}
		if err == io.EOF && !boundaries[cut] {
			t.Fatalf("cut at %d of %d bytes: read to a clean end", cut, len(encoded))
		}
	}
	damaged := bytes.Clone(encoded)
	for i := range damaged { // damaged anywhere: no panic
		damaged[i] ^= 0xff
		dec := &connCodec{}
		r := bufio.NewReader(bytes.NewReader(damaged))
		for _, err := dec.Decode(r); err == nil; _, err = dec.Decode(r) {
		}
		damaged[i] ^= 0xff
	}
}

// BenchmarkConnCodec spills and reads back flow-log-like records (no
// payload facts), with ConnCodec and with gob, which the sorters used
// before.
func BenchmarkConnCodec(b *testing.B) {
	recs := make([]*Conn, 20000)
	for i := range recs {
		recs[i] = fullConn(i)
		recs[i].App = nil
	}
	for _, tc := range []struct {
		name  string
		codec func() extsort.Codec[*Conn]
	}{{"conn", ConnCodec}, {"gob", func() extsort.Codec[*Conn] { return &gobConnCodec{} }}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				s := extsort.NewWithCodec(len(recs)/4, CompareConns, tc.codec())
				for _, c := range recs {
					s.Add(c)
				}
				for range s.All() {
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
		})
	}
}

// gobConnCodec spills whole records with encoding/gob, one encoder or
// decoder per run: the baseline of BenchmarkConnCodec.
type gobConnCodec struct {
	enc *gob.Encoder
	dec *gob.Decoder
}

func (*gobConnCodec) ForRun() extsort.Codec[*Conn] { return &gobConnCodec{} }

func (c *gobConnCodec) Encode(w *bufio.Writer, v *Conn) error {
	if c.enc == nil {
		c.enc = gob.NewEncoder(w)
	}
	return c.enc.Encode(v)
}

func (c *gobConnCodec) ReadRun(r io.Reader) extsort.Run[*Conn] { return extsort.Decoding(r, c.Decode) }

func (c *gobConnCodec) Decode(r *bufio.Reader) (*Conn, error) {
	if c.dec == nil {
		c.dec = gob.NewDecoder(r)
	}
	v := new(Conn)
	return v, c.dec.Decode(v)
}
