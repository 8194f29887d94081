package render

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter/pkg/twwidth"
)

// text makes a string from a packet or a log fit to show a person: it is
// shown as it is (a share reads \\10.1.1.10\ADMIN$), but control
// characters, terminal escapes, C1 controls, invalid UTF-8 and the bidi
// controls that reorder what a terminal shows are escaped as \xNN or
// \u{NNNN}, and so is extra.
func text(s string, extra byte) string {
	special := ""
	if extra != 0 {
		special = string(rune(extra))
	}
	return escapeRunes(s, unsafeRune, special, false)
}

// escapeRunes writes s with each rune that control picks, each byte of
// special (printable ASCII, two at most) and each byte of invalid UTF-8
// escaped: as \xNN below 0x80 and for invalid bytes, and above as
// \u{NNNN}, or as the \xNN of each of its bytes when bytewise (Zeek's
// way). Control picks no printable ASCII: a string of printable ASCII
// without a byte of special is returned at once, as most strings of
// packets and logs are.
func escapeRunes(s string, control func(rune) bool, special string, bytewise bool) string {
	if printableASCII(s, special) {
		return s
	}
	unsafe := func(r rune) bool { return control(r) || r < 0x80 && strings.IndexByte(special, byte(r)) >= 0 }
	clean := utf8.ValidString(s)
	for _, r := range s {
		if !clean || unsafe(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var sb strings.Builder
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r < 0x80 && unsafe(r), bytewise && unsafe(r):
			for _, c := range []byte(s[i : i+size]) {
				sb.WriteString(`\x`)
				sb.WriteByte(hex[c>>4])
				sb.WriteByte(hex[c&15])
			}
		case unsafe(r):
			sb.WriteString(`\u{`)
			for shift := 12; shift >= 0; shift -= 4 {
				sb.WriteByte(hex[(r>>shift)&15])
			}
			sb.WriteByte('}')
		default:
			sb.WriteString(s[i : i+size])
		}
		i += size
	}
	return sb.String()
}

// printableASCII reports whether s is printable ASCII (0x20 to 0x7e)
// without any byte of special, which holds at most two.
func printableASCII[T string | []byte](s T, special string) bool {
	a, b := byte(0x7f), byte(0x7f) // bytes that are not printable: no match
	if len(special) > 0 {
		a = special[0]
	}
	if len(special) > 1 {
		b = special[1]
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == a || c == b {
			return false
		}
	}
	return true
}

// unsafeRune reports whether r must not reach a terminal as it is: C0 and
// C1 controls, DEL, and the bidirectional controls (Trojan Source,
// CVE-2021-42574).
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// width is how many terminal columns s takes.
func width(s string) int { return twwidth.Width(s) }

// truncate shortens s to at most w columns, ending it with "…" when cut.
func truncate(s string, w int) string {
	if width(s) <= w {
		return s
	}
	if w <= 1 {
		return strings.Repeat("…", max(w, 0))
	}
	return twwidth.Truncate(s, w-1) + "…"
}

// truncateStart shortens s to at most w columns from its start, beginning
// it with "…" when cut: a path keeps its file's name.
func truncateStart(s string, w int) string {
	if width(s) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && width(string(r))+1 > w {
		r = r[1:]
	}
	return "…" + string(r)
}

// wrap breaks s into lines of at most w bytes (and so columns), at spaces
// where it can.
func wrap(s string, w int) []string {
	var lines []string
	for len(s) > w {
		i := w
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		cut := s[:i]
		if j := strings.LastIndexByte(cut, ' '); j > w/3 {
			cut = cut[:j]
		}
		if cut == "" {
			cut = s[:w] // no rune starts within w bytes: cannot be, but never loop
		}
		lines = append(lines, cut)
		s = strings.TrimLeft(s[len(cut):], " ")
	}
	return append(lines, s)
}

// clock shows an RFC 3339 time as the report does: the time of day when
// the whole evidence falls on one day (the header names it), else the
// date and time, both in UTC.
type clock struct{ oneDay bool }

func newClock(first, last string) clock {
	return clock{oneDay: len(first) >= 10 && len(last) >= 10 && first[:10] == last[:10]}
}

func (c clock) show(rfc3339 string) string { return c.format(rfc3339, "15:04:05") }

// minute shows a time to the minute, for the compact tables.
func (c clock) minute(rfc3339 string) string { return c.format(rfc3339, "15:04") }

func (c clock) format(rfc3339, layout string) string {
	t, err := time.Parse(time.RFC3339Nano, rfc3339)
	if err != nil {
		return dash(rfc3339)
	}
	if !c.oneDay {
		layout = "2006-01-02 " + layout
	}
	return t.UTC().Format(layout)
}

// span shows a duration in seconds as the report does: 1h39m, 27m24s, 8s.
func span(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	switch {
	case d >= 48*time.Hour:
		days := int64(d / (24 * time.Hour))
		return fmt.Sprintf("%dd%dh", days, int64((d-time.Duration(days)*24*time.Hour)/time.Hour))
	case d >= time.Hour:
		d = d.Round(time.Minute)
		s := d.String()
		return strings.TrimSuffix(s, "0s")
	case d >= time.Minute:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

// Severity colours: SGR sequences for a terminal.
var severityColour = map[string]string{
	"critical": "\x1b[1;31m", // bold red
	"high":     "\x1b[31m",   // red
	"medium":   "\x1b[33m",   // yellow
	"low":      "\x1b[36m",   // cyan
}

// paint colours a severity when colour is on.
func paint(severity string, colour bool) string {
	if c, ok := severityColour[severity]; ok && colour {
		return c + severity + "\x1b[0m"
	}
	return severity
}

// count writes a number with thousands separators, for a person.
func count[N ~int | ~int64 | ~uint64](n N) string {
	s := strconv.FormatUint(uint64(max(n, 0)), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
