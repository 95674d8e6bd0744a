package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clvsync/clvsync/hubspot/fakehub"
)

// setupFakehub serves a seeded fakehub over HTTP and returns a client for it
// with millisecond backoff and generous retries, and the hub.
func setupFakehub(t testing.TB, contacts int) (*Client, *fakehub.Hub) {
	t.Helper()
	h, err := fakehub.New(fakehub.Config{Token: testToken, Contacts: contacts, Seed: 7, DisableRateLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL, Token: testToken, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond,
		MaxRetries: 20, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	unlimit(c)
	return c, h
}

func setFaults(t testing.TB, h *fakehub.Hub, spec string) {
	t.Helper()
	f, err := fakehub.ParseFaults(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SetFaults(f); err != nil {
		t.Fatal(err)
	}
}

func ids(objs []Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.ID
	}
	slices.Sort(out)
	return out
}

func collect(t testing.TB, seq func(func(Object, error) bool)) []Object {
	t.Helper()
	var out []Object
	for o, err := range seq {
		if err != nil {
			t.Fatalf("walk: %v", err)
		}
		out = append(out, o)
	}
	return out
}

// TestClient_FaultyFakehub runs the calls a sync makes against fakehub with
// 30% truncated 2xx bodies and 20% connection resets: every idempotent call
// must complete with the same data as without faults.
func TestClient_FaultyFakehub(t *testing.T) {
	c, h := setupFakehub(t, 150)
	ctx := context.Background()
	props := []string{"amount", "dealstage", "closedate"}

	wantDeals := collect(t, c.Deals.All(ctx, ListOptions{Properties: props}))
	wantChanged := collect(t, c.Deals.ModifiedSince(ctx, time.Time{}, props))
	if len(wantDeals) < 150 || len(wantChanged) != len(wantDeals) {
		t.Fatalf("seed: %d deals listed, %d searched", len(wantDeals), len(wantChanged))
	}
	contacts := collect(t, c.Contacts.All(ctx, ListOptions{Limit: 100}))[:100]

	setFaults(t, h, "truncate=0.3,reset=0.2,seed=3")
	t.Run("list all deals", func(t *testing.T) {
		got := collect(t, c.Deals.All(ctx, ListOptions{Properties: props, Limit: 20}))
		if !slices.Equal(ids(got), ids(wantDeals)) {
			t.Fatalf("listed %d deals, want %d", len(got), len(wantDeals))
		}
	})
	t.Run("search walk", func(t *testing.T) {
		got := collect(t, c.Deals.ModifiedSince(ctx, time.Time{}, props))
		if !slices.Equal(ids(got), ids(wantChanged)) {
			t.Fatalf("walked %d deals, want %d", len(got), len(wantChanged))
		}
	})
	t.Run("batch read", func(t *testing.T) {
		want := ids(wantDeals[:100])
		got, err := c.Deals.BatchRead(ctx, want, props)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), want) {
			t.Fatalf("batch read %d of %d", len(got), len(want))
		}
	})
	t.Run("batch update", func(t *testing.T) {
		in := make([]UpdateInput, len(contacts))
		for i, ct := range contacts {
			in[i] = UpdateInput{ID: ct.ID, Properties: map[string]string{"firstname": "F" + ct.ID}}
		}
		res, err := c.Contacts.BatchUpdate(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Failed) != 0 || len(res.Updated) != len(in) {
			t.Fatalf("updated %d, failed %+v", len(res.Updated), res.Failed)
		}
		setFaults(t, h, "")
		got, err := c.Contacts.BatchRead(ctx, ids(contacts), []string{"firstname"})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range got {
			if o.Properties["firstname"] != "F"+o.ID {
				t.Fatalf("contact %s firstname = %q", o.ID, o.Properties["firstname"])
			}
		}
	})
	if s := c.Stats(); s.Retries == 0 {
		t.Fatalf("no retries happened; faults not injected? %+v", s)
	}
}

