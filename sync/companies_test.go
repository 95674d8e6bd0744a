package sync_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
)

// withCompanies sets companies in a test's configuration.
func withCompanies(on bool) func(*config.Config) {
	return func(c *config.Config) { c.Companies = on }
}

// companyObjectPath matches the CRM object endpoints of companies in both
// path families (not association endpoints, which deal pulls use anyway).
var companyObjectPath = regexp.MustCompile(`^/crm/(v3/objects|objects/[0-9]{4}-[0-9]{2})/(companies|company|0-2)(/|$)`)

// companyCalls counts the company object requests a runner sends.
type companyCalls struct {
	all, search atomic.Int64
}

// countCompanyCalls serves e's hub through a handler that counts company
// object requests, and points e's runner at it; e.client, which the test
// itself uses, is not counted.
func countCompanyCalls(t testing.TB, e *env) *companyCalls {
	t.Helper()
	var n companyCalls
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if companyObjectPath.MatchString(r.URL.Path) {
			n.all.Add(1)
			if strings.HasSuffix(r.URL.Path, "/search") {
				n.search.Add(1)
			}
		}
		e.hub.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	client, err := hubspot.New(hubspot.Options{BaseURL: srv.URL, Token: testToken, APIVersion: e.cfg.HubSpot.APIVersion,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.runner.Client = hsync.NewHubSpot(client)
	return &n
}

// hubCompanies returns what HubSpot serves, by id, for every company that a
// live deal is associated with or that a stored contact names.
func hubCompanies(t testing.TB, e *env) map[string]hubspot.Object {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for o, err := range e.client.Deals.All(ctx, hubspot.ListOptions{Associations: []string{"companies"}}) {
		if err != nil {
			t.Fatal(err)
		}
		for key, list := range o.Associations {
			if strings.HasPrefix(key, "companies") {
				for _, a := range list.Results {
					ids = append(ids, a.ID)
				}
			}
		}
	}
	ids = append(ids, contactCompanies(t, e)...)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make(map[string]hubspot.Object, len(ids))
	for chunk := range slices.Chunk(ids, hubspot.MaxBatchSize) {
		objs, err := e.client.Companies.BatchRead(ctx, chunk, []string{"name", "createdate", "hs_lastmodifieddate"})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			out[o.ID] = o
		}
	}
	return out
}

// trackedCompany returns a stored company that stored deals list, with
// those deals.
func trackedCompany(t testing.TB, e *env) (string, []state.Deal) {
	t.Helper()
	for _, id := range contactCompanies(t, e) {
		if _, ok, err := e.store.Company(id); err != nil || !ok {
			continue
		}
		if deals, err := e.store.DealsOfCompany(id); err == nil && len(deals) > 0 {
			return id, deals
		}
	}
	t.Fatal("no stored company with deals")
	return "", nil
}

// contactCompanies returns the company ids stored contacts name, sorted and
// unique.
func contactCompanies(t testing.TB, e *env) []string {
	t.Helper()
	var ids []string
	err := e.store.ForEachContact(func(c state.Contact) error {
		if c.CompanyID != "" {
			ids = append(ids, c.CompanyID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func mustCompany(t testing.TB, st *state.Store, id string) state.Company {
	t.Helper()
	c, ok, err := st.Company(id)
	if err != nil || !ok {
		t.Fatalf("company %s: ok=%v err=%v", id, ok, err)
	}
	return c
}

func TestRunner_FullRunStoresReferencedCompanies(t *testing.T) {
	e := setup(t, 200, withCompanies(true))
	rep := e.run(t, hsync.RunOptions{})
	if rep.Mode != "full" {
		t.Fatalf("first run mode = %s, want full", rep.Mode)
	}
	want := hubCompanies(t, e)
	if len(want) == 0 {
		t.Fatal("the portal's deals and contacts name no companies")
	}
	for id, o := range want {
		got := mustCompany(t, e.store, id)
		if got.Name == "" || got.Name != o.Properties["name"] {
			t.Errorf("company %s name = %q, HubSpot serves %q", id, got.Name, o.Properties["name"])
		}
		if got.CreatedAt.IsZero() || got.ModifiedAt.IsZero() {
			t.Errorf("company %s times = %v, %v", id, got.CreatedAt, got.ModifiedAt)
		}
	}
	counts, err := e.store.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if counts.Companies != len(want) {
		t.Errorf("store holds %d companies, deals and contacts name %d", counts.Companies, len(want))
	}
	if missing, err := e.store.MissingCompanies(0); err != nil || len(missing) != 0 {
		t.Errorf("still missing after a full run: %v, %v", missing, err)
	}
	if cur, _ := e.store.Cursor("companies"); cur.Time.IsZero() {
		t.Error("companies cursor not set by the full run")
	}
}

func TestRunner_RenamedCompanyIsUpdated(t *testing.T) {
	e := setup(t, 200, withCompanies(true))
	e.run(t, hsync.RunOptions{})
	ctx := context.Background()
	id, _ := trackedCompany(t, e)
	if _, err := e.client.Companies.Update(ctx, id, map[string]string{"name": "Renamed Holdings"}); err != nil {
		t.Fatal(err)
	}
	// A company nothing refers to is not worth storing.
	other, err := e.client.Companies.Create(ctx, map[string]string{"name": "Unrelated Ltd"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := e.store.Cursor("companies")

	rep := e.run(t, hsync.RunOptions{})
	if rep.Mode != "incremental" {
		t.Fatalf("second run mode = %s, want incremental", rep.Mode)
	}
	got := mustCompany(t, e.store, id)
	if got.Name != "Renamed Holdings" {
		t.Errorf("company %s name = %q after rename", id, got.Name)
	}
	if _, ok, _ := e.store.Company(other.ID); ok {
		t.Errorf("untracked company %s was stored", other.ID)
	}
	after, _ := e.store.Cursor("companies")
	if !after.Time.After(before.Time) || after.Time.Before(got.ModifiedAt) {
		t.Errorf("companies cursor %v -> %v, renamed company modified at %v", before.Time, after.Time, got.ModifiedAt)
	}
}

func TestRunner_ArchivedCompanyIsRemoved(t *testing.T) {
	e := setup(t, 200, withCompanies(true))
	e.run(t, hsync.RunOptions{})
	id, deals := trackedCompany(t, e)
	if err := e.client.Companies.Archive(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	e.run(t, hsync.RunOptions{})
	if _, ok, _ := e.store.Company(id); ok {
		t.Errorf("archived company %s still in the store", id)
	}
	if ds, err := e.store.DealsOfCompany(id); err != nil || len(ds) != 0 {
		t.Errorf("archived company %s still has %d deals (%v)", id, len(ds), err)
	}
	for _, d := range deals {
		got, ok, err := e.store.Deal(d.ID)
		if err != nil || !ok {
			t.Fatalf("deal %s: ok=%v err=%v", d.ID, ok, err)
		}
		if slices.Contains(got.CompanyIDs, id) || got.PrimaryCompanyID == id {
			t.Errorf("deal %s still lists archived company %s: %v primary %q", d.ID, id, got.CompanyIDs, got.PrimaryCompanyID)
		}
	}
	// Stored contacts still name the company (their associatedcompanyid is
	// refreshed by full resyncs only); a further run must cope with that.
	e.run(t, hsync.RunOptions{})
	if _, ok, _ := e.store.Company(id); ok {
		t.Errorf("archived company %s came back", id)
	}
}

func TestRunner_CompaniesOffMakesNoCompanyCalls(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(map[bool]string{false: "off", true: "on"}[on], func(t *testing.T) {
			e := setup(t, 200, withCompanies(on))
			calls := countCompanyCalls(t, e)
			e.run(t, hsync.RunOptions{})
			var id string
			err := e.store.ForEachContact(func(c state.Contact) error {
				if id == "" {
					id = c.CompanyID
				}
				return nil
			})
			if err != nil || id == "" {
				t.Fatalf("no stored contact names a company (%v)", err)
			}
			if _, err := e.client.Companies.Update(context.Background(), id, map[string]string{"name": "Renamed"}); err != nil {
				t.Fatal(err)
			}
			e.run(t, hsync.RunOptions{})
			if on {
				if calls.all.Load() == 0 {
					t.Error("companies on: no company requests; the counter does not work")
				}
				return
			}
			if n := calls.all.Load(); n != 0 {
				t.Errorf("companies off: %d company requests in a full and an incremental run", n)
			}
		})
	}
}

// A store that holds deals and contacts but no companies cursor (built
// before companies were synced, with companies already on) gets its
// companies read by the next incremental run, without searching them all.
func TestRunner_CompaniesWithoutCursorAreReadOnce(t *testing.T) {
	e := setup(t, 200, withCompanies(true))
	calls := countCompanyCalls(t, e)
	e.run(t, hsync.RunOptions{})
	// Make it the store of an older build: no companies, no company cursors.
	var ids []string
	for id := range hubCompanies(t, e) {
		ids = append(ids, id)
	}
	if err := e.store.DeleteCompanies(ids); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetCursors(state.Cursor{Name: "companies"}); err != nil {
		t.Fatal(err)
	}
	calls.all.Store(0)
	calls.search.Store(0)
	rep := e.run(t, hsync.RunOptions{})
	if rep.Mode != "incremental" {
		t.Fatalf("second run mode = %s, want incremental", rep.Mode)
	}
	if n := calls.search.Load(); n != 0 {
		t.Errorf("%d company searches with no companies cursor, want 0", n)
	}
	if calls.all.Load() == 0 {
		t.Error("no company read")
	}
	// Deleting the companies also dropped them from the deals; the contacts
	// still name theirs, and each of those is read back.
	if counts, _ := e.store.Counts(); counts.Companies == 0 {
		t.Error("no company stored")
	}
	if missing, err := e.store.MissingCompanies(0); err != nil || len(missing) != 0 {
		t.Errorf("still missing: %v, %v", missing, err)
	}
	if cur, _ := e.store.Cursor("companies"); cur.Time.IsZero() {
		t.Error("companies cursor still unset")
	}
	// From now on, modified companies are searched.
	e.run(t, hsync.RunOptions{})
	if calls.search.Load() == 0 {
		t.Error("no company search once the cursor is set")
	}
}
