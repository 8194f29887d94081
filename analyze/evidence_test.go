package analyze

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/benchdata"
)

// keptFields returns the fields of c that the evidence store keeps.
func keptFields(c *flows.Conn) *flows.Conn {
	return &flows.Conn{TS: c.TS, Duration: c.Duration, UID: c.UID, CommunityID: c.CommunityID, Service: c.Service,
		Source: c.Source, Files: c.Files, FlowLog: c.FlowLog, Orig: c.Orig, OrigPort: c.OrigPort, Resp: c.Resp, RespPort: c.RespPort,
		Proto: c.Proto, OrigIPBytes: c.OrigIPBytes, RespIPBytes: c.RespIPBytes}
}

func evidenceConns() []*flows.Conn {
	capture := conn("10.0.0.4", "203.0.113.1", 50000, 443, 0, 90)
	capture.TS = -5 // before 1970: a varint, not a uvarint
	capture.CommunityID, capture.Service, capture.Files = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "ssl", []string{"a.pcap", "b.pcap"}
	v6 := conn("fd00::1", "fe80::1%eth0", 1, 65535, 1<<40, 0)
	v6.Proto, v6.Files = 17, []string{}
	noAddr := &flows.Conn{UID: "C0"}
	logged := logConn("10.0.0.4", "198.51.100.7", 40000, 22, 0, 120, "deny")
	logged.FlowLog.Direction, logged.FlowLog.Encryption, logged.FlowLog.Ended, logged.FlowLog.Attempts = "in", "NX", true, 3
	logged.FlowLog.Files = []string{"PT1H.json", ""}
	return []*flows.Conn{capture, v6, noAddr, logged}
}

func TestEvidenceStoreRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
	}{
		{"in memory", evidenceBuffer},
		{"each record spilled", 1},
		{"spilled in twos", 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newEvidenceStore(tc.limit)
			defer s.close()
			conns := evidenceConns()
			refs := make([]keptRef, len(conns))
			for i, c := range conns {
				refs[i] = s.put(c)
			}
			if tc.limit < evidenceBuffer && s.base == 0 {
				t.Fatal("nothing was written to the temporary file")
			}
			for i := len(conns) - 1; i >= 0; i-- { // out of order, as findings read them
				if got, want := s.get(refs[i]), keptFields(conns[i]); !reflect.DeepEqual(got, want) {
					t.Errorf("record %d:\n got %+v\nwant %+v", i, got, want)
				}
			}
			if s.err != nil {
				t.Fatal(s.err)
			}
		})
	}
}

// TestEvidenceStoreWithoutTemporaryFile: when no temporary file can be
// made in TMPDIR, the records go to one in memory and come back whole.
func TestEvidenceStoreWithoutTemporaryFile(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	s := newEvidenceStore(1)
	defer s.close()
	c := evidenceConns()[0]
	refs := []keptRef{s.put(c), s.put(c)}
	if s.memOnly || s.file == nil || s.base == 0 {
		t.Fatalf("memOnly %v, file %v, %d bytes in it: want the records spilled to memory", s.memOnly, s.file, s.base)
	}
	for _, r := range refs {
		if got := s.get(r); !reflect.DeepEqual(got, keptFields(c)) {
			t.Errorf("got %+v", got)
		}
	}
}

