// Package hugeheap asks the operating system to back the Go heap with huge
// pages where it would otherwise use 4 KiB pages: on Linux with transparent
// huge pages in "madvise" mode (Debian's and Ubuntu's default), only memory
// that a process advises gets them, and the Go runtime advises none of its
// heap. On virtual machines the first touch of each 4 KiB page can cost
// 10 µs or more (11.7 µs on the 2-core development VM), so a run whose heap
// peaks at 100 MiB spends a quarter of a second on page faults; with 2 MiB
// pages that falls to a few milliseconds (docs/performance.md). Collapse
// does the same for large global tables that every garbage collection
// reads. NETFX_HUGEPAGES=off turns both off.
package hugeheap

// Size is the part of the heap Advise covers: the heap's first 512 MiB,
// more than netfx's peak on normal evidence and on the floods of
// bench/floods.sh. Beyond it the heap grows on ordinary pages.
const Size = 512 << 20
