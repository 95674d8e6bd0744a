package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestStore_Backup(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	buildStateFile(t, src)
	want, err := openAndFingerprint(src)
	must(t, err)

	t.Run("to a writer, while writes go on", func(t *testing.T) {
		s := MustOpen(t, src, Options{})
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Add(1)
		go func() { // a writer that keeps committing during the copy
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.SetMeta("backup_test", fmt.Sprint(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		var buf bytes.Buffer
		n, err := s.Backup(&buf)
		close(stop)
		wg.Wait()
		must(t, err)
		if n != int64(buf.Len()) || n == 0 {
			t.Fatalf("Backup = %d bytes, buffer has %d", n, buf.Len())
		}
		copyPath := filepath.Join(dir, "copy.db")
		must(t, os.WriteFile(copyPath, buf.Bytes(), 0o600))
		c := MustOpen(t, copyPath, Options{Check: CheckFull})
		if err := c.Check(); err != nil {
			t.Fatal(err)
		}
		must(t, c.Close())
		got, err := openAndFingerprint(copyPath)
		must(t, err)
		if got != want {
			t.Error("the copy holds other data than the original")
		}
	})

	t.Run("to a file, from a read-only store", func(t *testing.T) {
		s := MustOpen(t, src, Options{ReadOnly: true})
		dst := filepath.Join(dir, "sub", "backup.db")
		must(t, os.MkdirAll(filepath.Dir(dst), 0o700))
		must(t, os.WriteFile(dst, []byte("old backup"), 0o600)) // replaced whole
		n, err := s.BackupFile(dst)
		must(t, err)
		fi, err := os.Stat(dst)
		must(t, err)
		if fi.Size() != n || fi.Mode().Perm() != 0o600 {
			t.Errorf("backup file: %d bytes mode %v, Backup said %d", fi.Size(), fi.Mode().Perm(), n)
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), "*.tmp*")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
		must(t, s.Close())
		if got, err := openAndFingerprint(dst); err != nil || got != want {
			t.Errorf("the backup file does not hold the original data (err %v)", err)
		}
	})

	t.Run("read-only open does not write", func(t *testing.T) {
		before, err := os.ReadFile(src)
		must(t, err)
		s := MustOpen(t, src, Options{ReadOnly: true})
		if _, err := s.Counts(); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMeta("x", "y"); err == nil {
			t.Error("SetMeta on a read-only store succeeded")
		}
		must(t, s.Close())
		after, _ := os.ReadFile(src)
		if !bytes.Equal(before, after) {
			t.Error("read-only open changed the file")
		}
	})

	t.Run("read-only open of a missing file", func(t *testing.T) {
		_, err := Open(filepath.Join(dir, "missing.db"), Options{ReadOnly: true})
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestStore_CheckPortal(t *testing.T) {
	path := tempPath(t)
	s := MustOpen(t, path, Options{})
	if id, ok, err := s.Portal(); err != nil || ok || id != 0 {
		t.Fatalf("Portal on a new file = %d, %v, %v", id, ok, err)
	}
	must(t, s.CheckPortal(12345)) // first use records it
	must(t, s.CheckPortal(12345))
	err := s.CheckPortal(999)
	if !errors.Is(err, ErrWrongPortal) {
		t.Fatalf("err = %v, want ErrWrongPortal", err)
	}
	for _, want := range []string{path, "12345", "999", "state.path"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if err := s.CheckPortal(0); err == nil || errors.Is(err, ErrWrongPortal) {
		t.Errorf("CheckPortal(0) = %v, want an invalid-id error", err)
	}
	must(t, s.Close())
	s = MustOpen(t, path, Options{})
	if id, ok, err := s.Portal(); err != nil || !ok || id != 12345 {
		t.Fatalf("Portal after reopen = %d, %v, %v", id, ok, err)
	}
	if err := s.CheckPortal(999); !errors.Is(err, ErrWrongPortal) {
		t.Errorf("after reopen: err = %v", err)
	}
}