// TestClient_RetryPolicy checks which calls are retried after a truncated
// 2xx body or a connection closed mid-request.
func TestClient_RetryPolicy(t *testing.T) {
	truncated := func(calls *atomic.Int64, good string, bad int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if int(calls.Add(1)) <= bad {
				writeJSON(w, 200, []byte(good[:len(good)/2]))
				return
			}
			writeJSON(w, 200, []byte(good))
		}
	}
	t.Run("truncated read body is retried", func(t *testing.T) {
		var calls atomic.Int64
		c, mux := setup(t)
		mux.HandleFunc("GET /crm/objects/2026-09/deals/7", truncated(&calls, `{"id":"7","properties":{"amount":"10"}}`, 2))
		o, err := c.Deals.Get(context.Background(), "7", GetOptions{})
		if err != nil || o.ID != "7" || calls.Load() != 3 {
			t.Fatalf("get = %+v, %v after %d calls", o, err, calls.Load())
		}
	})
	t.Run("a run of network faults longer than MaxRetries is outlasted", func(t *testing.T) {
		// At 30% cut bodies and 20% resets, six failures in a row (the
		// 5 retries of HubSpot errors) happen to one call in 64.
		var calls atomic.Int64
		c, mux := setup(t)
		mux.HandleFunc("GET /crm/objects/2026-09/deals/7", truncated(&calls, `{"id":"7","properties":{"amount":"10"}}`, 9))
		o, err := c.Deals.Get(context.Background(), "7", GetOptions{})
		if err != nil || o.ID != "7" || calls.Load() != 10 {
			t.Fatalf("get = %+v, %v after %d calls", o, err, calls.Load())
		}
	})
	t.Run("truncated batch update body is retried", func(t *testing.T) {
		var calls atomic.Int64
		c, mux := setup(t)
		mux.HandleFunc("POST /crm/objects/2026-09/contacts/batch/update",
			truncated(&calls, `{"status":"COMPLETE","results":[{"id":"1","properties":{"x":"1"}}]}`, 1))
		res, err := c.Contacts.BatchUpdate(context.Background(), []UpdateInput{{ID: "1", Properties: map[string]string{"x": "1"}}})
		if err != nil || len(res.Updated) != 1 || calls.Load() != 2 {
			t.Fatalf("batch update = %+v, %v after %d calls", res, err, calls.Load())
		}
	})
	t.Run("truncated create body is not retried", func(t *testing.T) {
		var calls atomic.Int64
		c, mux := setup(t)
		mux.HandleFunc("POST /crm/objects/2026-09/deals", truncated(&calls, `{"id":"1","properties":{}}`, 1))
		if _, err := c.Deals.Create(context.Background(), map[string]string{"dealname": "x"}, nil); err == nil || calls.Load() != 1 {
			t.Fatalf("create err = %v after %d calls", err, calls.Load())
		}
	})
	t.Run("connection closed during a POST is retried", func(t *testing.T) {
		var calls atomic.Int64
		c, mux := setup(t)
		body := []byte(`{"status":"COMPLETE","results":[{"id":"1","properties":{}}]}`)
		mux.HandleFunc("POST /crm/objects/2026-09/deals/batch/read", flaky(t, &calls, body, -1, -1))
		got, err := c.Deals.BatchRead(context.Background(), []string{"1"}, nil)
		if err != nil || len(got) != 1 || calls.Load() != 3 {
			t.Fatalf("batch read = %+v, %v after %d calls", got, err, calls.Load())
		}
	})
	t.Run("classifies closed and reset connections", func(t *testing.T) {
		for _, msg := range []string{
			`Post "http://x/crm": write tcp 127.0.0.1:1->127.0.0.1:2: use of closed network connection`,
			`Post "http://x/crm": read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer`,
			`Post "http://x/crm": http: server closed idle connection`,
		} {
			if !retryableNetErr(fmt.Errorf("%s", msg)) {
				t.Errorf("%q not retryable", msg)
			}
		}
		if retryableNetErr(fmt.Errorf("unsupported protocol scheme")) {
			t.Error("protocol error retryable")
		}
	})
}

