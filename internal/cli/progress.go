package cli

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressDelay is how long a run goes before it shows a progress bar:
// short runs stay silent.
const progressDelay = time.Second

// progress shows how many of the inputs' bytes have been read, on stderr,
// when stderr is a terminal and the run lasts longer than progressDelay. It
// also carries netfx's messages to stderr, clearing the bar before each.
type progress struct {
	mu      sync.Mutex
	stderr  io.Writer
	enabled bool
	total   int64 // -1 when unknown (standard input)
	start   time.Time
	bar     *progressbar.ProgressBar
}

// newProgress returns a progress display; it shows nothing when quiet or
// when stderr is not a terminal.
func newProgress(stderr io.Writer, quiet bool) *progress {
	f, isFile := stderr.(*os.File)
	return &progress{stderr: stderr, start: time.Now(),
		enabled: !quiet && isFile && term.IsTerminal(int(f.Fd()))}
}

// Start sets the bytes to read, -1 when unknown (standard input).
func (p *progress) Start(total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = total
}

// Wrap counts what is read through r.
func (p *progress) Wrap(r io.Reader) io.Reader {
	if !p.enabled {
		return r
	}
	return countingReader{r, p}
}

type countingReader struct {
	r io.Reader
	p *progress
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(n)
	return n, err
}

func (p *progress) add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.enabled {
		return // finished
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions64(p.total, progressbar.OptionSetWriter(delayedWriter{p.stderr, p.start.Add(progressDelay)}),
			progressbar.OptionSetDescription("reading"), progressbar.OptionShowBytes(true),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(), progressbar.OptionSetWidth(30))
	}
	p.bar.Add64(int64(n))
}

// delayedWriter drops what is written before a moment: the bar counts from
// the start but shows only once the run has lasted progressDelay.
type delayedWriter struct {
	w    io.Writer
	from time.Time
}

func (d delayedWriter) Write(b []byte) (int, error) {
	if time.Now().Before(d.from) {
		return len(b), nil
	}
	return d.w.Write(b)
}

// Write writes a message to stderr, clearing the bar first.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Clear()
	}
	return p.stderr.Write(b)
}

// finish removes the bar.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
	p.enabled = false
}
