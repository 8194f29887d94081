package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/netfx/netfx/ingest"
	"golang.org/x/term"
)

// readEvidence reads the inputs into sink with a progress bar on stderr,
// where it also reports each input skipped, damaged or unreadable; it says
// whether any was damaged or unreadable.
func readEvidence(ctx context.Context, s *streams, args []string, opt ingest.Options, quiet bool, sink ingest.Sink) (damaged bool, err error) {
	bar := newProgress(s.err, quiet)
	defer bar.finish()
	opt.Stdin, opt.Progress = s.in, bar
	sink.Problem = func(p ingest.Problem) {
		damaged = damaged || p.Damaged()
		msg := p.Err.Error()
		if p.Skipped {
			msg = "skipped " + msg
			if !strings.Contains(p.Err.Error(), p.Path) {
				msg = "skipped " + p.Path + ": " + p.Err.Error()
			}
		}
		fmt.Fprintf(bar, "netfx: %s\n", escapeTerminal(msg))
	}
	err = ingest.Read(ctx, args, opt, sink)
	return damaged, err
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
