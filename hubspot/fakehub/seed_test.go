package fakehub

import (
	"runtime"
	"testing"
	"time"
)

func TestHub_SeedLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large seed")
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	h, err := New(Config{Contacts: 100000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	c, d, co := h.Count("contacts"), h.Count("deals"), h.Count("companies")
	t.Logf("seed 100k: %s, heap %d MB, contacts %+v deals %+v companies %+v", took, (after.HeapAlloc-before.HeapAlloc)>>20, c, d, co)
	if mb := (after.HeapAlloc - before.HeapAlloc) >> 20; mb > 150 {
		t.Errorf("heap after seeding = %d MB, want < 150", mb)
	}
	if n := d.Live + d.Archived; n < 200000 || n > 400000 {
		t.Errorf("deals = %d, want about 300k", n)
	}
	runtime.KeepAlive(h)
}
