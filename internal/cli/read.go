package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/netfx/netfx/ingest"
	"golang.org/x/term"
)

// readResult is what reading the inputs came to.
type readResult struct {
	damaged bool // an input was damaged or unreadable
	skipped int  // files found in folders that are no evidence
	read    int  // inputs read, whole or in part
}

// count counts an input as read if it was read to its end or gave
// something before its damage.
func (r *readResult) count(err error, some bool) {
	if err == nil || some {
		r.read++
	}
}

// errNoEvidence says the inputs held nothing to report on.
var errNoEvidence = errors.New("no readable evidence in the inputs: no capture, flow log or conversation log")

// readEvidence reads the inputs into sink with a progress bar on stderr,
// where it also reports each input damaged or unreadable, and the files
// it skipped: one by one when verbose, else in one line at the end. When
// nothing could be read it returns errDamaged if an input was damaged or
// unreadable (stderr said so), else errNoEvidence.
func readEvidence(ctx context.Context, s *streams, args []string, opt ingest.Options, f *flowFlags, sink ingest.Sink) (readResult, error) {
	var res readResult
	bar := newProgress(s.err, f.quiet)
	defer bar.finish()
	opt.Stdin, opt.Progress = s.in, bar
	sink.Problem = func(p ingest.Problem) {
		res.damaged = res.damaged || p.Damaged()
		msg := p.Err.Error()
		if p.Skipped {
			res.skipped++
			if !f.verbose {
				return
			}
			msg = "skipped " + msg
			if !strings.Contains(p.Err.Error(), p.Path) {
				msg = "skipped " + p.Path + ": " + p.Err.Error()
			}
		}
		fmt.Fprintf(bar, "netfx: %s\n", escapeTerminal(msg))
	}
	capture, flowLog, connLog := sink.Capture, sink.FlowLog, sink.ConnLog
	sink.Capture = func(r ingest.CaptureResult) {
		res.count(r.Err, r.Stats.Records > 0)
		if capture != nil {
			capture(r)
		}
	}
	sink.FlowLog = func(r ingest.FlowLogResult) {
		res.count(r.Err, r.Stats.Records > 0)
		if flowLog != nil {
			flowLog(r)
		}
	}
	sink.ConnLog = func(r ingest.ConnLogResult) {
		res.count(r.Err, r.Stats.Records > 0)
		if connLog != nil {
			connLog(r)
		}
	}
	err := ingest.Read(ctx, args, opt, sink)
	if res.skipped > 0 && !f.verbose {
		fmt.Fprintf(bar, "netfx: skipped %d file(s) that are no capture, flow log or conversation log (-v lists them)\n", res.skipped)
	}
	switch {
	case err != nil || res.read > 0:
	case res.damaged:
		err = errDamaged // nothing read, and stderr said why
	default:
		err = errNoEvidence
	}
	return res, err
}

// escapeTerminal makes a message safe to print on a terminal.
func escapeTerminal(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\uFFFD' {
			fmt.Fprintf(&sb, `\x%02x`, r)
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// defaultWidth is the report's width when standard output is no terminal
// and COLUMNS is not set.
const defaultWidth = 120

// terminalWidth returns the columns the report may take: the terminal's
// when out is one, else COLUMNS, else defaultWidth; and whether out is a
// terminal.
func terminalWidth(out io.Writer) (int, bool) {
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w, true
		}
		return defaultWidth, true
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n, false
	}
	return defaultWidth, false
}
