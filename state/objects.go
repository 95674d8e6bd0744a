package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/shopspring/decimal"
	bolt "go.etcd.io/bbolt"
)

// Deal is a HubSpot deal with the properties clvsync needs, normalised.
type Deal struct {
	ID string
	// Amount is the mapped amount property as read (null when absent or
	// unparsable).
	Amount decimal.NullDecimal
	// Currency is deal_currency_code.
	Currency string
	// HomeAmount is the amount in the portal's home currency (what CLV uses).
	HomeAmount decimal.NullDecimal
	// CloseDate is zero when absent.
	CloseDate       time.Time
	CreatedAt       time.Time
	Stage, Pipeline string
	Won             bool
	// ContactIDs are the associated contacts. The store keeps them sorted and
	// unique, and includes PrimaryContactID.
	ContactIDs []string
	// PrimaryContactID is optional.
	PrimaryContactID string
	// CompanyIDs are the associated companies, kept like ContactIDs.
	CompanyIDs       []string
	PrimaryCompanyID string
	ModifiedAt       time.Time
	// Warnings are data problems found when normalising (kept for reports).
	Warnings []string
}

// Contact is a HubSpot contact as clvsync keeps it.
type Contact struct {
	ID, Email, Name string
	CreatedAt       time.Time
	// Source is the acquisition source.
	Source    string
	CompanyID string
	// MergedIDs are the ids of contacts merged into this one, sorted.
	MergedIDs  []string
	ModifiedAt time.Time
}

// Company is a HubSpot company as clvsync keeps it.
type Company struct {
	ID, Name              string
	CreatedAt, ModifiedAt time.Time
}

// Cursor is a named sync position: Name "deals" holds an incremental
// high-water mark in Time, "deals.full" the paging checkpoint After of a full
// sync in progress.
type Cursor struct {
	Name  string    `json:"name"`
	Time  time.Time `json:"time,omitzero"`
	After string    `json:"after,omitempty"`
}

// dealsFillPercent is the page fill used when writing the deals bucket.
const dealsFillPercent = 0.9

type dealRecord struct {
	Amount           decimal.NullDecimal `json:"amount"`
	Currency         string              `json:"currency,omitempty"`
	HomeAmount       decimal.NullDecimal `json:"home_amount"`
	CloseDate        time.Time           `json:"close_date,omitzero"`
	CreatedAt        time.Time           `json:"created_at,omitzero"`
	Stage            string              `json:"stage,omitempty"`
	Pipeline         string              `json:"pipeline,omitempty"`
	Won              bool                `json:"won,omitempty"`
	ContactIDs       []string            `json:"contacts,omitempty"`
	PrimaryContactID string              `json:"primary_contact,omitempty"`
	CompanyIDs       []string            `json:"companies,omitempty"`
	PrimaryCompanyID string              `json:"primary_company,omitempty"`
	ModifiedAt       time.Time           `json:"modified_at,omitzero"`
	Warnings         []string            `json:"warnings,omitempty"`
}

type contactRecord struct {
	Email      string    `json:"email,omitempty"`
	Name       string    `json:"name,omitempty"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
	Source     string    `json:"source,omitempty"`
	CompanyID  string    `json:"company,omitempty"`
	MergedIDs  []string  `json:"merged_ids,omitempty"`
	ModifiedAt time.Time `json:"modified_at,omitzero"`
	// Stub marks a record created by MergeContacts for a survivor not yet
	// fetched; MissingContacts still reports it.
	Stub bool `json:"stub,omitempty"`
}

type companyRecord struct {
	Name       string    `json:"name,omitempty"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
	ModifiedAt time.Time `json:"modified_at,omitzero"`
}

