package fakehub

import (
	"strings"
	"testing"
)

// TestHub_MergeNewID checks HubSpot's current merge: a new record with a new
// id that both old ids resolve to.
func TestHub_MergeNewID(t *testing.T) {
	h, srv := newTestHub(t, Config{DisableRateLimits: true})
	mk := func(email, first string) string {
		r := call(t, srv, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]string{"email": email, "firstname": first}})
		if r.status != 201 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		return str(r.body["id"])
	}
	deal := func(contact string) string {
		d := call(t, srv, "POST", "/crm/v3/objects/deals", map[string]any{"properties": map[string]string{"dealname": "d", "amount": "5"},
			"associations": []any{map[string]any{"to": map[string]string{"id": contact}, "types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}}}}})
		if d.status != 201 {
			t.Fatalf("%d %s", d.status, d.raw)
		}
		return str(d.body["id"])
	}
	a, b := mk("a@x.com", "A"), mk("b@x.com", "")
	da, db := deal(a), deal(b)
	call(t, srv, "PATCH", "/crm/v3/objects/contacts/"+b, map[string]any{"properties": map[string]string{"lastname": "B"}})

	m := call(t, srv, "POST", "/crm/v3/objects/contacts/merge", map[string]string{"primaryObjectId": a, "objectIdToMerge": b})
	n := str(m.body["id"])
	if m.status != 200 || n == a || n == b || n == "" {
		t.Fatalf("merge: %d %s", m.status, m.raw)
	}
	if got := props(m.body)["hs_merged_object_ids"]; got != a+";"+b {
		t.Errorf("hs_merged_object_ids = %q, want %q", got, a+";"+b)
	}
	for _, old := range []string{a, b} {
		g := call(t, srv, "GET", "/crm/v3/objects/contacts/"+old+"?properties=email,firstname,lastname", nil)
		if g.status != 200 || str(g.body["id"]) != n {
			t.Errorf("GET %s: %d %s", old, g.status, g.raw)
		}
		if p := props(g.body); p["email"] != "a@x.com" || p["firstname"] != "A" || p["lastname"] != "B" {
			t.Errorf("merged values: %v", p)
		}
	}
	l := call(t, srv, "GET", "/crm/v3/objects/contacts?limit=100", nil)
	var listed []string
	for _, r := range arr(l.body["results"]) {
		listed = append(listed, str(obj(r)["id"]))
	}
	if strings.Join(listed, ",") != n {
		t.Errorf("list = %v, want only %s", listed, n)
	}
	s := call(t, srv, "POST", "/crm/v3/objects/contacts/search", map[string]any{"limit": 100})
	if s.status != 200 || len(arr(s.body["results"])) != 1 || str(obj(arr(s.body["results"])[0])["id"]) != n {
		t.Errorf("search: %s", s.raw)
	}
	r := call(t, srv, "POST", "/crm/v4/associations/contacts/deals/batch/read", map[string]any{"inputs": []any{map[string]string{"id": n}}})
	var to []string
	for _, x := range arr(obj(firstResult(r))["to"]) {
		to = append(to, str(obj(x)["toObjectId"]))
	}
	if strings.Join(to, ",") != da+","+db {
		t.Errorf("associations of %s = %v, want %s,%s", n, to, da, db)
	}
	if c := h.Count("contacts"); c.Live != 1 {
		t.Errorf("counts %+v", c)
	}
	// A second merge chains: the new id absorbs both earlier ids.
	c := mk("c@x.com", "C")
	m2 := call(t, srv, "POST", "/crm/v3/objects/contacts/merge", map[string]string{"primaryObjectId": c, "objectIdToMerge": a})
	n2 := str(m2.body["id"])
	if got := props(m2.body)["hs_merged_object_ids"]; got != a+";"+b+";"+c+";"+n && got != strings.Join([]string{a, b, c, n}, ";") {
		t.Errorf("chained hs_merged_object_ids = %q", got)
	}
	if g := call(t, srv, "GET", "/crm/v3/objects/contacts/"+b, nil); str(g.body["id"]) != n2 {
		t.Errorf("GET %s after second merge = %s, want %s", b, g.body["id"], n2)
	}
}
