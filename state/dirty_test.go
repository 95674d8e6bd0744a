package state

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestStore_DirtyMarks(t *testing.T) {
	type want struct {
		contacts, companies []string
		all                 bool
	}
	check := func(t *testing.T, s *Store, w want) {
		t.Helper()
		ids, all, err := s.Dirty()
		must(t, err)
		if !slices.Equal(ids, w.contacts) || all != w.all {
			t.Errorf("dirty contacts %v all %v, want %v all %v", ids, all, w.contacts, w.all)
		}
		ids, all, err = s.CompanyUnit().Dirty()
		must(t, err)
		if !slices.Equal(ids, w.companies) || all != w.all {
			t.Errorf("dirty companies %v all %v, want %v all %v", ids, all, w.companies, w.all)
		}
	}
	clear := func(t *testing.T, s *Store) {
		t.Helper()
		must(t, s.FinishCompute(1, time.Now(), nil, nil, true, nil))
		must(t, s.CompanyUnit().FinishCompute(1, time.Now(), nil, nil, true, nil))
	}
	s := newStore(t)
	check(t, s, want{})

	// A full listing marks nothing: a full sync computes everyone.
	must(t, s.PutListedDeals([]Deal{{ID: "1", ContactIDs: []string{"a"}, CompanyIDs: []string{"x"}}}))
	must(t, s.RebuildIndexes())
	check(t, s, want{})

	// A stored deal marks its customers before and after.
	must(t, s.PutDeals([]Deal{{ID: "1", ContactIDs: []string{"b"}, CompanyIDs: []string{"y"}}}))
	check(t, s, want{contacts: []string{"a", "b"}, companies: []string{"x", "y"}})

	// FinishCompute clears the listed marks only, with the results and the
	// meta values in the same transaction.
	must(t, s.FinishCompute(2, time.Now(), []Result{{ContactID: "a", Values: map[string]string{"clv_total": "1"}}},
		[]string{"a"}, false, map[string]string{"basis": "v"}))
	check(t, s, want{contacts: []string{"b"}, companies: []string{"x", "y"}})
	if r, ok, err := s.Result("a"); err != nil || !ok || r.RunID != 2 {
		t.Errorf("result of a: %+v %v %v", r, ok, err)
	}
	if v, err := s.Meta("basis"); err != nil || v != "v" {
		t.Errorf("meta basis = %q, %v", v, err)
	}
	clear(t, s)
	check(t, s, want{})

	// Stored again unchanged (an incremental search's overlap), it marks
	// nobody.
	must(t, s.PutDeals([]Deal{{ID: "1", ContactIDs: []string{"b"}, CompanyIDs: []string{"y"}}}))
	check(t, s, want{})

	// A stored contact or company marks itself; a deleted deal its customers.
	must(t, s.PutContacts([]Contact{{ID: "c"}}))
	must(t, s.PutCompanies([]Company{{ID: "z"}}))
	check(t, s, want{contacts: []string{"c"}, companies: []string{"z"}})
	clear(t, s)
	must(t, s.PutContacts([]Contact{{ID: "c"}}))
	must(t, s.PutCompanies([]Company{{ID: "z"}}))
	check(t, s, want{})
	must(t, s.DeleteDeals([]string{"1"}))
	check(t, s, want{contacts: []string{"b"}, companies: []string{"y"}})
	clear(t, s)

	// A deletion or a merge marks every customer of both units.
	for name, op := range map[string]func() error{
		"delete contact": func() error { return s.DeleteContacts([]string{"c"}) },
		"delete company": func() error { return s.DeleteCompanies([]string{"z"}) },
		"merge":          func() error { return s.MergeContacts("d", []string{"e"}) },
	} {
		op()
		ids, all, err := s.Dirty()
		must(t, err)
		if !all {
			t.Errorf("%s: dirty %v, not all", name, ids)
		}
		clear(t, s)
	}
}

// UpdateDeals stores only the edits change accepts, with their index
// entries and dirty marks, and skips ids not stored.
func TestStore_UpdateDeals(t *testing.T) {
	s := newStore(t)
	must(t, s.PutDeals([]Deal{{ID: "1", ContactIDs: []string{"a"}}, {ID: "2", ContactIDs: []string{"b"}}}))
	must(t, s.FinishCompute(1, time.Now(), nil, nil, true, nil))
	n, err := s.UpdateDeals([]string{"1", "2", "3"}, func(d *Deal) bool {
		if d.ID != "1" {
			return false
		}
		d.ContactIDs = []string{"c"}
		return true
	})
	must(t, err)
	if n != 1 {
		t.Errorf("UpdateDeals stored %d deals, want 1", n)
	}
	for id, want := range map[string]int{"a": 0, "b": 1, "c": 1} {
		deals, err := s.DealsOfContact(id)
		must(t, err)
		if len(deals) != want {
			t.Errorf("contact %s has %d deals, want %d", id, len(deals), want)
		}
	}
	if ids, _, err := s.Dirty(); err != nil || !slices.Equal(ids, []string{"a", "c"}) {
		t.Errorf("dirty %v (%v), want [a c]", ids, err)
	}
}

