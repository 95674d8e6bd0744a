package fakehub

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Burst limits per 10 s and daily limits per tier (hubspot-api.md §6; the
// professional daily figure follows the usage-guidelines page, 625k).
var (
	tierBurst = map[string]int{"free": 100, "starter": 100, "professional": 190, "enterprise": 190, "api-pack": 250}
	tierDaily = map[string]int{"free": 250000, "starter": 250000, "professional": 625000, "enterprise": 1000000, "api-pack": 2000000}
)

const (
	burstWindow  = 10 * time.Second
	searchWindow = time.Second
	searchPerSec = 5

	policyTenSecondly = "TEN_SECONDLY_ROLLING"
	policySecondly    = "SECONDLY"
	policyDaily       = "DAILY"
)

// limiter enforces the rolling ten-second window, the search limit and the
// daily counter. It uses the real monotonic clock (not Config.Clock) so a
// frozen test clock cannot stall it.
type limiter struct {
	mu          sync.Mutex
	burstMax    int
	searchMax   int
	dailyMax    int
	retryAfter  bool
	burst       []time.Time // accepted non-exempt requests in the window
	search      []time.Time
	dailyUsed   int
	dailyResets time.Time
}

func scaled(n int, f float64) int {
	return max(1, int(math.Round(float64(n)*f)))
}

func newLimiter(cfg Config) *limiter {
	daily := tierDaily[cfg.Tier]
	if cfg.DailyLimit > 0 {
		daily = cfg.DailyLimit
	}
	return &limiter{
		burstMax:    scaled(tierBurst[cfg.Tier], cfg.LimitScale),
		searchMax:   scaled(searchPerSec, cfg.LimitScale),
		dailyMax:    scaled(daily, cfg.LimitScale),
		retryAfter:  cfg.RetryAfter,
		dailyResets: nextMidnight(time.Now()),
	}
}

func nextMidnight(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
}

func prune(ts []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(cutoff) {
		i++
	}
	if i == 0 {
		return ts
	}
	return append(ts[:0], ts[i:]...)
}

// take admits one request or returns the 429 to send. The header is the set
// of X-HubSpot-RateLimit-* headers (nil for search).
func (l *limiter) take(rt *route, h *Hub) (http.Header, *response) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !now.Before(l.dailyResets) {
		l.dailyUsed = 0
		l.dailyResets = nextMidnight(now)
	}
	l.burst = prune(l.burst, now.Add(-burstWindow))
	l.search = prune(l.search, now.Add(-searchWindow))
	var hdr http.Header
	if !rt.search {
		hdr = http.Header{}
	}
	fill := func(remaining int) {
		if hdr == nil {
			return
		}
		hdr.Set("X-HubSpot-RateLimit-Daily", strconv.Itoa(l.dailyMax))
		hdr.Set("X-HubSpot-RateLimit-Daily-Remaining", strconv.Itoa(max(0, l.dailyMax-l.dailyUsed)))
		hdr.Set("X-HubSpot-RateLimit-Interval-Milliseconds", strconv.Itoa(int(burstWindow/time.Millisecond)))
		hdr.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(l.burstMax))
		hdr.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(max(0, remaining)))
	}
	reject := func(policy string, wait time.Duration) (http.Header, *response) {
		resp := h.rateLimitResp(rt.search, policy)
		if l.retryAfter {
			if hdr == nil {
				hdr = http.Header{}
			}
			hdr.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		}
		return hdr, &resp
	}
	if l.dailyUsed >= l.dailyMax {
		fill(l.burstMax - len(l.burst))
		return reject(policyDaily, time.Until(l.dailyResets))
	}
	if rt.search {
		if len(l.search) >= l.searchMax {
			return reject(policySecondly, l.search[0].Add(searchWindow).Sub(now))
		}
		l.search = append(l.search, now)
		l.dailyUsed++
		return nil, nil
	}
	if !rt.exempt {
		if len(l.burst) >= l.burstMax {
			fill(0)
			return reject(policyTenSecondly, l.burst[0].Add(burstWindow).Sub(now))
		}
		l.burst = append(l.burst, now)
	}
	l.dailyUsed++
	fill(l.burstMax - len(l.burst))
	return hdr, nil
}

func (l *limiter) daily() (used, limit int, resets time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dailyUsed, l.dailyMax, l.dailyResets
}

func (l *limiter) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.burst, l.search, l.dailyUsed = nil, nil, 0
}

// rateLimitBody is HubSpot's 429 body (hubspot-api.md §6).
type rateLimitBody struct {
	Status        string `json:"status"`
	Message       string `json:"message"`
	ErrorType     string `json:"errorType"`
	CorrelationID string `json:"correlationId"`
	PolicyName    string `json:"policyName"`
	GroupName     string `json:"groupName,omitempty"`
	RequestID     string `json:"requestId"`
}

func (h *Hub) rateLimitResp(search bool, policy string) response {
	b := &rateLimitBody{Status: "error", ErrorType: "RATE_LIMIT", CorrelationID: h.correlationID(), PolicyName: policy, RequestID: h.correlationID()}
	switch {
	case policy == policyDaily:
		b.Message = "You have reached your daily limit."
	case search || policy == policySecondly:
		b.PolicyName = policySecondly
		b.Message = "You have reached your secondly limit."
		b.GroupName = "search-api"
	default:
		b.Message = "You have reached your ten_secondly_rolling limit."
		b.GroupName = "private-app-" + strconv.Itoa(h.cfg.PortalID)
	}
	return jsonResp(http.StatusTooManyRequests, b)
}
