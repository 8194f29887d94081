package loganalytics

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
)

// Detect reports whether a file's first bytes are an export of a table
// netfx reads: a CSV header, the keys of a JSON array's first object, or
// the query API's "columns", naming the columns of Traffic Analytics,
// VMConnection or VMBoundPort.
func Detect(head []byte) bool {
	text := bytes.TrimLeft(bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF}), " \t\r\n")
	if len(text) == 0 {
		return false
	}
	var names []string
	switch text[0] {
	case '[', '{':
		names = jsonColumns(text)
	default:
		line, _, _ := bytes.Cut(text, []byte("\n"))
		rec, err := csv.NewReader(bytes.NewReader(line)).Read()
		if err != nil {
			return false
		}
		names = rec
	}
	_, ok := newTable(names)
	return ok
}

// jsonColumns returns the keys of an array's first object, or the names
// of the query API's first "columns", as far as head goes.
func jsonColumns(head []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(head))
	var names []string
	depth := 0
	wantKey := false // the next string at depth 2 of an array's object is a key
	api := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return names
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if depth == 0 && t == '{' {
					api = true
				}
				depth++
				wantKey = t == '{'
			default:
				depth--
				if !api && depth == 1 {
					return names // the first object ended
				}
				wantKey = depth > 0
			}
		case string:
			switch {
			case !api && depth == 2 && wantKey:
				names = append(names, t)
				wantKey = false
			case !api && depth == 2:
				wantKey = true
			case api && strings.EqualFold(t, "columns"):
				var cols []struct{ Name string }
				if dec.Decode(&cols) == nil {
					for _, c := range cols {
						names = append(names, c.Name)
					}
				}
				return names
			}
		default:
			if !api && depth == 2 {
				wantKey = true
			}
		}
	}
}
