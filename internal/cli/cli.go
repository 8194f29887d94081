// Package cli is netfx's command line: flags, sub-commands and exit codes.
// It wires the pipeline stages together and owns no analysis of its own.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/netfx/netfx/flowlog"
	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/ingest"
	"github.com/netfx/netfx/internal/tempfile"
)

// Exit codes.
const (
	ExitOK      = 0 // every input was read cleanly
	ExitDamaged = 1 // an input was damaged or unreadable; what could be read was still output
	ExitUsage   = 2 // the command line was wrong
	// ExitInterrupted is the shell's code for a run stopped by Ctrl-C
	// (128 + SIGINT): nothing is printed after it, and no temporary file
	// is left.
	ExitInterrupted = 130
)

// usageError marks errors in the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

// errDamaged is returned by commands that finished but met damaged input.
var errDamaged = errors.New("some inputs were damaged or unreadable")

// streams are a command's standard streams.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// Main runs netfx with the arguments (without the program name) and returns
// the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s := &streams{in: stdin, out: stdout, err: stderr}
	if path := os.Getenv("NETFX_CPUPROFILE"); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			fmt.Fprintf(stderr, "netfx: %v\n", err)
			return ExitUsage
		}
		defer stop()
		// Profile samples of the command's own goroutine are labelled
		// stage=finish (sorting out, the report, rendering), except while
		// ingest.Read labels its stages (docs/performance.md).
		defer pprof.SetGoroutineLabels(ctx)
		ctx = pprof.WithLabels(ctx, pprof.Labels("stage", "finish"))
		pprof.SetGoroutineLabels(ctx)
	}
	root := &cobra.Command{
		Use:   "netfx",
		Short: "Network forensics for Azure VMs: findings from packet captures and flow logs together",
		Long: `netfx reads the evidence an incident responder collects without touching a VM:
packet captures (pcap, pcapng, gzip- or zstd-compressed, e.g. from Azure Network
Watcher), NSG and VNet flow logs (PT1H.json blobs), and conversation logs (Zeek's
conn.log or netfx conns output). It rebuilds every conversation as Zeek's conn.log
does (with Community ID), joins the captures' and the flow logs' view of each
connection, and reports findings: lateral movement, unusual ports, scans, brute
force and the login after it, beacons across capture gaps, exfiltration, long
connections and DNS tunnels, each with the evidence to check it by.

Examples:
  netfx report evidence/                 findings, timeline, talkers, flow-log view
  netfx report --details capture.pcap    ...with why and the evidence under each finding
  netfx report --json evidence/ | jq '.findings[] | {severity, kind, src: .src.ip, dst: .dst.ip}'
  netfx conns evidence/ | jq -c 'select(.flowlog_decision == "deny")'
  netfx conns --format zeek capture.pcap > conn.log

Exit status: 0 when every input was read cleanly; 1 when an input was damaged or
unreadable (everything that could be read is still output) or nothing could be
read; 2 for usage errors; 130 when interrupted (Ctrl-C).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newConnsCommand(s), newReportCommand(s))
	err := root.ExecuteContext(ctx)
	if terr := tempfile.Failed(); terr != nil {
		fmt.Fprintf(stderr, "netfx: %s; kept its temporary files in memory instead, compressed (set TMPDIR to a writable folder)\n", escapeTerminal(terr.Error()))
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "netfx: interrupted")
		return ExitInterrupted
	case err == nil:
		return ExitOK
	case errors.Is(err, errDamaged):
		return ExitDamaged
	}
	fmt.Fprintf(stderr, "netfx: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return ExitUsage
	}
	return ExitDamaged
}

// isCobraUsage recognises cobra's own errors for unknown commands and
// wrong argument counts, which it does not type.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "unknown flag", "accepts ", "requires at least", "invalid argument"} {
		if len(msg) >= len(prefix) && msg[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}

// flowFlags are the options every command that builds conversations takes.
type flowFlags struct {
	seed                     uint16
	tcp, udp, icmp, other    time.Duration
	attemptDelay, closeDelay time.Duration
	tolerance                time.Duration
	quiet, verbose           bool
	hosts                    []string
	from, to                 string
	maxLive                  int
	workers                  int
}

func (f *flowFlags) register(cmd *cobra.Command) {
	d := flows.DefaultConfig
	fs := cmd.Flags()
	fs.Uint16Var(&f.seed, "community-id-seed", 0, "Community ID seed")
	fs.DurationVar(&f.tcp, "tcp-timeout", d.TCPTimeout, "TCP inactivity timeout")
	fs.DurationVar(&f.udp, "udp-timeout", d.UDPTimeout, "UDP inactivity timeout")
	fs.DurationVar(&f.icmp, "icmp-timeout", d.ICMPTimeout, "ICMP inactivity timeout")
	fs.DurationVar(&f.other, "other-timeout", d.OtherTimeout, "inactivity timeout of other IP protocols")
	fs.DurationVar(&f.attemptDelay, "tcp-attempt-delay", d.TCPAttemptDelay, "end an unanswered TCP connection attempt after this long")
	fs.DurationVar(&f.closeDelay, "tcp-close-delay", d.TCPCloseDelay, "end a closed TCP connection after this long without packets")
	fs.DurationVar(&f.tolerance, "flowlog-tolerance", flowlog.DefaultTolerance, "how far apart in time flow-log and capture views of one connection may be")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "show no progress bar (it shows only on a terminal, for runs over a second)")
	fs.IntVar(&f.maxLive, "max-live", flows.DefaultMaxLive, "conversations in progress at most (and 512 bytes of names and answers kept for each); when full, the expired finish and the longest idle end early, and the report says so")
	fs.IntVar(&f.workers, "workers", 0, "flow tables sharing the work, one per core at most (0: chosen from the cores available); the output is the same for any number")
	fs.StringArrayVar(&f.hosts, "host", nil, "only conversations with this address or CIDR at either end (repeatable)")
	fs.StringVar(&f.from, "from", "", "only conversations that ran at or after this time (RFC 3339)")
	fs.StringVar(&f.to, "to", "", "only conversations that ran at or before this time (RFC 3339)")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "name each file skipped because it is no capture, flow log or conversation log")
}

func (f *flowFlags) options() (ingest.Options, error) {
	for _, d := range []time.Duration{f.tcp, f.udp, f.icmp, f.other, f.attemptDelay, f.closeDelay} {
		if d <= 0 {
			return ingest.Options{}, usageError{fmt.Errorf("timeouts must be positive, got %v", d)}
		}
	}
	if f.maxLive < 1 {
		return ingest.Options{}, usageError{fmt.Errorf("--max-live must be positive, got %d", f.maxLive)}
	}
	if f.workers < 0 {
		return ingest.Options{}, usageError{fmt.Errorf("--workers must not be negative, got %d", f.workers)}
	}
	if f.tolerance < 0 {
		return ingest.Options{}, usageError{fmt.Errorf("--flowlog-tolerance must not be negative, got %v", f.tolerance)}
	}
	scope, err := f.scope()
	if err != nil {
		return ingest.Options{}, err
	}
	return ingest.Options{
		Scope: scope,
		Flows: flows.Config{
			TCPTimeout: f.tcp, UDPTimeout: f.udp, ICMPTimeout: f.icmp, OtherTimeout: f.other,
			TCPAttemptDelay: f.attemptDelay, TCPCloseDelay: f.closeDelay, CommunityIDSeed: f.seed, MaxLive: f.maxLive,
		},
		Tolerance: f.tolerance,
		Workers:   f.workers,
	}, nil
}

// scope reads --host, --from and --to; nil when none is given.
func (f *flowFlags) scope() (*ingest.Scope, error) {
	if len(f.hosts) == 0 && f.from == "" && f.to == "" {
		return nil, nil
	}
	s := &ingest.Scope{}
	for _, h := range f.hosts {
		p, err := netip.ParsePrefix(h)
		if err != nil {
			a, aerr := netip.ParseAddr(h)
			if aerr != nil {
				return nil, usageError{fmt.Errorf("--host %q: want an address or a CIDR", h)}
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		s.Hosts = append(s.Hosts, p.Masked())
	}
	for _, t := range []struct {
		flag, value string
		to          *time.Time
	}{{"--from", f.from, &s.From}, {"--to", f.to, &s.To}} {
		if t.value == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.value)
		if err != nil {
			return nil, usageError{fmt.Errorf("%s %q: want an RFC 3339 time such as 2026-03-14T10:30:00Z", t.flag, t.value)}
		}
		*t.to = v
	}
	if !s.From.IsZero() && !s.To.IsZero() && s.To.Before(s.From) {
		return nil, usageError{fmt.Errorf("--to %s is before --from %s", f.to, f.from)}
	}
	return s, nil
}

// writeHeapProfile writes a profile of the live heap to the file that
// NETFX_MEMPROFILE names, if it names one: for performance work, at the
// moment the analyses hold the most (see docs/performance.md).
func writeHeapProfile(stderr io.Writer) {
	path := os.Getenv("NETFX_MEMPROFILE")
	if path == "" {
		return
	}
	runtime.GC()
	f, err := os.Create(path)
	if err == nil {
		err = pprof.WriteHeapProfile(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "netfx: heap profile: %v\n", err)
	}
}

// startCPUProfile writes a CPU profile of the run to path, for performance
// work (NETFX_CPUPROFILE; see docs/performance.md).
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
