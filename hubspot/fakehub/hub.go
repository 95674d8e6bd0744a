package fakehub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"
)

// DefaultAnchor is the moment seeded portals are generated relative to when
// Config.Anchor is zero: every seeded timestamp is at or before it.
var DefaultAnchor = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// DefaultPortalID is the portal (account) id fakehub reports.
const DefaultPortalID = 44237313

// Config configures a Hub. The zero value is usable: an empty portal that
// accepts any bearer token, professional tier, real-time clock.
type Config struct {
	// Token is the private-app token clients must send as "Authorization:
	// Bearer <Token>". Empty accepts any non-empty bearer token.
	Token string
	// Scopes lists the scopes granted to Token. Nil grants every scope; a
	// request needing a scope that is not granted gets 403 MISSING_SCOPES.
	Scopes []string
	// Contacts is how many contacts to seed (deals and companies follow).
	Contacts int
	// Seed seeds the portal generator (math/rand/v2 PCG).
	Seed int64
	// Anchor is the "now" of the seeded portal; default DefaultAnchor.
	Anchor time.Time
	// Tier selects the rate limits: free, starter, professional (default),
	// enterprise or api-pack.
	Tier string
	// DailyLimit overrides the tier's daily request limit when > 0.
	DailyLimit int
	// LimitScale multiplies the burst, search and daily limits (default 1),
	// so benchmarks can run faster than real HubSpot allows.
	LimitScale float64
	// DisableRateLimits turns rate limiting off altogether.
	DisableRateLimits bool
	// RetryAfter makes 429 answers carry a Retry-After header (HubSpot's
	// behaviour is unconfirmed; default off).
	RetryAfter bool
	// Faults injects failures; see Faults.
	Faults Faults
	// HomeCurrency is the portal's company currency (default "USD").
	HomeCurrency string
	// ExchangeRates maps currency code to the value of one unit in the home
	// currency (default USD 1, EUR 1.08, GBP 1.27, CAD 0.73).
	ExchangeRates map[string]decimal.Decimal
	// Clock stamps writes (default time.Now).
	Clock func() time.Time
	// BatchUpdateMergedAsError makes a batch update naming a merged-away id
	// answer 207 OBJECT_NOT_FOUND for it. Default (false) follows
	// hubspot-api.md §4: 200, with the id silently left out of results.
	BatchUpdateMergedAsError bool
	// AssociationPageSize is how many associations the v4 batch read returns
	// per input id before paging (default 500).
	AssociationPageSize int
	// PortalID is the account id in URLs and account details (default
	// DefaultPortalID).
	PortalID int
	// MergeKeepsPrimaryID restores fakehub's old merge: the primary keeps
	// its id and absorbs the other record. Default (false) merges contacts
	// and companies as HubSpot now does: a new record with a new id that
	// both old ids resolve to (deals always keep the primary's id).
	MergeKeepsPrimaryID bool
	// WebhookURL, when set, receives HubSpot-shaped webhook batches for
	// every change made through the API; WebhookSecret (the app's client
	// secret, required with a URL) signs them with signature v3.
	WebhookURL    string
	WebhookSecret string
	// WebhookTimeScale multiplies HubSpot's retry waits for failed
	// deliveries (WebhookRetrySchedule); 0 means 1 (real time).
	WebhookTimeScale float64
	// SearchLag is how long a created, updated, deleted or merged record
	// takes to show its new state in search (HubSpot: "a few moments");
	// GET, list and batch read see it at once. Measured on Clock, so tests
	// advance a fake clock instead of sleeping. Zero means no lag; the CLI
	// and demo should use a few seconds.
	SearchLag time.Duration
	// WebhookAppID is the appId events carry (default DefaultWebhookAppID).
	WebhookAppID int
}

// Hub is an in-memory HubSpot portal served over HTTP. It is safe for
// concurrent use.
type Hub struct {
	cfg   Config
	mux   *http.ServeMux
	limit *limiter

	mu      sync.RWMutex
	objects [numTypes]*objectStore
	schemas [numTypes]*schema
	nextID  int64
	lastMod int64 // last stamped ms; keeps writes monotonic

	// TrueParams are the parameters the seeded purchase process used.
	TrueParams TrueParams

	statsMu sync.Mutex
	stats   Stats

	faultsMu  sync.Mutex
	faults    Faults
	faultRand *rand.Rand

	corrSeq atomic.Uint64

	wh     *webhooks
	seeded bool // webhooks fire only for changes after seeding
	quiet  bool // suppresses association events while a merge moves edges
}

