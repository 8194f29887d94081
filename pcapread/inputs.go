package pcapread

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Expand turns command-line inputs into the list of files to read: files as
// given, folders walked recursively in lexical order (hidden files and
// folders skipped; symbolic links followed), and "-" for standard input.
// Each file and folder is taken once, however many links lead to it. Order
// is deterministic.
func Expand(args []string) ([]string, error) {
	e := expansion{seen: map[string]bool{}}
	for _, arg := range args {
		if arg == "-" {
			e.out = append(e.out, arg)
			continue
		}
		info, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			e.add(arg)
			continue
		}
		if err := e.walk(arg); err != nil {
			return nil, err
		}
	}
	return e.out, nil
}

type expansion struct {
	out  []string
	seen map[string]bool // real paths of the files and folders taken
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
func (e *expansion) walk(dir string) error {
	if !e.once(dir) {
		return nil
	}
	root := dir + string(filepath.Separator) // so that a link to a folder is walked
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
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
				return e.walk(path)
			}
		}
		return nil
	})
}
