package state

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Every change to what a customer's values are computed from marks the
// customer dirty, in the same transaction as the change: a stored deal marks
// the contacts and companies it is associated with, before and after;
// a deleted deal the ones it had; a stored contact or company itself. A
// deletion or a merge marks every customer of both units (keyAllDirty):
// they are rare, and the customers they remove are no longer in any list to
// mark. A full sync marks every customer once, when ResetData empties the
// store, and its listing (PutListedDeals) marks nothing; while every
// customer is marked, no other mark is added (a full sync's 266,365
// contact marks at 300k contacts were pages the settle had to walk). The
// marks let a run compute only the customers whose inputs changed (sync's
// incremental compute); FinishCompute clears them.

// keyAllDirty, in a dirty bucket, marks every customer of the unit.
var keyAllDirty = []byte{sep}

// markDirty marks ids in the dirty bucket named by b, unless every
// customer is marked already.
func markDirty(tx *bolt.Tx, b []byte, ids []string) error {
	bucket := tx.Bucket(b)
	if len(ids) == 0 || bucket.Get(keyAllDirty) != nil {
		return nil
	}
	for _, id := range ids {
		if err := putIfChanged(bucket, []byte(id), []byte{}); err != nil {
			return err
		}
	}
	return nil
}

// markDealDirty marks the customers of both units a deal was and is
// associated with.
func markDealDirty(tx *bolt.Tx, old, rec dealRecord) error {
	for _, m := range []struct {
		b   []byte
		ids []string
	}{{bucketDirty, old.ContactIDs}, {bucketDirty, rec.ContactIDs}, {bucketCompanyDirty, old.CompanyIDs}, {bucketCompanyDirty, rec.CompanyIDs}} {
		if err := markDirty(tx, m.b, m.ids); err != nil {
			return err
		}
	}
	return nil
}

// markAllDirty marks every customer of both units.
func markAllDirty(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketDirty, bucketCompanyDirty} {
		if err := putIfChanged(tx.Bucket(b), keyAllDirty, []byte{}); err != nil {
			return err
		}
	}
	return nil
}

// Dirty returns, in id order, the unit's customers whose inputs changed
// since FinishCompute last cleared them; all is true when every customer
// must be computed again (a contact or company was deleted or merged since).
func (s *Store) Dirty() (ids []string, all bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(s.u.dirty).ForEach(func(k, _ []byte) error {
			if string(k) == string(keyAllDirty) {
				all = true
				return nil
			}
			ids = append(ids, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, false, wrapErr("read dirty "+s.u.kind+"s", err)
	}
	return ids, all, nil
}

// FinishCompute ends a computation of the unit's values in one Update: it
// stores the last results rs of run runID (as PutResults), clears the dirty
// marks of the customers computed (every mark when all is true, else those
// of ids) and sets the meta values, so that the results, the marks and what
// the caller keeps of the computation (sync's compute basis) never
// disagree after a crash.
func (s *Store) FinishCompute(runID uint64, at time.Time, rs []Result, ids []string, all bool, meta map[string]string) error {
	err := s.update(func(tx *bolt.Tx) error {
		if err := s.putResults(tx, runID, at, rs); err != nil {
			return err
		}
		if all {
			if err := emptyBucket(tx, s.u.dirty); err != nil {
				return err
			}
		} else {
			b := tx.Bucket(s.u.dirty)
			for _, id := range ids {
				if err := b.Delete([]byte(id)); err != nil {
					return err
				}
			}
		}
		return putMeta(tx, meta)
	})
	if err != nil {
		return fmt.Errorf("finish computing run %d: %w", runID, err)
	}
	return nil
}

// StoreComputed stores one part of a computation in one Update: the results
// rs of run runID (as PutResults), the deletion of the results of dropped
// (no longer customers) and the meta values, so that the results and what
// the caller keeps of their totals (sync's compute basis) never disagree
// after a crash between parts. Dirty marks are left to FinishCompute.
func (s *Store) StoreComputed(runID uint64, at time.Time, rs []Result, dropped []string, meta map[string]string) error {
	err := s.update(func(tx *bolt.Tx) error {
		if err := s.putResults(tx, runID, at, rs); err != nil {
			return err
		}
		computed := tx.Bucket(s.u.computed)
		for _, id := range dropped {
			if err := computed.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return putMeta(tx, meta)
	})
	if err != nil {
		return fmt.Errorf("store computed results of run %d: %w", runID, err)
	}
	return nil
}

// putMeta sets the meta values, each only if it changed.
func putMeta(tx *bolt.Tx, meta map[string]string) error {
	m := tx.Bucket(bucketMeta)
	for k, v := range meta {
		if err := putIfChanged(m, []byte(k), []byte(v)); err != nil {
			return err
		}
	}
	return nil
}
