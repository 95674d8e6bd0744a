package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

const testToken = "pat-na1-11111111-2222-3333-4444-555555555555"

// setup starts an httptest server and returns a client talking to it with
// millisecond waits and no client-side rate limit, and the server's mux.
func setup(t testing.TB, mod ...func(*Options)) (*Client, *http.ServeMux) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	o := Options{BaseURL: srv.URL, Token: testToken, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		RollingWait: 20 * time.Millisecond, SecondlyWait: 10 * time.Millisecond, Timeout: 5 * time.Second}
	for _, m := range mod {
		m(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	unlimit(c)
	return c, mux
}

// unlimit lifts the client-side limiter so tests run at full speed.
func unlimit(c *Client) {
	c.lim.general.SetLimit(rate.Inf)
	c.lim.search.SetLimit(rate.Inf)
	c.lim.base = rate.Inf
}

// fixture returns testdata/name.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func serveFixture(t testing.TB, status int, name string) http.HandlerFunc {
	b := fixture(t, name)
	return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, status, b) }
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// --- Options and construction ---------------------------------------------

func TestNew_Validate(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    Options
		want string
	}{
		{"no token", Options{}, "Options.Token"},
		{"bad version", Options{Token: "x", APIVersion: "v2"}, "Options.APIVersion"},
		{"bad tier", Options{Token: "x", Tier: "gold"}, "Options.Tier"},
		{"bad share", Options{Token: "x", Share: 1.5}, "Options.Share"},
		{"bad base", Options{Token: "x", BaseURL: "api.hubapi.com"}, "Options.BaseURL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %s", err, tt.want)
			}
		})
	}
}

func TestLimiter_Sizing(t *testing.T) {
	for _, tt := range []struct {
		tier      string
		share     float64
		perSecond float64
		burst     int
	}{
		{"free", 0.8, 8, 2},
		{"starter", 1, 10, 1},
		{"professional", 0.8, 15.2, 4},
		{"enterprise", 0.5, 9.5, 3},
		{"api-pack", 0.8, 20, 5},
		{"", 0, 15.2, 4}, // defaults: professional, 0.8
	} {
		t.Run(fmt.Sprintf("%s/%v", tt.tier, tt.share), func(t *testing.T) {
			c, err := New(Options{Token: "x", Tier: tt.tier, Share: tt.share})
			if err != nil {
				t.Fatal(err)
			}
			if got := float64(c.lim.general.Limit()); fmt.Sprintf("%.3f", got) != fmt.Sprintf("%.3f", tt.perSecond) {
				t.Errorf("general rate = %v/s, want %v/s", got, tt.perSecond)
			}
			if got := c.lim.general.Burst(); got != tt.burst {
				t.Errorf("general burst = %d, want %d", got, tt.burst)
			}
			share := tt.share
			if share == 0 {
				share = 0.8
			}
			if got, want := float64(c.lim.search.Limit()), 5*share; fmt.Sprintf("%.3f", got) != fmt.Sprintf("%.3f", want) {
				t.Errorf("search rate = %v/s, want %v/s", got, want)
			}
			// Worst case in any rolling 10 s window: a full bucket plus 10 s of
			// refill stays within the tier limit (within one request at share 1).
			if worst := float64(c.lim.general.Burst()) + 10*float64(c.lim.general.Limit()); worst > float64(tierBurst[c.opts.Tier])+1 {
				t.Errorf("worst case %v per 10 s exceeds tier limit %d", worst, tierBurst[c.opts.Tier])
			}
		})
	}
}

func TestLimiter_Observe(t *testing.T) {
	t.Run("max header resizes", func(t *testing.T) {
		l := newLimiter("professional", 0.8)
		h := http.Header{}
		h.Set("X-HubSpot-RateLimit-Max", "100")
		h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
		h.Set("X-HubSpot-RateLimit-Remaining", "90")
		l.observe(h, time.Now())
		if got := float64(l.general.Limit()); got != 8 {
			t.Fatalf("rate = %v, want 8 (100 × 0.8 / 10 s)", got)
		}
	})
	t.Run("remaining zero pauses for the interval", func(t *testing.T) {
		l := newLimiter("professional", 0.8)
		h := http.Header{}
		h.Set("X-HubSpot-RateLimit-Max", "190")
		h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", "60")
		h.Set("X-HubSpot-RateLimit-Remaining", "0")
		l.observe(h, time.Now())
		l.general.SetLimit(rate.Inf)
		start := time.Now()
		if _, err := l.wait(context.Background(), bucketGeneral); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 40*time.Millisecond {
			t.Fatalf("waited %v, want about the 60ms interval", d)
		}
	})
	t.Run("remaining low slows down then recovers", func(t *testing.T) {
		l := newLimiter("professional", 0.8)
		h := http.Header{}
		h.Set("X-HubSpot-RateLimit-Max", "190")
		h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", "30")
		h.Set("X-HubSpot-RateLimit-Remaining", "5")
		now := time.Now()
		l.observe(h, now)
		if got, want := l.general.Limit(), rate.Limit(5/0.03); got > want+0.01 {
			t.Fatalf("slowed rate = %v, want <= %v", got, want)
		}
		time.Sleep(40 * time.Millisecond)
		if _, err := l.wait(context.Background(), bucketGeneral); err != nil {
			t.Fatal(err)
		}
		if got := l.general.Limit(); got != l.base {
			t.Fatalf("rate after interval = %v, want base %v", got, l.base)
		}
	})
}

// --- listing and paging -----------------------------------------------------

