package sync_test

import (
	"context"
	"slices"
	"strconv"
	gosync "sync"
	"testing"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/hubspot/fakehub"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
	"github.com/clvsync/clvsync/sync/synctest"
)

func orders(t *testing.T, e *env, id string) int {
	t.Helper()
	n, err := strconv.Atoi(written(t, e.store, id)["orders"])
	if err != nil {
		t.Fatalf("orders of %s: %v", id, err)
	}
	return n
}

// An association change does not touch the deal's modified date, in
// fakehub as in HubSpot: only the association refresh can see it.
func TestRunner_ReassociatedDealIsMovedByIncrementalRun(t *testing.T) {
	for _, companies := range []bool{false, true} {
		t.Run("companies="+strconv.FormatBool(companies), func(t *testing.T) {
			e := setup(t, 400, func(c *config.Config) { c.Companies = companies })
			ctx := context.Background()
			e.run(t, hsync.RunOptions{})
			from, deal := soleCustomer(t, e.store)
			to, _ := soleCustomer(t, e.store, from)
			ordersFrom, ordersTo := orders(t, e, from), orders(t, e, to)
			if err := e.client.Associations.Delete(ctx, "deals", deal.ID, "contacts", from); err != nil {
				t.Fatal(err)
			}
			if err := e.client.Associations.CreateDefault(ctx, "deals", deal.ID, "contacts", to); err != nil {
				t.Fatal(err)
			}
			before := e.client.Stats().ByEndpoint["associations.batch_read"]
			rep := e.run(t, hsync.RunOptions{})
			if rep.Mode != "incremental" {
				t.Fatalf("mode %s", rep.Mode)
			}
			d, _, _ := e.store.Deal(deal.ID)
			if !slices.Equal(d.ContactIDs, []string{to}) {
				t.Errorf("deal %s stored with contacts %v, want [%s]", deal.ID, d.ContactIDs, to)
			}
			if got := orders(t, e, from); got != ordersFrom-1 {
				t.Errorf("orders of %s (deal moved away) = %d, want %d", from, got, ordersFrom-1)
			}
			if got := orders(t, e, to); got != ordersTo+1 {
				t.Errorf("orders of %s (deal moved to) = %d, want %d", to, got, ordersTo+1)
			}
			// ceil(won deals / 1,000) calls per association type.
			won := 0
			if err := e.store.ForEachDeal(func(d state.Deal) error {
				if d.Won {
					won++
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			want := int64((won + 999) / 1000)
			if companies {
				want *= 2
			}
			t.Logf("%d won deals: %d association reads", won, want)
			if got := e.client.Stats().ByEndpoint["associations.batch_read"] - before; got != want {
				t.Errorf("association batch reads = %d, want %d", got, want)
			}
		})
	}
}

func TestRunner_ContactNewlyAssociatedToWonDeal(t *testing.T) {
	e := setup(t, 400, nil)
	ctx := context.Background()
	e.run(t, hsync.RunOptions{})
	owner, deal := soleCustomer(t, e.store)
	ordersOwner := orders(t, e, owner)
	c, err := e.client.Contacts.Create(ctx, map[string]string{"email": "new.buyer@example.com", "firstname": "New"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.Associations.CreateDefault(ctx, "deals", deal.ID, "contacts", c.ID); err != nil {
		t.Fatal(err)
	}
	e.run(t, hsync.RunOptions{})
	if got := orders(t, e, c.ID); got != 1 {
		t.Errorf("orders of newly associated contact %s = %d, want 1", c.ID, got)
	}
	if got := orders(t, e, owner); got != ordersOwner {
		t.Errorf("orders of %s = %d, want %d (attribution all)", owner, got, ordersOwner)
	}
}

func TestRunner_AssociationRefreshEveryNthRun(t *testing.T) {
	s := synctest.NewHub(t, fakehub.Config{Contacts: 200, Seed: 7}, lowMinimums(func(c *config.Config) {
		c.Schedule.AssociationRefreshEvery = 2
	}))
	e := &env{hub: s.Hub, client: s.Client, store: s.Store, cfg: s.Config, url: s.URL, runner: s.Runner}
	e.run(t, hsync.RunOptions{}) // full
	var reads []int64
	for range 4 {
		before := e.client.Stats().ByEndpoint["associations.batch_read"]
		e.run(t, hsync.RunOptions{})
		reads = append(reads, e.client.Stats().ByEndpoint["associations.batch_read"]-before)
	}
	if !slices.Equal(reads, []int64{0, 1, 0, 1}) && !slices.Equal(reads, []int64{1, 0, 1, 0}) {
		t.Errorf("association reads per incremental run = %v, want one every second run", reads)
	}
}

// interleaved runs another writer's change right after the refresh's
// first association read, as a merge fold or an incremental search would
// while the refresh is under way. The refresh's readers call it
// concurrently.
type interleaved struct {
	hsync.Associations
	change func()
	once   gosync.Once
}

func (a *interleaved) BatchRead(ctx context.Context, from, to string, ids []string) (map[string][]hubspot.Association, error) {
	res, err := a.Associations.BatchRead(ctx, from, to, ids)
	if to == "contacts" {
		a.once.Do(a.change)
	}
	return res, err
}

// The refresh reads associations, then stores the deals whose
// associations changed. A deal stored by another writer after the read
// (here: moved again, and stored with its newest contact) must keep what
// that writer stored, not the refresh's older view.
func TestRunner_AssociationRefreshKeepsNewerWrites(t *testing.T) {
	e := setup(t, 400, nil)
	ctx := context.Background()
	e.run(t, hsync.RunOptions{})
	from, deal := soleCustomer(t, e.store)
	mid, _ := soleCustomer(t, e.store, from)
	last, _ := soleCustomer(t, e.store, from, mid)
	move := func(a, b string) {
		t.Helper()
		if err := e.client.Associations.Delete(ctx, "deals", deal.ID, "contacts", a); err != nil {
			t.Fatal(err)
		}
		if err := e.client.Associations.CreateDefault(ctx, "deals", deal.ID, "contacts", b); err != nil {
			t.Fatal(err)
		}
	}
	move(from, mid) // what the refresh will read
	e.runner.Client.Associations = &interleaved{Associations: e.runner.Client.Associations, change: func() {
		move(mid, last)
		d, _, err := e.store.Deal(deal.ID)
		if err != nil {
			t.Error(err)
			return
		}
		d.ContactIDs, d.PrimaryContactID = []string{last}, last
		if err := e.store.PutDeals([]state.Deal{d}); err != nil {
			t.Error(err)
		}
	}}
	e.run(t, hsync.RunOptions{})
	d, _, _ := e.store.Deal(deal.ID)
	if !slices.Equal(d.ContactIDs, []string{last}) {
		t.Errorf("deal %s stored with contacts %v, want [%s] (stored after the refresh's read of [%s])", deal.ID, d.ContactIDs, last, mid)
	}
}
