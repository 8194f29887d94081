//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestNamedPipes reads a capture and a conversation log from named pipes,
// as a shell's <(zcat capture.pcap.gz) hands them over: sniffing the kind
// of input must not lose the bytes it looked at.
func TestNamedPipes(t *testing.T) {
	const path = "../../testdata/demo/vm1-capture-01.pcap"
	capture, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := run("conns", path)
	zeek, _, _ := run("conns", "--format", "zeek", path)
	for name, data := range map[string][]byte{"capture": capture, "conn.log": []byte(zeek)} {
		fifo := filepath.Join(t.TempDir(), name)
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Skip("no named pipes here:", err)
		}
		go func() {
			if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
				f.Write(data)
				f.Close()
			}
		}()
		got, stderr, code := run("conns", fifo)
		if n, m := len(parseRecords(t, got)), len(parseRecords(t, want)); code != ExitOK || n == 0 || n != m {
			t.Errorf("%s through a named pipe: exit %d (%s), %d records, want %d", name, code, stderr, n, m)
		}
	}
}
