package prefetch

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// TestHasPrefetchW compares the CPUID check with the flag Linux shows for
// it in /proc/cpuinfo ("3dnowprefetch").
func TestHasPrefetchW(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/cpuinfo")
	}
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skip(err)
	}
	var flags []string
	for line := range strings.Lines(string(info)) {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "flags" {
			flags = strings.Fields(value)
			break
		}
	}
	if flags == nil {
		t.Skip("no flags line in /proc/cpuinfo")
	}
	want := false
	for _, f := range flags {
		want = want || f == "3dnowprefetch"
	}
	if got := hasPrefetchW(); got != want {
		t.Errorf("hasPrefetchW() = %v, /proc/cpuinfo says %v", got, want)
	}
}

func BenchmarkForWrite(b *testing.B) {
	buf := make([]byte, 256)
	for b.Loop() {
		ForWrite(unsafe.Pointer(&buf[0]), uintptr(len(buf)))
	}
}
