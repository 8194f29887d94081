package render

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/netfx/netfx/appid"
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

// checkAnswers: a list of DNS answers written whole, as JSON
// (appendAnswerArray) and as Zeek's and the CSV's plain text
// (appendAnswerItems), is the bytes that escaping its items one by one,
// each "name type value", and joining them give; the JSON is an array.
func checkAnswers(t *testing.T, answers ...appid.DNSAnswer) {
	t.Helper()
	list := appid.NewDNSAnswers(answers...)
	var items []string
	for a := range list.All() {
		value := a.Value
		if a.Addr.IsValid() {
			value = a.Addr.String()
		}
		items = append(items, a.Name+" "+a.Type+" "+value)
	}
	want := []byte{'['}
	for i, item := range items {
		if i > 0 {
			want = append(want, ',')
		}
		want = appendJSONString(want, item)
	}
	want = append(want, ']')
	n := &ndjsonFormat{}
	n.appendAnswerArray(nil, appid.NewDNSAnswers(appid.DNSAnswer{Name: "before", Type: "A", Value: "x"})) // a name escaped before
	got, ok := n.appendAnswerArray(nil, list)
	if string(got) != string(want) || ok != (len(answers) > 0) {
		t.Errorf("%q:\n got %s (%v)\nwant %s", answers, got, ok, want)
	}
	var back []string
	if err := json.Unmarshal(got, &back); err != nil || len(back) != len(answers) {
		t.Errorf("%s: %d strings, %v", got, len(back), err)
	}
	for _, format := range []struct {
		esc plainText
		sep string
	}{{zeekText, ","}, {csvText, ";"}} {
		var want []byte
		for i, item := range items {
			if i > 0 {
				want = append(want, format.sep...)
			}
			want = format.esc.appendItem(want, item)
		}
		got, ok := appendAnswerItems([]byte("x"), list, format.esc, format.sep)
		if string(got[1:]) != string(want) || ok != (len(answers) > 0) {
			t.Errorf("%q joined with %q:\n got %q (%v)\nwant %q", answers, format.sep, got[1:], ok, want)
		}
	}
}

func TestAppendAnswers(t *testing.T) {
	addr := netip.MustParseAddr
	checkAnswers(t)
	checkAnswers(t, appid.DNSAnswer{Name: "cdn.example", Type: "A", Addr: addr("192.0.2.1")},
		appid.DNSAnswer{Name: "cdn.example", Type: "A", Addr: addr("192.0.2.2")},
		appid.DNSAnswer{Name: "cdn.example", Type: "AAAA", Addr: addr("2001:db8::1")},
		appid.DNSAnswer{Name: "www.example", Type: "CNAME", Value: "cdn.example"})
	// Runs of A answers of one name: a short name's written with whole
	// stores of its prefix, a long one's (past 28 bytes) copied.
	for _, name := range []string{"s.example", strings.Repeat("long-label.", 4) + "example"} {
		var run []appid.DNSAnswer
		for _, a := range []string{"0.0.0.0", "9.10.99.100", "255.255.255.255", "1.22.133.4", "100.9.0.255", "10.0.0.1"} {
			run = append(run, appid.DNSAnswer{Name: name, Type: "A", Addr: addr(a)})
		}
		checkAnswers(t, run...)
	}
	hostile := []string{"a\x1b]52;c;ZXZpbA==\x07b", "bad \xff\xfe utf-8 \xe2\x82", "\xc3", "rtl \u202e gnp.exe", `q"uo\te`, "<b>&</b>", "tab\tnl\n"}
	for _, s := range hostile {
		checkAnswers(t, appid.DNSAnswer{Name: s, Type: "A", Addr: addr("198.51.100.7")},
			appid.DNSAnswer{Name: s, Type: s, Value: s},
			appid.DNSAnswer{Name: "ok.example", Type: "TXT", Value: s + "\xe2"})
	}
}

func FuzzAppendAnswers(f *testing.F) {
	f.Add("a.example", "CNAME", "b\x1b[31m\xff", false)
	f.Add("\xe2\x82", "A", "", true)
	f.Fuzz(func(t *testing.T, name, typ, value string, isAddr bool) {
		a := appid.DNSAnswer{Name: name, Type: typ, Value: value}
		if isAddr {
			a.Value, a.Addr = "", netip.AddrFrom4([4]byte{192, 0, 2, byte(len(value))})
		}
		checkAnswers(t, a, a, appid.DNSAnswer{Name: value, Type: name, Value: typ})
	})
}

// BenchmarkAppendAnswers measures the JSON of a flood's responses: 64 A
// or AAAA answers of one name, in ns per answer.
func BenchmarkAppendAnswers(b *testing.B) {
	for _, typ := range []string{"A", "AAAA"} {
		b.Run(typ, func(b *testing.B) {
			var list []appid.DNSAnswer
			for i := range 64 {
				addr := netip.AddrFrom4([4]byte{byte(i * 37), byte(i * 11), byte(i), 200})
				if typ == "AAAA" {
					addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 13: byte(i * 37), 8: byte(i * 11)})
				}
				list = append(list, appid.DNSAnswer{Name: "cdn.example.com", Type: typ, Addr: addr})
			}
			answers := appid.NewDNSAnswers(list...)
			n := &ndjsonFormat{}
			var buf []byte
			for b.Loop() {
				buf, _ = n.appendAnswerArray(buf[:0], answers)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(list)), "ns/answer")
		})
	}
}
