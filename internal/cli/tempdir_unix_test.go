//go:build unix

package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/internal/floodgen"
)

// TestUnwritableTMPDIR runs netfx where TMPDIR cannot be written, on a
// SYN flood whose records spill (netfx conns sorts 16 MiB in memory):
// the output is the bytes a writable TMPDIR gives, stderr says once what
// happened and what to do, and past the bound on temporary files in
// memory netfx conns stops with an error. With the bound at 16 MiB,
// netfx conns streams its records past 1 MiB held: the
// same bytes; and when a second capture an hour earlier is read after
// the first, its records come out of time order, all of them, and stderr
// says how many.
func TestUnwritableTMPDIR(t *testing.T) {
	if testing.Short() {
		t.Skip("builds netfx")
	}
	bin := buildNetfx(t)
	capture := filepath.Join(t.TempDir(), "synflood.pcap")
	f, err := os.Create(capture)
	if err != nil {
		t.Fatal(err)
	}
	if err := floodgen.Write(f, "synflood", 120_000, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	f.Close()
	earlier := filepath.Join(t.TempDir(), "synflood-earlier.pcap")
	if f, err = os.Create(earlier); err != nil {
		t.Fatal(err)
	}
	start := floodgen.Start
	floodgen.Start = start.Add(-time.Hour)
	err = floodgen.Write(f, "synflood", 20_000, time.Minute)
	floodgen.Start = start
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	writable, missing := t.TempDir(), filepath.Join(t.TempDir(), "missing")
	inputs := []string{capture}
	run := func(tmpdir string, env []string, args ...string) (stdout, stderr string, exit int) {
		cmd := exec.Command(bin, append(args, inputs...)...)
		cmd.Env = append(append(os.Environ(), "TMPDIR="+tmpdir), env...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			exit = exitErr.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String(), exit
	}
	for _, args := range [][]string{{"conns", "-q"}, {"report", "-q", "--json"}} {
		want, _, wantExit := run(writable, nil, args...)
		got, stderr, exit := run(missing, nil, args...)
		if got != want || exit != wantExit {
			t.Errorf("%s: %d bytes, exit %d without a writable TMPDIR; %d bytes, exit %d with one", args[0], len(got), exit, len(want), wantExit)
		}
		if n := strings.Count(stderr, "set TMPDIR to a writable folder"); n != 1 || !strings.Contains(stderr, missing) {
			t.Errorf("%s without a writable TMPDIR: stderr says the fix %d times (want once, naming %s):\n%s", args[0], n, missing, stderr)
		}
		if args[0] == "conns" && len(want) < 24<<20 {
			t.Errorf("conns wrote %d bytes: too few to spill", len(want))
		}
	}
	out, stderr, exit := run(missing, []string{"NETFX_TEMP_MEMORY_MIB=1"}, "conns", "-q")
	if exit != ExitDamaged || !strings.Contains(stderr, "reached their bound, 1 MiB") {
		t.Errorf("conns past the bound on temporary files in memory: exit %d, %d bytes out, stderr:\n%s", exit, len(out), stderr)
	}

	streaming := []string{"NETFX_TEMP_MEMORY_MIB=16"}
	want, _, _ := run(writable, nil, "conns", "-q")
	out, stderr, exit = run(missing, streaming, "conns", "-q")
	if out != want || exit != ExitOK || strings.Contains(stderr, "out of time order") {
		t.Errorf("conns streaming: %d bytes (want %d), exit %d, stderr:\n%s", len(out), len(want), exit, stderr)
	}
	inputs = []string{capture, earlier}
	want, _, _ = run(writable, nil, "conns", "-q")
	out, stderr, exit = run(missing, streaming, "conns", "-q")
	lines := strings.Count(want, "\n")
	if strings.Count(out, "\n") != lines || out == want || exit != ExitOK || !strings.Contains(stderr, "netfx: 20000 record(s) written out of time order") {
		t.Errorf("conns streaming, a capture of earlier times read after: %d lines (want %d), exit %d, stderr:\n%s", strings.Count(out, "\n"), lines, exit, stderr)
	}
}