// New builds a Hub and seeds its portal deterministically from
// (cfg.Seed, cfg.Contacts, cfg.Anchor).
func New(cfg Config) (*Hub, error) {
	if cfg.Contacts < 0 {
		return nil, fmt.Errorf("fakehub: Contacts must be >= 0 (got %d)", cfg.Contacts)
	}
	if cfg.Anchor.IsZero() {
		cfg.Anchor = DefaultAnchor
	}
	cfg.Anchor = cfg.Anchor.UTC()
	if cfg.Tier == "" {
		cfg.Tier = "professional"
	}
	if _, ok := tierBurst[cfg.Tier]; !ok {
		return nil, fmt.Errorf("fakehub: Tier %q: want free, starter, professional, enterprise or api-pack", cfg.Tier)
	}
	if cfg.LimitScale == 0 {
		cfg.LimitScale = 1
	}
	if cfg.LimitScale < 0 {
		return nil, fmt.Errorf("fakehub: LimitScale must be > 0 (got %g)", cfg.LimitScale)
	}
	if cfg.HomeCurrency == "" {
		cfg.HomeCurrency = "USD"
	}
	if cfg.ExchangeRates == nil {
		cfg.ExchangeRates = DefaultExchangeRates()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.AssociationPageSize <= 0 {
		cfg.AssociationPageSize = 500
	}
	if cfg.PortalID == 0 {
		cfg.PortalID = DefaultPortalID
	}
	if err := cfg.Faults.validate(); err != nil {
		return nil, err
	}
	if cfg.WebhookAppID == 0 {
		cfg.WebhookAppID = DefaultWebhookAppID
	}
	whs := WebhookSettings{URL: cfg.WebhookURL, Secret: cfg.WebhookSecret, TimeScale: cfg.WebhookTimeScale}
	if err := whs.validate(); err != nil {
		return nil, err
	}
	h := &Hub{cfg: cfg, nextID: 100000000001}
	h.wh = newWebhooks(h, whs)
	h.limit = newLimiter(cfg)
	for t := range numTypes {
		h.objects[t] = &objectStore{}
		h.schemas[t] = newSchema(objType(t), cfg)
	}
	h.setFaultsLocked(cfg.Faults)
	h.stats.Requests = map[string]int64{}
	h.seed()
	h.seeded = true
	h.routes()
	return h, nil
}

// DefaultExchangeRates returns the default value of one unit of each
// supported currency in USD.
func DefaultExchangeRates() map[string]decimal.Decimal {
	return map[string]decimal.Decimal{
		"USD": decimal.NewFromInt(1),
		"EUR": decimal.RequireFromString("1.08"),
		"GBP": decimal.RequireFromString("1.27"),
		"CAD": decimal.RequireFromString("0.73"),
	}
}

// Config returns the configuration the hub runs with (defaults filled in).
func (h *Hub) Config() Config { return h.cfg }

// now returns the write stamp in ms, never going backwards.
func (h *Hub) nowMS() int64 {
	ms := h.cfg.Clock().UnixMilli()
	if ms <= h.lastMod {
		ms = h.lastMod + 1
	}
	h.lastMod = ms
	return ms
}

func (h *Hub) newID() int64 {
	id := h.nextID
	h.nextID += 1 + int64(h.nextID%7) // gaps, like real portals
	return id
}

// ListenAndServe serves the hub on addr (e.g. "127.0.0.1:8089"; port 0 picks
// a free port) until ctx is cancelled. It returns the base URL as soon as the
// listener is up, and a channel that receives the serve error (nil after a
// clean shutdown) once serving stops.
func (h *Hub) ListenAndServe(ctx context.Context, addr string) (baseURL string, done <-chan error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("fakehub: listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ch := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		ch <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return "http://" + ln.Addr().String(), ch, nil
}

// response is what a handler produces; ServeHTTP encodes it.
type response struct {
	status int
	body   any
	header http.Header
}

func jsonResp(status int, body any) response { return response{status: status, body: body} }

// reqCtx carries one API request through its handler.
type reqCtx struct {
	r       *http.Request
	route   *route
	body    []byte
	started time.Time
}

type handlerFunc func(h *Hub, rc *reqCtx) response

// route describes one API endpoint.
type route struct {
	pattern string // "METHOD /path/{var}"
	family  string // "v3", "v4" or "2026-09"
	search  bool   // search limit, no rate-limit headers
	exempt  bool   // exempt from the ten-secondly limit
	scope   func(rc *reqCtx) string
	fn      handlerFunc
}

func (h *Hub) handle(rt *route) {
	h.mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
		h.serveAPI(w, r, rt)
	})
}

