package state

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func dec(s string) decimal.NullDecimal {
	return decimal.NewNullDecimal(decimal.RequireFromString(s))
}

func dealIDs(ds []Deal) []string {
	ids := make([]string, 0, len(ds))
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}

func mustDeal(t testing.TB, s *Store, id string) Deal {
	t.Helper()
	d, ok, err := s.Deal(id)
	must(t, err)
	if !ok {
		t.Fatalf("deal %s not found", id)
	}
	return d
}

func assertDealsOf(t testing.TB, s *Store, contactID string, want ...string) {
	t.Helper()
	ds, err := s.DealsOfContact(contactID)
	must(t, err)
	if got := dealIDs(ds); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("DealsOfContact(%s) = %v, want %v", contactID, got, want)
	}
}

func TestStore_PutDeals(t *testing.T) {
	t.Run("round trip", func(t *testing.T) {
		s := newStore(t)
		in := Deal{ID: "101", Amount: dec("100.50"), Currency: "EUR", HomeAmount: dec("110.25"),
			CloseDate: t0.In(time.FixedZone("CET", 3600)), CreatedAt: t0.Add(-time.Hour), Stage: "closedwon",
			Pipeline: "default", Won: true, ContactIDs: []string{"3", "1", "3"}, PrimaryContactID: "2",
			CompanyIDs: []string{"c1"}, PrimaryCompanyID: "c1", ModifiedAt: t0.Add(time.Nanosecond),
			Warnings: []string{"amount had spaces"}}
		must(t, s.PutDeals([]Deal{in, {ID: "102"}}))
		got := mustDeal(t, s, "101")
		if !got.Amount.Valid || !got.Amount.Decimal.Equal(in.Amount.Decimal) || !got.HomeAmount.Decimal.Equal(in.HomeAmount.Decimal) {
			t.Errorf("amounts = %v %v", got.Amount, got.HomeAmount)
		}
		if !got.CloseDate.Equal(t0) || got.CloseDate.Location() != time.UTC || !got.ModifiedAt.Equal(in.ModifiedAt) || !got.CreatedAt.Equal(in.CreatedAt) {
			t.Errorf("times = %v %v %v", got.CloseDate, got.CreatedAt, got.ModifiedAt)
		}
		if !slices.Equal(got.ContactIDs, []string{"1", "2", "3"}) || got.PrimaryContactID != "2" {
			t.Errorf("contacts = %v primary %q", got.ContactIDs, got.PrimaryContactID)
		}
		if got.Currency != "EUR" || got.Stage != "closedwon" || got.Pipeline != "default" || !got.Won ||
			!slices.Equal(got.CompanyIDs, []string{"c1"}) || got.PrimaryCompanyID != "c1" || len(got.Warnings) != 1 {
			t.Errorf("got %+v", got)
		}
		empty := mustDeal(t, s, "102")
		if empty.Amount.Valid || empty.HomeAmount.Valid || !empty.CloseDate.IsZero() || empty.ContactIDs != nil {
			t.Errorf("empty deal = %+v", empty)
		}
		if _, ok, err := s.Deal("999"); ok || err != nil {
			t.Errorf("Deal(999) = %v, %v", ok, err)
		}
	})

	t.Run("re-association moves index entries", func(t *testing.T) {
		s := newStore(t)
		must(t, s.PutDeals([]Deal{{ID: "d1", ContactIDs: []string{"A"}, CompanyIDs: []string{"X"}}}))
		assertDealsOf(t, s, "A", "d1")
		must(t, s.PutDeals([]Deal{{ID: "d1", ContactIDs: []string{"B"}, CompanyIDs: []string{"Y"}}}))
		assertDealsOf(t, s, "A")
		assertDealsOf(t, s, "B", "d1")
		if ds, _ := s.DealsOfCompany("X"); len(ds) != 0 {
			t.Errorf("company X still has %v", dealIDs(ds))
		}
		if ds, _ := s.DealsOfCompany("Y"); !slices.Equal(dealIDs(ds), []string{"d1"}) {
			t.Errorf("company Y has %v", dealIDs(ds))
		}
		missing, err := s.MissingContacts(0)
		must(t, err)
		if !slices.Equal(missing, []string{"B"}) {
			t.Errorf("MissingContacts = %v", missing)
		}
	})

	t.Run("cursor in same transaction: invalid deal midway leaves nothing", func(t *testing.T) {
		s := newStore(t)
		err := s.PutDeals([]Deal{{ID: "1", ContactIDs: []string{"A"}}, {ID: "2", ContactIDs: []string{"bad\x00id"}}},
			Cursor{Name: "deals", Time: t0})
		if !errors.Is(err, ErrInvalidID) || !strings.HasPrefix(err.Error(), "put deals: ") {
			t.Fatalf("err = %v", err)
		}
		if _, ok, _ := s.Deal("1"); ok {
			t.Error("deal 1 stored despite failed call")
		}
		assertDealsOf(t, s, "A")
		if c, _ := s.Cursor("deals"); !c.Time.IsZero() {
			t.Errorf("cursor moved to %v", c.Time)
		}
		must(t, s.PutDeals([]Deal{{ID: "1"}}, Cursor{Name: "deals", Time: t0}, Cursor{Name: "deals.full", After: "abc"}))
		if c, _ := s.Cursor("deals"); !c.Time.Equal(t0) {
			t.Errorf("cursor = %v", c)
		}
		if c, _ := s.Cursor("deals.full"); c.After != "abc" || c.Name != "deals.full" {
			t.Errorf("cursor = %+v", c)
		}
	})

	t.Run("invalid ids", func(t *testing.T) {
		s := newStore(t)
		for _, d := range []Deal{{ID: ""}, {ID: "a\x00b"}, {ID: strings.Repeat("9", MaxIDLen+1)},
			{ID: "1", CompanyIDs: []string{"x\x00"}}} {
			if err := s.PutDeals([]Deal{d}); !errors.Is(err, ErrInvalidID) {
				t.Errorf("PutDeals(%.30q) err = %v", d.ID, err)
			}
		}
		if err := s.PutDeals(nil, Cursor{}); !errors.Is(err, ErrInvalidID) {
			t.Errorf("empty cursor name err = %v", err)
		}
	})
}

