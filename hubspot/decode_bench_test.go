package hubspot

import (
	json "github.com/goccy/go-json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clvsync/clvsync/hubspot/fakehub"
)

// BenchmarkDecodeDealPage decodes one full sync page: 100 deals with the
// properties clvsync reads and their contact and company associations, as
// fakehub serves them. Decoding was about a sixth of a full sync's CPU.
func BenchmarkDecodeDealPage(b *testing.B) {
	h, err := fakehub.New(fakehub.Config{Token: testToken, Contacts: 400, Seed: 7, DisableRateLimits: true})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/crm/objects/2026-09/deals?limit=100&associations=contacts,companies"+
		"&properties=amount,closedate,createdate,deal_currency_code,dealstage,hs_is_closed_won,hs_lastmodifieddate,pipeline", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("page: %d %v %s", resp.StatusCode, err, body)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var page Page
		if err := json.Unmarshal(body, &page); err != nil {
			b.Fatal(err)
		}
		if len(page.Results) != 100 {
			b.Fatalf("%d results", len(page.Results))
		}
	}
}
