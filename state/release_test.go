package state

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// rssFileKB reads the file-backed part of this process's resident set.
func rssFileKB(t *testing.T) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

func TestStore_ReleaseMapped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ReleaseMapped is a no-op here")
	}
	s := newStore(t)
	// About 24 MB of deals.
	const n = 40000
	warning := strings.Repeat("w", 500)
	for i := 0; i < n; i += 1000 {
		deals := make([]Deal, 0, 1000)
		for j := i; j < i+1000; j++ {
			deals = append(deals, Deal{ID: fmt.Sprintf("d%06d", j), Stage: "closedwon", Warnings: []string{warning}})
		}
		must(t, s.PutDeals(deals))
	}
	touch := func() (sum int) {
		must(t, s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketDeals).ForEach(func(k, v []byte) error {
				sum += bytes.Count(v, []byte("w"))
				return nil
			})
		}))
		return sum
	}
	want := touch()
	before := rssFileKB(t)
	must(t, s.ReleaseMapped())
	after := rssFileKB(t)
	t.Logf("RssFile %d kB -> %d kB", before, after)
	if drop := before - after; drop < 10_000 {
		t.Errorf("RssFile %d kB -> %d kB after ReleaseMapped, want a drop of at least 10 MB", before, after)
	}
	// The data reads back the same: released pages are mapped again.
	if got := touch(); got != want {
		t.Errorf("after release the deals hold %d w, before %d", got, want)
	}
	d, ok, err := s.Deal("d039999")
	if err != nil || !ok || d.Warnings[0] != warning {
		t.Errorf("deal after release: ok=%v err=%v", ok, err)
	}
}

// TestStore_RecordsCheckTheMappedPagesAsTheyGo: each record a transaction
// reads or writes maps its pages (and, the kernel faulting around, up to
// 64 kB of the file beside each), so a transaction over many records is
// checked against the budget as it goes, not only at its end: at 300k
// contacts an incremental pull's 200-deal transaction mapped 10 MB, and
// 16 customers' lookups between checks 12-16 MB.
func TestStore_RecordsCheckTheMappedPagesAsTheyGo(t *testing.T) {
	s := newStore(t)
	checks := countChecks(t)
	const n = 1000
	deals := make([]Deal, n)
	for i := range deals {
		deals[i] = Deal{ID: fmt.Sprintf("d%04d", i), Stage: "closedwon", ContactIDs: []string{fmt.Sprintf("c%04d", i%300)}}
	}
	must(t, s.PutDeals(deals)) // one transaction
	if want := n / trimEvery; *checks < want {
		t.Errorf("storing %d deals in one transaction checked the mapped pages %d times, want at least %d", n, *checks, want)
	}
	*checks = 0
	for _, d := range deals {
		if _, ok, err := s.Deal(d.ID); err != nil || !ok {
			t.Fatalf("deal %s: %v %v", d.ID, ok, err)
		}
	}
	if want := n / trimEvery; *checks < want {
		t.Errorf("%d lookups checked the mapped pages %d times, want at least %d", n, *checks, want)
	}
}

// Deleting customers looks up every bucket keyed by them: those lookups
// count too (at 300k contacts, one batch of contacts HubSpot no longer
// has mapped 26 MB of the file in one transaction).
func TestStore_DeletesCheckTheMappedPagesAsTheyGo(t *testing.T) {
	s := newStore(t)
	checks := countChecks(t)
	const n = 1000
	setForTest(t, &deleteChunk, n) // one transaction: the checks counted are its own, not the commits'
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%04d", i)
	}
	for name, del := range map[string]func([]string, ...Cursor) error{"contacts": s.DeleteContacts, "companies": s.DeleteCompanies} {
		*checks = 0
		must(t, del(ids)) // one transaction
		if want := n / trimEvery; *checks < want {
			t.Errorf("deleting %d %s in one transaction checked the mapped pages %d times, want at least %d", n, name, *checks, want)
		}
	}
}

// A write's commit reads the header of every page it frees (bbolt's
// freelist) through the mapping, after the transaction's own check: a
// check follows the commit too (at 300k contacts, deleting 88 contacts
// mapped 120 MB in the commit, which stayed mapped until the next check).
func TestStore_WritesCheckTheMappedPagesAfterCommitting(t *testing.T) {
	s := newStore(t)
	checks := countChecks(t)
	must(t, s.SetMeta("k", "v"))
	if *checks < 2 {
		t.Errorf("a write checked the mapped pages %d times, want before and after its commit (2)", *checks)
	}
}

// countChecks counts the checks of the mapped pages until the test ends,
// each finding them under the budget (nothing is released).
func countChecks(t *testing.T) *int {
	checks := 0
	residentFile = func() (int64, bool) { checks++; return 0, true }
	t.Cleanup(func() { residentFile = fileResident })
	return &checks
}

// setForTest sets *p to v until the test ends.
func setForTest[T any](t *testing.T, p *T, v T) {
	old := *p
	*p = v
	t.Cleanup(func() { *p = old })
}

// lastTxID is the id of the last committed write.
func lastTxID(t *testing.T, s *Store) int {
	t.Helper()
	var id int
	must(t, s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }))
	return id
}

// Customers are deleted deleteChunk per transaction: a commit reads every
// page it frees through the mapping, and deleting a customer frees pages
// all over the file (at 300k contacts, 1.4 MB mapped per contact in the
// commit, 145 MB for a batch of 88). The cursors go with the last part, and
// an invalid id fails the call before anything is deleted.
func TestStore_DeletesCommitInParts(t *testing.T) {
	setForTest(t, &deleteChunk, 3)
	s := newStore(t)
	var ids []string
	var contacts []Contact
	var companies []Company
	for i := range 10 {
		ids = append(ids, fmt.Sprint("c", i))
		contacts = append(contacts, Contact{ID: ids[i]})
		companies = append(companies, Company{ID: ids[i]})
	}
	must(t, s.PutContacts(contacts))
	must(t, s.PutCompanies(companies))
	if err := s.DeleteContacts(append(slices.Clone(ids), ""), Cursor{Name: "contacts", After: "x"}); err == nil {
		t.Fatal("an empty id was accepted")
	}
	if n, _ := s.Counts(); n.Contacts != 10 {
		t.Fatalf("a refused deletion deleted %d contacts", 10-n.Contacts)
	}
	if c, _ := s.Cursor("contacts"); c.After != "" {
		t.Fatalf("a refused deletion set the cursor: %+v", c)
	}
	for name, del := range map[string]func([]string, ...Cursor) error{"contacts": s.DeleteContacts, "companies": s.DeleteCompanies} {
		before := lastTxID(t, s)
		must(t, del(ids, Cursor{Name: name, After: "x"}))
		if got := lastTxID(t, s) - before; got < 4 {
			t.Errorf("deleting 10 %s took %d transactions, want 4 of 3 at most", name, got)
		}
		if c, _ := s.Cursor(name); c.After != "x" {
			t.Errorf("%s cursor %+v, want set", name, c)
		}
	}
	if n, _ := s.Counts(); n.Contacts != 0 || n.Companies != 0 {
		t.Errorf("left %d contacts and %d companies", n.Contacts, n.Companies)
	}
}
