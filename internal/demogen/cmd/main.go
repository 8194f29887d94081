// Command demogen regenerates testdata/demo. Run it from the project root:
//
//	go run ./internal/demogen/cmd
package main

import (
	"fmt"
	"os"

	"github.com/netfx/netfx/internal/demogen"
)

func main() {
	if err := demogen.Write("testdata/demo", demogen.Seed); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
