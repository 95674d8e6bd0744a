package state

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestStore_MissingCompanies(t *testing.T) {
	// Deals name b, d and f (primary); contacts name a, d, e and none.
	setup := func(t *testing.T) *Store {
		s := newStore(t)
		must(t, s.PutDeals([]Deal{
			{ID: "1", ContactIDs: []string{"c1"}, CompanyIDs: []string{"d", "b"}, PrimaryCompanyID: "f"},
			{ID: "2", ContactIDs: []string{"c2"}, CompanyIDs: []string{"d"}},
		}))
		must(t, s.PutContacts([]Contact{{ID: "c1", CompanyID: "a"}, {ID: "c2", CompanyID: "d"},
			{ID: "c3"}, {ID: "c4", CompanyID: "e"}}))
		must(t, s.PutCompanies([]Company{{ID: "b", Name: "B"}, {ID: "e", Name: "E"}}))
		return s
	}

	t.Run("deals and contacts, in id order", func(t *testing.T) {
		s := setup(t)
		for _, tt := range []struct {
			limit int
			want  []string
		}{{0, []string{"a", "d", "f"}}, {-1, []string{"a", "d", "f"}}, {1, []string{"a"}}, {2, []string{"a", "d"}}, {5, []string{"a", "d", "f"}}} {
			got, err := s.MissingCompanies(tt.limit)
			must(t, err)
			if !slices.Equal(got, tt.want) {
				t.Errorf("limit %d: got %v, want %v", tt.limit, got, tt.want)
			}
		}
	})

	t.Run("limit interleaves both sources", func(t *testing.T) {
		s := newStore(t)
		must(t, s.PutDeals([]Deal{{ID: "1", CompanyIDs: []string{"b", "d", "f"}}}))
		must(t, s.PutContacts([]Contact{{ID: "x", CompanyID: "c"}, {ID: "y", CompanyID: "a"}, {ID: "z", CompanyID: "c"}}))
		got, err := s.MissingCompanies(3)
		must(t, err)
		if want := []string{"a", "b", "c"}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})

	t.Run("stored and deleted companies", func(t *testing.T) {
		s := setup(t)
		must(t, s.PutCompanies([]Company{{ID: "a"}, {ID: "d"}, {ID: "f"}}))
		if got, err := s.MissingCompanies(0); err != nil || len(got) != 0 {
			t.Fatalf("all stored: got %v, %v", got, err)
		}
		// Deleting f drops it from deal 1, so nothing names it any more.
		// Deleting d drops it from the deals, but contact c2 still names it.
		must(t, s.DeleteCompanies([]string{"f", "d"}))
		got, err := s.MissingCompanies(0)
		must(t, err)
		if want := []string{"d"}; !slices.Equal(got, want) {
			t.Errorf("after delete: got %v, want %v", got, want)
		}
		if d := mustDeal(t, s, "1"); !slices.Equal(d.CompanyIDs, []string{"b"}) || d.PrimaryCompanyID != "" {
			t.Errorf("deal 1 = %v primary %q", d.CompanyIDs, d.PrimaryCompanyID)
		}
	})

	t.Run("deleted deals and contacts stop counting", func(t *testing.T) {
		s := setup(t)
		must(t, s.DeleteDeals([]string{"1"}))
		must(t, s.DeleteContacts([]string{"c1"}))
		got, err := s.MissingCompanies(0)
		must(t, err)
		if want := []string{"d"}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})

	t.Run("bad company id on a contact is ignored", func(t *testing.T) {
		s := newStore(t)
		long := strings.Repeat("9", MaxIDLen+1)
		must(t, s.PutContacts([]Contact{{ID: "c1", CompanyID: long}, {ID: "c2", CompanyID: "ok"}}))
		got, err := s.MissingCompanies(0)
		must(t, err)
		if want := []string{"ok"}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})

	t.Run("empty store", func(t *testing.T) {
		got, err := newStore(t).MissingCompanies(10)
		if err != nil || len(got) != 0 {
			t.Errorf("got %v, %v", got, err)
		}
	})

	t.Run("contacts in either encoding", func(t *testing.T) {
		// A contact stored by an older build as JSON sits next to one
		// stored by PutContacts; both name a company.
		s := newStore(t)
		must(t, s.PutContacts([]Contact{{ID: "c2", CompanyID: "8"}}))
		must(t, s.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketContacts).Put([]byte("c1"), []byte(`{"email":"a@b.c","company":"7"}`))
		}))
		got, err := s.MissingCompanies(0)
		must(t, err)
		if want := []string{"7", "8"}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})

	t.Run("corrupt contact record", func(t *testing.T) {
		s := newStore(t)
		must(t, s.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketContacts).Put([]byte("c1"), []byte(`{"company":`))
		}))
		if _, err := s.MissingCompanies(0); err == nil || !strings.Contains(err.Error(), "missing companies") {
			t.Errorf("err = %v, want a missing companies error", err)
		}
	})
}

