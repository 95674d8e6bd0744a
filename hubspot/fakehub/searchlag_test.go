package fakehub

import (
	"sync"
	"testing"
	"time"
)

func TestHub_SearchLag(t *testing.T) {
	at := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	advance := func(d time.Duration) { mu.Lock(); at = at.Add(d); mu.Unlock() }
	_, srv := newTestHub(t, Config{DisableRateLimits: true, Clock: clock, SearchLag: 3 * time.Second})
	search := func() map[string]string {
		r := call(t, srv, "POST", "/crm/v3/objects/contacts/search", map[string]any{"limit": 100, "properties": []string{"firstname"}})
		out := map[string]string{}
		for _, x := range arr(r.body["results"]) {
			out[str(obj(x)["id"])] = str(props(x)["firstname"])
		}
		return out
	}
	c := call(t, srv, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]string{"email": "a@x.com", "firstname": "A"}})
	id := str(c.body["id"])
	if g := call(t, srv, "GET", "/crm/v3/objects/contacts/"+id, nil); g.status != 200 {
		t.Fatalf("GET right after create: %d", g.status)
	}
	if s := search(); len(s) != 0 {
		t.Fatalf("new record visible in search at once: %v", s)
	}
	advance(3 * time.Second)
	if s := search(); s[id] != "A" {
		t.Fatalf("after the lag: %v", s)
	}
	call(t, srv, "PATCH", "/crm/v3/objects/contacts/"+id, map[string]any{"properties": map[string]string{"firstname": "B"}})
	advance(2 * time.Second)
	call(t, srv, "PATCH", "/crm/v3/objects/contacts/"+id, map[string]any{"properties": map[string]string{"firstname": "C"}})
	if s := search(); s[id] != "A" {
		t.Fatalf("search shows %q during the lag, want the old A", s[id])
	}
	if g := call(t, srv, "GET", "/crm/v3/objects/contacts/"+id+"?properties=firstname", nil); str(props(g.body)["firstname"]) != "C" {
		t.Fatalf("GET shows %v", g.body)
	}
	advance(3 * time.Second)
	if s := search(); s[id] != "C" {
		t.Fatalf("after the lag: %v", s)
	}
	call(t, srv, "DELETE", "/crm/v3/objects/contacts/"+id, nil)
	if s := search(); s[id] != "C" {
		t.Fatalf("deleted record gone from search at once: %v", s)
	}
	advance(3 * time.Second)
	if s := search(); len(s) != 0 {
		t.Fatalf("deleted record still in search: %v", s)
	}
}