// StoreComputed stores results, deletes the dropped customers' results and
// sets the meta values together, and leaves the dirty marks.
func TestStore_StoreComputed(t *testing.T) {
	s := newStore(t)
	must(t, s.PutDeals([]Deal{{ID: "1", ContactIDs: []string{"a"}}, {ID: "2", ContactIDs: []string{"b"}}}))
	must(t, s.PutResults(1, time.Now(), []Result{{ContactID: "b", Values: map[string]string{"clv_total": "2"}}}))
	must(t, s.StoreComputed(2, time.Now(), []Result{{ContactID: "a", Values: map[string]string{"clv_total": "1"}}},
		[]string{"b"}, map[string]string{"basis": "v"}))
	if r, ok, err := s.Result("a"); err != nil || !ok || r.RunID != 2 {
		t.Errorf("result of a: %+v %v %v", r, ok, err)
	}
	if _, ok, err := s.Result("b"); err != nil || ok {
		t.Errorf("result of the dropped b still stored: %v %v", ok, err)
	}
	if v, err := s.Meta("basis"); err != nil || v != "v" {
		t.Errorf("meta basis = %q, %v", v, err)
	}
	if ids, _, err := s.Dirty(); err != nil || !slices.Equal(ids, []string{"a", "b"}) {
		t.Errorf("dirty %v %v, want the marks left: [a b]", ids, err)
	}
}

// After ResetData (a full sync's start) every customer is marked by the one
// all-mark, and the contacts and deals the full sync stores add no marks of
// their own: 266,365 of them at 300k contacts, whose pages the settle at the
// end of the sync walked to drop (80 MB of the state file mapped).
func TestStore_ResetDataMarksEveryoneOnce(t *testing.T) {
	s := newStore(t)
	must(t, s.ResetData())
	must(t, s.PutContacts([]Contact{{ID: "a", Email: "a@x"}, {ID: "b", Email: "b@x"}}))
	must(t, s.PutDeals([]Deal{{ID: "1", ContactIDs: []string{"a"}, CompanyIDs: []string{"x"}}}))
	for _, u := range []*Store{s, s.CompanyUnit()} {
		ids, all, err := u.Dirty()
		must(t, err)
		if !all || len(ids) != 0 {
			t.Errorf("dirty after a reset: %v all %v, want only the all-mark", ids, all)
		}
	}
	must(t, s.FinishCompute(1, time.Now(), nil, nil, true, nil))
	must(t, s.CompanyUnit().FinishCompute(1, time.Now(), nil, nil, true, nil))
	must(t, s.PutContacts([]Contact{{ID: "a", Email: "a2@x"}}))
	if ids, all, _ := s.Dirty(); all || !slices.Equal(ids, []string{"a"}) {
		t.Errorf("dirty after the full computation and one change: %v all %v, want [a]", ids, all)
	}
}

// ResetData empties every data bucket however many transactions it takes,
// and keeps what it must keep.
func TestStore_ResetDataInParts(t *testing.T) {
	setForTest(t, &resetChunk, 3)
	s := newStore(t)
	var deals []Deal
	var contacts []Contact
	for i := range 10 {
		deals = append(deals, Deal{ID: fmt.Sprint(100 + i), ContactIDs: []string{fmt.Sprint("c", i)}, CompanyIDs: []string{"k"}})
		contacts = append(contacts, Contact{ID: fmt.Sprint("c", i)})
	}
	must(t, s.PutDeals(deals))
	must(t, s.PutContacts(contacts, Cursor{Name: "deals", After: "x"}))
	must(t, s.PutResults(1, time.Now(), []Result{{ContactID: "c1", Values: map[string]string{"clv_total": "1"}}}))
	must(t, s.ResetData())
	n, err := s.Counts()
	must(t, err)
	if n.Deals+n.Contacts+n.Companies+n.Customers != 0 || n.Computed != 1 {
		t.Errorf("after the reset: %+v, want no deals, contacts, companies or customers, the result kept", n)
	}
	if c, _ := s.Cursor("deals"); c.After != "" {
		t.Errorf("cursor kept: %+v", c)
	}
	if got, _ := s.DealsOfCompany("k"); len(got) != 0 {
		t.Errorf("company index kept: %v", got)
	}
}
