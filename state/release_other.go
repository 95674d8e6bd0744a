//go:build !linux

package state

// dropMapped is a no-op where madvise is not wired up: the kernel reclaims
// the mapped pages under memory pressure anyway.
func dropMapped(uintptr, int) error { return nil }

// fileResident is unknown here.
func fileResident() (int64, bool) { return 0, false }