func TestObjectsService_Pages(t *testing.T) {
	c, mux := setup(t)
	page1 := fixture(t, "read_objects-api_contacts-response.json") // paging.next.after = "394"
	page2 := fixture(t, "read_objects-api_contacts-batch.json")    // no paging: last page
	var got []string
	mux.HandleFunc("GET /crm/objects/2026-09/contacts", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		got = append(got, q.Get("after"))
		if q.Get("limit") != "100" || q.Get("properties") != "email,lastmodifieddate" || q.Get("archived") != "" {
			t.Errorf("query = %s", r.URL.RawQuery)
		}
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		}
		switch q.Get("after") {
		case "":
			writeJSON(w, 200, page1)
		case "394":
			writeJSON(w, 200, page2)
		default:
			t.Errorf("unexpected after %q", q.Get("after"))
		}
	})
	opts := ListOptions{Properties: []string{"email", "lastmodifieddate"}}
	var ids []string
	for o, err := range c.Contacts.All(context.Background(), opts) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	want := []string{"1", "51", "101", "110338039632", "110323586992"}
	if !slices.Equal(ids, want) {
		t.Fatalf("ids = %v, want %v", ids, want)
	}
	if !slices.Equal(got, []string{"", "394"}) {
		t.Fatalf("afters = %q", got)
	}
	if opts.After != "" || len(opts.Properties) != 2 {
		t.Fatalf("caller's options changed: %+v", opts)
	}
	if s := c.Stats(); s.ByEndpoint["objects.list"] != 2 || s.Calls != 2 {
		t.Fatalf("stats = %+v", s)
	}

	t.Run("page fields", func(t *testing.T) {
		page, err := c.Contacts.List(context.Background(), ListOptions{Limit: 100, Properties: []string{"email", "lastmodifieddate"}})
		if err != nil {
			t.Fatal(err)
		}
		if page.NextAfter() != "394" || page.Results[0].Properties["email"] != "a@example.com" ||
			!page.Results[0].UpdatedAt.Equal(time.Date(2024, 12, 24, 17, 31, 54, 727e6, time.UTC)) {
			t.Fatalf("page = %+v", page)
		}
	})
	t.Run("limit over 100 rejected", func(t *testing.T) {
		before := c.Stats().Calls
		if _, err := c.Contacts.List(context.Background(), ListOptions{Limit: 101}); err == nil {
			t.Fatal("want error")
		}
		if c.Stats().Calls != before {
			t.Fatal("request was sent")
		}
	})
	t.Run("stop early", func(t *testing.T) {
		n := 0
		for _, err := range c.Contacts.Pages(context.Background(), opts) {
			if err != nil {
				t.Fatal(err)
			}
			n++
			break
		}
		if n != 1 {
			t.Fatal(n)
		}
	})
}

// --- search -----------------------------------------------------------------

func TestObjectsService_Search(t *testing.T) {
	c, mux := setup(t)
	var bodies []map[string]any
	mux.HandleFunc("POST /crm/objects/2026-09/contacts/search", func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		_ = json.NewDecoder(r.Body).Decode(&b)
		bodies = append(bodies, b)
		if b["after"] == "54" {
			writeJSON(w, 200, fixture(t, "search_contacts_2-second-page.json"))
			return
		}
		writeJSON(w, 200, fixture(t, "search_contacts_1-first-page.json"))
	})
	req := SearchRequest{
		FilterGroups: []FilterGroup{{Filters: []Filter{{PropertyName: "firstname", Operator: OpEQ, Value: "Johnnie"}}}},
		Sorts:        []Sort{{PropertyName: "createdate", Direction: Descending}},
		Properties:   []string{"email", "company"},
	}
	var ids []string
	for page, err := range c.Contacts.SearchPages(context.Background(), req) {
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Results {
			ids = append(ids, o.ID)
		}
	}
	if !slices.Equal(ids, []string{"501", "103107104018"}) {
		t.Fatalf("ids = %v", ids)
	}
	if req.After != "" {
		t.Fatal("caller's request changed")
	}
	first := bodies[0]
	if _, ok := first["after"]; ok {
		t.Errorf("first page sent after: %v", first)
	}
	if first["limit"] != float64(200) {
		t.Errorf("limit = %v", first["limit"])
	}
	sorts, _ := first["sorts"].([]any)
	if len(sorts) != 1 || sorts[0].(map[string]any)["propertyName"] != "createdate" || sorts[0].(map[string]any)["direction"] != "DESCENDING" {
		t.Errorf("sorts = %v, want object form", first["sorts"])
	}
	if s := c.Stats(); s.ByEndpoint["objects.search"] != 2 {
		t.Errorf("stats = %+v", s)
	}

	t.Run("null properties become empty strings", func(t *testing.T) {
		page, err := c.Contacts.Search(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := page.Results[0].Properties["company"]
		if !ok || v != "" {
			t.Fatalf("company = %q, %v", v, ok)
		}
	})
	for _, tt := range []struct {
		name string
		req  SearchRequest
	}{
		{"limit over 200", SearchRequest{Limit: 201}},
		{"two sorts", SearchRequest{Sorts: []Sort{{"a", Ascending}, {"b", Ascending}}}},
		{"six groups", SearchRequest{FilterGroups: make([]FilterGroup, 6)}},
		{"after at cap", SearchRequest{After: "10000"}},
	} {
		t.Run("rejected: "+tt.name, func(t *testing.T) {
			before := c.Stats().Calls
			if _, err := c.Contacts.Search(context.Background(), tt.req); err == nil {
				t.Fatal("want error")
			}
			if c.Stats().Calls != before {
				t.Fatal("request was sent")
			}
		})
	}
}

// fakeSearch is a search endpoint over generated records that behaves like
// HubSpot where ModifiedSince depends on it: filters on the modified
// property and hs_object_id, one sort, offset paging capped at 10,000.
type fakeSearch struct {
	t        testing.TB
	prop     string
	recs     []fakeRec // any order
	requests atomic.Int64
	ignore   bool // ignore filters and paging (a broken server)
	noNotIn  bool // refuse NOT_IN with a 400, as a HubSpot with a tighter limit would
}

type fakeRec struct {
	id int
	ts int64
}

