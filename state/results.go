package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/shopspring/decimal"
	bolt "go.etcd.io/bbolt"
)

// Result is the latest computed output for one contact.
type Result struct {
	ContactID string
	// Values maps output name to the value as it would be written.
	Values map[string]string
	// CLV is the value trends are measured on.
	CLV           decimal.Decimal
	Tier, Segment string
	// RunID is the run that computed it (set by PutResults).
	RunID uint64
}

// HistoryPoint is one contact's CLV as computed by one run.
type HistoryPoint struct {
	RunID         uint64
	At            time.Time
	CLV           decimal.Decimal
	Tier, Segment string
}

// Written is what HubSpot accepted for one contact.
type Written struct {
	ContactID string
	Values    map[string]string
	At        time.Time
	// Since holds, per segment-type output, when the current value was
	// entered.
	Since map[string]time.Time
}

// Failure is a contact whose write-back failed; it is retried next run.
type Failure struct {
	ContactID, Category, Message string
	At                           time.Time
	Attempts                     int
}

type resultRecord struct {
	RunID   uint64            `json:"run_id,omitempty"`
	Values  map[string]string `json:"values,omitempty"`
	CLV     decimal.Decimal   `json:"clv"`
	Tier    string            `json:"tier,omitempty"`
	Segment string            `json:"segment,omitempty"`
}

type historyRecord struct {
	At      time.Time       `json:"at,omitzero"`
	CLV     decimal.Decimal `json:"clv"`
	Tier    string          `json:"tier,omitempty"`
	Segment string          `json:"segment,omitempty"`
}

type writtenRecord struct {
	Values map[string]string    `json:"values,omitempty"`
	At     time.Time            `json:"at,omitzero"`
	Since  map[string]time.Time `json:"since,omitempty"`
}

type failureRecord struct {
	Category string    `json:"category,omitempty"`
	Message  string    `json:"message,omitempty"`
	At       time.Time `json:"at,omitzero"`
	Attempts int       `json:"attempts"`
}

func (r resultRecord) result(id string) Result {
	return Result{ContactID: id, RunID: r.RunID, Values: r.Values, CLV: r.CLV, Tier: r.Tier, Segment: r.Segment}
}

func (r writtenRecord) written(id string) Written {
	return Written{ContactID: id, Values: r.Values, At: r.At, Since: r.Since}
}

// PutResults stores each result as its contact's latest computed result and
// appends it to the contact's history under runID, trimming the history to
// Options.HistoryRetention points, all in one Update. Callers batch about
// 1000 results per call.
func (s *Store) PutResults(runID uint64, at time.Time, rs []Result) error {
	err := s.update(func(tx *bolt.Tx) error { return s.putResults(tx, runID, at, rs) })
	if err != nil {
		return fmt.Errorf("put results of run %d: %w", runID, err)
	}
	return nil
}

// putResults is PutResults inside tx.
func (s *Store) putResults(tx *bolt.Tx, runID uint64, at time.Time, rs []Result) error {
	computed, hist := tx.Bucket(s.u.computed), tx.Bucket(s.u.history)
	// Results are put in contact id order, run after run: mostly
	// rewrites in place, appends for new customers.
	computed.FillPercent = appendFillPercent
	for _, r := range rs {
		if err := validID(s.u.kind, r.ContactID); err != nil {
			return err
		}
		if err := validMapKeys("result value", r.Values); err != nil {
			return err
		}
		rec := resultRecord{RunID: runID, Values: r.Values, CLV: r.CLV, Tier: r.Tier, Segment: r.Segment}
		if err := putRecord(computed, []byte(r.ContactID), &rec, s.keys); err != nil {
			return err
		}
		h := historyRecord{At: utc(at), CLV: r.CLV, Tier: r.Tier, Segment: r.Segment}
		if err := putRecord(hist, historyKey(r.ContactID, runID), &h, nil); err != nil {
			return err
		}
		if err := trimHistory(hist, r.ContactID, s.opts.HistoryRetention); err != nil {
			return err
		}
	}
	return s.keys.save(tx)
}

