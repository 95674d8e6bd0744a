package sync_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/hubspot/fakehub"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
	"github.com/clvsync/clvsync/sync/synctest"
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
	for _, tt := range []struct {
		name      string
		keepsID   bool // fakehub's old merge: the primary keeps its id
		wantMerge int
	}{
		{"merge makes a new id", false, 2},
		{"primary keeps its id", true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := synctest.NewHub(t, fakehub.Config{Contacts: 400, Seed: 7, MergeKeepsPrimaryID: tt.keepsID}, lowMinimums(nil))
			e := &env{hub: s.Hub, client: s.Client, store: s.Store, cfg: s.Config, url: s.URL, runner: s.Runner}
			e.run(t, hsync.RunOptions{})
			a, _ := soleCustomer(t, e.store)
			b, _ := soleCustomer(t, e.store, a)
			dealsA, _ := e.store.DealsOfContact(a)
			dealsB, _ := e.store.DealsOfContact(b)
			orders := len(customers(t, e.store)[a]) + len(customers(t, e.store)[b])
			histA, _ := e.store.History(a)
			histB, _ := e.store.History(b)
			merged, err := e.client.Contacts.Merge(context.Background(), a, b)
			if err != nil {
				t.Fatal(err)
			}
			survivor := merged.ID
			if tt.keepsID != (survivor == a) {
				t.Fatalf("fakehub merge made %s from %s and %s (keeps id: %v)", survivor, a, b, tt.keepsID)
			}
			rec := &recordWrites{Objects: e.runner.Client.Contacts}
			e.runner.Client.Contacts = rec
			rep := e.run(t, hsync.RunOptions{})
			if rep.Pulled.Merged != tt.wantMerge {
				t.Errorf("merged = %d, want %d", rep.Pulled.Merged, tt.wantMerge)
			}
			for _, old := range []string{a, b} {
				if old == survivor {
					continue
				}
				if _, ok, _ := e.store.Contact(old); ok {
					t.Errorf("merged-away contact %s still stored", old)
				}
				if _, ok, _ := e.store.Written(old); ok {
					t.Errorf("merged-away contact %s still has written values", old)
				}
			}
			got, _ := e.store.DealsOfContact(survivor)
			if len(got) != len(dealsA)+len(dealsB) {
				t.Errorf("survivor %s has %d deals, want %d + %d", survivor, len(got), len(dealsA), len(dealsB))
			}
			hist, _ := e.store.History(survivor)
			if len(hist) < max(len(histA), len(histB))+1 {
				t.Errorf("survivor %s has %d history points, want the merged ones (%d, %d) and this run's", survivor, len(hist), len(histA), len(histB))
			}
			w := written(t, e.store, survivor)
			if w["orders"] != strconv.Itoa(orders) {
				t.Errorf("survivor %s written orders %s, want %d", survivor, w["orders"], orders)
			}
			for _, old := range []string{a, b} {
				if old != survivor && rec.ids[old] {
					t.Errorf("a value was written to merged-away id %s", old)
				}
			}
			if !rec.ids[survivor] {
				t.Errorf("nothing written to survivor %s", survivor)
			}
			rep2 := e.run(t, hsync.RunOptions{})
			if rep2.Failed != 0 {
				t.Errorf("a run after the merge had %d failed writes", rep2.Failed)
			}
		})
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

// recordWrites remembers the ids of every batch update sent through it.
type recordWrites struct {
	hsync.Objects
	ids map[string]bool
}

func (w *recordWrites) BatchUpdate(ctx context.Context, in []hubspot.UpdateInput) (*hubspot.BatchUpdateResult, error) {
	if w.ids == nil {
		w.ids = map[string]bool{}
	}
	for _, u := range in {
		w.ids[u.ID] = true
	}
	return w.Objects.BatchUpdate(ctx, in)
}

