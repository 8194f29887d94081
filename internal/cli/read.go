package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/netfx/netfx/ingest"
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
