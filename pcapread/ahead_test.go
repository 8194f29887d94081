package pcapread

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gopacket/gopacket/layers"
)

// pcapRecords builds a classic pcap file of Ethernet records, each with
// a captured length from sizes and an original length from lengths (the
// captured one where lengths is short), and returns it with the offset
// of each record.
func pcapRecords(sizes, lengths []int) ([]byte, []int) {
	b := make([]byte, 24, 24+len(sizes)*100)
	binary.LittleEndian.PutUint32(b[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(b[4:], 2)
	binary.LittleEndian.PutUint16(b[6:], 4)
	binary.LittleEndian.PutUint32(b[16:], maxCaptureLength)
	binary.LittleEndian.PutUint32(b[20:], 1) // Ethernet
	var offsets []int
	for i, size := range sizes {
		offsets = append(offsets, len(b))
		length := size
		if i < len(lengths) {
			length = lengths[i]
		}
		var hdr [16]byte
		binary.LittleEndian.PutUint32(hdr[0:], uint32(1700000000+i))
		binary.LittleEndian.PutUint32(hdr[4:], uint32(i%1000000))
		binary.LittleEndian.PutUint32(hdr[8:], uint32(size))
		binary.LittleEndian.PutUint32(hdr[12:], uint32(length))
		b = append(b, hdr[:]...)
		frame := tcpFrame(max(size-54, 0))[:size]
		for j := 54; j < size; j++ {
			frame[j] = byte(i + j) // each record's payload differs
		}
		if size > 0xffff {
			binary.BigEndian.PutUint16(frame[16:18], 0) // the IP length of a TSO capture: the frame's, all payload
		}
		b = append(b, frame...)
	}
	return b, offsets
}

// TestReadAheadAcrossBatches reads classic pcap files of several batches
// ahead and serially, from readers that return all, half or random
// parts of what is asked, whole, cut and damaged at batch boundaries,
// and wants the same packets, counts and errors.
func TestReadAheadAcrossBatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var sizes, lengths []int
	for total := 0; total < readBufferSize+3*aheadBytes+aheadBytes/2; {
		size := 54 + rng.IntN(1500)
		switch rng.IntN(200) {
		case 0:
			size = maxCaptureLength // a record that a batch's end cuts, as large as may be
		case 1:
			size = 0
		case 2, 3:
			size = loadOffset + rng.IntN(maxCaptureLength-loadOffset) // longer than the room for a cut record
		}
		sizes = append(sizes, size)
		length := size
		if rng.IntN(50) == 0 {
			length = size / 2 // an original length below the captured one
		}
		lengths = append(lengths, length)
		total += 16 + size
	}
	file, offsets := pcapRecords(sizes, lengths)
	damaged := bytes.Clone(file)
	at := offsets[len(offsets)*3/4]
	binary.LittleEndian.PutUint32(damaged[at+8:], maxCaptureLength+1)
	early := bytes.Clone(file)
	binary.LittleEndian.PutUint32(early[offsets[3]+8:], maxCaptureLength+1) // in what the read buffer holds
	// Headers alone, one damaged in what the read buffer holds: the
	// bytes after the damaged header that the buffer was not given must
	// not be framed as if they followed the ones before it, and here they
	// would frame as records, each with a sub-second field of a second
	// (found by FuzzPcap).
	bare, bareOffsets := pcapRecords(make([]int, (readBufferSize+2*aheadBytes)/16), nil)
	for _, at := range bareOffsets[4:] {
		binary.LittleEndian.PutUint32(bare[at+4:], 1_000_000)
	}
	binary.LittleEndian.PutUint32(bare[bareOffsets[3]+8:], maxCaptureLength+1)
	inputs := map[string][]byte{"whole": file, "damaged": damaged, "damaged early": early, "headers alone, damaged early": bare}
	for k := 1; k <= readBufferSize/aheadBytes+2; k++ {
		for _, d := range []int{-17, -5, 0, 1, 16} {
			if end := 24 + k*aheadBytes + d; end < len(file) {
				inputs[fmt.Sprintf("cut at batch %d%+d", k, d)] = file[:end]
			}
		}
	}
	readers := map[string]func([]byte) io.Reader{
		"all":  func(b []byte) io.Reader { return bytes.NewReader(b) },
		"half": func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
		"random": func(b []byte) io.Reader {
			return &randomReader{r: bytes.NewReader(b), rng: rand.New(rand.NewPCG(3, 4))}
		},
	}
	for name, data := range inputs {
		serial := readDigest(data, serially, false)
		for rname, reader := range readers {
			for _, how := range []readMode{framedAhead, loadedAhead} {
				if got := readDigestFrom(reader(data), how, false); got != serial {
					t.Errorf("%s, read %s: %s\n%s\nserially\n%s", name, rname, how, got, serial)
				}
			}
		}
	}
	// A read error after some batches ends reading with it.
	for _, how := range []readMode{framedAhead, loadedAhead} {
		fails := readDigestFrom(io.MultiReader(bytes.NewReader(file[:2*aheadBytes+100]), iotest.ErrReader(errors.New("disk failed"))), how, false)
		if !strings.Contains(fails, "disk failed") {
			t.Errorf("a read error after two batches, %s:\n%s", how, fails)
		}
	}
}

// randomReader returns between 1 byte and all of what is asked.
type randomReader struct {
	r   io.Reader
	rng *rand.Rand
}

func (r *randomReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1+r.rng.IntN(len(p))]
	}
	return r.r.Read(p)
}

