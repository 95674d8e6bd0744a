package hubspot

import (
	"context"
	"errors"
	"fmt"
	gojson "github.com/goccy/go-json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-resty/resty/v2"
)

// API versions understood by the client.
const (
	// Version202609 selects the date-versioned 2026-09 paths (the default).
	Version202609 = "2026-09"
	// VersionV3 selects the legacy /crm/v3 (and /crm/v4 associations) paths.
	VersionV3 = "v3"
)

// Versions returns the API versions the client understands, the default
// (recommended) first. Configuration validation derives its list from it.
func Versions() []string { return []string{Version202609, VersionV3} }

// DefaultBaseURL is HubSpot's API host.
const DefaultBaseURL = "https://api.hubapi.com"

// Options configures a Client. Zero values take the documented defaults.
type Options struct {
	// BaseURL defaults to DefaultBaseURL.
	BaseURL string
	// Token is the private-app token or service key, sent as
	// "Authorization: Bearer <token>". Required; never logged.
	Token string
	// APIVersion is Version202609 (default) or VersionV3.
	APIVersion string
	// Tier sizes the client-side limiter: free, starter, professional
	// (default), enterprise or api-pack.
	Tier string
	// Share is the share of the tier's burst limit this client may use, in
	// (0, 1]; default 0.8. Other integrations of the same app use the rest.
	Share float64
	// MaxRetries is how often one call is retried after a 5xx, 423 or
	// 429; default 5. Negative disables retries.
	MaxRetries int
	// NetworkRetries is how often an idempotent call is retried after the
	// network failed it (a connection reset or closed, a cut or garbled
	// body); default 10. Such faults come in runs on a bad link and say
	// nothing about the request. Negative means never.
	NetworkRetries int
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// retries of 5xx, 423 and network errors; defaults 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// RollingWait is how long to wait after a TEN_SECONDLY_ROLLING 429
	// without Retry-After (or one naming no policy); default 10s, HubSpot's window.
	RollingWait time.Duration
	// SecondlyWait is how long to wait after a SECONDLY (search) 429
	// without Retry-After; default 1s.
	SecondlyWait time.Duration
	// Timeout bounds each HTTP attempt; default 30s.
	Timeout time.Duration
	// Logger, when set, receives one debug line per HTTP attempt (endpoint,
	// method, path, status, duration). The token is never logged.
	Logger *slog.Logger
	// Observer, when set, is called once per HTTP attempt, e.g. for metrics.
	// It must be safe for concurrent use and should return quickly.
	Observer func(RequestEvent)
}

// RequestEvent describes one HTTP attempt for Options.Observer.
type RequestEvent struct {
	// Endpoint is the stable endpoint name, e.g. "objects.search".
	Endpoint string
	// Method is the HTTP method.
	Method string
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// Attempt counts from 1.
	Attempt int
	// Duration is the time the HTTP exchange took.
	Duration time.Duration
	// Waited is the time spent before this attempt on the rate limiter and,
	// for retries, on backoff.
	Waited time.Duration
	// Err is the attempt's error (transport or HTTP status), nil on success.
	Err error
}

// Stats counts the client's HTTP traffic since New.
type Stats struct {
	// Calls is the number of HTTP attempts, retries included.
	Calls int64
	// ByEndpoint counts attempts per endpoint name ("objects.list",
	// "objects.search", "objects.batch_read", "objects.batch_update",
	// "associations.batch_read", "properties.list", ...).
	ByEndpoint map[string]int64
	// RateLimited counts 429 responses.
	RateLimited int64
	// Retries counts attempts after the first of a call.
	Retries int64
	// Waited is the total time spent waiting on the client-side limiter
	// (including pauses after 429s and low X-HubSpot-RateLimit-Remaining).
	Waited time.Duration
	// Backoff is the total time slept between retries.
	Backoff time.Duration
}