func TestStore_DealsOfContact(t *testing.T) {
	s := newStore(t)
	must(t, s.PutDeals([]Deal{
		{ID: "1", ContactIDs: []string{"12"}},
		{ID: "2", ContactIDs: []string{"123"}},
		{ID: "3", ContactIDs: []string{"12", "1"}},
		{ID: "10", ContactIDs: []string{"12"}},
	}))
	assertDealsOf(t, s, "12", "1", "10", "3")
	assertDealsOf(t, s, "123", "2")
	assertDealsOf(t, s, "1", "3")
	assertDealsOf(t, s, "nobody")
}

func TestStore_DealsOfCompany(t *testing.T) {
	s := newStore(t)
	must(t, s.PutDeals([]Deal{{ID: "1", CompanyIDs: []string{"5"}}, {ID: "2", PrimaryCompanyID: "55"}, {ID: "3", CompanyIDs: []string{"5"}}}))
	ds, err := s.DealsOfCompany("5")
	must(t, err)
	if !slices.Equal(dealIDs(ds), []string{"1", "3"}) {
		t.Errorf("got %v", dealIDs(ds))
	}
	if ds, _ := s.DealsOfCompany("55"); !slices.Equal(dealIDs(ds), []string{"2"}) {
		t.Errorf("got %v", dealIDs(ds))
	}
}

