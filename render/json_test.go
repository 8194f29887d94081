package render

import (
	"encoding/json"
	"strings"
	"testing"
)

// checkJSONString: appendJSONString's output is one JSON string that
// decodes to s (each invalid UTF-8 byte as U+FFFD), with no control
// character and none of HTML's <, > and & left as they are.
func checkJSONString(t *testing.T, s string) {
	t.Helper()
	out := appendJSONString([]byte("x"), s)[1:]
	var back string
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("%q: %s is not a JSON string: %v", s, out, err)
	}
	if want := string([]rune(s)); back != want {
		t.Errorf("%q: decodes to %q, want %q", s, back, want)
	}
	if i := strings.IndexFunc(string(out), func(r rune) bool { return r < 0x20 || r == '<' || r == '>' || r == '&' }); i >= 0 {
		t.Errorf("%q: %s keeps %q as it is", s, out, out[i])
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\rcr\x00\x1f\x7f",
		"<script>&amp;</script>", "héllo wörld ☃", "bad \xff\xfe utf-8 \xe2\x82", "\xef\xbf\xbd", strings.Repeat("a", 300) + "\x01"} {
		checkJSONString(t, s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("<a href=\"x\">\x1b[31m\xff</a>")
	f.Fuzz(checkJSONString)
}