func TestStore_ForEachContact(t *testing.T) {
	s := newStore(t)
	const n = chunkSize*2 + 3 // crosses two chunk boundaries
	cs := make([]Contact, n)
	for i := range cs {
		cs[i] = Contact{ID: fmt.Sprintf("c%04d", i), Email: fmt.Sprintf("%d@example.com", i), CreatedAt: t0,
			CompanyID: fmt.Sprint(i % 7)}
	}
	must(t, s.PutContacts(cs))

	seen := 0
	must(t, s.ForEachContact(func(c Contact) error {
		want := cs[seen]
		if c.ID != want.ID || c.Email != want.Email || c.CompanyID != want.CompanyID || !c.CreatedAt.Equal(t0) {
			t.Fatalf("contact %d = %+v, want %+v", seen, c, want)
		}
		seen++
		// fn runs outside any transaction, so it may write.
		return s.PutCompanies([]Company{{ID: c.CompanyID}})
	}))
	if seen != n {
		t.Errorf("saw %d contacts, want %d", seen, n)
	}
	if got, err := s.MissingCompanies(0); err != nil || len(got) != 0 {
		t.Errorf("companies written from fn still missing: %v, %v", got, err)
	}

	stop := errors.New("stop")
	calls := 0
	err := s.ForEachContact(func(Contact) error {
		calls++
		if calls == chunkSize+1 {
			return stop
		}
		return nil
	})
	if err != stop || calls != chunkSize+1 {
		t.Errorf("stopping: err = %v after %d calls", err, calls)
	}

	if err := newStore(t).ForEachContact(func(Contact) error { return stop }); err != nil {
		t.Errorf("empty store: err = %v", err)
	}
}

// The company unit: companies with deals are its customers, and its
// results, written values, history and failures are its own, apart from the
// contacts' under the same ids. Deleting a company removes them.
func TestStore_CompanyUnit(t *testing.T) {
	companyNow := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := newStore(t)
	must(t, s.PutDeals([]Deal{
		{ID: "1", ContactIDs: []string{"c1", "c2"}, CompanyIDs: []string{"k"}},
		{ID: "2", ContactIDs: []string{"c2"}, CompanyIDs: []string{"k"}},
		{ID: "3", ContactIDs: []string{"c3"}},
	}))
	must(t, s.PutCompanies([]Company{{ID: "k", Name: "Kiwi Ltd"}}))
	co := s.CompanyUnit()
	var got []string
	must(t, co.ForEachCustomer(func(c Contact, deals []Deal) error {
		got = append(got, fmt.Sprintf("%s %s %d", c.ID, c.Name, len(deals)))
		return nil
	}))
	if want := []string{"k Kiwi Ltd 2"}; !slices.Equal(got, want) {
		t.Errorf("company customers %v, want %v", got, want)
	}
	must(t, co.PutResults(1, companyNow, []Result{{ContactID: "k", Values: map[string]string{"clv_total": "10"}}}))
	must(t, co.PutWritten([]Written{{ContactID: "k", Values: map[string]string{"clv_total": "10"}, At: companyNow}}))
	must(t, co.PutFailures([]Failure{{ContactID: "k", Category: "X", At: companyNow}}))
	if _, ok, err := s.Result("k"); err != nil || ok {
		t.Errorf("a company result is visible as a contact's: ok=%v err=%v", ok, err)
	}
	if r, ok, err := co.Result("k"); err != nil || !ok || r.Values["clv_total"] != "10" {
		t.Errorf("company result %+v ok=%v err=%v", r, ok, err)
	}
	if fs, err := s.Failures(); err != nil || len(fs) != 0 {
		t.Errorf("contact failures %v, %v", fs, err)
	}
	must(t, co.Close()) // a view: the file stays open
	must(t, s.DeleteCompanies([]string{"k"}))
	if _, ok, err := co.Written("k"); err != nil || ok {
		t.Errorf("written kept after the company was deleted: ok=%v err=%v", ok, err)
	}
	if h, err := co.History("k"); err != nil || len(h) != 0 {
		t.Errorf("history kept after the company was deleted: %v, %v", h, err)
	}
	if fs, err := co.Failures(); err != nil || len(fs) != 0 {
		t.Errorf("failures kept after the company was deleted: %v, %v", fs, err)
	}
}

func TestStore_CustomerCount(t *testing.T) {
	s := newStore(t)
	must(t, s.PutDeals([]Deal{
		{ID: "1", ContactIDs: []string{"a", "b"}, CompanyIDs: []string{"x"}},
		{ID: "2", ContactIDs: []string{"b"}, CompanyIDs: []string{"x", "y"}},
		{ID: "3"},
	}))
	must(t, s.PutContacts([]Contact{{ID: "c"}})) // no deal: not a customer
	if n, err := s.CustomerCount(); err != nil || n != 2 {
		t.Errorf("contacts with deals: %d, %v; want 2", n, err)
	}
	if n, err := s.CompanyUnit().CustomerCount(); err != nil || n != 2 {
		t.Errorf("companies with deals: %d, %v; want 2", n, err)
	}
}