func TestStore_PutContacts(t *testing.T) {
	s := newStore(t)
	c := Contact{ID: "7", Email: "a@example.com", Name: "Ada", CreatedAt: t0, Source: "ORGANIC_SEARCH",
		CompanyID: "c1", MergedIDs: []string{"9", "8"}, ModifiedAt: t0.Add(time.Hour)}
	must(t, s.PutContacts([]Contact{c}, Cursor{Name: "contacts", Time: t0}))
	got, ok, err := s.Contact("7")
	must(t, err)
	c.MergedIDs = []string{"8", "9"}
	if !ok || !reflect.DeepEqual(got, c) {
		t.Errorf("got %+v\nwant %+v", got, c)
	}
	if cur, _ := s.Cursor("contacts"); !cur.Time.Equal(t0) {
		t.Errorf("cursor %v", cur)
	}
	// A later upsert keeps merged ids already recorded.
	must(t, s.PutContacts([]Contact{{ID: "7", Name: "Ada L."}}))
	got, _, _ = s.Contact("7")
	if got.Name != "Ada L." || !slices.Equal(got.MergedIDs, []string{"8", "9"}) {
		t.Errorf("got %+v", got)
	}
	if _, ok, err := s.Contact("nope"); ok || err != nil {
		t.Errorf("Contact(nope) = %v %v", ok, err)
	}
	if err := s.PutContacts([]Contact{{ID: ""}}); !errors.Is(err, ErrInvalidID) {
		t.Errorf("err = %v", err)
	}
}

func TestStore_PutCompanies(t *testing.T) {
	s := newStore(t)
	in := Company{ID: "c1", Name: "Acme", CreatedAt: t0, ModifiedAt: t0}
	must(t, s.PutCompanies([]Company{in}, Cursor{Name: "companies", Time: t0}))
	got, ok, err := s.Company("c1")
	must(t, err)
	if !ok || !reflect.DeepEqual(got, in) {
		t.Errorf("got %+v", got)
	}
	if _, ok, _ := s.Company("c2"); ok {
		t.Error("c2 found")
	}
}

func TestStore_DeleteDeals(t *testing.T) {
	s := newStore(t)
	must(t, s.PutDeals([]Deal{{ID: "1", ContactIDs: []string{"A"}, CompanyIDs: []string{"X"}}, {ID: "2", ContactIDs: []string{"A"}}}))
	must(t, s.DeleteDeals([]string{"1", "unknown"}, Cursor{Name: "deals", Time: t0}))
	if _, ok, _ := s.Deal("1"); ok {
		t.Error("deal 1 still there")
	}
	assertDealsOf(t, s, "A", "2")
	if ds, _ := s.DealsOfCompany("X"); len(ds) != 0 {
		t.Errorf("company X: %v", dealIDs(ds))
	}
	if c, _ := s.Cursor("deals"); !c.Time.Equal(t0) {
		t.Error("cursor not set")
	}
}

func TestStore_DeleteContacts(t *testing.T) {
	s := newStore(t)
	must(t, s.PutDeals([]Deal{{ID: "1", ContactIDs: []string{"A", "B"}, PrimaryContactID: "A"}, {ID: "2", ContactIDs: []string{"B"}}}))
	must(t, s.PutContacts([]Contact{{ID: "A"}, {ID: "B"}}))
	must(t, s.PutResults(1, t0, []Result{{ContactID: "A", CLV: decimal.NewFromInt(5)}, {ContactID: "AB", CLV: decimal.NewFromInt(1)}}))
	must(t, s.PutWritten([]Written{{ContactID: "A", Values: map[string]string{"clv": "5"}}}))
	must(t, s.PutFailures([]Failure{{ContactID: "A", Category: "VALIDATION_ERROR"}}))

	must(t, s.DeleteContacts([]string{"A", "never-seen"}))
	if _, ok, _ := s.Contact("A"); ok {
		t.Error("contact A still there")
	}
	assertDealsOf(t, s, "A")
	d := mustDeal(t, s, "1")
	if !slices.Equal(d.ContactIDs, []string{"B"}) || d.PrimaryContactID != "" {
		t.Errorf("deal 1 = %v primary %q", d.ContactIDs, d.PrimaryContactID)
	}
	if _, ok, _ := s.Result("A"); ok {
		t.Error("computed kept")
	}
	if _, ok, _ := s.Written("A"); ok {
		t.Error("written kept")
	}
	if h, _ := s.History("A"); len(h) != 0 {
		t.Error("history kept")
	}
	if h, _ := s.History("AB"); len(h) != 1 {
		t.Error("history of AB deleted with A")
	}
	if fs, _ := s.Failures(); len(fs) != 0 {
		t.Errorf("failures kept: %v", fs)
	}
	assertDealsOf(t, s, "B", "1", "2")
}