// ServeHTTP implements http.Handler: HubSpot's API plus the /_fakehub/
// admin endpoints.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_fakehub/") {
		h.serveAdmin(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Hub) serveAPI(w http.ResponseWriter, r *http.Request, rt *route) {
	rc := &reqCtx{r: r, route: rt, started: time.Now()}
	h.countRequest(rt.pattern)

	// Faults come first: they model the network and HubSpot's edge.
	fault := h.drawFault()
	switch fault.kind {
	case faultReset:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				_ = conn.Close()
				return
			}
		}
		// Cannot hijack (HTTP/2): fall back to a 502.
		h.write(w, rc, h.errorResp(http.StatusBadGateway, "INTERNAL_ERROR", "Bad Gateway"), false)
		return
	case faultSlow:
		t := time.NewTimer(fault.delay)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	case faultStatus:
		if fault.status == http.StatusTooManyRequests {
			h.countRateLimited()
			resp := h.rateLimitResp(rt.search, policyTenSecondly)
			h.write(w, rc, resp, false)
			return
		}
		h.write(w, rc, h.serverErrorResp(fault.status), false)
		return
	}

	if resp, ok := h.authenticate(rc); !ok {
		h.write(w, rc, resp, false)
		return
	}
	var hdr http.Header
	if !h.cfg.DisableRateLimits {
		var resp *response
		hdr, resp = h.limit.take(rt, h)
		if resp != nil {
			if hdr != nil {
				resp.header = hdr
			}
			h.countRateLimited()
			h.write(w, rc, *resp, false)
			return
		}
	}
	if rt.scope != nil {
		if s := rt.scope(rc); s != "" && !h.hasScope(s) {
			resp := h.missingScope(s)
			resp.header = hdr
			h.write(w, rc, resp, false)
			return
		}
	}
	if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPatch || r.Method == http.MethodPut) {
		b, err := readBody(r)
		if err != nil {
			h.write(w, rc, h.validationError("Invalid input JSON: request body could not be read", nil), false)
			return
		}
		rc.body = b
	}
	resp := h.safeCall(rc)
	if hdr != nil {
		if resp.header == nil {
			resp.header = http.Header{}
		}
		for k, v := range hdr {
			resp.header[k] = v
		}
	}
	h.write(w, rc, resp, fault.kind == faultTruncate)
}

// safeCall runs the handler, turning a panic into a 500 so one bad request
// cannot take the server down.
func (h *Hub) safeCall(rc *reqCtx) (resp response) {
	defer func() {
		if p := recover(); p != nil {
			resp = h.errorResp(http.StatusInternalServerError, "INTERNAL_ERROR",
				fmt.Sprintf("internal error: %v", p))
		}
	}()
	return rc.route.fn(h, rc)
}

func (h *Hub) write(w http.ResponseWriter, rc *reqCtx, resp response, truncate bool) {
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	if resp.body == nil {
		w.WriteHeader(resp.status)
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp.body); err != nil {
		resp = h.errorResp(http.StatusInternalServerError, "INTERNAL_ERROR", "encode: "+err.Error())
		buf.Reset()
		_ = enc.Encode(resp.body)
	}
	b := bytes.TrimRight(buf.Bytes(), "\n")
	if truncate && len(b) > 1 {
		b = b[:len(b)/2]
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(resp.status)
	_, _ = w.Write(b)
}

func readBody(r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, 32<<20))
	return buf.Bytes(), err
}

// correlationID returns a fresh uuid-shaped id.
func (h *Hub) correlationID() string {
	n := h.corrSeq.Add(1)
	var b [16]byte
	x := n*0x9E3779B97F4A7C15 ^ uint64(time.Now().UnixNano())
	y := (n + 0x632BE59BD9B4E019) * 0xBF58476D1CE4E5B9
	for i := range 8 {
		b[i] = byte(x >> (8 * i))
		b[8+i] = byte(y >> (8 * i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (h *Hub) authenticate(rc *reqCtx) (response, bool) {
	auth := rc.r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	tok = strings.TrimSpace(tok)
	h.faultsMu.Lock()
	revoked := h.faults.RevokeToken
	h.faultsMu.Unlock()
	if !ok || tok == "" || revoked || (h.cfg.Token != "" && tok != h.cfg.Token) {
		return h.errorResp(http.StatusUnauthorized, "INVALID_AUTHENTICATION",
			"Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"), false
	}
	return response{}, true
}

func (h *Hub) hasScope(s string) bool {
	h.faultsMu.Lock()
	for _, d := range h.faults.DenyScopes {
		if d == s {
			h.faultsMu.Unlock()
			return false
		}
	}
	h.faultsMu.Unlock()
	if h.cfg.Scopes == nil {
		return true
	}
	for _, g := range h.cfg.Scopes {
		if g == s {
			return true
		}
	}
	return false
}