// Client is a HubSpot CRM API client. It is safe for concurrent use.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/understanding-the-crm
type Client struct {
	// Deals, Contacts and Companies serve the CRM objects of those types.
	Deals, Contacts, Companies *ObjectsService
	// Associations serves the v4 (or 2026-09) associations API.
	Associations *AssociationsService
	// Properties serves property and property-group definitions.
	Properties *PropertiesService
	// Pipelines serves pipelines and their stages.
	Pipelines *PipelinesService
	// Account serves account details and API usage.
	Account *AccountService

	r       *resty.Client
	paths   paths
	lim     *limiter
	opts    Options
	logger  *slog.Logger
	redactr *strings.Replacer

	calls, rateLimited, retries atomic.Int64
	waited, backoff             atomic.Int64
	mu                          sync.Mutex
	byEndpoint                  map[string]int64
}

// New returns a Client, or an error naming the invalid option.
func New(o Options) (*Client, error) {
	if strings.TrimSpace(o.Token) == "" {
		return nil, errors.New("hubspot: Options.Token is required")
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if u, err := url.Parse(o.BaseURL); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("hubspot: Options.BaseURL %q is not an absolute URL", o.BaseURL)
	}
	if o.APIVersion == "" {
		o.APIVersion = Version202609
	}
	if o.APIVersion != Version202609 && o.APIVersion != VersionV3 {
		return nil, fmt.Errorf("hubspot: Options.APIVersion %q: want %q or %q", o.APIVersion, Version202609, VersionV3)
	}
	if o.Tier == "" {
		o.Tier = "professional"
	}
	o.Tier = strings.ToLower(o.Tier)
	if _, ok := tierBurst[o.Tier]; !ok {
		return nil, fmt.Errorf("hubspot: Options.Tier %q: want free, starter, professional, enterprise or api-pack", o.Tier)
	}
	if o.Share == 0 {
		o.Share = 0.8
	}
	if o.Share <= 0 || o.Share > 1 {
		return nil, fmt.Errorf("hubspot: Options.Share must be in (0, 1] (got %v)", o.Share)
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 5
	} else if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.NetworkRetries == 0 {
		o.NetworkRetries = 10
	} else if o.NetworkRetries < 0 {
		o.NetworkRetries = 0
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		return nil, fmt.Errorf("hubspot: Options.MaxBackoff (%s) is below MinBackoff (%s)", o.MaxBackoff, o.MinBackoff)
	}
	if o.RollingWait <= 0 {
		o.RollingWait = 10 * time.Second
	}
	if o.SecondlyWait <= 0 {
		o.SecondlyWait = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}

	c := &Client{
		opts:       o,
		paths:      paths{version: o.APIVersion},
		lim:        newLimiter(o.Tier, o.Share),
		logger:     o.Logger,
		redactr:    strings.NewReplacer(o.Token, "[REDACTED]"),
		byEndpoint: make(map[string]int64),
	}
	// Retries are driven by c.do, not by resty: resty's retry conditions
	// replace its network-error default, clamp Retry-After to
	// RetryMaxWaitTime and hide individual attempts. Our own loop waits on the
	// limiter before every attempt, reports each attempt to the Observer,
	// stops at once on DAILY and honours ctx in every wait.
	c.r = resty.New().
		SetBaseURL(strings.TrimRight(o.BaseURL, "/")).
		SetAuthToken(o.Token).
		SetTimeout(o.Timeout).
		SetRetryCount(0).
		SetDisableWarn(true).
		SetLogger(discardLogger{}).
		SetHeader("Accept", "application/json").
		SetHeader("User-Agent", "clvsync-hubspot/1")

	c.Deals = &ObjectsService{c: c, objectType: "deals"}
	c.Contacts = &ObjectsService{c: c, objectType: "contacts"}
	c.Companies = &ObjectsService{c: c, objectType: "companies"}
	c.Associations = &AssociationsService{c: c}
	c.Properties = &PropertiesService{c: c}
	c.Pipelines = &PipelinesService{c: c}
	c.Account = &AccountService{c: c}
	return c, nil
}

