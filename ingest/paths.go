package ingest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Expand turns command-line inputs into the list of files to read: files as
// given, folders walked recursively in lexical order (hidden files and
// folders skipped; symbolic links followed), and "-" for standard input.
// Each file and folder is taken once, however many links lead to it. Order
// is deterministic. Inputs and folders that cannot be read are skipped;
// the error names each of them, and the files that could be listed are
// returned all the same.
func Expand(args []string) ([]string, error) {
	e := expansion{seen: map[string]bool{}}
	for _, arg := range args {
		if arg == "-" {
			e.out = append(e.out, arg)
			continue
		}
		info, err := os.Stat(arg)
		switch {
		case err != nil:
			e.errs = append(e.errs, err)
		case info.IsDir():
			e.walk(arg)
		default:
			e.add(arg)
		}
	}
	return e.out, errors.Join(e.errs...)
}

type expansion struct {
	out  []string
	seen map[string]bool // real paths of the files and folders taken
	errs []error
}

// once reports whether path, resolved, is seen for the first time.
func (e *expansion) once(path string) bool {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return true // a pipe, say: nothing to compare
	}
	if e.seen[real] {
		return false
	}
	e.seen[real] = true
	return true
}

func (e *expansion) add(path string) {
	if e.once(path) {
		e.out = append(e.out, path)
	}
}

// walk adds the files below folder dir, which may be a link.
func (e *expansion) walk(dir string) {
	if !e.once(dir) {
		return
	}
	root := dir + string(filepath.Separator) // so that a link to a folder is walked
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			e.errs = append(e.errs, err) // an unreadable folder: skipped
			return nil
		}
		if path == root {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			if !e.once(path) {
				return filepath.SkipDir
			}
		case d.Type().IsRegular():
			e.add(path)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Stat(path)
			switch {
			case err != nil: // a dangling link: nothing to read
			case target.Mode().IsRegular():
				e.add(path)
			case target.IsDir():
				e.walk(path)
			}
		}
		return nil
	})
}
