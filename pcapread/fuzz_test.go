package pcapread

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/netfx/netfx/internal/decompress"
)

// addCorpusSeeds adds the small corpus captures of the given container as
// fuzz seeds, when the corpus is present.
func addCorpusSeeds(f *testing.F, container string) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil || len(data) > 64<<10 || len(data) < 4 {
			continue
		}
		isNg := bytes.Equal(data[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a})
		if isNg == (container == "pcapng") {
			f.Add(data)
		}
	}
}

// checkReader reads data to the end and checks the reader's promises: no
// panic, every error a *FormatError, record numbers never going backwards
// (a tunnel's inner packet has its carrier's).
func checkReader(t *testing.T, data []byte) {
	r, err := NewReader(bytes.NewReader(data), "fuzz")
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("NewReader error %v (%T) is not a *FormatError", err, err)
		}
		return
	}
	last := int64(0)
	for r.Next() {
		p := r.Packet()
		if p.Record < last || p.Record == last && p.Tunnel == TunnelNone {
			t.Fatalf("record %d after %d", p.Record, last)
		}
		last = p.Record
		if len(p.Payload) > int(p.PayloadLen) && !p.Fragment {
			t.Fatalf("payload of %d bytes exceeds announced %d", len(p.Payload), p.PayloadLen)
		}
	}
	if err := r.Err(); err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("Err() %v (%T) is not a *FormatError", err, err)
		}
		if size := streamSize(data); fe.Offset < 0 || fe.Offset > size {
			t.Fatalf("offset %d outside the input's %d bytes", fe.Offset, size)
		}
	}
	checkReadAhead(t, data)
}

// streamSize returns how many bytes data holds once decompressed, up to
// 256 MiB: the offsets of errors are in the decompressed stream.
func streamSize(data []byte) int64 {
	s, _, err := decompress.Reader(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return int64(len(data))
	}
	n, _ := io.Copy(io.Discard, io.LimitReader(s, 256<<20))
	return max(n, int64(len(data)))
}

// checkReadAhead reads data with and without ReadAhead and LoadAhead,
// with the checksums deferred and verified by Packet.VerifyChecksum, and
// with every pcapng block read by pcapgo, and fails unless the packets,
// the counts and the error are the same.
func checkReadAhead(t *testing.T, data []byte) {
	t.Helper()
	serial := readDigest(data, serially, false)
	for _, how := range []readMode{framedAhead, loadedAhead, byPcapgo} {
		for _, deferred := range []bool{false, true} {
			if ahead := readDigest(data, how, deferred); ahead != serial {
				t.Fatalf("read %s (checksums deferred %v):\n%s\nread serially:\n%s", how, deferred, ahead, serial)
			}
		}
	}
}

// readMode is how a test reads a capture.
type readMode string

const (
	serially    readMode = "serially"
	framedAhead readMode = "framed ahead" // ReadAhead
	loadedAhead readMode = "loaded ahead" // LoadAhead
	// byPcapgo reads serially, every pcapng block by pcapgo
	// (nextEnhancedPacket not used).
	byPcapgo readMode = "by pcapgo"
)

// readDigest reads data to the end and returns a digest of every packet,
// then the counts and the error in full.
func readDigest(data []byte, how readMode, deferChecksums bool) string {
	return readDigestFrom(bytes.NewReader(data), how, deferChecksums)
}

// readDigestFrom is readDigest of what src gives.
func readDigestFrom(src io.Reader, how readMode, deferChecksums bool) string {
	r, err := NewReader(src, "digest")
	if err != nil {
		return err.Error()
	}
	defer r.Close()
	switch how {
	case framedAhead:
		r.ReadAhead(context.Background())
	case loadedAhead:
		r.LoadAhead(context.Background())
	case byPcapgo:
		r.ngByPcapgo = true
	}
	if deferChecksums {
		r.DeferChecksums()
	}
	h := sha256.New()
	for r.Next() {
		p := r.Packet()
		p.VerifyChecksum()
		q := *p
		q.Payload = nil // hashed as bytes: printed, it takes long
		fmt.Fprintf(h, "%+v\n", q)
		h.Write(p.Payload)
	}
	return fmt.Sprintf("packets %x\nstats %+v\nerror %v", h.Sum(nil), r.Stats(), r.Err())
}

func FuzzPcap(f *testing.F) {
	f.Add(pcapFile(f, layers.LinkTypeEthernet, tcpFrame(0), tcpFrame(100)))
	f.Add(pcapFile(f, layers.LinkTypeRaw, tcpFrame(10)[14:]))
	addCorpusSeeds(f, "pcap")
	f.Fuzz(checkReader)
}

func FuzzPcapng(f *testing.F) {
	addCorpusSeeds(f, "pcapng")
	f.Fuzz(checkReader)
}

// FuzzDecode feeds arbitrary frames of every link type to the decoder.
func FuzzDecode(f *testing.F) {
	for _, n := range []int{0, 1, 40, 600} {
		f.Add(uint16(1), tcpFrame(n))
	}
	f.Add(uint16(101), tcpFrame(5)[14:])
	f.Fuzz(func(t *testing.T, link uint16, frame []byte) {
		var d Decoder
		var p Packet
		for _, lt := range []uint16{link, 0, 1, 10, 12, 101, 108, 113, 228, 229, 276} {
			if d.Decode(&p, layers.LinkType(lt), frame, len(frame), 0, nil) {
				if p.PayloadLen > p.IPBytes || len(p.Payload) > len(frame) {
					t.Fatalf("link %d: inconsistent packet %+v", lt, p)
				}
			}
		}
	})
}
