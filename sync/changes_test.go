package sync_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
)

// customers returns stored customers with their won deals, in id order.
func customers(t *testing.T, st *state.Store) map[string][]state.Deal {
	t.Helper()
	out := map[string][]state.Deal{}
	err := st.ForEachCustomer(func(c state.Contact, deals []state.Deal) error {
		for _, d := range deals {
			if d.Won && d.HomeAmount.Valid && !d.CloseDate.IsZero() {
				out[c.ID] = append(out[c.ID], d)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// soleCustomer finds a customer whose only won deal has a single contact.
func soleCustomer(t *testing.T, st *state.Store, skip ...string) (string, state.Deal) {
	t.Helper()
	cs := customers(t, st)
	ids := make([]string, 0, len(cs))
	for id := range cs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if slices.Contains(skip, id) {
			continue
		}
		deals := cs[id]
		if len(deals) >= 2 && len(deals[0].ContactIDs) == 1 && deals[0].HomeAmount.Decimal.GreaterThan(decimal.NewFromInt(100)) {
			return id, deals[0]
		}
	}
	t.Fatal("no suitable customer in the portal")
	return "", state.Deal{}
}

func written(t *testing.T, st *state.Store, id string) map[string]string {
	t.Helper()
	w, ok, err := st.Written(id)
	if err != nil || !ok {
		t.Fatalf("written %s: ok=%v err=%v", id, ok, err)
	}
	return w.Values
}

func TestRunner_DealChangeWritesOnlyAffectedContacts(t *testing.T) {
	e := setup(t, 400, nil)
	e.run(t, hsync.RunOptions{})
	id, deal := soleCustomer(t, e.store)
	before := written(t, e.store, id)
	// Triple the deal's amount in HubSpot, as a sales rep would.
	amount := deal.Amount.Decimal.Mul(decimal.NewFromInt(3)).StringFixed(2)
	if _, err := e.client.Deals.Update(context.Background(), deal.ID, map[string]string{"amount": amount}); err != nil {
		t.Fatal(err)
	}
	e.hub.ResetStats()
	rep := e.run(t, hsync.RunOptions{})
	if rep.Mode != "incremental" || rep.Pulled.Deals == 0 {
		t.Fatalf("run after change: mode %s, deals pulled %d", rep.Mode, rep.Pulled.Deals)
	}
	after := written(t, e.store, id)
	if after["historical_revenue"] == before["historical_revenue"] {
		t.Errorf("historical revenue of %s unchanged after its deal tripled: %s", id, after["historical_revenue"])
	}
	// Damping keeps the refit's small ripples off everyone else.
	if rep.Written < 1 || rep.Written > 3 {
		t.Errorf("wrote %d contacts after one deal changed, want the affected one (at most a boundary neighbour or two)", rep.Written)
	}
	if got := e.hub.Stats().RecordsWritten; got != int64(rep.Written) {
		t.Errorf("fakehub saw %d records written, run reports %d", got, rep.Written)
	}
}

func TestRunner_ArchivedDealIsRemoved(t *testing.T) {
	e := setup(t, 400, nil)
	e.run(t, hsync.RunOptions{})
	id, deal := soleCustomer(t, e.store)
	before := written(t, e.store, id)
	if err := e.client.Deals.Archive(context.Background(), deal.ID); err != nil {
		t.Fatal(err)
	}
	rep := e.run(t, hsync.RunOptions{})
	if rep.Pulled.Deleted == 0 {
		t.Fatalf("run after archiving a deal found %d deletions", rep.Pulled.Deleted)
	}
	if _, ok, _ := e.store.Deal(deal.ID); ok {
		t.Errorf("archived deal %s still in the store", deal.ID)
	}
	after := written(t, e.store, id)
	if after["orders"] == before["orders"] {
		t.Errorf("orders of %s still %s after a won deal was deleted", id, after["orders"])
	}
}

func TestRunner_MergedContactIsFoldedIntoSurvivor(t *testing.T) {
	e := setup(t, 400, nil)
	e.run(t, hsync.RunOptions{})
	a, _ := soleCustomer(t, e.store)
	b, _ := soleCustomer(t, e.store, a)
	dealsA, _ := e.store.DealsOfContact(a)
	dealsB, _ := e.store.DealsOfContact(b)
	if _, err := e.client.Contacts.Merge(context.Background(), a, b); err != nil {
		t.Fatal(err)
	}
	rep := e.run(t, hsync.RunOptions{})
	if rep.Pulled.Merged != 1 {
		t.Errorf("merged = %d, want 1", rep.Pulled.Merged)
	}
	if _, ok, _ := e.store.Contact(b); ok {
		t.Errorf("merged-away contact %s still stored", b)
	}
	if _, ok, _ := e.store.Written(b); ok {
		t.Errorf("merged-away contact %s still has written values", b)
	}
	got, _ := e.store.DealsOfContact(a)
	if len(got) != len(dealsA)+len(dealsB) {
		t.Errorf("survivor has %d deals, want %d + %d", len(got), len(dealsA), len(dealsB))
	}
	// Nothing was ever written to the merged-away id after the merge.
	rep2 := e.run(t, hsync.RunOptions{})
	if rep2.Failed != 0 {
		t.Errorf("a run after the merge had %d failed writes", rep2.Failed)
	}
}

func TestRunner_WholeBatchRejectionIsBisected(t *testing.T) {
	e := setup(t, 300, func(c *config.Config) { c.WriteBack.BatchSize = 50 })
	if _, err := hsync.Setup(context.Background(), e.client.Properties, e.cfg, false); err != nil {
		t.Fatal(err)
	}
	// An admin removed the "top" option from clv_tier: HubSpot now rejects
	// (with 400, whole batch) any batch holding a top-tier contact.
	prop, err := e.client.Properties.Get(context.Background(), "contacts", "clv_tier")
	if err != nil {
		t.Fatal(err)
	}
	var keep []hubspot.Option
	for _, o := range prop.Options {
		if o.Value != "top" {
			keep = append(keep, o)
		}
	}
	if _, err := e.client.Properties.Update(context.Background(), "contacts", "clv_tier", hubspot.PropertyUpdate{Options: keep}); err != nil {
		t.Fatal(err)
	}
	rep, err := e.runner.Run(context.Background(), hsync.RunOptions{SkipSetup: true})
	// A fifth of the writes refused is more than write_back.max_failed_share.
	if !errors.Is(err, hsync.ErrWritesFailed) {
		t.Fatalf("run: %v, want ErrWritesFailed", err)
	}
	if rep.Failed == 0 || rep.Written == 0 {
		t.Fatalf("written %d failed %d: want both", rep.Written, rep.Failed)
	}
	failures, err := e.store.Failures()
	if err != nil {
		t.Fatal(err)
	}
	if len(failures) != rep.Failed {
		t.Errorf("%d failures stored, run reports %d", len(failures), rep.Failed)
	}
	for _, f := range failures {
		if w, ok, _ := e.store.Written(f.ContactID); ok {
			t.Errorf("failed contact %s recorded as written: %v", f.ContactID, w.Values["tier"])
		}
		if r, _, _ := e.store.Result(f.ContactID); r.Tier != "top" {
			t.Errorf("contact %s failed but is in tier %q: bisection blamed the wrong record", f.ContactID, r.Tier)
		}
	}
	// The admin restores the option; the next run retries the failures.
	if _, err := hsync.Setup(context.Background(), e.client.Properties, e.cfg, false); err != nil {
		t.Fatal(err)
	}
	rep2 := e.run(t, hsync.RunOptions{})
	if rep2.Written != rep.Failed || rep2.Failed != 0 {
		t.Errorf("retry run wrote %d failed %d, want %d and 0", rep2.Written, rep2.Failed, rep.Failed)
	}
}

func TestRunner_SetupIsIdempotent(t *testing.T) {
	e := setup(t, 50, nil)
	first, err := hsync.Setup(context.Background(), e.client.Properties, e.cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	if !first.GroupCreated || len(first.Created) != len(config.OutputKeys()) {
		t.Fatalf("first setup: group %v, created %d of %d", first.GroupCreated, len(first.Created), len(config.OutputKeys()))
	}
	e.hub.ResetStats()
	second, err := hsync.Setup(context.Background(), e.client.Properties, e.cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	if !second.AlreadyComplete {
		t.Errorf("second setup changed something: %+v", second)
	}
	for k, n := range e.hub.Stats().Requests {
		if k[:4] != "GET " && n > 0 {
			t.Errorf("second setup sent %d %s", n, k)
		}
	}
}
