package connlog

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/netfx/netfx/flows"
)

// readJSON reads one JSON object per line; blank lines are skipped.
func readJSON(lr *lineReader, st *Stats, emit func(*flows.Conn)) error {
	return lr.each(func(line []byte) error {
		if len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(line, &fields); err != nil {
			return lr.errorf("not a JSON object: %v", err)
		}
		c := &flows.Conn{}
		// Apply ip_proto after proto whatever the key order, as the TSV
		// columns are.
		if raw, ok := fields["ip_proto"]; ok {
			if err := setJSON(c, "ip_proto", raw); err != nil {
				return lr.errorf("%v", err)
			}
		}
		for name, raw := range fields {
			if name == "ip_proto" {
				continue
			}
			if err := setJSON(c, name, raw); err != nil {
				return lr.errorf("%v", err)
			}
		}
		if err := finish(c); err != nil {
			return lr.errorf("%v", err)
		}
		st.account(c, emit)
		return nil
	})
}

// setJSON sets one field from its JSON value: a string, a number, a flag,
// or an array of strings; null leaves the field unset.
func setJSON(c *flows.Conn, name string, raw json.RawMessage) error {
	set, ok := setters[name]
	if !ok {
		return nil
	}
	var v value
	switch raw = bytes.TrimSpace(raw); {
	case len(raw) == 0 || string(raw) == "null":
		return nil
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &v.s); err != nil {
			return err
		}
	case raw[0] == '[':
		v.isList = true
		if err := json.Unmarshal(raw, &v.list); err != nil {
			return errorf(name, "want an array of strings")
		}
	default:
		v.s = string(raw)
	}
	if err := set(c, v); err != nil {
		return errorf(name, err.Error())
	}
	return nil
}

func errorf(field, msg string) error { return &fieldError{field, msg} }

type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return "field " + e.field + ": " + e.msg }

// zeekHeader is what a Zeek log's header lines say.
type zeekHeader struct {
	sep, setSep, empty, unset string
	fields                    []string
	lists                     []bool // the field is a vector or set
}

// readTSV reads Zeek's tab-separated log: header lines starting with #,
// then one record per line. Several logs concatenated (each with its own
// header) are read one after the other.
func readTSV(lr *lineReader, st *Stats, emit func(*flows.Conn)) error {
	h := zeekHeader{sep: "\t", setSep: ",", empty: "(empty)", unset: "-"}
	return lr.each(func(line []byte) error {
		text := string(line)
		if strings.HasPrefix(text, "#") {
			if err := h.parse(text); err != nil {
				return lr.errorf("%v", err)
			}
			return nil
		}
		if text == "" {
			return nil
		}
		if h.fields == nil {
			return lr.errorf("record before the #fields header")
		}
		cols := strings.Split(text, h.sep)
		if len(cols) != len(h.fields) {
			return lr.errorf("%d columns, the #fields header names %d", len(cols), len(h.fields))
		}
		c := &flows.Conn{}
		for i, col := range cols {
			if col == h.unset {
				continue
			}
			set, ok := setters[h.fields[i]]
			if !ok {
				continue
			}
			var v value
			switch {
			case h.lists[i] && col == h.empty:
				v.isList = true
			case h.lists[i]:
				v.isList = true
				v.list = strings.Split(col, h.setSep)
				for j := range v.list {
					v.list[j] = unescape(v.list[j])
				}
			case col == h.empty:
			default:
				v.s = unescape(col)
			}
			if err := set(c, v); err != nil {
				return lr.errorf("field %s: %v", h.fields[i], err)
			}
		}
		if err := finish(c); err != nil {
			return lr.errorf("%v", err)
		}
		st.account(c, emit)
		return nil
	})
}

// parse takes one header line.
func (h *zeekHeader) parse(line string) error {
	key, val, _ := strings.Cut(line[1:], " ")
	if key != "separator" {
		key, val, _ = strings.Cut(line[1:], h.sep)
	}
	switch key {
	case "separator":
		h.sep = unescape(val)
		if h.sep == "" {
			return errorf("#separator", "empty")
		}
	case "set_separator":
		h.setSep = unescape(val)
	case "empty_field":
		h.empty = val
	case "unset_field":
		h.unset = val
	case "fields":
		h.fields = strings.Split(val, h.sep)
		h.lists = make([]bool, len(h.fields))
	case "types":
		types := strings.Split(val, h.sep)
		if len(types) != len(h.fields) {
			return errorf("#types", "does not match #fields")
		}
		for i, t := range types {
			h.lists[i] = strings.HasPrefix(t, "vector[") || strings.HasPrefix(t, "set[")
		}
	}
	return nil
}

// unescape undoes Zeek's \xNN escapes.
func unescape(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
