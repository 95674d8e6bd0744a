package state

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// PendingEvent is a webhook event received and not yet applied, kept
// durably so an event accepted before a crash is applied after it. Key
// orders and de-duplicates events (the caller builds it from the event's
// time and identity); Body is the event as received.
type PendingEvent struct {
	Key  string
	Body []byte
}

// PutEvents stores events whose key is not stored yet, in one transaction,
// and returns how many were new.
func (s *Store) PutEvents(evs []PendingEvent) (added int, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		for _, e := range evs {
			if e.Key == "" || len(e.Key) > bolt.MaxKeySize {
				return fmt.Errorf("event key %q: empty or too long", e.Key)
			}
			if b.Get([]byte(e.Key)) != nil {
				continue
			}
			if err := b.Put([]byte(e.Key), e.Body); err != nil {
				return err
			}
			added++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("put events: %w", err)
	}
	return added, nil
}

// PendingEvents returns up to limit stored events (all when limit <= 0) in
// key order.
func (s *Store) PendingEvents(limit int) ([]PendingEvent, error) {
	var out []PendingEvent
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		if b == nil {
			return nil // a file opened read-only before it had the bucket
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			out = append(out, PendingEvent{Key: string(k), Body: append([]byte(nil), v...)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read pending events: %w", err)
	}
	return out, nil
}

// DeleteEvents removes applied events.
func (s *Store) DeleteEvents(keys []string) error {
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		for _, k := range keys {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete events: %w", err)
	}
	return nil
}
