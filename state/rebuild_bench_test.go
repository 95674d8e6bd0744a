package state

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkRebuildIndexes rebuilds the contact and company indices of
// 300k listed deals (a 100k-contact portal's) and reports the peak Go
// heap in use while it runs: the rebuild of a 1M-deal portal was the full
// sync's peak resident set.
func BenchmarkRebuildIndexes(b *testing.B) {
	s := newStore(b)
	r := rand.New(rand.NewPCG(1, 2))
	const deals, contacts, companies = 300_000, 90_000, 9_000
	batch := make([]Deal, 0, 2000)
	for i := range deals {
		d := Deal{ID: fmt.Sprintf("%d", 100000000000+i), ContactIDs: []string{fmt.Sprintf("%d", 200000000000+r.IntN(contacts))},
			CompanyIDs: []string{fmt.Sprintf("%d", 300000000000+r.IntN(companies))}, Won: true}
		if batch = append(batch, d); len(batch) == cap(batch) || i == deals-1 {
			must(b, s.PutListedDeals(batch))
			batch = batch[:0]
		}
	}
	var peak atomic.Uint64
	var written int64
	for b.Loop() {
		must(b, s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyIndexesStale, []byte("1")) }))
		runtime.GC()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			var ms runtime.MemStats
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		w0 := writeBytes()
		must(b, s.RebuildIndexes())
		written += writeBytes() - w0
		close(stop)
		<-done
	}
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(written)/float64(b.N)/(1<<20), "disk-written-MB/op")
}

// writeBytes is what this process has written to disk so far (Linux), 0
// elsewhere.
func writeBytes() int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