type cursorRecord struct {
	Time  time.Time `json:"time,omitzero"`
	After string    `json:"after,omitempty"`
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func normaliseDeal(d Deal) dealRecord {
	contacts := d.ContactIDs
	if d.PrimaryContactID != "" {
		contacts = append(slices.Clip(contacts), d.PrimaryContactID)
	}
	companies := d.CompanyIDs
	if d.PrimaryCompanyID != "" {
		companies = append(slices.Clip(companies), d.PrimaryCompanyID)
	}
	return dealRecord{
		Amount: d.Amount, Currency: d.Currency, HomeAmount: d.HomeAmount,
		CloseDate: utc(d.CloseDate), CreatedAt: utc(d.CreatedAt),
		Stage: d.Stage, Pipeline: d.Pipeline, Won: d.Won,
		ContactIDs: sortedUnique(contacts), PrimaryContactID: d.PrimaryContactID,
		CompanyIDs: sortedUnique(companies), PrimaryCompanyID: d.PrimaryCompanyID,
		ModifiedAt: utc(d.ModifiedAt), Warnings: slices.Clone(d.Warnings),
	}
}

func (r dealRecord) deal(id string) Deal {
	return Deal{ID: id, Amount: r.Amount, Currency: r.Currency, HomeAmount: r.HomeAmount,
		CloseDate: r.CloseDate, CreatedAt: r.CreatedAt, Stage: r.Stage, Pipeline: r.Pipeline, Won: r.Won,
		ContactIDs: r.ContactIDs, PrimaryContactID: r.PrimaryContactID,
		CompanyIDs: r.CompanyIDs, PrimaryCompanyID: r.PrimaryCompanyID,
		ModifiedAt: r.ModifiedAt, Warnings: r.Warnings}
}

func (r contactRecord) contact(id string) Contact {
	return Contact{ID: id, Email: r.Email, Name: r.Name, CreatedAt: r.CreatedAt, Source: r.Source,
		CompanyID: r.CompanyID, MergedIDs: r.MergedIDs, ModifiedAt: r.ModifiedAt}
}

func encodeCursor(c Cursor) ([]byte, error) {
	return json.Marshal(cursorRecord{Time: utc(c.Time), After: c.After})
}

func putCursors(tx *bolt.Tx, cursors []Cursor) error {
	b := tx.Bucket(bucketCursors)
	for _, c := range cursors {
		if err := validID("cursor", c.Name); err != nil {
			return err
		}
		enc, err := encodeCursor(c)
		if err != nil {
			return fmt.Errorf("encode cursor %q: %w", c.Name, err)
		}
		if err := putIfChanged(b, []byte(c.Name), enc); err != nil {
			return fmt.Errorf("cursor %q: %w", c.Name, err)
		}
	}
	return nil
}

// SetCursors stores the cursors in one Update.
func (s *Store) SetCursors(cursors ...Cursor) error {
	if err := s.update(func(tx *bolt.Tx) error { return putCursors(tx, cursors) }); err != nil {
		return fmt.Errorf("set cursors: %w", err)
	}
	return nil
}

// Cursor returns the named cursor, or Cursor{Name: name} when it is absent.
func (s *Store) Cursor(name string) (Cursor, error) {
	c := Cursor{Name: name}
	err := s.view(func(tx *bolt.Tx) error {
		var r cursorRecord
		ok, err := getRecord(tx.Bucket(bucketCursors), []byte(name), &r, nil)
		if ok {
			c.Time, c.After = r.Time, r.After
		}
		return err
	})
	if err != nil {
		return Cursor{Name: name}, fmt.Errorf("get cursor %q: %w", name, err)
	}
	return c, nil
}

// PutDeals upserts deals and sets cursors in one Update. Each deal's
// contact and company index entries are rewritten: entries for associations
// the deal no longer has are removed. An invalid deal aborts the whole call,
// leaving neither data nor cursors written.
func (s *Store) PutDeals(deals []Deal, cursors ...Cursor) error {
	err := s.update(func(tx *bolt.Tx) error {
		// A full sync pages deals in ascending id order, so the deals bucket is
		// mostly appended to; bolt's default 50% fill would double the file.
		tx.Bucket(bucketDeals).FillPercent = dealsFillPercent
		for i := range deals {
			if err := putDeal(tx, &deals[i]); err != nil {
				return fmt.Errorf("deal %d (%q): %w", i, deals[i].ID, err)
			}
		}
		return putCursors(tx, cursors)
	})
	if err != nil {
		return fmt.Errorf("put deals: %w", err)
	}
	return nil
}

// UpdateDeals reads each stored deal of ids, lets change edit it, and
// stores it again (indices and dirty marks as PutDeals) when change reports
// true, all in one transaction: no other write falls between a deal's read
// and its write, so change can compare what it expects with what is
// stored. Ids not stored are skipped. It returns how many deals it stored.
func (s *Store) UpdateDeals(ids []string, change func(*Deal) bool) (int, error) {
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketDeals)
		b.FillPercent = dealsFillPercent
		for _, id := range ids {
			var rec dealRecord
			ok, err := getRecord(b, []byte(id), &rec, nil)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			d := rec.deal(id)
			if !change(&d) {
				continue
			}
			if err := putDeal(tx, &d); err != nil {
				return fmt.Errorf("deal %q: %w", id, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("update deals: %w", err)
	}
	return n, nil
}

// keyIndexesStale is the meta key PutListedDeals sets: the contact and
// company indices do not cover every stored deal until RebuildIndexes.
var keyIndexesStale = []byte("indexes_stale")

// PutListedDeals stores the deals of a full listing (after ResetData) and
// sets cursors in one Update, like PutDeals but without the contact and
// company index entries: inserted in deal order they land all over the
// indices, so every transaction rewrote most index pages (most of a full
// sync's disk writes). It marks the indices stale; RebuildIndexes makes them
// from the deals afterwards, in key order. Until then DealsOfContact,
// DealsOfCompany, ForEachCustomer, MissingContacts, MissingCompanies and
// merges miss these deals.
func (s *Store) PutListedDeals(deals []Deal, cursors ...Cursor) error {
	err := s.update(func(tx *bolt.Tx) error {
		tx.Bucket(bucketDeals).FillPercent = dealsFillPercent
		for i := range deals {
			if err := putDealRecord(tx, &deals[i], false); err != nil {
				return fmt.Errorf("deal %d (%q): %w", i, deals[i].ID, err)
			}
		}
		if err := putIfChanged(tx.Bucket(bucketMeta), keyIndexesStale, []byte("1")); err != nil {
			return err
		}
		return putCursors(tx, cursors)
	})
	if err != nil {
		return fmt.Errorf("put listed deals: %w", err)
	}
	return nil
}

// rebuildChunk is how many index entries one RebuildIndexes transaction
// inserts. A transaction holds every node it touches in memory until it
// commits: 50,000 entries a transaction peaked at 134 MB of heap for 300k
// deals, 10,000 at 56 MB, for 4 % more bytes written and no more time
// (BenchmarkRebuildIndexes).
const rebuildChunk = 10_000

// RebuildIndexes makes the contact and company indices from the stored
// deals when PutListedDeals left them stale, and does nothing otherwise. It
// empties the indices, collects the (contact, deal) and (company, deal)
// pairs in one pass over the deals, sorting them rebuildBuffer at a time
// into runs in a temporary file beside the state file (sortedKeys), and
// inserts them merged, in one key order, rebuildChunk per transaction; the
// last transaction clears the stale mark, so a run killed midway starts
// over on its next call.
func (s *Store) RebuildIndexes() error {
	var stale bool
	if err := s.view(func(tx *bolt.Tx) error {
		stale = tx.Bucket(bucketMeta).Get(keyIndexesStale) != nil
		return nil
	}); err != nil || !stale {
		return err
	}
	if err := s.update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketContactDeals, bucketCompanyDeals} {
			if err := emptyBucket(tx, b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("rebuild indices: %w", err)
	}
	// The pairs of both indices are sorted together, each behind its
	// bucket's number, and inserted rebuildChunk per transaction.
	buckets := [...][]byte{bucketContactDeals, bucketCompanyDeals}
	pairs := newSortedKeys(filepath.Dir(s.path), rebuildBuffer)
	defer pairs.close()
	if err := s.ForEachDeal(func(d Deal) error {
		for _, id := range d.ContactIDs {
			if err := pairs.add(0, id, d.ID); err != nil {
				return err
			}
		}
		for _, id := range d.CompanyIDs {
			if err := pairs.add(1, id, d.ID); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("rebuild indices: %w", err)
	}
	var chunk pairKeys
	insert := func() error {
		err := s.update(func(tx *bolt.Tx) error {
			for i := range chunk.ends {
				k := chunk.key(i)
				b := tx.Bucket(buckets[k[0]])
				b.FillPercent = dealsFillPercent
				if err := b.Put(k[1:], []byte{}); err != nil {
					return err
				}
				if rebuildPut != nil {
					rebuildPut(buckets[k[0]], k[1:])
				}
			}
			return nil
		})
		chunk.reset()
		return err
	}
	if err := pairs.each(func(k []byte) error {
		if chunk.push(k); len(chunk.ends) < rebuildChunk {
			return nil
		}
		return insert()
	}); err != nil {
		return fmt.Errorf("rebuild indices: %w", err)
	}
	if err := insert(); err != nil {
		return fmt.Errorf("rebuild indices: %w", err)
	}
	if err := s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyIndexesStale) }); err != nil {
		return fmt.Errorf("rebuild indices: %w", err)
	}
	return nil
}

// rebuildBuffer is how many index entries RebuildIndexes holds in memory
// (about 40 bytes each) before it sorts them into a run on disk: its
// memory does not grow with the deals, and the merged runs are inserted in
// one key order.
var rebuildBuffer = 100_000 // a var for tests

// rebuildPut, when set (by tests), sees each index entry RebuildIndexes
// inserts, in the order it inserts them.
var rebuildPut func(bucket, key []byte)

func putDeal(tx *bolt.Tx, d *Deal) error { return putDealRecord(tx, d, true) }

// putDealRecord validates and stores one deal, with its index entries when
// index is true.
func putDealRecord(tx *bolt.Tx, d *Deal, index bool) error {
	if err := validID("deal", d.ID); err != nil {
		return err
	}
	rec := normaliseDeal(*d)
	if err := validIDs("contact", rec.ContactIDs); err != nil {
		return err
	}
	if err := validIDs("company", rec.CompanyIDs); err != nil {
		return err
	}
	deals := tx.Bucket(bucketDeals)
	if !index {
		return putRecord(deals, []byte(d.ID), &rec, nil)
	}
	var old dealRecord
	if _, err := getRecord(deals, []byte(d.ID), &old, nil); err != nil {
		return err
	}
	if err := reindex(tx.Bucket(bucketContactDeals), d.ID, old.ContactIDs, rec.ContactIDs); err != nil {
		return err
	}
	if err := reindex(tx.Bucket(bucketCompanyDeals), d.ID, old.CompanyIDs, rec.CompanyIDs); err != nil {
		return err
	}
	// A deal stored again unchanged (an incremental search's overlap reads
	// it twice) marks nobody.
	if changed, err := putRecordChanged(deals, []byte(d.ID), &rec, nil); err != nil || !changed {
		return err
	}
	return markDealDirty(tx, old, rec)
}

// reindex moves dealID's entries in a reverse index from the sorted set old
// to the sorted set new.
func reindex(idx *bolt.Bucket, dealID string, old, new []string) error {
	for _, id := range old {
		if _, found := slices.BinarySearch(new, id); !found {
			if err := idx.Delete(pairKey(id, dealID)); err != nil {
				return err
			}
		}
	}
	for _, id := range new {
		k := pairKey(id, dealID)
		if idx.Get(k) == nil {
			if err := idx.Put(k, []byte{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// PutContacts upserts contacts and sets cursors in one Update. MergedIDs
// already recorded for a contact are kept (merges cannot be undone).
func (s *Store) PutContacts(cs []Contact, cursors ...Cursor) error {
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketContacts)
		for i, c := range cs {
			if err := validID("contact", c.ID); err != nil {
				return fmt.Errorf("contact %d: %w", i, err)
			}
			if err := validIDs("merged contact", c.MergedIDs); err != nil {
				return fmt.Errorf("contact %q: %w", c.ID, err)
			}
			var old contactRecord
			if _, err := getRecord(b, []byte(c.ID), &old, nil); err != nil {
				return err
			}
			rec := contactRecord{Email: c.Email, Name: c.Name, CreatedAt: utc(c.CreatedAt), Source: c.Source,
				CompanyID: c.CompanyID, ModifiedAt: utc(c.ModifiedAt),
				MergedIDs: sortedUnique(append(slices.Clone(c.MergedIDs), old.MergedIDs...))}
			if changed, err := putRecordChanged(b, []byte(c.ID), &rec, nil); err != nil {
				return err
			} else if changed {
				if err := markDirty(tx, bucketDirty, []string{c.ID}); err != nil {
					return err
				}
			}
		}
		return putCursors(tx, cursors)
	})
	if err != nil {
		return fmt.Errorf("put contacts: %w", err)
	}
	return nil
}

// PutCompanies upserts companies and sets cursors in one Update.
func (s *Store) PutCompanies(cs []Company, cursors ...Cursor) error {
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCompanies)
		for i, c := range cs {
			if err := validID("company", c.ID); err != nil {
				return fmt.Errorf("company %d: %w", i, err)
			}
			rec := companyRecord{Name: c.Name, CreatedAt: utc(c.CreatedAt), ModifiedAt: utc(c.ModifiedAt)}
			if changed, err := putRecordChanged(b, []byte(c.ID), &rec, nil); err != nil {
				return err
			} else if changed {
				if err := markDirty(tx, bucketCompanyDirty, []string{c.ID}); err != nil {
					return err
				}
			}
		}
		return putCursors(tx, cursors)
	})
	if err != nil {
		return fmt.Errorf("put companies: %w", err)
	}
	return nil
}