func TestStore_DeleteCompanies(t *testing.T) {
	s := newStore(t)
	must(t, s.PutDeals([]Deal{{ID: "1", CompanyIDs: []string{"X", "Y"}, PrimaryCompanyID: "X"}}))
	must(t, s.PutCompanies([]Company{{ID: "X"}}))
	must(t, s.DeleteCompanies([]string{"X", "Z"}))
	if _, ok, _ := s.Company("X"); ok {
		t.Error("company still there")
	}
	d := mustDeal(t, s, "1")
	if !slices.Equal(d.CompanyIDs, []string{"Y"}) || d.PrimaryCompanyID != "" {
		t.Errorf("deal = %+v", d)
	}
	if ds, _ := s.DealsOfCompany("X"); len(ds) != 0 {
		t.Error("index kept")
	}
}

func TestStore_MergeContacts(t *testing.T) {
	setup := func(t *testing.T) *Store {
		s := newStore(t, Options{HistoryRetention: 10})
		must(t, s.PutDeals([]Deal{
			{ID: "1", ContactIDs: []string{"S"}},
			{ID: "2", ContactIDs: []string{"M1"}, PrimaryContactID: "M1"},
			{ID: "3", ContactIDs: []string{"M1", "S"}},
			{ID: "4", ContactIDs: []string{"M2", "other"}},
		}))
		must(t, s.PutContacts([]Contact{{ID: "S", Name: "Survivor"}, {ID: "M1", MergedIDs: []string{"old"}}, {ID: "M2"}}))
		must(t, s.PutResults(1, t0, []Result{{ContactID: "S", CLV: decimal.NewFromInt(10)}, {ContactID: "M1", CLV: decimal.NewFromInt(1)}}))
		must(t, s.PutResults(2, t0.Add(time.Hour), []Result{{ContactID: "M1", CLV: decimal.NewFromInt(2)}}))
		must(t, s.PutWritten([]Written{{ContactID: "M1", Values: map[string]string{"clv": "2"}}}))
		return s
	}
	check := func(t *testing.T, s *Store) {
		t.Helper()
		assertDealsOf(t, s, "S", "1", "2", "3", "4")
		assertDealsOf(t, s, "M1")
		assertDealsOf(t, s, "M2")
		if d := mustDeal(t, s, "2"); !slices.Equal(d.ContactIDs, []string{"S"}) || d.PrimaryContactID != "S" {
			t.Errorf("deal 2 = %v %q", d.ContactIDs, d.PrimaryContactID)
		}
		if d := mustDeal(t, s, "3"); !slices.Equal(d.ContactIDs, []string{"S"}) {
			t.Errorf("deal 3 = %v", d.ContactIDs)
		}
		if d := mustDeal(t, s, "4"); !slices.Equal(d.ContactIDs, []string{"S", "other"}) {
			t.Errorf("deal 4 = %v", d.ContactIDs)
		}
		h, err := s.History("S")
		must(t, err)
		if len(h) != 2 || h[0].RunID != 1 || !h[0].CLV.Equal(decimal.NewFromInt(10)) || h[1].RunID != 2 || !h[1].CLV.Equal(decimal.NewFromInt(2)) {
			t.Errorf("history = %+v", h)
		}
		c, _, _ := s.Contact("S")
		if c.Name != "Survivor" || !slices.Equal(c.MergedIDs, []string{"M1", "M2", "old"}) {
			t.Errorf("survivor = %+v", c)
		}
		for _, m := range []string{"M1", "M2"} {
			if _, ok, _ := s.Contact(m); ok {
				t.Errorf("contact %s kept", m)
			}
			if _, ok, _ := s.Result(m); ok {
				t.Errorf("result %s kept", m)
			}
			if _, ok, _ := s.Written(m); ok {
				t.Errorf("written %s kept", m)
			}
			if h, _ := s.History(m); len(h) != 0 {
				t.Errorf("history %s kept", m)
			}
		}
		if r, ok, _ := s.Result("S"); !ok || !r.CLV.Equal(decimal.NewFromInt(10)) {
			t.Errorf("survivor result = %+v", r)
		}
	}

	t.Run("folds deals, history and records", func(t *testing.T) {
		s := setup(t)
		must(t, s.MergeContacts("S", []string{"M1", "M2", "S"}, Cursor{Name: "contacts", Time: t0}))
		check(t, s)
		if c, _ := s.Cursor("contacts"); !c.Time.Equal(t0) {
			t.Error("cursor not set")
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		s := setup(t)
		must(t, s.MergeContacts("S", []string{"M1", "M2"}))
		before, _ := s.Counts()
		must(t, s.MergeContacts("S", []string{"M1", "M2"}))
		must(t, s.MergeContacts("S", []string{"M2"}))
		check(t, s)
		if after, _ := s.Counts(); after != before {
			t.Errorf("counts changed: %+v -> %+v", before, after)
		}
	})

	t.Run("survivor not fetched yet becomes a stub", func(t *testing.T) {
		s := newStore(t)
		must(t, s.PutDeals([]Deal{{ID: "1", ContactIDs: []string{"M"}}}))
		must(t, s.PutContacts([]Contact{{ID: "M"}}))
		must(t, s.MergeContacts("S", []string{"M"}))
		assertDealsOf(t, s, "S", "1")
		c, ok, _ := s.Contact("S")
		if !ok || !slices.Equal(c.MergedIDs, []string{"M"}) {
			t.Errorf("stub = %+v %v", c, ok)
		}
		if m, _ := s.MissingContacts(0); !slices.Equal(m, []string{"S"}) {
			t.Errorf("missing = %v", m)
		}
		must(t, s.PutContacts([]Contact{{ID: "S", Name: "Real"}}))
		if m, _ := s.MissingContacts(0); len(m) != 0 {
			t.Errorf("missing = %v", m)
		}
		if c, _, _ := s.Contact("S"); !slices.Equal(c.MergedIDs, []string{"M"}) {
			t.Errorf("merged ids lost: %+v", c)
		}
	})

	t.Run("history folding respects retention", func(t *testing.T) {
		s := newStore(t, Options{HistoryRetention: 3})
		for run := uint64(1); run <= 3; run++ {
			must(t, s.PutResults(run, t0, []Result{{ContactID: "S"}}))
			must(t, s.PutResults(run+10, t0, []Result{{ContactID: "M"}}))
		}
		must(t, s.MergeContacts("S", []string{"M"}))
		h, _ := s.History("S")
		var runs []uint64
		for _, p := range h {
			runs = append(runs, p.RunID)
		}
		if !slices.Equal(runs, []uint64{11, 12, 13}) {
			t.Errorf("runs = %v", runs)
		}
	})
}

func TestStore_ForEachCustomer(t *testing.T) {
	s := newStore(t)
	const n = 1203 // crosses two chunk boundaries
	var deals []Deal
	var contacts []Contact
	for i := range n {
		cid := fmt.Sprintf("%d", 1000+i)
		deals = append(deals, Deal{ID: "d" + cid, ContactIDs: []string{cid}}, Deal{ID: "e" + cid, ContactIDs: []string{cid}})
		if i%2 == 0 {
			contacts = append(contacts, Contact{ID: cid, Name: "n" + cid})
		}
	}
	must(t, s.PutDeals(deals))
	must(t, s.PutContacts(contacts))
	must(t, s.PutContacts([]Contact{{ID: "no-deals"}}))

	var seen []string
	err := s.ForEachCustomer(func(c Contact, ds []Deal) error {
		seen = append(seen, c.ID)
		if len(ds) != 2 || ds[0].ID != "d"+c.ID || ds[1].ID != "e"+c.ID {
			t.Fatalf("deals of %s = %v", c.ID, dealIDs(ds))
		}
		if stored := c.Name != ""; stored != ((mustAtoi(c.ID)-1000)%2 == 0) {
			t.Fatalf("contact %+v", c)
		}
		// fn may write: this would deadlock if called inside a View.
		return s.PutResults(1, t0, []Result{{ContactID: c.ID, CLV: decimal.NewFromInt(1)}})
	})
	must(t, err)
	if len(seen) != n || !slices.IsSorted(seen) {
		t.Errorf("saw %d customers, sorted %v", len(seen), slices.IsSorted(seen))
	}
	var results int
	must(t, s.ForEachResult(func(Result) error { results++; return nil }))
	if results != n {
		t.Errorf("results = %d", results)
	}

	stop := errors.New("stop")
	calls := 0
	if err := s.ForEachCustomer(func(Contact, []Deal) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("err = %v after %d calls", err, calls)
	}
}

func mustAtoi(s string) int {
	var n int
	_, _ = fmt.Sscan(s, &n)
	return n
}

func TestStore_MissingContacts(t *testing.T) {
	s := newStore(t)
	must(t, s.PutDeals([]Deal{{ID: "1", ContactIDs: []string{"a", "b", "c"}}, {ID: "2", ContactIDs: []string{"c", "d"}}}))
	must(t, s.PutContacts([]Contact{{ID: "b"}}))
	got, err := s.MissingContacts(0)
	must(t, err)
	if !slices.Equal(got, []string{"a", "c", "d"}) {
		t.Errorf("got %v", got)
	}
	if got, _ := s.MissingContacts(2); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("limit 2: %v", got)
	}
}

