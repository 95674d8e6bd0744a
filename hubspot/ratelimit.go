package hubspot

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Burst limits per 10 seconds for private apps, by account tier.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/usage-details
var tierBurst = map[string]int{
	"free":         100,
	"starter":      100,
	"professional": 190,
	"enterprise":   190,
	"api-pack":     250,
}

const (
	tierWindow  = 10 * time.Second
	searchLimit = 5 // search requests per second per token
)

// limiter paces requests on the client side. HubSpot counts the general
// limit over a rolling 10 s window and search separately at 5/s, so there are
// two token buckets. Bursts are kept small (see sizeGeneral), so that any
// rolling window holds at most share × limit requests plus the burst.
//
// It also adapts from the X-HubSpot-RateLimit-* headers and from 429s by
// pausing all callers until a given time.
type limiter struct {
	share float64

	mu          sync.Mutex
	general     *rate.Limiter
	search      *rate.Limiter
	base        rate.Limit // general rate from the tier or the Max header
	baseBurst   int
	slowUntil   time.Time // general runs below base until then
	pauseUntil  [2]time.Time
	learnedMax  int
	learnedIntv time.Duration
}

type bucket int

const (
	bucketGeneral bucket = iota
	bucketSearch
)

func newLimiter(tier string, share float64) *limiter {
	l := &limiter{share: share}
	l.base, l.baseBurst = sizeGeneral(tierBurst[tier], tierWindow, share)
	l.general = rate.NewLimiter(l.base, l.baseBurst)
	r, b := sizeSearch(share)
	l.search = rate.NewLimiter(r, b)
	return l
}

// rates returns the general and search rates the limiter allows now, in
// requests per second.
func (l *limiter) rates() (general, search float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return float64(l.base), float64(l.search.Limit())
}

// sizeGeneral returns the token-bucket rate and burst for max requests per
// window, of which we may use share. The rate is share × max per window; the
// burst is a quarter second's worth but never more than the headroom
// max × (1-share), so a full bucket plus a window's refill stays within the
// limit (with share 1, within one request of it).
func sizeGeneral(max int, window time.Duration, share float64) (rate.Limit, int) {
	allowed := float64(max) * share
	r := rate.Limit(allowed / window.Seconds())
	burst := int(math.Ceil(allowed * float64(time.Second/4) / float64(window)))
	burst = min(burst, int(math.Floor(float64(max)*(1-share))))
	return r, max1(burst)
}

func sizeSearch(share float64) (rate.Limit, int) {
	// A burst of one keeps any 1 s window at <= 1 + 5·share requests.
	return rate.Limit(searchLimit * share), 1
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// wait blocks until a request on bucket b may be sent, or ctx ends.
// It returns the time spent waiting.
func (l *limiter) wait(ctx context.Context, b bucket) (time.Duration, error) {
	start := time.Now()
	l.mu.Lock()
	pause := l.pauseUntil[b]
	if b == bucketGeneral && !l.slowUntil.IsZero() && !start.Before(l.slowUntil) {
		l.slowUntil = time.Time{}
		l.general.SetLimit(l.base)
		l.general.SetBurst(l.baseBurst)
	}
	lim := l.general
	if b == bucketSearch {
		lim = l.search
	}
	l.mu.Unlock()

	if d := time.Until(pause); d > 0 {
		if err := sleep(ctx, d); err != nil {
			return time.Since(start), err
		}
	}
	if err := lim.Wait(ctx); err != nil {
		// rate.Limiter refuses early when the wait would pass the deadline;
		// report the context's own error when it has one.
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return time.Since(start), err
	}
	return time.Since(start), nil
}

// pause makes every caller on bucket b wait until t.
func (l *limiter) pause(b bucket, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.pauseUntil[b]) {
		l.pauseUntil[b] = t
	}
}

// observe adapts to the X-HubSpot-RateLimit-* headers of a non-search
// response (search responses carry none).
//
//   - Max and Interval-Milliseconds resize the general bucket to share × Max
//     per interval (the real limit beats the configured tier).
//   - Remaining = 0 pauses until the interval has passed.
//   - Remaining below half of the reserve other clients of the same app may
//     use (Max × (1-share) / 2) slows us to Remaining per interval until the
//     interval has passed; someone else is using the budget.
func (l *limiter) observe(h http.Header, now time.Time) {
	max, okMax := headerInt(h, "X-HubSpot-RateLimit-Max")
	intervalMS, okIntv := headerInt(h, "X-HubSpot-RateLimit-Interval-Milliseconds")
	remaining, okRem := headerInt(h, "X-HubSpot-RateLimit-Remaining")
	if !okMax || !okIntv || max <= 0 || intervalMS <= 0 {
		return
	}
	interval := time.Duration(intervalMS) * time.Millisecond

	l.mu.Lock()
	defer l.mu.Unlock()
	if max != l.learnedMax || interval != l.learnedIntv {
		l.learnedMax, l.learnedIntv = max, interval
		l.base, l.baseBurst = sizeGeneral(max, interval, l.share)
		if l.slowUntil.IsZero() {
			l.general.SetLimitAt(now, l.base)
			l.general.SetBurstAt(now, l.baseBurst)
		}
	}
	if !okRem {
		return
	}
	until := now.Add(interval)
	switch low := math.Ceil(float64(max) * (1 - l.share) / 2); {
	case remaining <= 0:
		if until.After(l.pauseUntil[bucketGeneral]) {
			l.pauseUntil[bucketGeneral] = until
		}
	case float64(remaining) < low:
		l.slowUntil = until
		l.general.SetLimitAt(now, rate.Limit(float64(remaining)/interval.Seconds()))
		l.general.SetBurstAt(now, 1)
	}
}

func headerInt(h http.Header, key string) (int, bool) {
	v := strings.TrimSpace(h.Get(key))
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// parseRetryAfter reads a Retry-After value: delay-seconds (fractions
// tolerated) or an HTTP date. It returns 0 when absent or unparsable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || math.IsNaN(secs) || math.IsInf(secs, 0) {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// sleep waits d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