// DeleteDeals removes deals and their index entries, and sets cursors, in
// one Update. Unknown ids are ignored.
func (s *Store) DeleteDeals(ids []string, cursors ...Cursor) error {
	err := s.update(func(tx *bolt.Tx) error {
		deals := tx.Bucket(bucketDeals)
		for _, id := range ids {
			if err := validID("deal", id); err != nil {
				return err
			}
			var old dealRecord
			ok, err := getRecord(deals, []byte(id), &old, nil)
			if err != nil || !ok {
				if err != nil {
					return err
				}
				continue
			}
			if err := markDealDirty(tx, old, dealRecord{}); err != nil {
				return err
			}
			if err := reindex(tx.Bucket(bucketContactDeals), id, old.ContactIDs, nil); err != nil {
				return err
			}
			if err := reindex(tx.Bucket(bucketCompanyDeals), id, old.CompanyIDs, nil); err != nil {
				return err
			}
			if err := deals.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return putCursors(tx, cursors)
	})
	if err != nil {
		return fmt.Errorf("delete deals: %w", err)
	}
	return nil
}

// editDealsOf applies edit to every deal in idx under id (a contact or
// company), rewriting the deal record and both of its index entries.
func editDealsOf(tx *bolt.Tx, idx *bolt.Bucket, id string, edit func(*dealRecord)) error {
	deals := tx.Bucket(bucketDeals)
	for _, k := range scanPrefix(idx, prefixKey(id)) {
		_, dealID := splitKey(k)
		var rec dealRecord
		ok, err := getRecord(deals, []byte(dealID), &rec, nil)
		if err != nil {
			return err
		}
		if !ok { // a dangling index entry; drop it
			if err := idx.Delete(k); err != nil {
				return err
			}
			continue
		}
		oldContacts, oldCompanies := rec.ContactIDs, rec.CompanyIDs
		edit(&rec)
		rec.ContactIDs, rec.CompanyIDs = sortedUnique(rec.ContactIDs), sortedUnique(rec.CompanyIDs)
		if err := reindex(tx.Bucket(bucketContactDeals), dealID, oldContacts, rec.ContactIDs); err != nil {
			return err
		}
		if err := reindex(tx.Bucket(bucketCompanyDeals), dealID, oldCompanies, rec.CompanyIDs); err != nil {
			return err
		}
		if err := putRecord(deals, []byte(dealID), &rec, nil); err != nil {
			return err
		}
	}
	return nil
}

func without(ids []string, id string) []string {
	return slices.DeleteFunc(slices.Clone(ids), func(x string) bool { return x == id })
}

// DeleteContacts removes contacts with everything keyed by them: index
// entries (and the id from their deals' ContactIDs), computed result,
// written values (with segment state), history and failures, in parts
// (deleteCustomers); cursors are set with the last. Unknown ids are ignored.
func (s *Store) DeleteContacts(ids []string, cursors ...Cursor) error {
	return s.deleteCustomers(contactUnit, ids, cursors, func(id string) func(*dealRecord) {
		return func(r *dealRecord) {
			r.ContactIDs = without(r.ContactIDs, id)
			if r.PrimaryContactID == id {
				r.PrimaryContactID = ""
			}
		}
	})
}

// deleteCustomers deletes u's customers ids (deleteCustomer, each deal of
// theirs edited by edit(id)), deleteChunk per transaction, and sets cursors
// with the last. Every id is checked first: an invalid one fails the call
// before anything is deleted. A run stopped between two parts has deleted
// some; its callers are idempotent: the ids not yet deleted are found
// again by the next run (deals still naming them, an archive scan whose
// cursor has not moved, a write refused again).
func (s *Store) deleteCustomers(u *unit, ids []string, cursors []Cursor, edit func(id string) func(*dealRecord)) error {
	for _, id := range ids {
		if err := validID(u.kind, id); err != nil {
			return fmt.Errorf("delete %ss: %w", u.kind, err)
		}
	}
	for {
		part := ids[:min(len(ids), deleteChunk)]
		ids = ids[len(part):]
		err := s.update(func(tx *bolt.Tx) error {
			for _, id := range part {
				if err := deleteCustomer(tx, u, id, edit(id)); err != nil {
					return fmt.Errorf("%s %q: %w", u.kind, id, err)
				}
			}
			if len(ids) > 0 {
				return nil
			}
			return putCursors(tx, cursors)
		})
		if err != nil {
			return fmt.Errorf("delete %ss: %w", u.kind, err)
		}
		if len(ids) == 0 {
			return nil
		}
	}
}

// deleteChunk is how many customers deleteCustomers deletes per
// transaction. A commit reads the header of every page it frees through the
// mapping, and a customer's records, index entries and history are all
// over the file: at 300k contacts a commit mapped 1.4 MB per contact
// deleted (145 MB for 88), where the transaction's own reads are checked
// every trimEvery records.
var deleteChunk = 8

// deleteContact edits id's deals with edit and removes every record keyed
// by id.
func deleteContact(tx *bolt.Tx, id string, edit func(*dealRecord)) error {
	return deleteCustomer(tx, contactUnit, id, edit)
}

// deleteCustomer edits the deals of u's customer id with edit and removes
// every record of u keyed by id: its record, computed result, written
// values, failure and history.
func deleteCustomer(tx *bolt.Tx, u *unit, id string, edit func(*dealRecord)) error {
	if err := markAllDirty(tx); err != nil {
		return err
	}
	if err := editDealsOf(tx, tx.Bucket(u.index), id, edit); err != nil {
		return err
	}
	// Each lookup maps the pages on its path, as a record read does.
	for _, name := range [][]byte{u.records, u.computed, u.written, u.failures} {
		if err := tx.Bucket(name).Delete([]byte(id)); err != nil {
			return err
		}
		recordTouched(tx)
	}
	recordTouched(tx)
	return deletePrefix(tx.Bucket(u.history), prefixKey(id))
}

// DeleteCompanies removes companies with everything keyed by them (index
// entries and the ids from their deals' CompanyIDs, and their computed
// result, written values, history and failure as customers), in parts
// (deleteCustomers), and sets cursors with the last. Contacts' CompanyID
// is HubSpot's property and is left as read.
func (s *Store) DeleteCompanies(ids []string, cursors ...Cursor) error {
	return s.deleteCustomers(companyUnit, ids, cursors, func(id string) func(*dealRecord) {
		return func(r *dealRecord) {
			r.CompanyIDs = without(r.CompanyIDs, id)
			if r.PrimaryCompanyID == id {
				r.PrimaryCompanyID = ""
			}
		}
	})
}

// MergeContacts folds the merged contacts into survivor in one Update: each
// of their deals is associated with survivor instead (deal record and
// index), their history points are copied into survivor's history (where
// both have a point for the same run, survivor's is kept), their contact,
// computed, written and failure records are removed, and their ids (and the
// ids merged into them) are added to survivor's MergedIDs. If survivor has no
// contact record yet, a stub holding MergedIDs is stored and MissingContacts
// keeps reporting it. MergeContacts is idempotent.
func (s *Store) MergeContacts(survivor string, merged []string, cursors ...Cursor) error {
	err := s.update(func(tx *bolt.Tx) error {
		if err := validID("survivor contact", survivor); err != nil {
			return err
		}
		if err := validIDs("merged contact", merged); err != nil {
			return err
		}
		contacts := tx.Bucket(bucketContacts)
		var surv contactRecord
		found, err := getRecord(contacts, []byte(survivor), &surv, nil)
		if err != nil {
			return err
		}
		if !found {
			surv.Stub = true
		}
		mergedIDs := slices.Clone(surv.MergedIDs)
		hist := tx.Bucket(bucketHistory)
		for _, m := range sortedUnique(merged) {
			if m == survivor {
				continue
			}
			mergedIDs = append(mergedIDs, m)
			var mrec contactRecord
			if _, err := getRecord(contacts, []byte(m), &mrec, nil); err != nil {
				return err
			}
			mergedIDs = append(mergedIDs, mrec.MergedIDs...)
			c := hist.Cursor()
			prefix := prefixKey(m)
			type kv struct{ k, v []byte }
			var moved []kv
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				nk := append(prefixKey(survivor), k[len(prefix):]...)
				moved = append(moved, kv{nk, bytes.Clone(v)})
			}
			for _, p := range moved {
				if hist.Get(p.k) == nil {
					if err := hist.Put(p.k, p.v); err != nil {
						return err
					}
				}
			}
			if err := deleteContact(tx, m, func(r *dealRecord) {
				r.ContactIDs = append(without(r.ContactIDs, m), survivor)
				if r.PrimaryContactID == m {
					r.PrimaryContactID = survivor
				}
			}); err != nil {
				return fmt.Errorf("merged contact %q: %w", m, err)
			}
		}
		if err := trimHistory(hist, survivor, s.opts.HistoryRetention); err != nil {
			return err
		}
		surv.MergedIDs = sortedUnique(without(mergedIDs, survivor))
		if !found && len(surv.MergedIDs) == 0 {
			return putCursors(tx, cursors)
		}
		if err := putRecord(contacts, []byte(survivor), &surv, nil); err != nil {
			return err
		}
		return putCursors(tx, cursors)
	})
	if err != nil {
		return fmt.Errorf("merge contacts into %q: %w", survivor, err)
	}
	return nil
}

