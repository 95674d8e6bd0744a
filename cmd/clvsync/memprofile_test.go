package main

import (
	"runtime"
	"testing"
)

// TestHeapProfilingIsOff: clvsync has no heap profile to serve, and the
// runtime's sampling of allocations for one kept 2-2.5 MB of stack buckets
// resident in a long run (syncbench, -memtrace: profiling/buckets).
func TestHeapProfilingIsOff(t *testing.T) {
	if runtime.MemProfileRate != 0 {
		t.Errorf("runtime.MemProfileRate = %d, want 0", runtime.MemProfileRate)
	}
}
