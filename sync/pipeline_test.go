package sync

import (
	"context"
	"errors"
	"iter"
	"runtime"
	"testing"
	"time"
)

// counting yields 0, 1, 2, ... until n or failAt, then an error at failAt,
// and reports through stopped when it has returned.
func counting(n, failAt int, stopped chan<- error) func(context.Context) iter.Seq2[int, error] {
	return func(ctx context.Context) iter.Seq2[int, error] {
		return func(yield func(int, error) bool) {
			defer func() { stopped <- ctx.Err() }()
			for i := range n {
				if i == failAt {
					yield(0, errors.New("boom"))
					return
				}
				if ctx.Err() != nil {
					return
				}
				if !yield(i, nil) {
					return
				}
			}
		}
	}
}

func TestPrefetch(t *testing.T) {
	t.Run("all items in order", func(t *testing.T) {
		stopped := make(chan error, 1)
		var got []int
		for v, err := range prefetch(t.Context(), 2, counting(50, -1, stopped)) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("item %d = %d", i, v)
			}
		}
		if len(got) != 50 {
			t.Fatalf("%d items, want 50", len(got))
		}
		<-stopped
	})
	t.Run("error passed on and ends the sequence", func(t *testing.T) {
		stopped := make(chan error, 1)
		n, errs := 0, 0
		for _, err := range prefetch(t.Context(), 2, counting(50, 7, stopped)) {
			if err != nil {
				errs++
				continue
			}
			n++
		}
		if n != 7 || errs != 1 {
			t.Errorf("%d items and %d errors, want 7 and 1", n, errs)
		}
		<-stopped
	})
	// A cancelled run must see an error, never a sequence that just ends:
	// a full listing that ended quietly was recorded as complete with the
	// deals it had (the SIGTERM test of TestBinary found it).
	t.Run("cancellation ends the sequence with the context's error", func(t *testing.T) {
		for range 50 {
			ctx, cancel := context.WithCancel(t.Context())
			stopped := make(chan error, 1)
			var last error
			n := 0
			for _, err := range prefetch(ctx, 2, counting(1_000_000, -1, stopped)) {
				last = err
				if err != nil {
					break
				}
				if n++; n == 5 {
					cancel()
				}
			}
			<-stopped
			cancel()
			if !errors.Is(last, context.Canceled) {
				t.Fatalf("after %d items the sequence ended with %v, want context.Canceled", n, last)
			}
		}
	})
	t.Run("early stop cancels the producer before returning", func(t *testing.T) {
		before := runtime.NumGoroutine()
		stopped := make(chan error, 1)
		for v := range prefetch(t.Context(), 2, counting(1_000_000, -1, stopped)) {
			if v == 3 {
				break
			}
		}
		select {
		case err := <-stopped:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("producer context error = %v, want canceled", err)
			}
		default:
			t.Fatal("prefetch returned while the producer was still running")
		}
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if g := runtime.NumGoroutine(); g > before {
			t.Errorf("%d goroutines after, %d before", g, before)
		}
	})
}
