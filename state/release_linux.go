//go:build linux

package state

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// dropMapped tells the kernel the process no longer needs the mapped pages
// at [addr, addr+length): MADV_DONTNEED on a shared, read-only file mapping
// only unmaps them; the next read maps them again from the page cache.
func dropMapped(addr uintptr, length int) error {
	if length <= 0 {
		return nil
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(length), syscall.MADV_DONTNEED); errno != 0 {
		return errno
	}
	return nil
}

// fileResident returns the process's resident file-backed memory (the
// shared pages of /proc/self/statm: mapped state file and the binary's own
// text); ok is false when it cannot be read.
func fileResident() (n int64, ok bool) {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}
