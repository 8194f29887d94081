// Command netfx is a network forensics tool for cloud VMs: it reads packet
// captures and reports conversations, top talkers and findings. Run
// "netfx help" for usage.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/netfx/netfx/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
