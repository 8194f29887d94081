// Command netfx is a network forensics tool for cloud VMs: it reads packet
// captures and reports conversations, top talkers and findings. Run
// "netfx help" for usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/netfx/netfx/internal/cli"
	"github.com/netfx/netfx/internal/hugeheap"
)

// gcPercent is the garbage collector's target unless GOGC says otherwise,
// once the heap is no longer small (cli.CollectLessWhileSmall). The
// analyses hold their state to the end, so Go's default (100: the heap
// may grow to twice the live data before a collection) mostly holds
// garbage; 50 takes a fifth to a quarter off the peak memory for a few
// percent of CPU (docs/performance.md).
const gcPercent = 50

func main() {
	cli.CollectLessWhileSmall(gcPercent)
	hugeheap.Advise() // unless NETFX_HUGEPAGES=off
	// Ctrl-C (or a SIGTERM) cancels the run, which stops within a second
	// and exits with 130; a second one kills it at once, as the default
	// handling does.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