// lowMinimums is setup's config edit (the model's minimums lowered for
// small portals) followed by mutate.
func lowMinimums(mutate func(*config.Config)) func(*config.Config) {
	return func(cfg *config.Config) {
		cfg.Model.MinCustomers = 30
		cfg.Model.MinRepeatBuyers = 10
		if mutate != nil {
			mutate(cfg)
		}
	}
}

// A contact's own change (its email here; acquisition source likewise)
// reaches the store in the next incremental run, without a full resync;
// contacts whose only change was clvsync's write are not stored again.
func TestRunner_ContactChangeIsPulledIncrementally(t *testing.T) {
	e := setup(t, 300, nil)
	e.run(t, hsync.RunOptions{})
	id, _ := soleCustomer(t, e.store)
	if _, err := e.client.Contacts.Update(context.Background(), id, map[string]string{"email": "changed.address@example.com"}); err != nil {
		t.Fatal(err)
	}
	rep := e.run(t, hsync.RunOptions{})
	if rep.Mode != "incremental" {
		t.Fatalf("mode %s", rep.Mode)
	}
	c, _, _ := e.store.Contact(id)
	if c.Email != "changed.address@example.com" {
		t.Errorf("stored email %q after an incremental run", c.Email)
	}
	if rep.Pulled.Contacts > 5 {
		t.Errorf("%d contacts stored again: clvsync's own writes should be skipped", rep.Pulled.Contacts)
	}
	t.Logf("contacts stored: %d", rep.Pulled.Contacts)
}

// An admin's own acquisition-source property (deals.source_property) is
// pulled like the built-in one: a change to it reaches the store in the next
// incremental run.
func TestRunner_CustomSourcePropertyChangeIsPulledIncrementally(t *testing.T) {
	e := setup(t, 300, func(c *config.Config) { c.Deals.SourceProperty = "lifecyclestage" })
	e.run(t, hsync.RunOptions{})
	id, _ := soleCustomer(t, e.store)
	if _, err := e.client.Contacts.Update(context.Background(), id, map[string]string{"lifecyclestage": "evangelist"}); err != nil {
		t.Fatal(err)
	}
	if rep := e.run(t, hsync.RunOptions{}); rep.Mode != "incremental" {
		t.Fatalf("mode %s", rep.Mode)
	}
	if c, _, _ := e.store.Contact(id); c.Source != "evangelist" {
		t.Errorf("stored source %q after an incremental run, want evangelist", c.Source)
	}
}

// failingContacts fails every contact batch read, as a run that breaks
// after its deal listing.
type failingContacts struct{ hsync.Objects }

func (failingContacts) BatchRead(context.Context, []string, []string) ([]hubspot.Object, error) {
	return nil, errors.New("injected: contacts unreachable")
}

// A full sync that failed after listing every deal resumes without listing
// them again.
func TestRunner_FullSyncResumesAfterTheListing(t *testing.T) {
	e := setup(t, 300, nil)
	contacts := e.runner.Client.Contacts
	e.runner.Client.Contacts = failingContacts{contacts}
	if _, err := e.runner.Run(context.Background(), hsync.RunOptions{}); err == nil {
		t.Fatal("the run with contacts unreachable succeeded")
	}
	e.runner.Client.Contacts = contacts
	before := e.client.Stats().ByEndpoint["objects.list"]
	rep := e.run(t, hsync.RunOptions{})
	if rep.Mode != "full" || !strings.Contains(rep.Reason, "continuing") {
		t.Errorf("second run: %s (%s), want a continued full sync", rep.Mode, rep.Reason)
	}
	if lists := e.client.Stats().ByEndpoint["objects.list"] - before; lists != 0 {
		t.Errorf("the deals were listed again: %d list calls", lists)
	}
	if rep.Written == 0 {
		t.Errorf("the continued sync wrote nothing")
	}
	if rep3 := e.run(t, hsync.RunOptions{}); rep3.Mode != "incremental" {
		t.Errorf("third run: %s (%s)", rep3.Mode, rep3.Reason)
	}
}