func TestStore_Counts(t *testing.T) {
	s := newStore(t)
	must(t, s.PutDeals([]Deal{{ID: "1", ContactIDs: []string{"a", "b"}}, {ID: "2", ContactIDs: []string{"a"}}, {ID: "3"}}))
	must(t, s.PutContacts([]Contact{{ID: "a"}, {ID: "z"}}))
	must(t, s.PutCompanies([]Company{{ID: "c"}}))
	must(t, s.PutResults(1, t0, []Result{{ContactID: "a"}}))
	must(t, s.PutWritten([]Written{{ContactID: "a"}}))
	_, err := s.BeginRun(Run{})
	must(t, err)
	got, err := s.Counts()
	must(t, err)
	want := Counts{Deals: 3, Contacts: 2, Companies: 1, Customers: 2, Computed: 1, Written: 1, HistoryPoints: 1, Runs: 1, FileSize: got.FileSize}
	if got != want || got.FileSize <= 0 {
		t.Errorf("got %+v", got)
	}
}

func TestStore_ResetData(t *testing.T) {
	s := newStore(t)
	must(t, s.PutDeals([]Deal{{ID: "1", ContactIDs: []string{"a"}}}, Cursor{Name: "deals", Time: t0}))
	must(t, s.PutContacts([]Contact{{ID: "a"}}))
	must(t, s.PutResults(1, t0, []Result{{ContactID: "a"}}))
	must(t, s.PutWritten([]Written{{ContactID: "a"}}))
	must(t, s.SetMeta("mapping_hash", "h"))
	_, err := s.BeginRun(Run{})
	must(t, err)
	must(t, s.ResetData())
	n, _ := s.Counts()
	if n.Deals+n.Contacts+n.Customers != 0 || n.Computed != 1 || n.Written != 1 || n.HistoryPoints != 1 || n.Runs != 1 {
		t.Errorf("counts = %+v", n)
	}
	if c, _ := s.Cursor("deals"); !c.Time.IsZero() {
		t.Error("cursor kept")
	}
	if v, _ := s.Meta("mapping_hash"); v != "h" {
		t.Error("meta lost")
	}
}