// TestCompressedOffsets: the offset of damage in a compressed capture is
// in the decompressed stream, far past the compressed file's size.
func TestCompressedOffsets(t *testing.T) {
	sizes := make([]int, 5000)
	for i := range sizes {
		sizes[i] = 60
	}
	file, offsets := pcapRecords(sizes, nil)
	at := offsets[4000]
	binary.LittleEndian.PutUint32(file[at+8:], maxCaptureLength+1)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(file)
	w.Close()
	if gz.Len()*2 > at {
		t.Fatalf("the test wants a file that compresses more: %d bytes of %d", gz.Len(), len(file))
	}
	for _, how := range []readMode{serially, framedAhead, loadedAhead} {
		got := readDigestFrom(bytes.NewReader(gz.Bytes()), how, false)
		if want := fmt.Sprintf("offset %d", at); !strings.Contains(got, want) {
			t.Errorf("read %s: want an error at %s:\n%s", how, want, got)
		}
	}
}

// TestHeldBatches: the bytes of packets read ahead stay as they were while
// their batch is held, after the Reader has read past it and been closed;
// a datagram reassembled from fragments lies in no batch.
func TestHeldBatches(t *testing.T) {
	var frames [][]byte
	for i := range 3000 { // about 12 batches
		f := ipv4UDP(1000)
		for j := 28; j < len(f); j++ {
			f[j] = byte(i * j)
		}
		frames = append(frames, f)
	}
	whole := ipv4UDP(100)
	for k, off := range []int{0, 48} {
		f := cat(whole[:20], whole[20+off:20+off+[]int{48, 60}[k]])
		binary.BigEndian.PutUint16(f[2:4], uint16(len(f)))
		binary.BigEndian.PutUint16(f[4:6], 77)
		binary.BigEndian.PutUint16(f[6:8], uint16(off/8)|uint16(1-k)<<13) // more fragments, then the last
		frames = append(frames, f)
	}
	r, err := NewReader(bytes.NewReader(pcapFile(t, layers.LinkTypeRaw, frames...)), "held.pcap")
	if err != nil {
		t.Fatal(err)
	}
	r.ReadAhead(context.Background())
	var held []*Batch
	var payloads, copies [][]byte
	reassembled := 0
	for r.Next() {
		p := r.Packet()
		b := r.Batch()
		if p.Fragment {
			reassembled++
			if b != nil {
				t.Error("a reassembled datagram in a batch of records")
			}
			continue
		}
		if b == nil {
			t.Fatalf("record %d in no batch", p.Record)
		}
		if len(held) == 0 || held[len(held)-1] != b {
			b.Hold()
			held = append(held, b)
		}
		payloads, copies = append(payloads, p.Payload), append(copies, bytes.Clone(p.Payload))
	}
	r.Close()
	if len(payloads) != 3000 || reassembled != 1 || len(held) < 10 {
		t.Fatalf("%d packets, %d reassembled, %d batches held", len(payloads), reassembled, len(held))
	}
	// Another Reader takes batches while these are held.
	other, err := NewReader(bytes.NewReader(pcapFile(t, layers.LinkTypeRaw, frames[1000:2000]...)), "other.pcap")
	if err != nil {
		t.Fatal(err)
	}
	other.ReadAhead(context.Background())
	for other.Next() {
	}
	other.Close()
	for i := range payloads {
		if !bytes.Equal(payloads[i], copies[i]) {
			t.Fatalf("packet %d changed while its batch was held", i+1)
		}
	}
	for _, b := range held {
		b.Release()
	}
}