// Deal returns the deal with id; ok is false when it is not stored.
func (s *Store) Deal(id string) (d Deal, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		var r dealRecord
		ok, err = getRecord(tx.Bucket(bucketDeals), []byte(id), &r, nil)
		d = r.deal(id)
		return err
	})
	if err != nil || !ok {
		return Deal{}, false, wrapErr("get deal", err)
	}
	return d, true, nil
}

// Contact returns the contact with id; ok is false when it is not stored.
func (s *Store) Contact(id string) (c Contact, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		var r contactRecord
		ok, err = getRecord(tx.Bucket(bucketContacts), []byte(id), &r, nil)
		c = r.contact(id)
		return err
	})
	if err != nil || !ok {
		return Contact{}, false, wrapErr("get contact", err)
	}
	return c, true, nil
}

// Company returns the company with id; ok is false when it is not stored.
func (s *Store) Company(id string) (c Company, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		var r companyRecord
		ok, err = getRecord(tx.Bucket(bucketCompanies), []byte(id), &r, nil)
		c = Company{ID: id, Name: r.Name, CreatedAt: r.CreatedAt, ModifiedAt: r.ModifiedAt}
		return err
	})
	if err != nil || !ok {
		return Company{}, false, wrapErr("get company", err)
	}
	return c, true, nil
}

