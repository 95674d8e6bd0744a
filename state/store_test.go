package state

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

const holdLockEnv = "CLVSYNC_STATE_TEST_HOLD_LOCK"

// TestMain doubles as the child process for the cross-process lock tests:
// with holdLockEnv set it opens that state file, says "locked", and holds it
// until stdin closes.
func TestMain(m *testing.M) {
	if path := os.Getenv(holdLockEnv); path != "" {
		s, err := Open(path, Options{})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = s.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func tempPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "clvsync.db")
}

// MustOpen opens a store at path and closes it when the test ends.
func MustOpen(t testing.TB, path string, o Options) *Store {
	t.Helper()
	s, err := Open(path, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newStore opens a store in a fresh temp dir.
func newStore(t testing.TB, o ...Options) *Store {
	t.Helper()
	var opts Options
	if len(o) > 0 {
		opts = o[0]
	}
	return MustOpen(t, tempPath(t), opts)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rawBolt opens path with plain bbolt, for building files by hand.
func rawBolt(t testing.TB, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	must(t, err)
	defer db.Close()
	must(t, db.Update(fn))
}

func TestStore_Open(t *testing.T) {
	t.Run("creates file 0600 with schema version and all buckets", func(t *testing.T) {
		path := tempPath(t)
		s := MustOpen(t, path, Options{})
		fi, err := os.Stat(path)
		must(t, err)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
		}
		if v, _ := s.Meta("schema_version"); v != strconv.Itoa(SchemaVersion) {
			t.Errorf("schema_version = %q", v)
		}
		must(t, s.db.View(func(tx *bolt.Tx) error {
			for _, b := range allBuckets {
				if tx.Bucket(b) == nil {
					t.Errorf("bucket %s missing", b)
				}
			}
			return nil
		}))
		if s.Path() != path {
			t.Errorf("Path() = %q", s.Path())
		}
	})

	t.Run("tightens a wider mode to 0600", func(t *testing.T) {
		path := tempPath(t)
		s := MustOpen(t, path, Options{})
		must(t, s.Close())
		must(t, os.Chmod(path, 0o644))
		MustOpen(t, path, Options{})
		fi, err := os.Stat(path)
		must(t, err)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
		}
	})

	t.Run("pid sidecar written and removed on close", func(t *testing.T) {
		path := tempPath(t)
		s := MustOpen(t, path, Options{})
		raw, err := os.ReadFile(path + ".pid")
		must(t, err)
		if strings.TrimSpace(string(raw)) != strconv.Itoa(os.Getpid()) {
			t.Errorf("pid file = %q", raw)
		}
		must(t, s.Close())
		if _, err := os.Stat(path + ".pid"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pid file still there after Close: %v", err)
		}
		must(t, s.Close()) // idempotent
	})

	t.Run("newer schema refused", func(t *testing.T) {
		path := tempPath(t)
		must(t, MustOpen(t, path, Options{}).Close())
		rawBolt(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte("7"))
		})
		_, err := Open(path, Options{})
		if !errors.Is(err, ErrNewerSchema) {
			t.Fatalf("err = %v, want ErrNewerSchema", err)
		}
		want := fmt.Sprintf("state file %s has schema version 7; this clvsync understands up to %d: upgrade clvsync", path, SchemaVersion)
		if err.Error() != want {
			t.Errorf("err = %q\nwant  %q", err, want)
		}
		rawBolt(t, path, func(tx *bolt.Tx) error { // untouched
			if v := string(tx.Bucket(bucketMeta).Get(keySchemaVersion)); v != "7" {
				t.Errorf("schema_version rewritten to %q", v)
			}
			return nil
		})
	})

	t.Run("v0 file migrated", func(t *testing.T) {
		path := tempPath(t)
		rawBolt(t, path, func(tx *bolt.Tx) error {
			for _, name := range []string{"meta", "deals", "contact_deals", "cursors"} {
				if _, err := tx.CreateBucket([]byte(name)); err != nil {
					return err
				}
			}
			if err := tx.Bucket([]byte("cursors")).Put([]byte("deals"), []byte("2024-01-02T03:04:05Z")); err != nil {
				return err
			}
			if err := tx.Bucket([]byte("deals")).Put([]byte("9"), []byte(`{"amount":"10.5","contacts":["1"]}`)); err != nil {
				return err
			}
			return tx.Bucket([]byte("contact_deals")).Put([]byte("1\x009"), []byte{})
		})
		s := MustOpen(t, path, Options{})
		c, err := s.Cursor("deals")
		must(t, err)
		if want := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC); !c.Time.Equal(want) {
			t.Errorf("cursor = %v, want %v", c.Time, want)
		}
		if v, _ := s.Meta("schema_version"); v != strconv.Itoa(SchemaVersion) {
			t.Errorf("schema_version = %q", v)
		}
		ds, err := s.DealsOfContact("1")
		must(t, err)
		if len(ds) != 1 || ds[0].Amount.Decimal.String() != "10.5" {
			t.Errorf("deals = %+v", ds)
		}
		must(t, s.PutFailures([]Failure{{ContactID: "1"}})) // bucket added by v1
	})

	t.Run("v0 file with bad cursor refused, not misread", func(t *testing.T) {
		path := tempPath(t)
		rawBolt(t, path, func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("cursors"))
			if err != nil {
				return err
			}
			return b.Put([]byte("deals"), []byte("yesterday"))
		})
		if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "migrate state file") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("every migration is defined", func(t *testing.T) {
		for i, m := range migrations {
			if m == nil {
				t.Errorf("migrations[%d] is nil", i)
			}
		}
	})

	t.Run("foreign bbolt file refused", func(t *testing.T) {
		path := tempPath(t)
		rawBolt(t, path, func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("widgets"))
			return err
		})
		_, err := Open(path, Options{})
		if !errors.Is(err, ErrNotStateFile) || !strings.Contains(err.Error(), `"widgets"`) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("unreadable schema version refused", func(t *testing.T) {
		path := tempPath(t)
		rawBolt(t, path, func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			return b.Put(keySchemaVersion, []byte("one"))
		})
		if _, err := Open(path, Options{}); !errors.Is(err, ErrNotStateFile) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("non-bolt file refused and left alone", func(t *testing.T) {
		for name, content := range map[string][]byte{
			"text":  []byte("deal_id,amount\n1,100\n"),
			"large": []byte(strings.Repeat("not a database\n", 2000)),
		} {
			t.Run(name, func(t *testing.T) {
				path := tempPath(t)
				must(t, os.WriteFile(path, content, 0o600))
				_, err := Open(path, Options{})
				if !errors.Is(err, ErrNotStateFile) || !strings.Contains(err.Error(), "is not a bbolt database") {
					t.Fatalf("err = %v", err)
				}
				got, _ := os.ReadFile(path)
				if string(got) != string(content) {
					t.Error("file was modified")
				}
			})
		}
	})

	t.Run("directory refused", func(t *testing.T) {
		if _, err := Open(t.TempDir(), Options{}); !errors.Is(err, ErrNotStateFile) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestStore_OpenLocked(t *testing.T) {
	const timeout = 300 * time.Millisecond

	t.Run("second open in the same process", func(t *testing.T) {
		path := tempPath(t)
		s := MustOpen(t, path, Options{})
		start := time.Now()
		_, err := Open(path, Options{Timeout: timeout})
		if elapsed := time.Since(start); elapsed > timeout+time.Second {
			t.Errorf("took %v", elapsed)
		}
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("err = %v, want ErrLocked", err)
		}
		want := fmt.Sprintf("state file %s is in use by another clvsync process (pid %d)", path, os.Getpid())
		if err.Error() != want {
			t.Errorf("err = %q\nwant  %q", err, want)
		}
		must(t, s.Close())
		MustOpen(t, path, Options{Timeout: timeout})
	})

	t.Run("default timeout is about 3s", func(t *testing.T) {
		if testing.Short() {
			t.Skip("slow")
		}
		path := tempPath(t)
		MustOpen(t, path, Options{})
		start := time.Now()
		_, err := Open(path, Options{})
		if elapsed := time.Since(start); !errors.Is(err, ErrLocked) || elapsed < 2*time.Second || elapsed > 5*time.Second {
			t.Errorf("err = %v after %v", err, elapsed)
		}
	})

	t.Run("stale or missing pid file", func(t *testing.T) {
		path := tempPath(t)
		db, err := bolt.Open(path, 0o600, nil) // holds the lock, writes no sidecar
		must(t, err)
		defer db.Close()
		_, err = Open(path, Options{Timeout: timeout})
		if !errors.Is(err, ErrLocked) || !strings.HasSuffix(err.Error(), "(pid unknown)") {
			t.Errorf("missing: err = %v", err)
		}
		must(t, os.WriteFile(path+".pid", []byte("2147483646\n"), 0o600))
		_, err = Open(path, Options{Timeout: timeout})
		if !errors.Is(err, ErrLocked) || !strings.HasSuffix(err.Error(), "(pid unknown)") {
			t.Errorf("stale: err = %v", err)
		}
	})

	t.Run("child process holds it, then is killed -9", func(t *testing.T) {
		path := tempPath(t)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), holdLockEnv+"="+path)
		stdin, err := cmd.StdinPipe()
		must(t, err)
		stdout, err := cmd.StdoutPipe()
		must(t, err)
		must(t, cmd.Start())
		t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "locked\n" {
			t.Fatalf("child said %q, %v", line, err)
		}

		start := time.Now()
		_, err = Open(path, Options{Timeout: timeout})
		if elapsed := time.Since(start); elapsed > timeout+time.Second {
			t.Errorf("took %v", elapsed)
		}
		want := fmt.Sprintf("state file %s is in use by another clvsync process (pid %d)", path, cmd.Process.Pid)
		if !errors.Is(err, ErrLocked) || err.Error() != want {
			t.Fatalf("err = %v\nwant  %s", err, want)
		}

		must(t, cmd.Process.Kill()) // SIGKILL: no Close, the sidecar stays behind
		_ = cmd.Wait()
		s := MustOpen(t, path, Options{Timeout: timeout})
		if _, err := s.Counts(); err != nil {
			t.Fatal(err)
		}
	})
}
