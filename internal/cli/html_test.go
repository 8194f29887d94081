package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// browser returns a headless Chromium to open pages with, or skips the
// test with a message saying how to get one.
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("no Chromium here (apt-get install chromium; .ci/run installs it): the page is not opened in a browser")
	return ""
}

// openPage runs headless Chromium on a page with extra flags and returns
// what it printed: the DOM (with --dump-dom) and its log.
func openPage(t *testing.T, chromium, page string, flags ...string) (stdout, log string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}, flags...)
	cmd := exec.CommandContext(ctx, chromium, append(args, "file://"+page)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, errb.String())
	}
	return out.String(), errb.String()
}

// TestHTMLReportInABrowser writes the demo's page and opens it in headless
// Chromium: it loads nothing and breaks no policy, its charts drew, every
// finding is on it, and its tables are there with JavaScript off; a
// screenshot is taken as a person would look at it.
func TestHTMLReportInABrowser(t *testing.T) {
	chromium := browser(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1773500000")
	page := filepath.Join(t.TempDir(), "demo.html")
	if _, stderr, code := run("report", "-q", "--html", page, "../../testdata/demo"); code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	first, _ := os.ReadFile(page)
	if _, _, code := run("report", "-q", "--html", page, "../../testdata/demo"); code != ExitOK {
		t.Fatal("second run failed")
	}
	if again, _ := os.ReadFile(page); string(again) != string(first) {
		t.Error("two runs with the same SOURCE_DATE_EPOCH wrote different pages")
	}

	dom, log := openPage(t, chromium, page, "--dump-dom")
	for _, bad := range []string{"Refused to", "Content Security Policy", "Uncaught", "net::ERR_"} {
		if strings.Contains(log, bad) {
			t.Errorf("the browser logged %q:\n%s", bad, log)
		}
	}
	if n := strings.Count(dom, "<rect"); n < 100 {
		t.Errorf("the charts drew %d rectangles", n)
	}
	var rep struct{ Findings []struct{ Title string } }
	if err := json.Unmarshal([]byte(mustRun(t, "report", "--json", "../../testdata/demo")), &rep); err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Findings {
		if !strings.Contains(dom, f.Title) {
			t.Errorf("finding %q is not on the page", f.Title)
		}
	}
	// The page has no script (TestHTMLPolicy in ./render checks it), so
	// what the browser built is what a reader with JavaScript off sees.
	if strings.Count(dom, "<table") < 5 || strings.Count(dom, "<details class=\"finding\"") != len(rep.Findings) || strings.Contains(dom, "<script") {
		t.Error("the page lacks its tables or findings, or holds a script")
	}
	shot := filepath.Join(t.TempDir(), "demo.png")
	openPage(t, chromium, page, "--screenshot="+shot, "--window-size=1400,900", "--hide-scrollbars")
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 20_000 {
		t.Errorf("screenshot: %v", err)
	}
}

// TestHTMLNeverInTheEvidence: --html refuses a file inside an input folder.
func TestHTMLNeverInTheEvidence(t *testing.T) {
	dir := t.TempDir()
	data, _ := os.ReadFile("../../testdata/demo/vm1-capture-01.pcap")
	os.WriteFile(filepath.Join(dir, "a.pcap"), data, 0o644)
	_, stderr, code := run("report", "--html", filepath.Join(dir, "report.html"), dir)
	if code != ExitUsage || !strings.Contains(stderr, "never writes there") {
		t.Errorf("exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err == nil {
		t.Error("the page was written into the evidence")
	}
}
