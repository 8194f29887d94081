package hugeheap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// TestAdvisedHeap checks that memory the heap gives after Advise, past the
// few MiB it had mapped before, lies in a mapping advised to have huge
// pages (VmFlags "hg" in /proc/self/smaps): the end of an allocation
// larger than those.
func TestAdvisedHeap(t *testing.T) {
	if why := refusal(); why != "" {
		t.Skip("Advise does nothing here: " + why)
	}
	Advise()
	for _, size := range []int{8 << 20, 64 << 20} {
		b := make([]byte, size)
		flags, err := vmFlags(uintptr(unsafe.Pointer(&b[size-1])))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(" "+flags+" ", " hg ") {
			t.Errorf("a %d-byte allocation lies in a mapping with flags %q, without hg", size, flags)
		}
		runtime.KeepAlive(b)
	}
}

// TestAdvisedHeapUntouched: an allocation placed where the advised block
// was is not cleared by the runtime, so its pages stay untouched until
// they are written: the resident memory does not grow by its size. Each
// measure is made in a process of its own, where Advise runs once, as in
// netfx; on a busy machine about one in fifteen finds the allocation
// resident all the same, so the test takes the best of three processes
// (a runtime given back the block without it clears every time).
func TestAdvisedHeapUntouched(t *testing.T) {
	if why := refusal(); why != "" {
		t.Skip("Advise does nothing here: " + why)
	}
	if os.Getenv("HUGEHEAP_MEASURE") != "" {
		Advise()
		before := resident(t)
		b := make([]byte, 64<<20)
		fmt.Printf("grown %d\n", (resident(t)-before)>>20)
		runtime.KeepAlive(b)
		return
	}
	var grown []int
	for range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAdvisedHeapUntouched$", "-test.count=1")
		cmd.Env = append(os.Environ(), "HUGEHEAP_MEASURE=1")
		out, err := cmd.Output()
		var mib int
		if _, serr := fmt.Sscanf(string(out), "grown %d", &mib); err != nil || serr != nil {
			t.Fatalf("measuring in a process of its own: %v %v: %s", err, serr, out)
		}
		if mib <= 16 {
			return
		}
		grown = append(grown, mib)
	}
	t.Errorf("a 64 MiB allocation made %v MiB resident before it was written, in three processes", grown)
}

// resident returns the process's resident memory in bytes.
func resident(t *testing.T) int {
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	var size, pages int
	if _, err := fmt.Sscan(string(statm), &size, &pages); err != nil {
		t.Fatal(err)
	}
	return pages * os.Getpagesize()
}

// vmFlags returns the VmFlags of the mapping that holds addr.
func vmFlags(addr uintptr) (string, error) { return smapsField(addr, "VmFlags") }

// smapsField returns a field of /proc/self/smaps for the mapping that
// holds addr.
func smapsField(addr uintptr, field string) (string, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	in := false
	for s.Scan() {
		line := s.Bytes()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(string(line), "%x-%x ", &lo, &hi); n == 2 && bytes.IndexByte(line, '-') < bytes.IndexByte(line, ' ') {
			in = lo <= addr && addr < hi
			continue
		}
		if in {
			if value, ok := bytes.CutPrefix(line, []byte(field+":")); ok {
				return strings.TrimSpace(string(value)), nil
			}
		}
	}
	return "", fmt.Errorf("no mapping in /proc/self/smaps holds %#x", addr)
}

// collapseTable is zeroed globals for TestCollapse: each half holds two
// huge pages or more wherever it lies, one at least past the huge page
// where the first half ends.
var collapseTable [12 << 20]byte

// TestCollapse: after Collapse on each half of a table of globals written
// here and there (the second finds the mapping split by the first's
// advice), every huge page inside the table is advised and resident as a
// huge page, and the table reads as it was written.
func TestCollapse(t *testing.T) {
	if why := refusal(); why != "" {
		t.Skip("Collapse does nothing here: " + why)
	}
	lo := uintptr(unsafe.Pointer(&collapseTable[0]))
	hi := lo + uintptr(len(collapseTable))
	first := int((lo+hugePage-1)&^(hugePage-1) - lo) // the first huge page inside the table
	for i := first; i < len(collapseTable); i += hugePage {
		collapseTable[i] = 1 // a page table there, and one page of 512
	}
	half := len(collapseTable) / 2
	for _, part := range [][]byte{collapseTable[:half], collapseTable[half:]} {
		if err := collapse(part); errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EAGAIN) {
			t.Skipf("the kernel does not collapse memory now: %v", err)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	for addr := lo + uintptr(first); addr+hugePage <= hi; addr += hugePage {
		flags, err := vmFlags(addr)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(" "+flags+" ", " hg ") {
			t.Errorf("the huge page at %#x lies in a mapping with flags %q, without hg", addr, flags)
		}
		if huge, err := smapsField(addr, "AnonHugePages"); err != nil || huge == "0 kB" {
			t.Errorf("the huge page at %#x: AnonHugePages %q %v", addr, huge, err)
		}
	}
	for i, b := range collapseTable {
		want := byte(0)
		if i >= first && (i-first)%hugePage == 0 {
			want = 1
		}
		if b != want {
			t.Fatalf("byte %d reads %d after Collapse, want %d", i, b, want)
		}
	}
}

// TestMap: memory mapped outside the heap is as long as asked, starts at a
// huge-page boundary, and can be written and read back.
func TestMap(t *testing.T) {
	const n = 3<<20 + 17
	mem := Map(n)
	if len(mem) != n || cap(mem) != n {
		t.Fatalf("%d bytes of capacity %d, want %d", len(mem), cap(mem), n)
	}
	if start := uintptr(unsafe.Pointer(unsafe.SliceData(mem))); start%hugePage != 0 {
		t.Errorf("starts at %#x, not at a huge-page boundary", start)
	}
	mem[0], mem[n-1] = 1, 2
	if mem[0] != 1 || mem[n-1] != 2 {
		t.Error("written bytes not read back")
	}
}
