// Command floodgen writes the captures of internal/floodgen (a flood, many
// one-packet flows, DNS names and answers) for measuring netfx's memory
// and time on them. For example:
//
//	go run ./bench/floodgen -kind synflood -n 3000000 -seconds 300 -o syn.pcap
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/netfx/netfx/internal/floodgen"
)

func main() {
	kind := flag.String("kind", "synflood", strings.Join(floodgen.Kinds, ", "))
	n := flag.Int("n", 1_000_000, "packets (or query/answer pairs)")
	seconds := flag.Float64("seconds", 60, "the time the packets spread over")
	out := flag.String("o", "", "output capture")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: floodgen -kind KIND -n N -seconds S -o FILE")
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err == nil {
		err = floodgen.Write(f, *kind, *n, time.Duration(*seconds*float64(time.Second)))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
