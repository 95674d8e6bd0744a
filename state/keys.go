package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// MaxIDLen is the longest object id (in bytes) the store accepts.
const MaxIDLen = 512

// sep separates the parts of composite keys. It cannot occur in a valid id.
const sep = 0x00

// chunkSize is how many records (contacts, results, ...) the ForEach* methods
// read per View transaction.
const chunkSize = 500

// ErrInvalidID is wrapped by errors about an empty, too long or malformed id
// or name.
var ErrInvalidID = errors.New("invalid id")

func validID(kind, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%s id is empty: %w", kind, ErrInvalidID)
	case len(id) > MaxIDLen:
		return fmt.Errorf("%s id %.20q... is longer than %d bytes: %w", kind, id, MaxIDLen, ErrInvalidID)
	case strings.IndexByte(id, sep) >= 0:
		return fmt.Errorf("%s id %q contains a NUL byte: %w", kind, id, ErrInvalidID)
	}
	return nil
}

func validIDs(kind string, ids []string) error {
	for _, id := range ids {
		if err := validID(kind, id); err != nil {
			return err
		}
	}
	return nil
}

// pairKey returns a + sep + b.
func pairKey(a, b string) []byte {
	k := make([]byte, 0, len(a)+1+len(b))
	k = append(k, a...)
	k = append(k, sep)
	return append(k, b...)
}

// prefixKey returns id + sep: the prefix of all composite keys of id.
func prefixKey(id string) []byte {
	return append([]byte(id), sep)
}

// afterPrefix returns the smallest key greater than every key starting with
// id + sep.
func afterPrefix(id string) []byte {
	return append([]byte(id), sep+1)
}

// splitKey splits a composite key into its two parts, copied out of bolt
// memory.
func splitKey(k []byte) (string, string) {
	i := bytes.IndexByte(k, sep)
	if i < 0 {
		return string(k), ""
	}
	return string(k[:i]), string(k[i+1:])
}

func u64Key(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func historyKey(contactID string, runID uint64) []byte {
	k := make([]byte, 0, len(contactID)+9)
	k = append(k, contactID...)
	k = append(k, sep)
	return binary.BigEndian.AppendUint64(k, runID)
}

// readChunks reads a bucket (or several, in step) chunk by chunk: read runs
// in a View transaction with the key to start from (nil for the first) and
// returns up to chunkSize items with the key the next chunk starts at (nil
// at the end). each is called for every item outside any transaction, so it
// may write to the store; an error from it stops the iteration and is
// returned unwrapped.
//
// After every chunk it trims the file pages the scan has mapped (see
// TrimMapped), so a scan of the whole file does not keep the whole file
// resident. A page read through the map maps the whole page-cache folio
// around it, and Linux's large folios make that up to hundreds of KB (1,000
// random page reads of a cached 400 MB file mapped 370 MB here, MADV_RANDOM
// or not), so lookups all over a bucket (the deals of ForEachCustomer's
// customers) map most of it within a few chunks.
func readChunks[T any](s *Store, what string, read func(tx *bolt.Tx, from []byte) ([]T, []byte, error), each func(T) error) error {
	var from []byte
	for {
		var batch []T
		var next []byte
		err := s.view(func(tx *bolt.Tx) (err error) {
			batch, next, err = read(tx, from)
			if err == nil {
				trimMapped(tx)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", what, err)
		}
		for _, t := range batch {
			if err := each(t); err != nil {
				return err
			}
		}
		if next == nil {
			return nil
		}
		from = next
	}
}

// forEachRecord calls fn for every record of bucket in key order, decoded by
// decode (which may read other buckets of tx), chunkSize records per View
// transaction.
func forEachRecord[T any](s *Store, bucket []byte, decode func(tx *bolt.Tx, k, v []byte) (T, error), fn func(T) error) error {
	return readChunks(s, string(bucket), func(tx *bolt.Tx, from []byte) ([]T, []byte, error) {
		var batch []T
		c := tx.Bucket(bucket).Cursor()
		for k, v := seek(c, from); k != nil; k, v = c.Next() {
			if len(batch) == chunkSize {
				return batch, bytes.Clone(k), nil
			}
			t, err := decode(tx, k, v)
			if err != nil {
				return nil, nil, fmt.Errorf("decode %q: %w", k, err)
			}
			batch = append(batch, t)
		}
		return batch, nil, nil
	}, fn)
}

// seek positions c at the first key >= from, or at the first key when from
// is nil.
func seek(c *bolt.Cursor, from []byte) ([]byte, []byte) {
	if from == nil {
		return c.First()
	}
	return c.Seek(from)
}

// putIfChanged stores v under k unless the stored value is already v, so an
// unchanged record never dirties a page.
func putIfChanged(b *bolt.Bucket, k, v []byte) error {
	if old := b.Get(k); old != nil && bytes.Equal(old, v) {
		return nil
	}
	return b.Put(k, v)
}

// emptyBucket replaces the bucket name with an empty one: cheaper than
// deleting its keys one by one.
func emptyBucket(tx *bolt.Tx, name []byte) error {
	if err := tx.DeleteBucket(name); err != nil {
		return fmt.Errorf("drop %s: %w", name, err)
	}
	if _, err := tx.CreateBucket(name); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	return nil
}

// scanPrefix returns copies of every key in b that starts with prefix.
func scanPrefix(b *bolt.Bucket, prefix []byte) [][]byte {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	return keys
}

// deletePrefix deletes every key in b that starts with prefix.
func deletePrefix(b *bolt.Bucket, prefix []byte) error {
	for _, k := range scanPrefix(b, prefix) {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// sortedUnique returns ids sorted with duplicates and empty strings removed,
// in a new slice.
func sortedUnique(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