func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

// dealsUnder reads the deals indexed under id in idx, in deal id order.
func dealsUnder(tx *bolt.Tx, idx *bolt.Bucket, id string) ([]Deal, error) {
	deals := tx.Bucket(bucketDeals)
	var out []Deal
	prefix := prefixKey(id)
	c := idx.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		dealID := string(k[len(prefix):])
		var r dealRecord
		ok, err := getRecord(deals, []byte(dealID), &r, nil)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r.deal(dealID))
		}
	}
	return out, nil
}

// DealsOfContact returns the deals associated with contactID, in deal id
// order, from one prefix scan of the contact index.
func (s *Store) DealsOfContact(contactID string) ([]Deal, error) {
	var out []Deal
	err := s.view(func(tx *bolt.Tx) (err error) {
		out, err = dealsUnder(tx, tx.Bucket(bucketContactDeals), contactID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("deals of contact %q: %w", contactID, err)
	}
	return out, nil
}

// DealsOfCompany returns the deals associated with companyID, in deal id
// order.
func (s *Store) DealsOfCompany(companyID string) ([]Deal, error) {
	var out []Deal
	err := s.view(func(tx *bolt.Tx) (err error) {
		out, err = dealsUnder(tx, tx.Bucket(bucketCompanyDeals), companyID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("deals of company %q: %w", companyID, err)
	}
	return out, nil
}

// customerRecord reads the unit's record of customer id from records: a
// contact, or on the company unit a company as a Contact (id, name and
// create date). A customer not stored yet is Contact{ID: id}.
func (s *Store) customerRecord(records *bolt.Bucket, id string) (Contact, error) {
	if s.u == companyUnit {
		var r companyRecord
		_, err := getRecord(records, []byte(id), &r, nil)
		return Contact{ID: id, Name: r.Name, CreatedAt: r.CreatedAt, ModifiedAt: r.ModifiedAt}, err
	}
	var r contactRecord
	_, err := getRecord(records, []byte(id), &r, nil)
	return r.contact(id), err
}

// Customer returns one customer of the unit with its deals, as
// ForEachCustomer would visit it; ok is false when it has no deal.
func (s *Store) Customer(id string) (c Contact, deals []Deal, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		if c, err = s.customerRecord(tx.Bucket(s.u.records), id); err != nil {
			return err
		}
		deals, err = dealsUnder(tx, tx.Bucket(s.u.index), id)
		return err
	})
	if err != nil {
		return Contact{}, nil, false, wrapErr("get "+s.u.kind, err)
	}
	return c, deals, len(deals) > 0, nil
}

// ForEachCustomer calls fn for every contact that has at least one deal, in
// contact id order, with its Contact (Contact{ID: id} when not stored yet)
// and its deals. On the CompanyUnit view it visits companies with deals
// instead, each as a Contact holding the company's id, name and dates. It reads customerChunk contacts per View transaction and calls
// fn outside any transaction, so fn may write to the store; such writes may
// or may not be seen by later calls. An error from fn stops the iteration
// and is returned unwrapped.
func (s *Store) ForEachCustomer(fn func(c Contact, deals []Deal) error) error {
	type customer struct {
		c     Contact
		deals []Deal
	}
	read := func(tx *bolt.Tx, from []byte) ([]customer, []byte, error) {
		var batch []customer
		idx, records := tx.Bucket(s.u.index), tx.Bucket(s.u.records)
		c := idx.Cursor()
		for k, _ := seek(c, from); k != nil; {
			cid, _ := splitKey(k)
			if len(batch) == customerChunk {
				return batch, []byte(cid), nil
			}
			who, err := s.customerRecord(records, cid)
			if err != nil {
				return nil, nil, err
			}
			deals, err := dealsUnder(tx, idx, cid)
			if err != nil {
				return nil, nil, err
			}
			if len(deals) > 0 { // else only dangling index entries
				batch = append(batch, customer{who, deals})
			}
			if len(batch)%customerTrim == customerTrim-1 {
				trimMapped(tx)
			}
			k, _ = c.Seek(afterPrefix(cid))
		}
		return batch, nil, nil
	}
	return readChunks(s, "customers", read, func(c customer) error { return fn(c.c, c.deals) })
}

// customerChunk is how many customers ForEachCustomer reads per View
// transaction (and so between releases of the mapped pages): their deals
// are looked up all over the deals bucket (see readChunks).
const customerChunk = 100

// customerTrim is how many customers ForEachCustomer reads between checks
// of the mapped pages within a transaction. Each deal looked up maps the
// page-cache folio around its page: at 300k contacts the 100 customers of
// a chunk mapped up to 60 MB before the check at its end.
const customerTrim = 20

// indexedIDs calls fn with each distinct first key part of idx (the contact
// or company ids that have deals), in order, until fn returns false.
func indexedIDs(idx *bolt.Bucket, fn func(id string) (bool, error)) error {
	c := idx.Cursor()
	n := 0
	for k, _ := c.First(); k != nil; {
		if n++; n%scanRelease == 0 {
			trimMapped(idx.Tx())
		}
		id, _ := splitKey(k)
		more, err := fn(id)
		if err != nil || !more {
			return err
		}
		k, _ = c.Seek(afterPrefix(id))
	}
	return nil
}

// MissingContacts returns up to limit (all when limit <= 0) contact ids that
// deals refer to but that have no fetched contact record, in id order.
func (s *Store) MissingContacts(limit int) ([]string, error) {
	var out []string
	err := s.view(func(tx *bolt.Tx) error {
		contacts := tx.Bucket(bucketContacts)
		return indexedIDs(tx.Bucket(bucketContactDeals), func(cid string) (bool, error) {
			var r contactRecord
			ok, err := getRecord(contacts, []byte(cid), &r, nil)
			if err != nil {
				return false, err
			}
			if !ok || r.Stub {
				out = append(out, cid)
			}
			return limit <= 0 || len(out) < limit, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("missing contacts: %w", err)
	}
	return out, nil
}

// ForEachDeal calls fn for every stored deal in deal id order, chunked like
// ForEachResult. An error from fn stops the iteration and is returned
// unwrapped.
func (s *Store) ForEachDeal(fn func(Deal) error) error {
	return forEachRecord(s, bucketDeals, func(_ *bolt.Tx, k, v []byte) (Deal, error) {
		var rec dealRecord
		err := decodeRecord(k, v, &rec, nil)
		return rec.deal(string(k)), err
	}, fn)
}