// APIVersion returns the path family the client uses.
func (c *Client) APIVersion() string { return c.opts.APIVersion }

// Objects returns a service for any CRM object type, e.g. "tickets" or a
// custom object's "2-12345".
func (c *Client) Objects(objectType string) *ObjectsService {
	return &ObjectsService{c: c, objectType: objectType}
}

// Stats returns a snapshot of the client's counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	by := make(map[string]int64, len(c.byEndpoint))
	for k, v := range c.byEndpoint {
		by[k] = v
	}
	c.mu.Unlock()
	return Stats{
		Calls:       c.calls.Load(),
		ByEndpoint:  by,
		RateLimited: c.rateLimited.Load(),
		Retries:     c.retries.Load(),
		Waited:      time.Duration(c.waited.Load()),
		Backoff:     time.Duration(c.backoff.Load()),
	}
}

// Rates returns the request rates the client paces itself to, in requests
// per second: the general limit's share (from the tier, or from HubSpot's
// X-HubSpot-RateLimit-* headers once seen) and the search limit's.
func (c *Client) Rates() (general, search float64) { return c.lim.rates() }

func (c *Client) redact(s string) string { return c.redactr.Replace(s) }

// call describes one API call for c.do.
type call struct {
	endpoint string // stable name for Stats and the Observer
	method   string
	path     string
	query    url.Values
	body     any
	out      any // decoded from any 2xx body when non-nil
	search   bool
	// unsafe marks a non-idempotent call (object create, merge): it is not
	// retried after a 5xx, a network error or an undecodable 2xx body, since
	// HubSpot may have processed it. Every other call is idempotent for
	// clvsync (reads, searches, batch reads and batch updates that set
	// absolute values) and is retried after any of those.
	unsafe bool
}

// do runs a call with limiter waits and retries, and returns nil or the
// final attempt's typed error.
func (c *Client) do(ctx context.Context, cl call) error {
	b := bucketGeneral
	if cl.search {
		b = bucketSearch
	}
	var slept time.Duration
	for attempt := 1; ; attempt++ {
		waited, err := c.lim.wait(ctx, b)
		c.waited.Add(int64(waited))
		if err != nil {
			return err
		}
		req := c.r.R().SetContext(ctx)
		if cl.body != nil {
			req.SetBody(cl.body)
		}
		if len(cl.query) > 0 {
			req.SetQueryParamsFromValues(cl.query)
		}
		start := time.Now()
		resp, rerr := req.Execute(cl.method, cl.path)
		dur := time.Since(start)
		status := 0
		if resp != nil && resp.RawResponse != nil {
			status = resp.StatusCode()
			if !cl.search {
				c.lim.observe(resp.Header(), time.Now())
			}
		}
		err = checkResponse(resp, rerr, c.redact)
		if err == nil && cl.out != nil && status != http.StatusNoContent && len(resp.Body()) > 0 {
			// go-json decodes a 100-deal page in about 40 % of
			// encoding/json's time (BenchmarkDecodeDealPage), a sixth of
			// a pull's CPU.
			if jerr := gojson.Unmarshal(resp.Body(), cl.out); jerr != nil {
				err = &BodyError{Status: status, Err: jerr}
			}
		}
		c.record(cl, attempt, status, dur, waited+slept, err)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait, retry := c.retryWait(cl, attempt, status, err)
		limit := c.opts.MaxRetries
		if transportFault(err) {
			limit = c.opts.NetworkRetries
		}
		if !retry || attempt > limit {
			return err
		}
		if status == http.StatusTooManyRequests {
			// Everyone sharing this client waits out the window, not just us.
			c.lim.pause(b, time.Now().Add(wait))
		}
		c.retries.Add(1)
		t0 := time.Now()
		serr := sleep(ctx, wait)
		slept = time.Since(t0)
		c.backoff.Add(int64(slept))
		if serr != nil {
			return serr
		}
	}
}

