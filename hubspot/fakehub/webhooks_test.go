package fakehub

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type delivery struct {
	header http.Header
	uri    string
	body   []byte
	events []webhookEvent
}

// receiver records deliveries; the first fail answers are 500.
func receiver(t testing.TB, fail int) (*httptest.Server, chan delivery) {
	ch := make(chan delivery, 100)
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if int(n.Add(1)) <= fail {
			w.WriteHeader(500)
			return
		}
		var evs []webhookEvent
		if err := json.Unmarshal(b, &evs); err != nil {
			t.Errorf("body %s: %v", b, err)
		}
		ch <- delivery{header: r.Header.Clone(), uri: "http://" + r.Host + r.URL.RequestURI(), body: b, events: evs}
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func waitEvents(t testing.TB, ch chan delivery, n int) []webhookEvent {
	t.Helper()
	var out []webhookEvent
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case d := <-ch:
			out = append(out, d.events...)
		case <-timeout:
			t.Fatalf("got %d events, want %d: %+v", len(out), n, out)
		}
	}
	return out
}

func TestHub_Webhooks(t *testing.T) {
	rcv, ch := receiver(t, 2)
	at := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	h, srv := newTestHub(t, Config{DisableRateLimits: true, Clock: clock,
		WebhookURL: rcv.URL + "/webhooks/hubspot?x=1", WebhookSecret: "s3cret", WebhookTimeScale: 1e-5})
	t.Cleanup(func() { _ = h.Close() })

	c := call(t, srv, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]string{"email": "a@x.com"}})
	id := str(c.body["id"])
	evs := waitEvents(t, ch, 1) // two failed attempts first, then delivered
	e := evs[0]
	if e.SubscriptionType != "contact.creation" || fmt.Sprint(e.ObjectID) != id || e.AttemptNumber != 2 || e.PortalID != DefaultPortalID ||
		e.AppID != DefaultWebhookAppID || e.OccurredAt != at.UnixMilli() || e.EventID == 0 || e.SubscriptionID == 0 {
		t.Fatalf("creation event %+v", e)
	}

	call(t, srv, "PATCH", "/crm/v3/objects/contacts/"+id, map[string]any{"properties": map[string]string{"firstname": "Z"}})
	evs = waitEvents(t, ch, 1)
	found := false
	for _, e := range evs {
		if e.SubscriptionType == "contact.propertyChange" && e.PropertyName == "firstname" && e.PropertyValue == "Z" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no firstname propertyChange in %+v", evs)
	}
	// Deliveries are signed as HubSpot signs them.
	call(t, srv, "PATCH", "/crm/v3/objects/contacts/"+id, map[string]any{"properties": map[string]string{"firstname": "Y"}})
	d := <-ch
	if got, want := d.header.Get("X-HubSpot-Signature-v3"), SignWebhookV3("s3cret", "POST", d.uri, d.body, d.header.Get("X-HubSpot-Request-Timestamp")); got != want || got == "" {
		t.Fatalf("signature %q, want %q", got, want)
	}
	if d.header.Get("X-HubSpot-Request-Timestamp") != "1793577600000" {
		t.Fatalf("timestamp %q", d.header.Get("X-HubSpot-Request-Timestamp"))
	}

	dl := call(t, srv, "POST", "/crm/v3/objects/deals", map[string]any{"properties": map[string]string{"dealname": "d"},
		"associations": []any{map[string]any{"to": map[string]string{"id": id}, "types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}}}}})
	evs = waitEvents(t, ch, 3)
	kinds := map[string]bool{}
	for _, e := range evs {
		kinds[e.SubscriptionType+"/"+e.AssociationType] = true
	}
	if !kinds["deal.creation/"] || !kinds["deal.associationChange/DEAL_TO_CONTACT"] || !kinds["contact.associationChange/CONTACT_TO_DEAL"] {
		t.Fatalf("deal creation events %v", kinds)
	}
	b := call(t, srv, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]string{"email": "b@x.com"}})
	waitEvents(t, ch, 1)
	m := call(t, srv, "POST", "/crm/v3/objects/contacts/merge", map[string]string{"primaryObjectId": id, "objectIdToMerge": str(b.body["id"])})
	evs = waitEvents(t, ch, 1)
	if e := evs[0]; e.SubscriptionType != "contact.merge" || fmt.Sprint(e.NewObjectID) != str(m.body["id"]) || fmt.Sprint(e.PrimaryObjectID) != id ||
		len(e.MergedObjectIDs) != 1 || fmt.Sprint(e.MergedObjectIDs[0]) != str(b.body["id"]) {
		t.Fatalf("merge event %+v", evs)
	}
	call(t, srv, "DELETE", "/crm/v3/objects/deals/"+str(dl.body["id"]), nil)
	if evs = waitEvents(t, ch, 1); evs[0].SubscriptionType != "deal.deletion" {
		t.Fatalf("deletion %+v", evs)
	}
	// The sender counts a delivery once the receiver's answer is read.
	deadline := time.Now().Add(20 * time.Second)
	for h.WebhookStats().Pending != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s := h.WebhookStats(); s.Failures != 2 || s.Pending != 0 || s.Delivered != s.Events {
		t.Fatalf("stats %+v", s)
	}
}

func TestHub_WebhooksBatchAndClose(t *testing.T) {
	rcv, ch := receiver(t, 0)
	h, srv := newTestHub(t, Config{DisableRateLimits: true, WebhookURL: rcv.URL, WebhookSecret: "s"})
	var inputs []any
	for i := range 100 {
		inputs = append(inputs, map[string]any{"properties": map[string]string{"dealname": fmt.Sprint("d", i)}})
	}
	call(t, srv, "POST", "/crm/v3/objects/deals/batch/create", map[string]any{"inputs": inputs})
	call(t, srv, "POST", "/crm/v3/objects/deals/batch/create", map[string]any{"inputs": inputs[:50]})
	evs := waitEvents(t, ch, 150)
	if len(evs) != 150 {
		t.Fatalf("%d events", len(evs))
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	call(t, srv, "POST", "/crm/v3/objects/deals", map[string]any{"properties": map[string]string{"dealname": "late"}})
	if s := h.WebhookStats(); s.Events != 150 {
		t.Fatalf("events after Close: %+v", s)
	}
	for _, bad := range []WebhookSettings{{URL: "ftp://x", Secret: "s"}, {URL: "http://x"}} {
		if err := h.SetWebhooks(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestHub_WebhooksAdmin(t *testing.T) {
	_, srv := newTestHub(t, Config{})
	r := call(t, srv, "POST", "/_fakehub/webhooks", map[string]any{"url": "http://127.0.0.1:1/x", "secret": "topsecret", "timeScale": 0.001})
	if r.status != 200 || r.body["url"] != "http://127.0.0.1:1/x" || r.body["secretSet"] != true || r.body["secret"] != nil {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r := call(t, srv, "POST", "/_fakehub/webhooks", map[string]any{"url": "nope"}); r.status != 400 {
		t.Fatalf("bad url: %d", r.status)
	}
}
