package sync

import (
	"context"
	"iter"
)

// prefetch runs the sequence open returns in its own goroutine, up to depth
// items ahead of the caller, so the next HubSpot request is in flight while
// the caller stores the last answer: fetching and storing overlap instead of
// taking turns, and the pull uses the rate limit it is allowed.
//
// The sequence stops at its first error (which is passed on); when ctx is
// done it ends with ctx's error, never quietly. When the
// caller stops early, the context given to open is cancelled and prefetch
// waits for the goroutine to finish, so nothing runs on after it returns.
// Items already fetched ahead are dropped; nothing is stored by the
// producer, so dropping them loses nothing.
func prefetch[T any](ctx context.Context, depth int, open func(context.Context) iter.Seq2[T, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		parent := ctx
		ctx, cancel := context.WithCancel(ctx)
		type item struct {
			v   T
			err error
		}
		ch := make(chan item, depth)
		go func() {
			defer close(ch)
			for v, err := range open(ctx) {
				select {
				case ch <- item{v, err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
		defer func() {
			cancel()
			for range ch { // wait for the producer to stop
			}
		}()
		for it := range ch {
			if !yield(it.v, it.err) {
				return
			}
			if it.err != nil {
				return
			}
		}
		// The producer stops without sending anything once the context
		// is done: end with its error, so a cancelled listing is never
		// taken for a complete one.
		if err := parent.Err(); err != nil {
			var zero T
			yield(zero, err)
		}
	}
}
