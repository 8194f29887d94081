package render

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netfx/netfx/analyze"
)

var htmlOptions = HTMLOptions{Version: "v0.0.0-test", Generated: time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)}

func renderHTML(t *testing.T, r analyze.Report) string {
	t.Helper()
	var b strings.Builder
	if err := ReportHTML(&b, r, htmlOptions); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestHTMLGolden compares the page of a small report with a golden file
// (go test ./render -update rewrites it), and two renderings byte for
// byte.
func TestHTMLGolden(t *testing.T) {
	r := sampleReport(8)
	out := renderHTML(t, r)
	if again := renderHTML(t, r); again != out {
		t.Fatal("two renderings differ")
	}
	path := filepath.Join("testdata", "report.html.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Error("the page differs from testdata/report.html.golden (go test ./render -update after checking the change)")
	}
}

// TestHTMLPolicy: the page has no script, loads nothing, and its
// Content-Security-Policy allows its stylesheet by the stylesheet's hash.
func TestHTMLPolicy(t *testing.T) {
	out := renderHTML(t, sampleReport(3))
	style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(out)
	if style == nil {
		t.Fatal("no stylesheet")
	}
	sum := sha256.Sum256([]byte(style[1]))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	csp := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`).FindStringSubmatch(out)
	if csp == nil || !strings.Contains(html.UnescapeString(csp[1]), "default-src 'none'") || !strings.Contains(html.UnescapeString(csp[1]), "style-src "+hash) {
		t.Errorf("CSP %q does not allow the stylesheet %s alone", csp, hash)
	}
	for _, bad := range []string{"<script", " style=", "http://", "https://", "src="} {
		if strings.Contains(out, bad) {
			t.Errorf("the page holds %q", bad)
		}
	}
}

// TestHTMLInjection: hostile strings in every field the evidence fills
// (names, server names, rule names, facts, files, titles) show as text.
func TestHTMLInjection(t *testing.T) {
	hostile := []string{`</script><script>alert(1)</script>`, `"><img src=x onerror=alert(2)>`, `javascript:alert(3)`, "\x1b[31mred\x1b]52;c;x\x07"}
	r := sampleReport(2)
	for i, h := range hostile {
		r.Names = append(r.Names, analyze.NameSet{IP: r.Findings[0].Src.IP, Names: []analyze.Name{{Name: h, Source: "tls_sni"}}})
		r.Findings[0].Evidence.Facts = append(r.Findings[0].Evidence.Facts, h)
		r.Findings[0].Evidence.Files = append(r.Findings[0].Evidence.Files, h)
		r.Findings[0].Evidence.Rules = append(r.Findings[0].Evidence.Rules, h)
		r.Inputs = append(r.Inputs, analyze.Input{File: h, Damage: h})
		if i == 0 {
			r.Findings[1].Title, r.Findings[1].Why = h, h
		}
	}
	out := renderHTML(t, r)
	for _, bad := range []string{"<script>alert", "<img src=x", "\x1b", "\x07", `href="javascript:`} {
		if strings.Contains(out, bad) {
			t.Errorf("the page holds %q raw", bad)
		}
	}
	if !strings.Contains(out, "&lt;img src=x onerror=alert(2)&gt;") {
		t.Error("the hostile name is not shown as text")
	}
}

// TestHTMLAxisLabels: the time axis tells its ticks apart, in seconds for
// a short span and with the date for a long one.
func TestHTMLAxisLabels(t *testing.T) {
	for _, tt := range []struct {
		last string
		want []string
	}{
		{"2026-03-14T09:31:44.000000Z", []string{">09:30:04<", ">09:30:20<", ">09:31:44<"}},
		{"2026-03-14T11:09:29.669000Z", []string{">09:30<", ">11:09<"}},
		{"2026-03-16T09:30:04.000000Z", []string{">03-14 09:30<", ">03-16 09:30<"}},
	} {
		r := sampleReport(2)
		r.Totals.Last = tt.last
		out := renderHTML(t, r)
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("evidence from %s to %s: no axis label %q", r.Totals.First, tt.last, w)
			}
		}
	}
}