// Deals stored by PutListedDeals are found through the indices once
// RebuildIndexes ran, exactly as if PutDeals had stored them; a second
// call does nothing, and ResetData clears the stale mark. With a buffer of
// two pairs the rebuild inserts in several rounds, to the same indices.
func TestStore_PutListedDealsThenRebuildIndexes(t *testing.T) {
	for _, buffer := range []int{rebuildBuffer, 2} {
		t.Run(fmt.Sprint(buffer), func(t *testing.T) {
			defer func(b int) { rebuildBuffer = b }(rebuildBuffer)
			rebuildBuffer = buffer
			testPutListedDealsThenRebuildIndexes(t)
		})
	}
}

func testPutListedDealsThenRebuildIndexes(t *testing.T) {
	deals := []Deal{
		{ID: "3", ContactIDs: []string{"c2", "c1"}, CompanyIDs: []string{"k1"}},
		{ID: "1", ContactIDs: []string{"c1"}},
		{ID: "2", ContactIDs: []string{"c3"}, CompanyIDs: []string{"k1", "k2"}},
	}
	indexed, listed := newStore(t), newStore(t)
	must(t, indexed.PutDeals(deals))
	must(t, listed.PutListedDeals(deals[:2]))
	must(t, listed.PutListedDeals(deals[2:], Cursor{Name: "deals.full", After: "x"}))
	if got, _ := listed.DealsOfContact("c1"); len(got) != 0 {
		t.Fatalf("indexed before the rebuild: %v", got)
	}
	must(t, listed.RebuildIndexes())
	must(t, listed.RebuildIndexes())
	for _, id := range []string{"c1", "c2", "c3", "c4"} {
		want, err := indexed.DealsOfContact(id)
		must(t, err)
		got, err := listed.DealsOfContact(id)
		must(t, err)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("deals of contact %s: %v, want %v", id, got, want)
		}
	}
	for _, id := range []string{"k1", "k2"} {
		want, _ := indexed.DealsOfCompany(id)
		got, _ := listed.DealsOfCompany(id)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("deals of company %s: %v, want %v", id, got, want)
		}
	}
	if cur, _ := listed.Cursor("deals.full"); cur.After != "x" {
		t.Errorf("cursor %+v not stored with the deals", cur)
	}
	// Stale again, then reset: nothing is left to rebuild.
	must(t, listed.PutListedDeals(deals[:1]))
	must(t, listed.ResetData())
	if v, _ := listed.Meta("indexes_stale"); v != "" {
		t.Errorf("stale mark %q after ResetData", v)
	}
}

