package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/pcapread"
)

// readInputs expands the command line's inputs and reads every capture
// through one flow table. Problems are reported on stderr as they happen;
// the returned bool says whether any input was damaged or unreadable. Files
// found in folders that are not captures are noted and skipped.
func readInputs(s *streams, args []string, cfg flows.Config, opt flows.ReadOptions, emit func(*flows.Conn), done func(flows.FileResult)) (damaged bool, err error) {
	paths, err := pcapread.Expand(args)
	if err != nil {
		return false, err
	}
	explicit := make(map[string]bool, len(args))
	for _, a := range args {
		explicit[a] = true
	}
	flows.ReadCaptures(paths, cfg, opt, emit, func(res flows.FileResult) {
		if res.Err != nil {
			if !explicit[res.Path] && errors.Is(res.Err, pcapread.ErrUnsupported) {
				fmt.Fprintf(s.err, "netfx: skipped %s\n", escapeTerminal(res.Err.Error()))
				res.Err = nil
				return
			}
			damaged = true
			fmt.Fprintf(s.err, "netfx: %s\n", escapeTerminal(describeError(res)))
		}
		done(res)
	})
	return damaged, nil
}

// describeError says what went wrong with a file and what was kept.
func describeError(res flows.FileResult) string {
	msg := res.Err.Error()
	if !strings.Contains(msg, res.Path) {
		msg = res.Path + ": " + msg
	}
	if res.Stats.Records > 0 {
		msg += fmt.Sprintf(" (the %d records before it were read)", res.Stats.Records)
	}
	return msg
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
