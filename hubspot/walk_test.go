package hubspot_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/hubspot/fakehub"
)

// Reading back records written in batches, which share one modified time
// per batch (fakehub, and HubSpot when a batch lands within a millisecond):
// a keyset step that restarts at the last page's timestamp read each batch
// twice, about 100 new records per 200-record search (1,000 records took
// 10 searches). Leaving out the ids already seen at that timestamp reads
// each record once, so the walk needs about records/200 searches: at
// HubSpot's 5 searches a second that halves the read-back after a large
// write-back.
func TestModifiedSince_BatchTimestampsReadOnce(t *testing.T) {
	at := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	hub, err := fakehub.New(fakehub.Config{Contacts: 1200, Seed: 3, DisableRateLimits: true, Clock: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	c, err := hubspot.New(hubspot.Options{BaseURL: srv.URL, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []string
	for o, err := range c.Contacts.All(ctx, hubspot.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	if len(ids) < 1000 {
		t.Fatalf("%d contacts", len(ids))
	}
	ids = ids[:1000]
	at = at.Add(time.Hour)
	since := at
	for i := 0; i < len(ids); i += 100 {
		batch := make([]hubspot.UpdateInput, 0, 100)
		for j, id := range ids[i : i+100] {
			batch = append(batch, hubspot.UpdateInput{ID: id, Properties: map[string]string{"firstname": "n" + strconv.Itoa(i+j)}})
		}
		if _, err := c.Contacts.BatchUpdate(ctx, batch); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Second)
	}
	hub.ResetStats()
	seen := map[string]bool{}
	for o, err := range c.Contacts.ModifiedSince(ctx, since, []string{"firstname"}) {
		if err != nil {
			t.Fatal(err)
		}
		if seen[o.ID] {
			t.Fatalf("contact %s yielded twice", o.ID)
		}
		seen[o.ID] = true
	}
	if len(seen) != 1000 {
		t.Fatalf("read back %d of 1000", len(seen))
	}
	searches := hub.Stats().TotalRequests
	t.Logf("1000 records in 10 batches read back with %d searches", searches)
	if searches > 6 {
		t.Errorf("%d searches to read back 1000 records, want at most 6 (5 pages of 200 and the last, empty)", searches)
	}
}