// TestEvidenceStoreDamagedRecord: a record that cannot be decoded gives
// an empty conversation and an error, never a panic.
func TestEvidenceStoreDamagedRecord(t *testing.T) {
	s := newEvidenceStore(1)
	defer s.close()
	ref := s.put(evidenceConns()[3])
	if ref != 0 || len(s.blocks) != 1 {
		t.Fatalf("record at %d, %d blocks: want the record at 0, in one block", ref, len(s.blocks))
	}
	for _, damage := range [][]byte{
		{200, 0, 0, 0},           // a length past the end of the block
		{4, 0, 0, 0, 0x80, 0x80}, // a varint cut short
		{3, 0, 0, 0, 0, 0, 0xff}, // a string longer than the record
		{30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, // a list longer than the record
		{1, 0}, // a block too short for a length
	} {
		packed := s2.Encode(nil, damage)
		if _, err := s.file.WriteAt(packed, 0); err != nil {
			t.Fatal(err)
		}
		s.blocks[0].raw, s.blocks[0].size, s.cached, s.err = len(damage), len(packed), -1, nil
		if got := s.get(ref); got.UID != "" || s.err == nil {
			t.Errorf("% x: got %+v, error %v; want an empty conversation and an error", damage, got, s.err)
		}
	}
	// A block that is not S2, or not the size written.
	for _, blk := range []spilledBlock{{raw: 10, size: 7}, {raw: 1 << 30, size: 7}} {
		if _, err := s.file.WriteAt([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 0); err != nil {
			t.Fatal(err)
		}
		s.blocks[0], s.cached, s.err = blk, -1, nil
		if got := s.get(ref); got.UID != "" || s.err == nil {
			t.Errorf("block %+v: got %+v, error %v; want an empty conversation and an error", blk, got, s.err)
		}
	}
}

// TestSpillKeepsTheReport: the report is the same whether the kept
// evidence and the per-pair state stay in memory or go to temporary files
// a record, or a few pairs, at a time.
func TestSpillKeepsTheReport(t *testing.T) {
	conns := benchdata.DemoConns(t)
	report := func(evidence, pairs int) Report {
		s := NewSummary(Options{})
		s.det.evidence.limit = evidence
		s.pairs.limit, detectorOf[*beaconDetector](s).pairs.limit, detectorOf[*exfiltrationDetector](s).pairs.limit, detectorOf[*longConnectionDetector](s).pieces.limit = pairs, pairs, pairs, pairs
		if pairs < pairMapLimit {
			detectorOf[*beaconDetector](s).pairs.maxWeight = 5 // beacon times too
		}
		for _, c := range conns {
			s.AddConn(c)
		}
		s.waitDetection() // before looking at the detectors' state
		if evidence == 1 && s.det.evidence.base == 0 {
			t.Fatal("no evidence was written to the temporary file")
		}
		if pairs < pairMapLimit && (len(s.pairs.runs) < 2 || len(detectorOf[*beaconDetector](s).pairs.runs) < 2 || len(detectorOf[*exfiltrationDetector](s).pairs.runs) < 2 || len(detectorOf[*longConnectionDetector](s).pieces.runs) < 2) {
			t.Fatalf("runs: pairs %d, beacons %d, volume %d, pieces %d; want several each",
				len(s.pairs.runs), len(detectorOf[*beaconDetector](s).pairs.runs), len(detectorOf[*exfiltrationDetector](s).pairs.runs), len(detectorOf[*longConnectionDetector](s).pieces.runs))
		}
		r := s.Report()
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		return r
	}
	inMemory := report(evidenceBuffer, pairMapLimit)
	if len(inMemory.Findings) == 0 {
		t.Fatal("no findings on the demo evidence")
	}
	for _, tc := range []struct{ evidence, pairs int }{{1, pairMapLimit}, {evidenceBuffer, 3}, {1, 2}} {
		if !reflect.DeepEqual(inMemory, report(tc.evidence, tc.pairs)) {
			t.Errorf("the report changed with evidence spilled past %d bytes and pairs past %d", tc.evidence, tc.pairs)
		}
	}
}

// TestEvidenceStoreManyBlocks: records spilled in several spills of
// several blocks each come back whole, in any order, in the file on disk
// and in the one in memory that replaces it without TMPDIR.
func TestEvidenceStoreManyBlocks(t *testing.T) {
	for _, tmpdir := range []string{"", "missing"} {
		t.Run("TMPDIR "+tmpdir, func(t *testing.T) {
			if tmpdir != "" {
				t.Setenv("TMPDIR", filepath.Join(t.TempDir(), tmpdir))
			}
			s := newEvidenceStore(200 << 10)
			defer s.close()
			var conns []*flows.Conn
			var refs []keptRef
			for i := range 6000 {
				c := *evidenceConns()[i%4]
				c.UID = fmt.Sprintf("C%d", i)
				conns = append(conns, &c)
				refs = append(refs, s.put(&c))
			}
			if s.base == 0 || len(s.blocks) < 2*int(s.base/(200<<10)) {
				t.Fatalf("%d bytes spilled in %d blocks: want several spills of several blocks", s.base, len(s.blocks))
			}
			for _, i := range rand.New(rand.NewPCG(1, 2)).Perm(len(conns)) {
				if got, want := s.get(refs[i]), keptFields(conns[i]); !reflect.DeepEqual(got, want) {
					t.Fatalf("record %d:\n got %+v\nwant %+v", i, got, want)
				}
			}
			if s.err != nil {
				t.Fatal(s.err)
			}
		})
	}
}