// RebuildIndexes inserts each index's entries in one key order even when
// they do not fit its buffer: the buffer's sorted runs are merged, so the
// pages fill once, front to back, instead of once per run (at 300k contacts
// a run of 500,000 pairs held 27 MB, and two runs rewrote the index's pages).
func TestStore_RebuildIndexesInsertsInKeyOrderPastItsBuffer(t *testing.T) {
	defer func(b int) { rebuildBuffer = b }(rebuildBuffer)
	rebuildBuffer = 3
	var deals []Deal
	for i := range 40 {
		deals = append(deals, Deal{ID: fmt.Sprintf("d%02d", i), ContactIDs: []string{fmt.Sprintf("c%02d", (i*7)%13)},
			CompanyIDs: []string{fmt.Sprintf("k%d", (i*3)%5)}})
	}
	s := newStore(t)
	must(t, s.PutListedDeals(deals))
	inserted := map[string][]string{}
	rebuildPut = func(bucket, key []byte) { inserted[string(bucket)] = append(inserted[string(bucket)], string(key)) }
	defer func() { rebuildPut = nil }()
	must(t, s.RebuildIndexes())
	for bucket, keys := range inserted {
		if !slices.IsSorted(keys) {
			t.Errorf("%s: entries inserted out of key order: %q", bucket, keys)
		}
		if len(keys) != len(deals) {
			t.Errorf("%s: %d entries inserted, want %d", bucket, len(keys), len(deals))
		}
	}
	if len(inserted) != 2 {
		t.Errorf("inserted into %d indices, want 2", len(inserted))
	}
}