// trimHistory deletes the oldest points of contactID beyond keep.
func trimHistory(hist *bolt.Bucket, contactID string, keep int) error {
	keys := scanPrefix(hist, prefixKey(contactID))
	if len(keys) <= keep {
		return nil
	}
	for _, k := range keys[:len(keys)-keep] {
		if err := hist.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Result returns the contact's latest computed result; ok is false when
// there is none.
func (s *Store) Result(contactID string) (r Result, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		var rec resultRecord
		ok, err = getRecord(tx.Bucket(s.u.computed), []byte(contactID), &rec, s.keys)
		r = rec.result(contactID)
		return err
	})
	if err != nil || !ok {
		return Result{}, false, wrapErr("get result", err)
	}
	return r, true, nil
}

// ForEachResult calls fn for every computed result in contact id order,
// reading about 500 per View transaction and calling fn outside any
// transaction. An error from fn stops the iteration and is returned
// unwrapped.
func (s *Store) ForEachResult(fn func(Result) error) error {
	return forEachRecord(s, s.u.computed, func(_ *bolt.Tx, k, v []byte) (Result, error) {
		var rec resultRecord
		err := decodeRecord(k, v, &rec, s.keys)
		return rec.result(string(k)), err
	}, fn)
}

// History returns the contact's history points, oldest first.
func (s *Store) History(contactID string) ([]HistoryPoint, error) {
	var out []HistoryPoint
	err := s.view(func(tx *bolt.Tx) error {
		prefix := prefixKey(contactID)
		c := tx.Bucket(s.u.history).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(k) != len(prefix)+8 {
				return fmt.Errorf("malformed history key %q", k)
			}
			p, err := decodeHistory(k, v, len(prefix))
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history of contact %q: %w", contactID, err)
	}
	return out, nil
}

// Written returns what HubSpot last accepted for the contact; ok is false
// when nothing was written.
func (s *Store) Written(contactID string) (w Written, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		var rec writtenRecord
		ok, err = getRecord(tx.Bucket(s.u.written), []byte(contactID), &rec, s.keys)
		w = rec.written(contactID)
		return err
	})
	if err != nil || !ok {
		return Written{}, false, wrapErr("get written", err)
	}
	return w, true, nil
}

// PutWritten records, in one transaction, what HubSpot accepted. Each entry
// replaces the contact's previous record and clears the contact's failure:
// its write went through. Calls from concurrent goroutines are committed
// together (bolt's Batch), so concurrent write-back batches share one disk
// sync instead of queueing for one each.
func (s *Store) PutWritten(ws []Written) error {
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b, failures := tx.Bucket(s.u.written), tx.Bucket(s.u.failures)
		b.FillPercent = appendFillPercent
		for _, w := range ws {
			if err := validID(s.u.kind, w.ContactID); err != nil {
				return err
			}
			if err := validMapKeys("written value", w.Values); err != nil {
				return err
			}
			if err := validMapKeys("written since", w.Since); err != nil {
				return err
			}
			since := maps.Clone(w.Since)
			for k, t := range since {
				since[k] = utc(t)
			}
			rec := writtenRecord{Values: w.Values, At: utc(w.At), Since: since}
			if err := putRecord(b, []byte(w.ContactID), &rec, s.keys); err != nil {
				return err
			}
			if err := failures.Delete([]byte(w.ContactID)); err != nil {
				return err
			}
		}
		return s.keys.save(tx)
	})
	if err != nil {
		return fmt.Errorf("put written: %w", err)
	}
	return nil
}

// ForEachWritten calls fn for every written record in contact id order,
// chunked like ForEachResult.
func (s *Store) ForEachWritten(fn func(Written) error) error {
	return forEachRecord(s, s.u.written, func(_ *bolt.Tx, k, v []byte) (Written, error) {
		var rec writtenRecord
		err := decodeRecord(k, v, &rec, s.keys)
		return rec.written(string(k)), err
	}, fn)
}

