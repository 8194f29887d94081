package cli

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/netfx/netfx/internal/floodgen"
)

// TestStealthScanFromPackets: FIN, Xmas and NULL probes, some answered by
// resets, read from a capture as nmap sends them, are one stealth scan;
// the history letters the flow table writes are what the detector reads.
func TestStealthScanFromPackets(t *testing.T) {
	var capture bytes.Buffer
	capture.Write(floodgen.RawPcapHeader())
	second := uint32(1773482400)
	segment := func(src, dst [4]byte, sport, dport uint16, flags byte) {
		tcp := make([]byte, 20)
		binary.BigEndian.PutUint16(tcp[0:], sport)
		binary.BigEndian.PutUint16(tcp[2:], dport)
		binary.BigEndian.PutUint32(tcp[4:], 7000)
		tcp[12], tcp[13] = 5<<4, flags
		binary.BigEndian.PutUint16(tcp[14:], 1024)
		ip := make([]byte, 20, 40)
		ip[0], ip[8], ip[9] = 0x45, 64, 6
		binary.BigEndian.PutUint16(ip[2:], 40)
		copy(ip[12:], src[:])
		copy(ip[16:], dst[:])
		ip = append(ip, tcp...)
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], second)
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(ip)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(ip)))
		capture.Write(rec)
		capture.Write(ip)
		second++
	}
	scanner, vm := [4]byte{203, 0, 113, 7}, [4]byte{10, 1, 0, 4}
	const fin, rst, psh, ack, urg = 0x01, 0x04, 0x08, 0x10, 0x20
	for i, probe := range []byte{fin, fin | psh | urg, 0, fin, 0} {
		port := uint16(1000 + i)
		segment(scanner, vm, 61000, port, probe)
		if i%2 == 0 { // a closed port answers with a reset
			segment(vm, scanner, port, 61000, rst|ack)
		}
	}
	path := filepath.Join(t.TempDir(), "stealth.pcap")
	if err := os.WriteFile(path, capture.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := run("report", "--json", path)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r struct {
		Findings []struct {
			Kind, Title string
			Count       int
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 1 || r.Findings[0].Kind != "scan" || r.Findings[0].Title != "stealth scan (NULL, FIN/Xmas/Maimon probes)" || r.Findings[0].Count != 5 {
		t.Errorf("findings %+v, want one stealth scan of 5 probes", r.Findings)
	}
}
