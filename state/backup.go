package state

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the state file to w and returns the
// number of bytes written. The copy is taken in one read transaction
// (bbolt's Tx.WriteTo), so writes may go on meanwhile; the copy is the file
// as of the moment Backup began, and opens as a state file of its own.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) (err error) {
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("back up state file %s: %w", s.path, err)
	}
	return n, nil
}

// BackupFile writes a consistent copy of the state file to path (mode
// 0600): first to a temporary file in the same folder, synced to disk, then
// renamed over path, so path is never a partial copy.
func (s *Store) BackupFile(path string) (int64, error) {
	n, err := WriteFileAtomic(path, func(w io.Writer) (int64, error) { return s.Backup(w) })
	if err != nil {
		return n, fmt.Errorf("back up state file %s to %s: %w", s.path, path, err)
	}
	return n, nil
}

// WriteFileAtomic writes path (mode 0600) through write: to a temporary file
// in path's folder, synced, then renamed over path, and the folder synced.
// On error path is left as it was.
func WriteFileAtomic(path string, write func(io.Writer) (int64, error)) (n int64, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(fileMode); err != nil {
		return 0, err
	}
	if n, err = write(tmp); err != nil {
		return n, err
	}
	if err = tmp.Sync(); err != nil {
		return n, err
	}
	if err = tmp.Close(); err != nil {
		return n, err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return n, err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // make the rename durable; not every system can
		_ = d.Close()
	}
	return n, nil
}

// ErrWrongPortal is wrapped by CheckPortal's error when the state file
// belongs to another HubSpot portal.
var ErrWrongPortal = errors.New("state file belongs to another HubSpot portal")

// metaPortal is the meta key holding the HubSpot portal (account) id the
// file was first synced with.
const metaPortal = "hubspot_portal_id"

// Portal returns the HubSpot portal id the state file belongs to; ok is
// false when none is recorded yet.
func (s *Store) Portal() (id int64, ok bool, err error) {
	raw, err := s.Meta(metaPortal)
	if err != nil || raw == "" {
		return 0, false, err
	}
	id, err = strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("state file %s: meta/%s %q: %w", s.path, metaPortal, raw, ErrCorrupt)
	}
	return id, true, nil
}

// CheckPortal records id as the file's HubSpot portal when none is recorded
// yet, and returns an error wrapping ErrWrongPortal when the file belongs to
// another portal (a sandbox's state file used against production, say).
func (s *Store) CheckPortal(id int64) error {
	if id <= 0 {
		return fmt.Errorf("check portal of state file %s: portal id %d is not a HubSpot portal id", s.path, id)
	}
	var stored int64
	err := s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		raw := meta.Get([]byte(metaPortal))
		if raw == nil {
			return meta.Put([]byte(metaPortal), []byte(strconv.FormatInt(id, 10)))
		}
		var err error
		if stored, err = strconv.ParseInt(string(raw), 10, 64); err != nil {
			return fmt.Errorf("meta/%s %q: %w", metaPortal, raw, ErrCorrupt)
		}
		return nil
	})
	switch {
	case err != nil:
		return fmt.Errorf("check portal of state file %s: %w", s.path, err)
	case stored != 0 && stored != id:
		return &wrongPortalError{path: s.path, stored: stored, got: id}
	}
	return nil
}

type wrongPortalError struct {
	path        string
	stored, got int64
}

func (e *wrongPortalError) Error() string {
	return fmt.Sprintf("state file %s belongs to HubSpot portal %d, but the token is for portal %d: "+
		"set state.path to another file for this portal (each portal needs its own state file), or use the token of portal %d",
		e.path, e.stored, e.got, e.stored)
}

func (e *wrongPortalError) Unwrap() error { return ErrWrongPortal }
