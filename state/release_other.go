//go:build !linux

package state

// dropMapped is a no-op where madvise is not wired up: the kernel reclaims
// the mapped pages under memory pressure anyway.
func dropMapped(uintptr, int) error { return nil }
