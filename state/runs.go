package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Outcome is how a run ended, as the run log records it.
type Outcome string

// Run outcomes.
const (
	OutcomeRunning     Outcome = "running"
	OutcomeOK          Outcome = "ok"
	OutcomeFailed      Outcome = "failed"
	OutcomeInterrupted Outcome = "interrupted"
	// OutcomePartial: the run finished but HubSpot refused some writes
	// (no more than write_back.max_failed_share of them).
	OutcomePartial Outcome = "partial"
	// OutcomeBlocked: the circuit breaker stopped the run before it wrote
	// anything.
	OutcomeBlocked Outcome = "blocked"
)

// MaxRunWarnings is how many warnings a run record keeps.
const MaxRunWarnings = 200

// Run is one entry of the run log.
type Run struct {
	ID    uint64    `json:"id"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
	// Mode is "full" or "incremental".
	Mode   string `json:"mode"`
	DryRun bool   `json:"dry_run,omitempty"`
	// Outcome is how the run ended.
	Outcome Outcome `json:"outcome"`
	// Model says which model version the run predicted with, and why it was
	// fitted when the run fitted it.
	Model       string           `json:"model,omitempty"`
	Counts      map[string]int64 `json:"counts,omitempty"`
	APICalls    int64            `json:"api_calls"`
	RateLimited int64            `json:"rate_limited"`
	Error       string           `json:"error,omitempty"`
	// Warnings are capped at MaxRunWarnings.
	Warnings []string `json:"warnings,omitempty"`
}

type runRecord struct {
	Start       time.Time        `json:"start,omitzero"`
	End         time.Time        `json:"end,omitzero"`
	Mode        string           `json:"mode,omitempty"`
	DryRun      bool             `json:"dry_run,omitempty"`
	Outcome     Outcome          `json:"outcome"`
	Counts      map[string]int64 `json:"counts,omitempty"`
	APICalls    int64            `json:"api_calls,omitempty"`
	RateLimited int64            `json:"rate_limited,omitempty"`
	Error       string           `json:"error,omitempty"`
	Warnings    []string         `json:"warnings,omitempty"`
	Model       string           `json:"model,omitempty"`
}

func newRunRecord(r Run) runRecord {
	w := r.Warnings
	if len(w) > MaxRunWarnings {
		w = w[:MaxRunWarnings]
	}
	return runRecord{Start: utc(r.Start), End: utc(r.End), Mode: r.Mode, DryRun: r.DryRun, Outcome: r.Outcome,
		Counts: maps.Clone(r.Counts), APICalls: r.APICalls, RateLimited: r.RateLimited, Error: r.Error, Warnings: w, Model: r.Model}
}

func decodeRun(k, v []byte) (Run, error) {
	if len(k) != 8 {
		return Run{}, fmt.Errorf("malformed run key %q", k)
	}
	var rec runRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return Run{}, fmt.Errorf("decode run %d: %w", binary.BigEndian.Uint64(k), err)
	}
	return Run{ID: binary.BigEndian.Uint64(k), Start: rec.Start, End: rec.End, Mode: rec.Mode, DryRun: rec.DryRun,
		Outcome: rec.Outcome, Counts: rec.Counts, APICalls: rec.APICalls, RateLimited: rec.RateLimited,
		Error: rec.Error, Warnings: rec.Warnings, Model: rec.Model}, nil
}

// BeginRun records a new run with the next id and Outcome "running" (Start
// defaults to now) and returns it. Any earlier run still "running" was
// killed, and is marked "interrupted" in the same Update.
func (s *Store) BeginRun(r Run) (Run, error) {
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRuns)
		// Collect first: bolt cursors may be invalidated by writes.
		var stale []Run
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			old, err := decodeRun(k, v)
			if err != nil {
				return err
			}
			if old.Outcome == OutcomeRunning {
				stale = append(stale, old)
			}
		}
		for _, old := range stale {
			old.Outcome = OutcomeInterrupted
			if err := putRecord(b, u64Key(old.ID), newRunRecord(old), nil); err != nil {
				return err
			}
		}
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		r.ID, r.Outcome = id, OutcomeRunning
		if r.Start.IsZero() {
			r.Start = time.Now()
		}
		r.Start = r.Start.UTC()
		return putRecord(b, u64Key(id), newRunRecord(r), nil)
	})
	if err != nil {
		return Run{}, fmt.Errorf("begin run: %w", err)
	}
	return r, nil
}

// FinishRun stores the final state of a run begun with BeginRun (End
// defaults to now) and trims the run log to Options.RunRetention runs.
func (s *Store) FinishRun(r Run) error {
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRuns)
		if r.ID == 0 || b.Get(u64Key(r.ID)) == nil {
			return fmt.Errorf("run %d was not begun (or was trimmed)", r.ID)
		}
		if r.End.IsZero() {
			r.End = time.Now()
		}
		if err := putRecord(b, u64Key(r.ID), newRunRecord(r), nil); err != nil {
			return err
		}
		n := b.Stats().KeyN
		if n <= s.opts.RunRetention {
			return nil
		}
		var old [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil && len(old) < n-s.opts.RunRetention; k, _ = c.Next() {
			old = append(old, bytes.Clone(k))
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish run %d: %w", r.ID, err)
	}
	return nil
}

// Runs returns up to limit runs (all when limit <= 0), newest first.
func (s *Store) Runs(limit int) ([]Run, error) {
	var out []Run
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRuns).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			r, err := decodeRun(k, v)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

// LastRun returns the newest run, as stored (a run killed mid-way is still
// "running" until the next BeginRun); ok is false when there is none.
func (s *Store) LastRun() (Run, bool, error) {
	runs, err := s.Runs(1)
	if err != nil || len(runs) == 0 {
		return Run{}, false, err
	}
	return runs[0], true, nil
}

// Meta returns the meta value under key, or "" when absent.
func (s *Store) Meta(key string) (string, error) {
	var v string
	err := s.view(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucketMeta).Get([]byte(key)))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("get meta %q: %w", key, err)
	}
	return v, nil
}

// ReadMeta calls fn with a meta value as stored (nil when unset), valid
// only during the call: a large value is read in place, not copied.
func (s *Store) ReadMeta(key string, fn func(v []byte) error) error {
	if err := s.view(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketMeta).Get([]byte(key))) }); err != nil {
		return fmt.Errorf("read meta %q: %w", key, err)
	}
	return nil
}

// SetMeta stores a meta value. The schema_version key is reserved.
func (s *Store) SetMeta(key, value string) error {
	if err := validID("meta key", key); err != nil {
		return fmt.Errorf("set meta: %w", err)
	}
	if key == string(keySchemaVersion) || key == string(keyValueKeys) {
		return fmt.Errorf("set meta: %s is managed by the store", key)
	}
	err := s.update(func(tx *bolt.Tx) error {
		return putIfChanged(tx.Bucket(bucketMeta), []byte(key), []byte(value))
	})
	if err != nil {
		return fmt.Errorf("set meta %q: %w", key, err)
	}
	return nil
}

// Counts is the number of records per kind, for reports and health checks.
type Counts struct {
	Deals     int `json:"deals"`
	Contacts  int `json:"contacts"`
	Companies int `json:"companies"`
	// Customers is the number of contacts with at least one deal.
	Customers int `json:"customers"`
	// Computed, Written and Failures count contacts with such a record.
	Computed int `json:"computed"`
	Written  int `json:"written"`
	Failures int `json:"failures"`
	// CompaniesWritten counts companies written to as customers
	// (companies: true).
	CompaniesWritten int `json:"companies_written"`
	// HistoryPoints is the total across contacts.
	HistoryPoints int `json:"history_points"`
	Runs          int `json:"runs"`
	// FileSize is the state file's size in bytes.
	FileSize int64 `json:"file_size"`
}

// Counts returns the record counts from one View transaction.
func (s *Store) Counts() (Counts, error) {
	var n Counts
	err := s.view(func(tx *bolt.Tx) error {
		keys := func(name []byte) int { return tx.Bucket(name).Stats().KeyN }
		n.Deals, n.Contacts, n.Companies = keys(bucketDeals), keys(bucketContacts), keys(bucketCompanies)
		n.Computed, n.Written, n.Failures = keys(bucketComputed), keys(bucketWritten), keys(bucketFailures)
		n.HistoryPoints, n.Runs = keys(bucketHistory), keys(bucketRuns)
		n.CompaniesWritten = keys(bucketCompanyWritten)
		n.FileSize = tx.Size()
		err := indexedIDs(tx.Bucket(bucketContactDeals), func(string) (bool, error) {
			n.Customers++
			return true, nil
		})
		releaseMapped(tx) // Stats read every page of the file
		return err
	})
	if err != nil {
		return Counts{}, fmt.Errorf("count records: %w", err)
	}
	return n, nil
}

// CustomerCount returns how many of the unit's customers have deals (what
// ForEachCustomer visits), from the deal index alone: unlike Counts it does
// not read every page of the file.
func (s *Store) CustomerCount() (int, error) {
	n := 0
	err := s.view(func(tx *bolt.Tx) error {
		return indexedIDs(tx.Bucket(s.u.index), func(string) (bool, error) {
			n++
			return true, nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("count %ss: %w", s.u.kind, err)
	}
	return n, nil
}

// ResetData drops deals, contacts, companies, the association indices and
// all cursors, for a forced full resync, and marks every customer dirty.
// Runs, computed results, written values, history, failures and meta are
// kept. The cursors go first, with the marks, in one transaction: a run
// that stops before the rest is dropped finds no cursor, so it starts a
// full sync again, which calls ResetData again. The records then go
// resetChunk a transaction, the mapped pages trimmed between (dropping a
// bucket whole reads every page of it: emptying the indices of a 300k
// contact portal that way mapped 130 MB, and a whole reset the file).
func (s *Store) ResetData() error {
	err := s.update(func(tx *bolt.Tx) error {
		if err := emptyBucket(tx, bucketCursors); err != nil {
			return err
		}
		// Every customer is computed again, from what the sync stores.
		if err := markAllDirty(tx); err != nil {
			return err
		}
		// No deal will be stored: the indices cover them all.
		return tx.Bucket(bucketMeta).Delete(keyIndexesStale)
	})
	for _, name := range [][]byte{bucketDeals, bucketContacts, bucketCompanies, bucketContactDeals, bucketCompanyDeals} {
		if err == nil {
			err = s.deleteAll(name)
		}
	}
	if err != nil {
		return fmt.Errorf("reset data: %w", err)
	}
	return nil
}

// deleteAll deletes every key of bucket name, resetChunk per transaction,
// checking the mapped pages every scanRelease keys.
func (s *Store) deleteAll(name []byte) error {
	for {
		n := 0
		err := s.update(func(tx *bolt.Tx) error {
			c := tx.Bucket(name).Cursor()
			for k, _ := c.First(); k != nil && n < resetChunk; k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
				if n++; n%scanRelease == 0 {
					trimMapped(tx)
				}
			}
			return nil
		})
		if err != nil || n < resetChunk {
			return err
		}
	}
}

// resetChunk is how many records ResetData deletes per transaction (a
// variable for tests).
var resetChunk = 10_000
