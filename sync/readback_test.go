package sync_test

import (
	"context"
	"iter"
	"strconv"
	"testing"
	"time"

	"github.com/clvsync/clvsync/hubspot"
	hsync "github.com/clvsync/clvsync/sync"
)

// countedContacts counts how a run reads contacts: listed (not archived)
// or searched by modified date.
type countedContacts struct {
	hsync.Objects
	listed, searched int
}

func (c *countedContacts) Pages(ctx context.Context, opts hubspot.ListOptions) iter.Seq2[*hubspot.Page, error] {
	if !opts.Archived {
		c.listed++
	}
	return c.Objects.Pages(ctx, opts)
}

func (c *countedContacts) ModifiedSinceWhere(ctx context.Context, since time.Time, props []string, extra ...hubspot.Filter) iter.Seq2[hubspot.Object, error] {
	c.searched++
	return c.Objects.ModifiedSinceWhere(ctx, since, props, extra...)
}

func (c *countedContacts) Search(ctx context.Context, req hubspot.SearchRequest) (*hubspot.SearchPage, error) {
	return c.Objects.(interface {
		Search(context.Context, hubspot.SearchRequest) (*hubspot.SearchPage, error)
	}).Search(ctx, req)
}

// After a write-back to most contacts, the next run reads contacts back by
// listing the portal (100 a call at the general limit) instead of
// searching them (200 a call at 5 searches a second) when that is quicker,
// and still sees what users changed meanwhile; the run after it searches
// again.
func TestRunner_ReadsBackALargeWriteByListing(t *testing.T) {
	e := setup(t, 400, nil)
	ctx := context.Background()
	first := e.run(t, hsync.RunOptions{})
	if first.Written < 300 {
		t.Fatalf("full sync wrote %d contacts; the test needs most of them written", first.Written)
	}
	id, _ := soleCustomer(t, e.store)
	if _, err := e.client.Contacts.Update(ctx, id, map[string]string{"email": "moved.on@example.com"}); err != nil {
		t.Fatal(err)
	}
	counted := &countedContacts{Objects: e.runner.Client.Contacts}
	e.runner.Client.Contacts = counted
	e.runner.Clock = func() time.Time { return anchor.Add(time.Hour) }
	e.run(t, hsync.RunOptions{})
	if counted.listed != 1 || counted.searched != 0 {
		t.Errorf("run after the full write-back listed contacts %d times and searched them %d times, want 1 and 0", counted.listed, counted.searched)
	}
	if c, _, _ := e.store.Contact(id); c.Email != "moved.on@example.com" {
		t.Errorf("contact %s stored with email %q after the listing, want moved.on@example.com", id, c.Email)
	}
	counted.listed, counted.searched = 0, 0
	e.runner.Clock = func() time.Time { return anchor.Add(2 * time.Hour) }
	e.run(t, hsync.RunOptions{})
	if counted.listed != 0 || counted.searched != 1 {
		t.Errorf("next run listed contacts %d times and searched them %d times, want 0 and 1", counted.listed, counted.searched)
	}

	// A full resync starts the contact cursor anew: what is left to read
	// back is its own writes, not theirs and the runs' before.
	if err := e.store.SetMeta("contacts_read_back", "999"); err != nil { // as after earlier writes
		t.Fatal(err)
	}
	e.runner.Clock = func() time.Time { return anchor.Add(3 * time.Hour) }
	full := e.run(t, hsync.RunOptions{Full: true})
	if got, _ := e.store.Meta("contacts_read_back"); got != strconv.Itoa(full.Written) {
		t.Errorf("after a full resync that wrote %d contacts, %s are counted to read back", full.Written, got)
	}
}
