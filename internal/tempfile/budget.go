package tempfile

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
)

// The files in memory hold, together, at most half of the memory the
// machine gives netfx (its cgroup's limit, or all of it, as Linux tells),
// or NETFX_TEMP_MEMORY_MIB mebibytes; past that a write fails with an
// error that names TMPDIR, rather than the run being killed for want of
// memory. Where the memory cannot be read, they are not bounded.
var (
	memoryBudget = sync.OnceValue(func() int64 {
		if mib, err := strconv.ParseInt(os.Getenv("NETFX_TEMP_MEMORY_MIB"), 10, 64); err == nil && mib > 0 && mib < math.MaxInt64>>20 {
			return mib << 20
		}
		return halfOf(MachineMemory())
	})
	inMemory atomic.Int64 // bytes of chunks that files in memory hold
)

func halfOf(n int64) int64 {
	if n <= 0 {
		return math.MaxInt64
	}
	return n / 2
}

// MachineMemory returns the bytes of memory Linux gives this process: the
// smaller of the machine's (/proc/meminfo) and its cgroup's limit (cgroup
// v2's memory.max), or 0 if neither can be read.
func MachineMemory() int64 {
	total := int64(0)
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			var kb int64
			if n, _ := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); n == 1 {
				total = kb << 10
				break
			}
		}
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if limit, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil && limit > 0 && (total == 0 || limit < total) {
			total = limit
		}
	}
	return total
}

// reserve takes n bytes of the budget of files in memory, or reports that
// they would go past it.
func reserve(n int64) bool {
	if inMemory.Add(n) > memoryBudget() {
		inMemory.Add(-n)
		return false
	}
	return true
}

// errOverBudget is the error of a write that the budget refused. Files are
// in memory only when TMPDIR cannot be written (Failed says why).
func errOverBudget() error {
	return fmt.Errorf("temporary files kept in memory reached their bound, %d MiB (half of this machine's memory, or NETFX_TEMP_MEMORY_MIB), as TMPDIR cannot be written (set TMPDIR to a writable folder)", memoryBudget()>>20)
}

// Held returns the bytes that files in memory hold now, and Budget the
// most they may hold together.
func Held() int64 { return inMemory.Load() }

func Budget() int64 { return memoryBudget() }
