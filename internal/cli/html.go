package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/netfx/netfx/analyze"
	"github.com/netfx/netfx/render"
)

// writeHTML writes the report's HTML page to path.
func writeHTML(path string, rep analyze.Report) error {
	generated, err := generationTime()
	if err != nil {
		return usageError{err}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = render.ReportHTML(f, rep, render.HTMLOptions{Version: version(), Generated: generated})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// generationTime is now, or SOURCE_DATE_EPOCH when it is set (the
// reproducible-builds convention), so that a page can be made again byte
// for byte.
func generationTime() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Now(), nil
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", v)
	}
	return time.Unix(secs, 0), nil
}

// version is netfx's module version and the commit it was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " commit " + s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			if s.Value == "true" {
				v += " (modified)"
			}
		}
	}
	return v
}

// outsideEvidence refuses an output path inside a folder of evidence or
// on an input file: netfx never writes into the evidence.
func outsideEvidence(out string, inputs []string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	for _, in := range inputs {
		if in == "-" {
			continue
		}
		inAbs, err := filepath.Abs(in)
		if err != nil {
			continue
		}
		if abs == inAbs || strings.HasPrefix(abs, inAbs+string(filepath.Separator)) {
			return fmt.Errorf("--html %s is inside the evidence (%s): netfx never writes there", out, in)
		}
	}
	return nil
}
