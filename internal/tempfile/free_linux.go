package tempfile

import (
	"os"
	"syscall"
)

// Free returns the bytes that the file system holding f has free for
// files like it, or 0 where it cannot tell (a file in memory, a failed
// statfs, a system other than Linux).
func Free(f File) int64 {
	file, ok := f.(*os.File)
	if !ok {
		return 0
	}
	raw, err := file.SyscallConn()
	if err != nil {
		return 0
	}
	var st syscall.Statfs_t
	var statErr error
	if err := raw.Control(func(fd uintptr) { statErr = syscall.Fstatfs(int(fd), &st) }); err != nil || statErr != nil {
		return 0
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