// retryWait decides whether an attempt that failed with err is retried, and
// after how long.
func (c *Client) retryWait(cl call, attempt, status int, err error) (time.Duration, bool) {
	var rl *RateLimitError
	switch {
	case errors.As(err, &rl):
		if rl.Policy == PolicyDaily {
			return 0, false // never spin on the daily quota
		}
		if rl.RetryAfter > 0 {
			return rl.RetryAfter, true
		}
		switch rl.Policy {
		case PolicySecondly:
			rl.RetryAfter = c.opts.SecondlyWait
		default: // TEN_SECONDLY_ROLLING, or unnamed: wait out the rolling window
			rl.RetryAfter = c.opts.RollingWait
		}
		return rl.RetryAfter, true
	case status == http.StatusLocked:
		// HubSpot asks for at least 2 s after a 423 (4 × the 500ms default).
		return max(c.backoffFor(attempt), 4*c.opts.MinBackoff), true
	case status >= 500:
		switch status {
		case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported, 522, 525, 526:
			return 0, false // HubSpot: contact support, retrying won't help
		}
		return c.backoffFor(attempt), !cl.unsafe
	case errors.As(err, new(*BodyError)):
		// A cut or garbled 2xx body: the request went through, the answer
		// did not. Asking again is safe only when asking twice is.
		return c.backoffFor(attempt), !cl.unsafe
	case retryableNetErr(err):
		// status may be set: the connection can drop while the body is read.
		return c.backoffFor(attempt), !cl.unsafe
	}
	return 0, false
}

// transportFault reports a failure of the network rather than of HubSpot.
func transportFault(err error) bool {
	return errors.As(err, new(*BodyError)) || retryableNetErr(err)
}

// BodyError reports a 2xx answer whose body could not be decoded, e.g. a
// response cut off mid-way. Idempotent calls retry it like a 5xx.
type BodyError struct {
	// Status is the HTTP status of the answer.
	Status int
	// Err is the decoding error.
	Err error
}

func (e *BodyError) Error() string { return fmt.Sprintf("decode %d response: %v", e.Status, e.Err) }

// Unwrap returns the decoding error.
func (e *BodyError) Unwrap() error { return e.Err }

// backoffFor returns capped exponential backoff with equal jitter.
func (c *Client) backoffFor(attempt int) time.Duration {
	d := c.opts.MinBackoff
	for i := 1; i < attempt && d < c.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.opts.MaxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

// retryableNetErr reports connection resets, refused, closed or dropped
// connections (also while a request body is being sent) and timeouts.
// Context errors are handled by the caller.
func retryableNetErr(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	}
	// Some transport errors arrive flattened into strings (resty wraps
	// them, net/http reports a closed idle connection by message).
	msg := err.Error()
	for _, s := range []string{"connection reset", "use of closed network connection", "broken pipe",
		"server closed idle connection", "unexpected EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func (c *Client) record(cl call, attempt, status int, dur, waited time.Duration, err error) {
	c.calls.Add(1)
	if status == http.StatusTooManyRequests {
		c.rateLimited.Add(1)
	}
	c.mu.Lock()
	c.byEndpoint[cl.endpoint]++
	c.mu.Unlock()
	if c.logger != nil && c.logger.Enabled(context.Background(), slog.LevelDebug) {
		attrs := []any{"endpoint", cl.endpoint, "method", cl.method, "path", cl.path,
			"status", status, "duration", dur, "attempt", attempt}
		if waited > 0 {
			attrs = append(attrs, "waited", waited)
		}
		if err != nil {
			attrs = append(attrs, "err", c.redact(err.Error()))
		}
		c.logger.Debug("hubspot request", attrs...)
	}
	if c.opts.Observer != nil {
		c.opts.Observer(RequestEvent{Endpoint: cl.endpoint, Method: cl.method, Status: status, Attempt: attempt,
			Duration: dur, Waited: waited, Err: err})
	}
}

// discardLogger silences resty's own logger; the client reports through
// Options.Logger and returned errors only.
type discardLogger struct{}

func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Warnf(string, ...any)  {}
func (discardLogger) Debugf(string, ...any) {}