// TestObjectsService_StuckPaging checks that no pager loops on a page
// that does not advance.
func TestObjectsService_StuckPaging(t *testing.T) {
	emptyWithNext := []byte(`{"total":0,"results":[],"paging":{"next":{"after":"200","link":"x"}}}`)
	t.Run("ModifiedSince on an empty page with paging.next", func(t *testing.T) {
		ctx := stuckCtx(t)
		var calls atomic.Int64
		c, mux := setup(t)
		mux.HandleFunc("POST /crm/objects/2026-09/deals/search", func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			writeJSON(w, 200, emptyWithNext)
		})
		n := 0
		for _, err := range c.Deals.ModifiedSince(ctx, time.Time{}, nil) {
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			n++
		}
		if n != 0 || calls.Load() > 2 {
			t.Fatalf("%d rows after %d searches", n, calls.Load())
		}
	})
	t.Run("ModifiedSince by id on an empty page with paging.next", func(t *testing.T) {
		ctx := stuckCtx(t)
		var calls atomic.Int64
		c, mux := setup(t)
		mux.HandleFunc("POST /crm/objects/2026-09/deals/search", func(w http.ResponseWriter, r *http.Request) {
			n := calls.Add(1)
			if n == 1 || n == 2 {
				var b strings.Builder
				b.WriteString(`{"total":400,"results":[`)
				for i := range MaxSearchLimit {
					if i > 0 {
						b.WriteString(",")
					}
					fmt.Fprintf(&b, `{"id":"%d","properties":{"hs_lastmodifieddate":"2026-01-01T00:00:00.000Z"}}`, 1000*n+int64(i))
				}
				b.WriteString(`],"paging":{"next":{"after":"200"}}}`)
				writeJSON(w, 200, []byte(b.String()))
				return
			}
			writeJSON(w, 200, emptyWithNext)
		})
		n := 0
		for _, err := range c.Deals.ModifiedSince(ctx, time.Time{}, nil) {
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			n++
		}
		if n != 2*MaxSearchLimit || calls.Load() > 5 {
			t.Fatalf("%d rows after %d searches", n, calls.Load())
		}
	})
	t.Run("SearchPages on a repeated cursor", func(t *testing.T) {
		ctx := stuckCtx(t)
		var calls atomic.Int64
		c, mux := setup(t)
		mux.HandleFunc("POST /crm/objects/2026-09/deals/search", func(w http.ResponseWriter, r *http.Request) {
			n := calls.Add(1)
			writeJSON(w, 200, []byte(fmt.Sprintf(`{"total":9,"results":[{"id":"%d","properties":{}}],"paging":{"next":{"after":"%d"}}}`, n, 1+n%2)))
		})
		var err error
		for _, err = range c.Deals.SearchPages(ctx, SearchRequest{}) {
			if err != nil {
				break
			}
		}
		if err == nil || !strings.Contains(err.Error(), "repeated") || calls.Load() > 4 {
			t.Fatalf("err = %v after %d searches", err, calls.Load())
		}
	})
	t.Run("SearchPages on an empty page with paging.next", func(t *testing.T) {
		ctx := stuckCtx(t)
		var calls atomic.Int64
		c, mux := setup(t)
		mux.HandleFunc("POST /crm/objects/2026-09/deals/search", func(w http.ResponseWriter, r *http.Request) {
			n := calls.Add(1)
			writeJSON(w, 200, []byte(fmt.Sprintf(`{"total":0,"results":[],"paging":{"next":{"after":"%d"}}}`, 200*n)))
		})
		for _, err := range c.Deals.SearchPages(ctx, SearchRequest{}) {
			if err != nil {
				t.Fatal(err)
			}
		}
		if calls.Load() != 1 {
			t.Fatalf("%d searches", calls.Load())
		}
	})
	t.Run("Pages on an empty page with paging.next", func(t *testing.T) {
		ctx := stuckCtx(t)
		var calls atomic.Int64
		c, mux := setup(t)
		mux.HandleFunc("GET /crm/objects/2026-09/deals", func(w http.ResponseWriter, r *http.Request) {
			n := calls.Add(1)
			writeJSON(w, 200, []byte(fmt.Sprintf(`{"results":[],"paging":{"next":{"after":"%d"}}}`, 100*n)))
		})
		for _, err := range c.Deals.Pages(ctx, ListOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
		}
		if calls.Load() != 1 {
			t.Fatalf("%d list calls", calls.Load())
		}
	})
}

// stuckCtx bounds a test that would otherwise loop forever.
func stuckCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAssociationsService_BatchReadStuckPaging(t *testing.T) {
	var calls atomic.Int64
	c, mux := setup(t)
	mux.HandleFunc("POST /crm/associations/2026-09/deals/contacts/batch/read", func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		writeJSON(w, 200, []byte(fmt.Sprintf(`{"status":"COMPLETE","results":[{"from":{"id":"1"},"to":[],"paging":{"next":{"after":"%d"}}}]}`, n)))
	})
	got, err := c.Associations.BatchRead(stuckCtx(t), "deals", "contacts", []string{"1"})
	if err != nil || len(got["1"]) != 0 || calls.Load() != 1 {
		t.Fatalf("got %v, %v after %d calls", got, err, calls.Load())
	}
}
