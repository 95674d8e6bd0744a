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

// putIfChanged stores v under k unless the stored value is already v, so an
// unchanged record never dirties a page.
func putIfChanged(b *bolt.Bucket, k, v []byte) error {
	if old := b.Get(k); old != nil && bytes.Equal(old, v) {
		return nil
	}
	return b.Put(k, v)
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