func (f *fakeSearch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	var body struct {
		FilterGroups []FilterGroup `json:"filterGroups"`
		Sorts        []Sort        `json:"sorts"`
		Properties   []string      `json:"properties"`
		Limit        int           `json:"limit"`
		After        string        `json:"after"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, 400, []byte(`{"status":"error","message":"bad json","category":"VALIDATION_ERROR"}`))
		return
	}
	for _, g := range body.FilterGroups {
		for _, fl := range g.Filters {
			if f.noNotIn && fl.Operator == OpNotIn {
				writeJSON(w, 400, []byte(`{"status":"error","message":"too many values","category":"VALIDATION_ERROR"}`))
				return
			}
		}
	}
	after := 0
	if body.After != "" {
		_, _ = fmt.Sscan(body.After, &after)
	}
	if after >= MaxSearchResults {
		writeJSON(w, 400, []byte(`{"status":"error","message":"There was a problem with the request.","category":"VALIDATION_ERROR","correlationId":"x"}`))
		return
	}
	if !slices.Contains(body.Properties, f.prop) || !slices.Contains(body.Properties, "hs_object_id") {
		f.t.Errorf("properties %v lack %s or hs_object_id", body.Properties, f.prop)
	}
	var rows []fakeRec
	for _, rec := range f.recs {
		if f.ignore || f.match(rec, body.FilterGroups) {
			rows = append(rows, rec)
		}
	}
	if len(body.Sorts) == 1 && !f.ignore {
		byID := body.Sorts[0].PropertyName == "hs_object_id"
		slices.SortStableFunc(rows, func(a, b fakeRec) int {
			if byID {
				return a.id - b.id
			}
			if a.ts != b.ts {
				return int(a.ts - b.ts)
			}
			return b.id - a.id // ties in no helpful order
		})
	}
	total := len(rows)
	if f.ignore {
		after = 0
	}
	end := min(after+body.Limit, total)
	if after > total {
		after = total
	}
	page := rows[after:end]
	var out bytes.Buffer
	fmt.Fprintf(&out, `{"total":%d,"results":[`, total)
	for i, rec := range page {
		if i > 0 {
			out.WriteByte(',')
		}
		iso := time.UnixMilli(rec.ts).UTC().Format("2006-01-02T15:04:05.000Z")
		fmt.Fprintf(&out, `{"id":"%d","properties":{"%s":"%s","hs_object_id":"%d","email":null},"createdAt":"%s","updatedAt":"%s","archived":false}`,
			rec.id, f.prop, iso, rec.id, iso, iso)
	}
	out.WriteString("]")
	if end < total {
		fmt.Fprintf(&out, `,"paging":{"next":{"after":"%d"}}`, end)
	}
	out.WriteString("}")
	writeJSON(w, 200, out.Bytes())
}

func (f *fakeSearch) match(rec fakeRec, groups []FilterGroup) bool {
	if len(groups) == 0 {
		return true
	}
	for _, g := range groups {
		ok := true
		for _, fl := range g.Filters {
			var v int64
			switch fl.PropertyName {
			case f.prop:
				v = rec.ts
			case "hs_object_id":
				v = int64(rec.id)
			default:
				f.t.Errorf("filter on %s", fl.PropertyName)
			}
			var x int64
			_, _ = fmt.Sscan(fl.Value, &x)
			switch fl.Operator {
			case OpGTE:
				ok = ok && v >= x
			case OpGT:
				ok = ok && v > x
			case OpEQ:
				ok = ok && v == x
			case OpLTE:
				ok = ok && v <= x
			case OpNotIn:
				for _, id := range fl.Values {
					var y int64
					_, _ = fmt.Sscan(id, &y)
					ok = ok && v != y
				}
			default:
				f.t.Errorf("operator %s", fl.Operator)
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func TestObjectsService_ModifiedSince(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for _, tt := range []struct {
		name    string
		service func(*Client) *ObjectsService
		prop    string
		path    string
		recs    func() []fakeRec
	}{
		{"deals past the 10k cap with a 450-record tie", func(c *Client) *ObjectsService { return c.Deals }, "hs_lastmodifieddate",
			"POST /crm/objects/2026-09/deals/search", func() []fakeRec {
				var recs []fakeRec
				for i := 1; i <= 10450; i++ {
					ts := base + int64(i)*1000
					if i > 3000 && i <= 3450 {
						ts = base + 3001*1000 // 450 records share one timestamp
					}
					if i%7 == 0 {
						ts = base + int64(i-1)*1000 // some pairs share a timestamp too
					}
					recs = append(recs, fakeRec{id: i, ts: ts})
				}
				// one record modified before `since`: never returned
				return append(recs, fakeRec{id: 99999, ts: base - 5000})
			}},
		{"deals in batches of 100 on one timestamp, NOT_IN refused", func(c *Client) *ObjectsService { return c.Deals }, "hs_lastmodifieddate",
			"POST /crm/objects/2026-09/deals/search", func() []fakeRec {
				var recs []fakeRec
				for i := 1; i <= 1000; i++ {
					recs = append(recs, fakeRec{id: i, ts: base + int64((i-1)/100)*1000})
				}
				return recs
			}},
		{"contacts with more than 10k records on one timestamp", func(c *Client) *ObjectsService { return c.Contacts }, "lastmodifieddate",
			"POST /crm/objects/2026-09/contacts/search", func() []fakeRec {
				var recs []fakeRec
				for i := 1; i <= 10100; i++ {
					recs = append(recs, fakeRec{id: i, ts: base + 60000})
				}
				for i := 10101; i <= 10300; i++ {
					recs = append(recs, fakeRec{id: i, ts: base + 60000 + int64(i)})
				}
				return recs
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, mux := setup(t)
			fs := &fakeSearch{t: t, prop: tt.prop, recs: tt.recs(), noNotIn: strings.Contains(tt.name, "NOT_IN refused")}
			mux.Handle(tt.path, fs)
			seen := map[string]bool{}
			var last int64
			n := 0
			for o, err := range tt.service(c).ModifiedSince(context.Background(), time.UnixMilli(base), []string{"email"}) {
				if err != nil {
					t.Fatal(err)
				}
				if seen[o.ID] {
					t.Fatalf("id %s yielded twice", o.ID)
				}
				seen[o.ID] = true
				ts, err := parseHubSpotTime(o.Properties[tt.prop])
				if err != nil {
					t.Fatal(err)
				}
				if ts < last {
					t.Fatalf("not ascending at %s", o.ID)
				}
				last = ts
				n++
			}
			want := 0
			for _, r := range fs.recs {
				if r.ts >= base {
					want++
				}
			}
			if n != want {
				t.Fatalf("yielded %d objects, want %d", n, want)
			}
			if req := fs.requests.Load(); req > int64(want/MaxSearchLimit+10) {
				t.Errorf("%d requests for %d objects", req, want)
			}
		})
	}

	t.Run("no progress is an error, not a loop", func(t *testing.T) {
		c, mux := setup(t)
		var recs []fakeRec
		for i := 1; i <= 300; i++ {
			recs = append(recs, fakeRec{id: i, ts: base + 1000})
		}
		fs := &fakeSearch{t: t, prop: "hs_lastmodifieddate", recs: recs, ignore: true}
		mux.Handle("POST /crm/objects/2026-09/deals/search", fs)
		var gotErr error
		for _, err := range c.Deals.ModifiedSince(context.Background(), time.UnixMilli(base), nil) {
			if err != nil {
				gotErr = err
			}
		}
		if gotErr == nil || !strings.Contains(gotErr.Error(), "no progress") {
			t.Fatalf("err = %v", gotErr)
		}
		if fs.requests.Load() > 5 {
			t.Fatalf("%d requests", fs.requests.Load())
		}
	})
	t.Run("search error stops the walk", func(t *testing.T) {
		c, mux := setup(t)
		mux.HandleFunc("POST /crm/objects/2026-09/deals/search", serveFixture(t, 400, "search_error-invalid-object.json"))
		var errs int
		for _, err := range c.Deals.ModifiedSince(context.Background(), time.UnixMilli(base), nil) {
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
				t.Fatalf("err = %v", err)
			}
			errs++
		}
		if errs != 1 {
			t.Fatal(errs)
		}
	})
}

// --- batch ------------------------------------------------------------------

func TestObjectsService_BatchUpdate(t *testing.T) {
	c, mux := setup(t)
	var handler atomic.Value
	mux.HandleFunc("POST /crm/objects/2026-09/contacts/batch/update", func(w http.ResponseWriter, r *http.Request) {
		handler.Load().(http.HandlerFunc)(w, r)
	})
	in := func(ids ...string) []UpdateInput {
		var out []UpdateInput
		for _, id := range ids {
			out = append(out, UpdateInput{ID: id, Properties: map[string]string{"lastname": "x"}})
		}
		return out
	}
	t.Run("200 all updated", func(t *testing.T) {
		handler.Store(serveFixture(t, 200, "batch_update_contacts_success.json"))
		res, err := c.Contacts.BatchUpdate(context.Background(), in("171591000198", "171591000199"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Updated) != 2 || len(res.Failed) != 0 {
			t.Fatalf("res = %+v", res)
		}
	})
	t.Run("207 partial failure", func(t *testing.T) {
		handler.Store(serveFixture(t, 207, "batch_update_contacts_err-partial-success.json"))
		res, err := c.Contacts.BatchUpdate(context.Background(), in("171591000199", "unknownIdentifier888"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Updated) != 1 || res.Updated[0].ID != "171591000199" {
			t.Fatalf("updated = %+v", res.Updated)
		}
		if len(res.Failed) != 1 || res.Failed[0] != (RecordError{ID: "unknownIdentifier888", Category: "OBJECT_NOT_FOUND",
			Message: "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid."}) {
			t.Fatalf("failed = %+v", res.Failed)
		}
	})
	t.Run("ids missing from a 200 are failures", func(t *testing.T) {
		handler.Store(serveFixture(t, 200, "batch_update_contacts_success.json"))
		res, err := c.Contacts.BatchUpdate(context.Background(), in("171591000198", "171591000199", "777"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Updated) != 2 || len(res.Failed) != 1 || res.Failed[0].ID != "777" || res.Failed[0].Category != CategoryMissingFromResults {
			t.Fatalf("res = %+v", res)
		}
	})
	t.Run("207 error without usable ids explains the missing id", func(t *testing.T) {
		handler.Store(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 207, []byte(`{"status":"COMPLETE","results":[],"numErrors":1,"errors":[{"status":"error","category":"OBJECT_NOT_FOUND","message":"gone","context":{"ids":[""]}}]}`))
		}))
		res, err := c.Contacts.BatchUpdate(context.Background(), in("abc"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Failed) != 1 || res.Failed[0].ID != "abc" || res.Failed[0].Category != "OBJECT_NOT_FOUND" {
			t.Fatalf("res = %+v", res)
		}
	})
	t.Run("400 rejects the whole batch", func(t *testing.T) {
		handler.Store(serveFixture(t, 400, "batch_update_contacts_err-many-invalid-properties.json"))
		before := c.Stats().Calls
		res, err := c.Contacts.BatchUpdate(context.Background(), in("1", "2"))
		var apiErr *APIError
		if res != nil || !errors.As(err, &apiErr) || apiErr.Category != "VALIDATION_ERROR" || len(apiErr.Errors) != 3 ||
			apiErr.Errors[0].Code != "PROPERTY_DOESNT_EXIST" || apiErr.Errors[0].Context["propertyName"][0] != "first000name" {
			t.Fatalf("res = %v, err = %v", res, err)
		}
		if got := c.Stats().Calls - before; got != 1 {
			t.Fatalf("400 was retried: %d calls", got)
		}
		if !strings.HasPrefix(err.Error(), "batch update 2 contacts: hubspot 400 VALIDATION_ERROR") {
			t.Fatalf("error text %q", err)
		}
	})
	t.Run("limits checked before sending", func(t *testing.T) {
		before := c.Stats().Calls
		ids := make([]string, 101)
		for i := range ids {
			ids[i] = fmt.Sprint(i + 1)
		}
		if _, err := c.Contacts.BatchUpdate(context.Background(), in(ids...)); err == nil {
			t.Fatal("101 inputs accepted")
		}
		if _, err := c.Contacts.BatchUpdate(context.Background(), in("1", "1")); err == nil || !strings.Contains(err.Error(), "duplicate") {
			t.Fatalf("duplicate ids: %v", err)
		}
		if _, err := c.Contacts.BatchRead(context.Background(), ids, nil); err == nil {
			t.Fatal("101 ids accepted")
		}
		if c.Stats().Calls != before {
			t.Fatal("request was sent")
		}
	})
}

func TestObjectsService_BatchRead(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("POST /crm/objects/2026-09/contacts/batch/read", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Inputs     []map[string]string `json:"inputs"`
			Properties []string            `json:"properties"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		if len(b.Inputs) != 3 || b.Inputs[2]["id"] != "404" || !slices.Equal(b.Properties, []string{"email"}) {
			t.Errorf("body = %+v", b)
		}
		// 207: two found, one missing
		body := fixture(t, "read_objects-api_contacts-batch.json")
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		m["numErrors"] = 1
		m["errors"] = []any{map[string]any{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Could not get some CONTACT objects", "context": map[string]any{"ids": []string{"404"}}}}
		writeJSON(w, 207, mustJSON(t, m))
	})
	objs, err := c.Contacts.BatchRead(context.Background(), []string{"110338039632", "110323586992", "404"}, []string{"email"})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[1].Properties["email"] != "emailmaria@hubspot.com" {
		t.Fatalf("objs = %+v", objs)
	}
}

// --- associations -----------------------------------------------------------

func TestAssociationsService_BatchRead(t *testing.T) {
	c, mux := setup(t)
	var requests [][]assocInput
	var mu sync.Mutex
	mux.HandleFunc("POST /crm/associations/2026-09/deals/contacts/batch/read", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Inputs []assocInput `json:"inputs"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		mu.Lock()
		requests = append(requests, b.Inputs)
		mu.Unlock()
		type to struct {
			ToObjectID any              `json:"toObjectId"`
			Types      []map[string]any `json:"associationTypes"`
		}
		var results []map[string]any
		var errs []map[string]any
		for _, in := range b.Inputs {
			typ := []map[string]any{{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": nil}}
			switch {
			case in.ID == "1" && in.After == "": // first of three pages; numeric id as seen live
				results = append(results, map[string]any{"from": map[string]any{"id": "1"}, "to": []to{{101, typ}, {102, typ}},
					"paging": map[string]any{"next": map[string]any{"after": "p2", "link": "ignored"}}})
			case in.ID == "1" && in.After == "p2":
				results = append(results, map[string]any{"from": map[string]any{"id": "1"}, "to": []to{{"103", typ}},
					"paging": map[string]any{"next": map[string]any{"after": "p3"}}})
			case in.ID == "1" && in.After == "p3":
				results = append(results, map[string]any{"from": map[string]any{"id": "1"}, "to": []to{{"104", typ}}})
			case in.ID == "2":
				results = append(results, map[string]any{"from": map[string]any{"id": "2"}, "to": []to{{"201", typ}}})
			default:
				errs = append(errs, map[string]any{"status": "error", "category": "OBJECT_NOT_FOUND", "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
					"message": "No deal is associated with " + in.ID, "context": map[string]any{"fromObjectId": []string{in.ID}}})
			}
		}
		status := 200
		body := map[string]any{"status": "COMPLETE", "results": results, "startedAt": "2026-01-01T00:00:00Z", "completedAt": "2026-01-01T00:00:00Z"}
		if len(errs) > 0 {
			status = 207
			body["errors"], body["numErrors"] = errs, len(errs)
		}
		writeJSON(w, status, mustJSON(t, body))
	})
	got, err := c.Associations.BatchRead(context.Background(), "deals", "contacts", []string{"1", "2", "3"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range got["1"] {
		ids = append(ids, a.ToObjectID)
	}
	if !slices.Equal(ids, []string{"101", "102", "103", "104"}) {
		t.Fatalf("deal 1 → %v", ids)
	}
	if len(got["2"]) != 1 || got["2"][0].Types[0] != (AssociationType{Category: "HUBSPOT_DEFINED", TypeID: 3}) {
		t.Fatalf("deal 2 → %+v", got["2"])
	}
	if a, ok := got["3"]; !ok || len(a) != 0 {
		t.Fatalf("deal 3 → %v, %v", a, ok)
	}
	if len(requests) != 3 || !slices.Equal(requests[1], []assocInput{{ID: "1", After: "p2"}}) {
		t.Fatalf("requests = %+v", requests)
	}

	t.Run("more than 1000 ids rejected", func(t *testing.T) {
		ids := make([]string, 1001)
		for i := range ids {
			ids[i] = fmt.Sprint(i + 1)
		}
		if _, err := c.Associations.BatchRead(context.Background(), "deals", "contacts", ids); err == nil {
			t.Fatal("accepted")
		}
		if len(requests) != 3 {
			t.Fatal("request was sent")
		}
	})
}

// --- errors, retries and rate limits ----------------------------------------

func TestClient_Errors(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("GET /crm/objects/2026-09/deals/401", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 401, []byte(`{"status":"error","message":"Authentication credentials not found.","correlationId":"c-1","category":"INVALID_AUTHENTICATION"}`))
	})
	mux.HandleFunc("GET /crm/objects/2026-09/deals/403", serveFixture(t, 403, "metadata-err-schemas-scope.json"))
	mux.HandleFunc("GET /crm/objects/2026-09/deals/404", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, []byte(`{"status":"error","message":"Object not found.  objectId are usually numeric.","correlationId":"c-3","category":"OBJECT_NOT_FOUND"}`))
	})
	mux.HandleFunc("GET /crm/objects/2026-09/deals/502", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(502)
		_, _ = io.WriteString(w, "<html>bad gateway</html>")
	})

	t.Run("401", func(t *testing.T) {
		_, err := c.Deals.Get(context.Background(), "401", GetOptions{})
		if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "token rejected: check HUBSPOT_TOKEN") {
			t.Fatalf("err = %v", err)
		}
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.CorrelationID != "c-1" {
			t.Fatalf("err = %#v", err)
		}
	})
	t.Run("403 missing scopes", func(t *testing.T) {
		_, err := c.Deals.Get(context.Background(), "403", GetOptions{})
		var apiErr *APIError
		if !errors.Is(err, ErrMissingScopes) || !errors.As(err, &apiErr) || !slices.Equal(apiErr.RequiredScopes(), []string{"custom-object-read"}) {
			t.Fatalf("err = %v", err)
		}
		if !strings.Contains(err.Error(), "missing scopes: custom-object-read") {
			t.Fatalf("err = %q", err)
		}
	})
	t.Run("404", func(t *testing.T) {
		_, err := c.Deals.Get(context.Background(), "404", GetOptions{})
		if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnauthorized) {
			t.Fatalf("err = %v", err)
		}
		if !strings.HasPrefix(err.Error(), "get deal 404: hubspot 404 OBJECT_NOT_FOUND") {
			t.Fatalf("err = %q", err)
		}
	})
	t.Run("non-JSON 5xx body", func(t *testing.T) {
		c2, mux2 := setup(t, func(o *Options) { o.MaxRetries = 1 })
		mux2.HandleFunc("GET /crm/objects/2026-09/deals/502", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			_, _ = io.WriteString(w, "<html>bad gateway</html>")
		})
		_, err := c2.Deals.Get(context.Background(), "502", GetOptions{})
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || !strings.Contains(apiErr.Message, "bad gateway") {
			t.Fatalf("err = %v", err)
		}
	})
}

// flaky answers with the given statuses in turn, then 200 with body.
func flaky(t testing.TB, calls *atomic.Int64, body []byte, statuses ...int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1))
		if n <= len(statuses) {
			s := statuses[n-1]
			if s == -1 { // drop the connection mid-request
				hj, ok := w.(http.Hijacker)
				if !ok {
					t.Error("no hijacker")
					return
				}
				conn, _, err := hj.Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				_ = conn.Close()
				return
			}
			writeJSON(w, s, []byte(`{"status":"error","message":"try again","correlationId":"c","category":"INTERNAL_ERROR"}`))
			return
		}
		writeJSON(w, 200, body)
	}
}

func TestClient_Retries(t *testing.T) {
	account := fixture(t, "post-auth_account-info.json")
	for _, tt := range []struct {
		name      string
		statuses  []int
		wantCalls int64
		wantErr   bool
	}{
		{"500", []int{500}, 2, false},
		{"502 503", []int{502, 503}, 3, false},
		{"423", []int{423}, 2, false},
		{"connection reset", []int{-1, -1}, 3, false},
		{"400 not retried", []int{400}, 1, true},
		{"501 not retried", []int{501}, 1, true},
		{"gives up after MaxRetries", []int{500, 500, 500, 500}, 3, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			var events []RequestEvent
			var mu sync.Mutex
			c, mux := setup(t, func(o *Options) {
				o.MaxRetries = 2
				o.Observer = func(e RequestEvent) { mu.Lock(); events = append(events, e); mu.Unlock() }
			})
			mux.HandleFunc("GET /account-info/2026-09/details", flaky(t, &calls, account, tt.statuses...))
			d, err := c.Account.Details(context.Background())
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantErr && d.PortalID != 12345678 {
				t.Fatalf("details = %+v", d)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Fatalf("calls = %d, want %d", got, tt.wantCalls)
			}
			s := c.Stats()
			if s.Calls != tt.wantCalls || s.Retries != tt.wantCalls-1 || s.ByEndpoint["account.details"] != tt.wantCalls {
				t.Fatalf("stats = %+v", s)
			}
			if len(events) != int(tt.wantCalls) || events[len(events)-1].Attempt != int(tt.wantCalls) {
				t.Fatalf("events = %+v", events)
			}
			if tt.wantErr && tt.statuses[0] >= 500 {
				var apiErr *APIError
				if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.statuses[0] {
					t.Fatalf("final 5xx must surface as *APIError, got %v", err)
				}
			}
		})
	}
	t.Run("create is not retried after a 5xx", func(t *testing.T) {
		var calls atomic.Int64
		c, mux := setup(t)
		mux.HandleFunc("POST /crm/objects/2026-09/deals", flaky(t, &calls, []byte(`{"id":"1","properties":{}}`), 502))
		if _, err := c.Deals.Create(context.Background(), map[string]string{"dealname": "x"}, nil); err == nil {
			t.Fatal("want error")
		}
		if calls.Load() != 1 {
			t.Fatalf("calls = %d", calls.Load())
		}
	})
}

func TestClient_RateLimits(t *testing.T) {
	account := fixture(t, "post-auth_account-info.json")
	rl := func(policy, retryAfter string, n int) (http.HandlerFunc, *atomic.Int64) {
		var calls atomic.Int64
		return func(w http.ResponseWriter, r *http.Request) {
			if int(calls.Add(1)) <= n {
				if retryAfter != "" {
					w.Header().Set("Retry-After", retryAfter)
				}
				msg := "You have reached your " + strings.ToLower(policy) + " limit."
				writeJSON(w, 429, mustJSON(t, map[string]any{"status": "error", "message": msg, "errorType": "RATE_LIMIT",
					"correlationId": "c", "policyName": policy, "requestId": "r"}))
				return
			}
			writeJSON(w, 200, account)
		}, &calls
	}
	t.Run("TEN_SECONDLY_ROLLING waits the window", func(t *testing.T) {
		c, mux := setup(t, func(o *Options) { o.RollingWait = 60 * time.Millisecond })
		h, calls := rl(PolicyTenSecondlyRolling, "", 2)
		mux.HandleFunc("GET /account-info/2026-09/details", h)
		start := time.Now()
		if _, err := c.Account.Details(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 120*time.Millisecond {
			t.Fatalf("took %v, want two 60ms windows", d)
		}
		if s := c.Stats(); calls.Load() != 3 || s.RateLimited != 2 || s.Retries != 2 {
			t.Fatalf("calls %d, stats %+v", calls.Load(), s)
		}
	})
	t.Run("Retry-After honoured beyond the backoff cap", func(t *testing.T) {
		c, mux := setup(t)
		h, _ := rl(PolicyTenSecondlyRolling, "1", 1)
		mux.HandleFunc("GET /account-info/2026-09/details", h)
		start := time.Now()
		if _, err := c.Account.Details(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 950*time.Millisecond {
			t.Fatalf("took %v, want Retry-After's 1s (not clamped to MaxBackoff)", d)
		}
	})
	t.Run("SECONDLY search limit", func(t *testing.T) {
		c, mux := setup(t, func(o *Options) { o.SecondlyWait = 30 * time.Millisecond; o.RollingWait = time.Hour })
		var calls atomic.Int64
		mux.HandleFunc("POST /crm/objects/2026-09/deals/search", func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				writeJSON(w, 429, []byte(`{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT","correlationId":"c"}`))
				return
			}
			writeJSON(w, 200, []byte(`{"total":0,"results":[]}`))
		})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := c.Deals.Search(ctx, SearchRequest{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("DAILY stops at once", func(t *testing.T) {
		c, mux := setup(t, func(o *Options) { o.RollingWait = time.Hour; o.MinBackoff = time.Hour; o.MaxBackoff = time.Hour })
		h, calls := rl(PolicyDaily, "", 100)
		mux.HandleFunc("GET /account-info/2026-09/details", h)
		start := time.Now()
		_, err := c.Account.Details(context.Background())
		if !errors.Is(err, ErrDailyLimit) {
			t.Fatalf("err = %v", err)
		}
		var rle *RateLimitError
		if !errors.As(err, &rle) || rle.Policy != PolicyDaily || !strings.Contains(err.Error(), "daily limit") {
			t.Fatalf("err = %#v", err)
		}
		if time.Since(start) > time.Second || calls.Load() != 1 {
			t.Fatalf("took %v, %d calls", time.Since(start), calls.Load())
		}
	})
	t.Run("rolling 429 exhausts retries as RateLimitError", func(t *testing.T) {
		c, mux := setup(t, func(o *Options) { o.MaxRetries = 1; o.RollingWait = time.Millisecond })
		h, _ := rl(PolicyTenSecondlyRolling, "", 100)
		mux.HandleFunc("GET /account-info/2026-09/details", h)
		_, err := c.Account.Details(context.Background())
		var rle *RateLimitError
		if !errors.As(err, &rle) || rle.Policy != PolicyTenSecondlyRolling || errors.Is(err, ErrDailyLimit) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("cancel during a wait", func(t *testing.T) {
		c, mux := setup(t, func(o *Options) { o.RollingWait = time.Hour })
		h, _ := rl(PolicyTenSecondlyRolling, "", 100)
		mux.HandleFunc("GET /account-info/2026-09/details", h)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.Account.Details(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("cancel took %v", d)
		}
		// The pause applies to the next call too, and cancel still wins.
		ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel2()
		if _, err := c.Account.Details(ctx2); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second call err = %v", err)
		}
	})
	t.Run("limiter paces requests and counts the wait", func(t *testing.T) {
		c, mux := setup(t)
		c.lim.general.SetLimit(rate.Every(20 * time.Millisecond))
		c.lim.general.SetBurst(1)
		c.lim.base = c.lim.general.Limit()
		mux.HandleFunc("GET /account-info/2026-09/details", serveFixture(t, 200, "post-auth_account-info.json"))
		for range 4 {
			if _, err := c.Account.Details(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if w := c.Stats().Waited; w < 40*time.Millisecond {
			t.Fatalf("waited %v", w)
		}
	})
}

func TestClient_TokenRedaction(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var events []RequestEvent
	c, mux := setup(t, func(o *Options) {
		o.Logger = logger
		o.MaxRetries, o.NetworkRetries = 1, 1
		o.Observer = func(e RequestEvent) { mu.Lock(); events = append(events, e); mu.Unlock() }
	})
	mux.HandleFunc("GET /crm/objects/2026-09/deals/1", func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
			t.Errorf("Authorization = %q", got)
		}
		writeJSON(w, 200, []byte(`{"id":"1","properties":{"dealname":"d"}}`))
	})
	mux.HandleFunc("GET /crm/objects/2026-09/deals/2", func(w http.ResponseWriter, r *http.Request) {
		// A server that echoes the token back must not leak it through us.
		writeJSON(w, 401, mustJSON(t, map[string]any{"status": "error", "message": "token " + testToken + " is invalid",
			"category": "INVALID_AUTHENTICATION", "context": map[string]any{"token": []string{testToken}}}))
	})
	mux.HandleFunc("GET /crm/objects/2026-09/deals/3", flaky(t, new(atomic.Int64), nil, -1, -1, -1, -1, -1, -1))

	var errs []error
	if _, err := c.Deals.Get(context.Background(), "1", GetOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Deals.Get(context.Background(), "2", GetOptions{})
	errs = append(errs, err)
	_, err = c.Deals.Get(context.Background(), "3", GetOptions{})
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("want error")
		}
		if strings.Contains(err.Error(), testToken) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), testToken) {
			t.Errorf("error leaks token: %v", err)
		}
	}
	var apiErr *APIError
	if errors.As(errs[0], &apiErr) && strings.Contains(strings.Join(apiErr.Context["token"], ""), testToken) {
		t.Error("error context leaks token")
	}
	mu.Lock()
	defer mu.Unlock()
	log := buf.String()
	if strings.Contains(log, testToken) || strings.Contains(log, testToken[len(testToken)-12:]) {
		t.Fatalf("log leaks token:\n%s", log)
	}
	for _, want := range []string{"method=GET", "path=/crm/objects/2026-09/deals/1", "status=200", "duration=", "endpoint=objects.get"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	for _, e := range events {
		if e.Err != nil && strings.Contains(e.Err.Error(), testToken) {
			t.Errorf("observer error leaks token: %v", e.Err)
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// --- path families ----------------------------------------------------------

func TestClient_PathFamilies(t *testing.T) {
	type step struct {
		name string
		run  func(context.Context, *Client) error
		want map[string]string // version -> "METHOD path"
	}
	steps := []step{
		{"list deals", func(ctx context.Context, c *Client) error { _, err := c.Deals.List(ctx, ListOptions{}); return err },
			map[string]string{"2026-09": "GET /crm/objects/2026-09/deals", "v3": "GET /crm/v3/objects/deals"}},
		{"get contact", func(ctx context.Context, c *Client) error {
			_, err := c.Contacts.Get(ctx, "7", GetOptions{})
			return err
		},
			map[string]string{"2026-09": "GET /crm/objects/2026-09/contacts/7", "v3": "GET /crm/v3/objects/contacts/7"}},
		{"search companies", func(ctx context.Context, c *Client) error {
			_, err := c.Companies.Search(ctx, SearchRequest{})
			return err
		},
			map[string]string{"2026-09": "POST /crm/objects/2026-09/companies/search", "v3": "POST /crm/v3/objects/companies/search"}},
		{"batch read", func(ctx context.Context, c *Client) error {
			_, err := c.Deals.BatchRead(ctx, []string{"1"}, nil)
			return err
		},
			map[string]string{"2026-09": "POST /crm/objects/2026-09/deals/batch/read", "v3": "POST /crm/v3/objects/deals/batch/read"}},
		{"batch update", func(ctx context.Context, c *Client) error {
			_, err := c.Contacts.BatchUpdate(ctx, []UpdateInput{{ID: "1", Properties: map[string]string{"a": "b"}}})
			return err
		}, map[string]string{"2026-09": "POST /crm/objects/2026-09/contacts/batch/update", "v3": "POST /crm/v3/objects/contacts/batch/update"}},
		{"merge", func(ctx context.Context, c *Client) error { _, err := c.Contacts.Merge(ctx, "1", "2"); return err },
			map[string]string{"2026-09": "POST /crm/objects/2026-09/contacts/merge", "v3": "POST /crm/v3/objects/contacts/merge"}},
		{"associations", func(ctx context.Context, c *Client) error {
			_, err := c.Associations.BatchRead(ctx, "deals", "contacts", []string{"1"})
			return err
		}, map[string]string{"2026-09": "POST /crm/associations/2026-09/deals/contacts/batch/read", "v3": "POST /crm/v4/associations/deals/contacts/batch/read"}},
		{"default association", func(ctx context.Context, c *Client) error {
			return c.Associations.CreateDefault(ctx, "deals", "1", "contacts", "2")
		}, map[string]string{"2026-09": "PUT /crm/objects/2026-09/deals/1/associations/default/contacts/2", "v3": "PUT /crm/v4/objects/deals/1/associations/default/contacts/2"}},
		{"properties", func(ctx context.Context, c *Client) error {
			_, err := c.Properties.List(ctx, "contacts", false)
			return err
		},
			map[string]string{"2026-09": "GET /crm/properties/2026-09/contacts", "v3": "GET /crm/v3/properties/contacts"}},
		{"property groups", func(ctx context.Context, c *Client) error {
			_, err := c.Properties.ListGroups(ctx, "contacts")
			return err
		},
			map[string]string{"2026-09": "GET /crm/properties/2026-09/contacts/groups", "v3": "GET /crm/v3/properties/contacts/groups"}},
		{"pipelines", func(ctx context.Context, c *Client) error { _, err := c.Pipelines.List(ctx, "deals"); return err },
			map[string]string{"2026-09": "GET /crm/pipelines/2026-09/deals", "v3": "GET /crm/v3/pipelines/deals"}},
		{"usage", func(ctx context.Context, c *Client) error { _, err := c.Account.DailyUsage(ctx); return err },
			map[string]string{"2026-09": "GET /account-info/2026-09/api-usage/daily/private-apps", "v3": "GET /account-info/v3/api-usage/daily/private-apps"}},
		{"details", func(ctx context.Context, c *Client) error { _, err := c.Account.Details(ctx); return err },
			map[string]string{"2026-09": "GET /account-info/2026-09/details", "v3": "GET /account-info/v3/details"}},
	}
	for _, version := range []string{"2026-09", "v3"} {
		t.Run(version, func(t *testing.T) {
			var got string
			c, mux := setup(t, func(o *Options) { o.APIVersion = version })
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				got = r.Method + " " + r.URL.Path
				writeJSON(w, 200, []byte(`{"results":[],"status":"COMPLETE"}`))
			})
			for _, s := range steps {
				got = ""
				if err := s.run(context.Background(), c); err != nil {
					t.Errorf("%s: %v", s.name, err)
				}
				if got != s.want[version] {
					t.Errorf("%s: sent %q, want %q", s.name, got, s.want[version])
				}
			}
		})
	}
}

// --- properties, pipelines, account -----------------------------------------

func TestPipelinesService_List(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("GET /crm/pipelines/2026-09/deals", serveFixture(t, 200, "metadata-deals-external-pipelines.json"))
	ps, err := c.Pipelines.List(context.Background(), "deals")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || len(ps[0].Stages) != 7 {
		t.Fatalf("pipelines = %+v", ps)
	}
	st := ps[0].Stages
	if st[0].IsClosed || st[0].Probability != 0.2 || !st[5].IsClosed || st[5].Probability != 1 || st[5].ID != "closedwon" ||
		!st[6].IsClosed || st[6].Probability != 0 {
		t.Fatalf("stages = %+v", st)
	}
	t.Run("bad metadata", func(t *testing.T) {
		var s Stage
		if err := json.Unmarshal([]byte(`{"id":"x","metadata":{"probability":"high"}}`), &s); err == nil {
			t.Fatal("want error")
		}
	})
}

func TestPropertiesService(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("GET /crm/properties/2026-09/deals", serveFixture(t, 200, "metadata-deals-properties-sampled.json"))
	mux.HandleFunc("PATCH /crm/properties/2026-09/contacts/age__c", func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		_ = json.NewDecoder(r.Body).Decode(&b)
		if b["description"] != "How old are you?" || len(b) != 1 {
			t.Errorf("body = %v", b)
		}
		writeJSON(w, 200, fixture(t, "custom_update_5-response-update-property-age.json"))
	})
	mux.HandleFunc("POST /crm/properties/2026-09/contacts/groups", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !jsonEqual(b, fixture(t, "custom_create_1-payload-create-property-group.json")) {
			t.Errorf("body = %s", b)
		}
		writeJSON(w, 201, fixture(t, "custom_create_2-response-create-property-group.json"))
	})
	mux.HandleFunc("POST /crm/properties/2026-09/contacts", func(w http.ResponseWriter, r *http.Request) {
		var b PropertyCreate
		_ = json.NewDecoder(r.Body).Decode(&b)
		var raw struct {
			Inputs []PropertyCreate `json:"inputs"`
		}
		_ = json.Unmarshal(fixture(t, "custom_create_3-payload-batch-create-properties.json"), &raw)
		if b.Name != "interests__c" || len(b.Options) != 3 || b.Options[1] != raw.Inputs[1].Options[1] {
			t.Errorf("body = %+v", b)
		}
		var resp struct {
			Results []json.RawMessage `json:"results"`
		}
		_ = json.Unmarshal(fixture(t, "custom_create_4-response-batch-create-properties.json"), &resp)
		writeJSON(w, 201, resp.Results[1])
	})

	props, err := c.Properties.List(context.Background(), "deals", false)
	if err != nil || len(props) != 2 || props[1].Name != "dealstage" || !props[1].ModificationMetadata.ReadOnlyDefinition {
		t.Fatalf("props = %+v, %v", props, err)
	}
	p, err := c.Properties.Update(context.Background(), "contacts", "age__c", PropertyUpdate{Description: "How old are you?"})
	if err != nil || p.Description != "How old are you?" || p.UpdatedAt == nil {
		t.Fatalf("p = %+v, %v", p, err)
	}
	g, err := c.Properties.CreateGroup(context.Background(), "contacts", PropertyGroupCreate{Name: "integrationcreatedproperties", Label: "Integration Created Properties"})
	if err != nil || g.DisplayOrder != 9 {
		t.Fatalf("g = %+v, %v", g, err)
	}
	var in struct {
		Inputs []PropertyCreate `json:"inputs"`
	}
	_ = json.Unmarshal(fixture(t, "custom_create_3-payload-batch-create-properties.json"), &in)
	p, err = c.Properties.Create(context.Background(), "contacts", in.Inputs[1])
	if err != nil || len(p.Options) != 3 || p.Options[0].Value != "art" {
		t.Fatalf("p = %+v, %v", p, err)
	}
	if _, err := c.Properties.Create(context.Background(), "contacts", PropertyCreate{Name: "x"}); err == nil {
		t.Fatal("incomplete property accepted")
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}

func TestAccountService(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("GET /account-info/2026-09/details", serveFixture(t, 200, "post-auth_account-info.json"))
	mux.HandleFunc("GET /account-info/2026-09/api-usage/daily/private-apps", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []byte(`{"results":[{"name":"private-apps-api-calls-daily","usageLimit":625000,"currentUsage":1234,"collectedAt":"2026-09-10T10:00:00Z","resetsAt":"2026-09-11T04:00:00Z","fetchStatus":"SUCCESS"}]}`))
	})
	d, err := c.Account.Details(context.Background())
	if err != nil || d.PortalID != 12345678 || d.TimeZone != "US/Eastern" || d.CompanyCurrency != "USD" || d.UTCOffsetMilliseconds != -14400000 {
		t.Fatalf("d = %+v, %v", d, err)
	}
	u, err := c.Account.DailyUsage(context.Background())
	if err != nil || len(u) != 1 || u[0].UsageLimit != 625000 || u[0].CurrentUsage != 1234 || u[0].ResetsAt == nil {
		t.Fatalf("u = %+v, %v", u, err)
	}
}

func TestObjectsService_SingleRecord(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("POST /crm/objects/2026-09/deals", func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		_ = json.NewDecoder(r.Body).Decode(&b)
		want := `map[associations:[map[to:map[id:42] types:[map[associationCategory:HUBSPOT_DEFINED associationTypeId:3]]]] properties:map[amount:10.50 dealname:x]]`
		if fmt.Sprint(b) != want {
			t.Errorf("body = %v", b)
		}
		writeJSON(w, 201, []byte(`{"id":"9","properties":{"amount":"10.50","dealname":"x"},"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","archived":false}`))
	})
	mux.HandleFunc("PATCH /crm/objects/2026-09/deals/9", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []byte(`{"id":"9","properties":{"amount":"11"}}`))
	})
	mux.HandleFunc("DELETE /crm/objects/2026-09/deals/9", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("GET /crm/objects/2026-09/deals/9", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("associations") != "contacts" {
			t.Errorf("query = %s", r.URL.RawQuery)
		}
		writeJSON(w, 200, []byte(`{"id":"9","properties":{},"associations":{"contacts":{"results":[{"id":"42","type":"deal_to_contact"}]}}}`))
	})
	ctx := context.Background()
	o, err := c.Deals.Create(ctx, map[string]string{"dealname": "x", "amount": "10.50"},
		[]AssociationInput{{ToID: "42", Types: []AssociationSpec{{Category: "HUBSPOT_DEFINED", TypeID: 3}}}})
	if err != nil || o.ID != "9" {
		t.Fatalf("o = %+v, %v", o, err)
	}
	if o, err = c.Deals.Update(ctx, "9", map[string]string{"amount": "11"}); err != nil || o.Properties["amount"] != "11" {
		t.Fatalf("o = %+v, %v", o, err)
	}
	if o, err = c.Deals.Get(ctx, "9", GetOptions{Associations: []string{"contacts"}}); err != nil ||
		o.Associations["contacts"].Results[0] != (AssociationRef{ID: "42", Type: "deal_to_contact"}) {
		t.Fatalf("o = %+v, %v", o, err)
	}
	if err := c.Deals.Archive(ctx, "9"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deals.Get(ctx, "../x", GetOptions{}); err == nil {
		t.Fatal("escaped id should 404")
	}
}
