//go:build unix

package cli

import (
	"bufio"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netfx/netfx/internal/floodgen"
)

// buildNetfx builds the netfx command into a folder of the test's,
// without its profile-guided optimization (cmd/netfx/default.pgo), which
// would rebuild every package for a test that does not time it.
func buildNetfx(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "netfx")
	if out, err := exec.Command("go", "build", "-pgo=off", "-o", bin, "../../cmd/netfx").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestInterruptStopsARun builds netfx, starts a report on a capture that
// never ends (a named pipe fed with ever new conversations) joined with
// the demo's flow logs, so that the join's sorters spill to temporary
// files, and presses Ctrl-C: netfx must exit with 130 within a second,
// print no report, and leave nothing in TMPDIR.
func TestInterruptStopsARun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds netfx and feeds it for seconds")
	}
	bin := buildNetfx(t)
	fifo := filepath.Join(t.TempDir(), "endless.pcap")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no named pipes here:", err)
	}
	tmp := t.TempDir()
	cmd := exec.Command(bin, "report", "-q", "--json", fifo, "../../testdata/demo")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go feedEndlessCapture(fifo)

	// Wait until the run holds temporary files (they have no names: look
	// at its open files), or a while on systems without /proc.
	spilled := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !spilled; time.Sleep(50 * time.Millisecond) {
		spilled = openDeletedFiles(cmd.Process.Pid, tmp) > 0
	}
	if !spilled {
		t.Log("no temporary file seen open (no /proc, or no spill yet): interrupting anyway")
	}
	start := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	took := time.Since(start)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != ExitInterrupted {
		t.Fatalf("exit %v, want %d; stderr %q", err, ExitInterrupted, stderr.String())
	}
	if took > time.Second {
		t.Errorf("netfx took %s to stop after Ctrl-C, want at most a second", took)
	}
	if stdout.Len() != 0 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("after Ctrl-C: stdout %d bytes, stderr %q", stdout.Len(), stderr.String())
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("TMPDIR holds %d entries after the run, the first %s", len(entries), entries[0].Name())
	}
	t.Logf("stopped %s after Ctrl-C (temporary files seen open: %v)", took, spilled)
}

// feedEndlessCapture writes a raw-IP capture of one-packet UDP
// conversations, each to a new address, a millisecond apart, until the
// reader goes away.
func feedEndlessCapture(path string) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(floodgen.RawPcapHeader())
	const size = 20 + 8 + 4
	rec := make([]byte, 16+size)
	binary.LittleEndian.PutUint32(rec[8:], size)
	binary.LittleEndian.PutUint32(rec[12:], size)
	ip := rec[16:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], size)
	copy(ip[12:16], []byte{10, 0, 0, 4})
	binary.BigEndian.PutUint16(ip[20:], 40000)
	binary.BigEndian.PutUint16(ip[22:], 53)
	binary.BigEndian.PutUint16(ip[24:], 12)
	base := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	for n := 0; ; n++ {
		ts := base.Add(time.Duration(n) * time.Millisecond)
		binary.LittleEndian.PutUint32(rec[0:], uint32(ts.Unix()))
		binary.LittleEndian.PutUint32(rec[4:], uint32(ts.Nanosecond()/1000))
		copy(ip[16:20], []byte{10, byte(1 + n>>16), byte(n >> 8), byte(n)})
		if _, err := w.Write(rec); err != nil {
			return
		}
	}
}

// openDeletedFiles counts the files process pid holds open in dir whose
// names are removed.
func openDeletedFiles(pid int, dir string) int {
	fdDir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return 0
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) && strings.HasSuffix(target, "(deleted)") {
			n++
		}
	}
	return n
}
