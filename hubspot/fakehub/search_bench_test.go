package fakehub

import (
	"net/http"
	"testing"
)

// BenchmarkSearchModifiedDeals is one page of an incremental pull's search
// (deals modified since a date, sorted by it) over a 30k-contact portal's
// 100k deals: fakehub scans every record, so its answer time grows with
// the portal (HubSpot's does not).
func BenchmarkSearchModifiedDeals(b *testing.B) {
	h, srv := newTestHub(b, Config{Contacts: 30000, Seed: 1, LimitScale: 1000})
	_ = h
	body := map[string]any{
		"filterGroups": []any{map[string]any{"filters": []any{
			map[string]any{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "0"},
		}}},
		"sorts": []any{map[string]any{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}},
		"limit": 200, "properties": []string{"amount", "dealstage"},
	}
	b.ResetTimer()
	for b.Loop() {
		if r := call(b, srv, http.MethodPost, "/crm/v3/objects/deals/search", body); r.status != http.StatusOK {
			b.Fatalf("status %d: %s", r.status, r.raw)
		}
	}
}
