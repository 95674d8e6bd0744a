//go:build linux

package state

import "syscall"

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