// PutFailures records failed write-backs in one Update. A failure with
// Attempts 0 counts one more attempt than the contact's stored failure;
// a positive Attempts is stored as given.
func (s *Store) PutFailures(fs []Failure) error {
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(s.u.failures)
		for _, f := range fs {
			if err := validID(s.u.kind, f.ContactID); err != nil {
				return err
			}
			attempts := f.Attempts
			if attempts <= 0 {
				var old failureRecord
				if _, err := getRecord(b, []byte(f.ContactID), &old, nil); err != nil {
					return err
				}
				attempts = old.Attempts + 1
			}
			rec := failureRecord{Category: f.Category, Message: f.Message, At: utc(f.At), Attempts: attempts}
			if err := putRecord(b, []byte(f.ContactID), rec, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put failures: %w", err)
	}
	return nil
}

// ClearFailures removes the failures of the given contacts in one Update.
func (s *Store) ClearFailures(ids []string) error {
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(s.u.failures)
		for _, id := range ids {
			if err := validID(s.u.kind, id); err != nil {
				return err
			}
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("clear failures: %w", err)
	}
	return nil
}

// Failures returns every recorded failure in contact id order.
func (s *Store) Failures() ([]Failure, error) {
	var out []Failure
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(s.u.failures).ForEach(func(k, v []byte) error {
			var rec failureRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode failure %q: %w", k, err)
			}
			out = append(out, Failure{ContactID: string(k), Category: rec.Category, Message: rec.Message,
				At: rec.At, Attempts: rec.Attempts})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list failures: %w", err)
	}
	return slices.Clip(out), nil
}

// appendFillPercent is the page fill used for buckets written in key order
// (computed and written records, a run at a time): bolt's default 50%
// would leave most pages half empty.
const appendFillPercent = 0.9

// decodeHistory decodes one history entry whose key is contactID·runID with
// a contactID prefix of prefixLen bytes (separator included).
func decodeHistory(k, v []byte, prefixLen int) (HistoryPoint, error) {
	if len(k) != prefixLen+8 {
		return HistoryPoint{}, fmt.Errorf("malformed history key %q", k)
	}
	var rec historyRecord
	if err := decodeRecord(k, v, &rec, nil); err != nil {
		return HistoryPoint{}, err
	}
	return HistoryPoint{RunID: binary.BigEndian.Uint64(k[prefixLen:]),
		At: rec.At, CLV: rec.CLV, Tier: rec.Tier, Segment: rec.Segment}, nil
}

// ForEachHistory calls fn once per contact with history, in contact id
// order, with its points oldest first. It reads about 500 contacts per View
// transaction and calls fn outside any transaction. An error from fn stops
// the iteration and is returned unwrapped.
func (s *Store) ForEachHistory(fn func(contactID string, points []HistoryPoint) error) error {
	type entry struct {
		id     string
		points []HistoryPoint
	}
	read := func(tx *bolt.Tx, from []byte) ([]entry, []byte, error) {
		var batch []entry
		c := tx.Bucket(s.u.history).Cursor()
		for k, v := seek(c, from); k != nil; k, v = c.Next() {
			i := bytes.IndexByte(k, sep)
			if i < 0 {
				return nil, nil, fmt.Errorf("malformed history key %q", k)
			}
			if len(batch) == 0 || batch[len(batch)-1].id != string(k[:i]) {
				if len(batch) == chunkSize {
					return batch, bytes.Clone(k[:i+1]), nil
				}
				batch = append(batch, entry{id: string(k[:i])})
			}
			p, err := decodeHistory(k, v, i+1)
			if err != nil {
				return nil, nil, err
			}
			last := &batch[len(batch)-1]
			last.points = append(last.points, p)
		}
		return batch, nil, nil
	}
	return readChunks(s, "history", read, func(e entry) error { return fn(e.id, e.points) })
}

// ForEachResultWritten calls fn for every computed result in contact id
// order together with what HubSpot last accepted for that contact (ok false
// when nothing was written): one merge of the two buckets, about 500
// contacts per View transaction, fn called outside any transaction. An error
// from fn stops the iteration and is returned unwrapped.
func (s *Store) ForEachResultWritten(fn func(r Result, w Written, ok bool) error) error {
	type entry struct {
		r  Result
		w  Written
		ok bool
	}
	decode := func(tx *bolt.Tx, k, v []byte) (entry, error) {
		var rec resultRecord
		if err := decodeRecord(k, v, &rec, s.keys); err != nil {
			return entry{}, err
		}
		var w writtenRecord
		ok, err := getRecord(tx.Bucket(s.u.written), k, &w, s.keys)
		id := string(k)
		return entry{rec.result(id), w.written(id), ok}, err
	}
	return forEachRecord(s, s.u.computed, decode, func(e entry) error { return fn(e.r, e.w, e.ok) })
}
