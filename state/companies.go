package state

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// eachContact calls fn with every stored contact whose id is >= from, in id
// order, until fn returns false or an error. It is the only place in this
// file that decodes contact records: it uses the same call as
// MissingContacts, so a change of the contact encoding is adapted here.
func eachContact(tx *bolt.Tx, from string, fn func(Contact) (bool, error)) error {
	contacts := tx.Bucket(bucketContacts)
	c := contacts.Cursor()
	n := 0
	for k, _ := c.Seek([]byte(from)); k != nil; k, _ = c.Next() {
		if n++; n%scanRelease == 0 {
			trimMapped(tx)
		}
		var r contactRecord
		if _, err := getRecord(contacts, k, &r, nil); err != nil {
			return err
		}
		more, err := fn(r.contact(string(k)))
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// ForEachContact calls fn for every stored contact, in id order. It reads
// about 500 contacts per View transaction and calls fn outside any
// transaction, so fn may write to the store; such writes may or may not be
// seen by later calls. An error from fn stops the iteration and is returned
// unwrapped.
func (s *Store) ForEachContact(fn func(Contact) error) error {
	return forEachRecord(s, bucketContacts, func(_ *bolt.Tx, k, v []byte) (Contact, error) {
		var r contactRecord
		err := decodeRecord(k, v, &r, nil)
		return r.contact(string(k)), err
	}, fn)
}

// MissingCompanies returns up to limit (all when limit <= 0) company ids, in
// id order, that stored deals (the company index) or stored contacts
// (CompanyID) refer to but that have no company record. A contact's
// CompanyID that is not a valid id is ignored. The contacts are read in full
// on every call, all in one View transaction, so a caller that wants every
// missing company should ask once with limit 0 rather than page with a small
// limit.
func (s *Store) MissingCompanies(limit int) ([]string, error) {
	var out []string
	err := s.view(func(tx *bolt.Tx) error {
		companies := tx.Bucket(bucketCompanies)
		missing := func(id string) bool { return companies.Get([]byte(id)) == nil }
		// Contacts are keyed by contact id, so every contact is read; the
		// deal index is in company id order and stops at limit.
		var ids []string
		if err := eachContact(tx, "", func(c Contact) (bool, error) {
			if c.CompanyID != "" && validID("company", c.CompanyID) == nil && missing(c.CompanyID) {
				ids = append(ids, c.CompanyID)
			}
			return true, nil
		}); err != nil {
			return err
		}
		n := 0
		if err := indexedIDs(tx.Bucket(bucketCompanyDeals), func(id string) (bool, error) {
			if missing(id) {
				ids = append(ids, id)
				n++
			}
			return limit <= 0 || n < limit, nil
		}); err != nil {
			return err
		}
		// The first limit ids of the union are among the first limit of each
		// part, and the contacts' part is complete.
		out = sortedUnique(ids)
		if limit > 0 && len(out) > limit {
			out = out[:limit:limit]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("missing companies: %w", err)
	}
	return out, nil
}
