package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultPath is the state file used when Open is given an empty path.
const DefaultPath = "clvsync.db"

// SchemaVersion is the newest schema this package reads and writes.
const SchemaVersion = 4

// Defaults applied by Open to zero Options fields.
const (
	DefaultTimeout          = 3 * time.Second
	DefaultHistoryRetention = 104
	DefaultRunRetention     = 1000
)

// fileMode is the permission of the state file and its pid sidecar: the file
// holds contact names and emails.
const fileMode = 0o600

var (
	// ErrLocked is wrapped by Open's error when another process (or another
	// Store in this process) holds the state file.
	ErrLocked = errors.New("state file is locked")
	// ErrNewerSchema is wrapped by Open's error when the file was written by a
	// newer clvsync.
	ErrNewerSchema = errors.New("state file has a newer schema")
	// ErrNotStateFile is wrapped by Open's error when the file is not a bbolt
	// database, or is a bbolt database that clvsync did not write.
	ErrNotStateFile = errors.New("not a clvsync state file")
	// ErrCorrupt is wrapped by the error of Open (or of a later read) when
	// the state file is damaged: truncated, empty, or with pages bbolt cannot
	// read. The error names the file and the ways to recover.
	ErrCorrupt = errors.New("state file is corrupt")
)

// Options tunes Open. Zero fields take the Default* values.
type Options struct {
	// Timeout is how long Open waits for the file lock.
	Timeout time.Duration
	// HistoryRetention is the number of history points kept per contact.
	HistoryRetention int
	// RunRetention is the number of runs kept in the run log.
	RunRetention int
	// ReadOnly opens an existing file without writing to it, sharing the
	// lock with other readers (for backups and reports). It does not migrate
	// and refuses a file with an older or newer schema.
	ReadOnly bool
	// Check is how thoroughly Open checks an existing file (CheckAuto:
	// the headers always, every page when the file is small).
	Check CheckMode
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.HistoryRetention <= 0 {
		o.HistoryRetention = DefaultHistoryRetention
	}
	if o.RunRetention <= 0 {
		o.RunRetention = DefaultRunRetention
	}
	return o
}

// Store is clvsync's state file. Create it with Open and release it with Close.
type Store struct {
	db        *bolt.DB
	path      string
	opts      Options
	keys      *keyTable
	closeOnce sync.Once
	closeErr  error
	// u is the customer unit whose results, written values, history and
	// failures the results methods read and write: contacts, or companies
	// on the view CompanyUnit returns.
	u *unit
	// unitView is true for a CompanyUnit view: Close leaves the file open.
	unitView bool
}

// unit is a kind of customer and the buckets that hold its records, its
// deal index and its results.
type unit struct {
	kind                                 string // "contact" or "company", in errors
	records, index                       []byte
	computed, written, history, failures []byte
	// dirty holds the ids of the unit's customers whose inputs changed
	// since their values were last computed (see Dirty).
	dirty []byte
}

var (
	contactUnit = &unit{kind: "contact", records: bucketContacts, index: bucketContactDeals,
		computed: bucketComputed, written: bucketWritten, history: bucketHistory, failures: bucketFailures,
		dirty: bucketDirty}
	companyUnit = &unit{kind: "company", records: bucketCompanies, index: bucketCompanyDeals,
		computed: bucketCompanyComputed, written: bucketCompanyWritten, history: bucketCompanyHistory, failures: bucketCompanyFailures,
		dirty: bucketCompanyDirty}
)

// CompanyUnit returns a view of the same file in which companies are the
// customers: ForEachCustomer visits each company with its deals (the
// Contact passed carries the company's id, name and create date), and
// PutResults, ForEachHistory, PutWritten, ForEachWritten,
// ForEachResultWritten, Result, Written, History and the failure methods
// use the companies' own buckets, keyed by company id. Every other method
// is the file's. Closing the view does nothing; close the Store it came
// from.
func (s *Store) CompanyUnit() *Store {
	return &Store{db: s.db, path: s.path, opts: s.opts, keys: s.keys, u: companyUnit, unitView: true}
}

// Bucket names; see the schema in doc.go.
var (
	bucketMeta         = []byte("meta")
	bucketDeals        = []byte("deals")
	bucketContacts     = []byte("contacts")
	bucketCompanies    = []byte("companies")
	bucketContactDeals = []byte("contact_deals")
	bucketCompanyDeals = []byte("company_deals")
	bucketCursors      = []byte("cursors")
	bucketComputed     = []byte("computed")
	bucketWritten      = []byte("written")
	bucketHistory      = []byte("history")
	bucketFailures     = []byte("failures")
	bucketRuns         = []byte("runs")
	bucketEvents       = []byte("events")
	// The company unit's results (companies: true), keyed by company id
	// like their contact counterparts.
	bucketCompanyComputed = []byte("company_computed")
	bucketCompanyWritten  = []byte("company_written")
	bucketCompanyHistory  = []byte("company_history")
	bucketCompanyFailures = []byte("company_failures")
	// The customers whose values must be computed again, per unit.
	bucketDirty        = []byte("dirty")
	bucketCompanyDirty = []byte("company_dirty")

	allBuckets = [][]byte{bucketMeta, bucketDeals, bucketContacts, bucketCompanies,
		bucketContactDeals, bucketCompanyDeals, bucketCursors, bucketComputed,
		bucketWritten, bucketHistory, bucketFailures, bucketRuns, bucketEvents,
		bucketCompanyComputed, bucketCompanyWritten, bucketCompanyHistory, bucketCompanyFailures,
		bucketDirty, bucketCompanyDirty}

	keySchemaVersion = []byte("schema_version")
)

// migrations[i] upgrades a file from schema version i to i+1. It runs inside
// Open's Update, before missing buckets are created. The array length ties
// the table to SchemaVersion at compile time.
var migrations = [SchemaVersion]func(tx *bolt.Tx) error{
	migrateV0toV1,
	migrateV1toV2,
	migrateV2toV3,
	migrateV3toV4,
}

// Open opens (or creates, mode 0600) the state file at path, waits at most
// o.Timeout for its lock, creates missing buckets, and migrates an older
// schema. It refuses a file with a newer schema, a file that is not a bbolt
// database, and a bbolt database with buckets clvsync does not know. A
// damaged file (empty, truncated, with broken headers or pages) is refused
// with an error wrapping ErrCorrupt that names the file and the way to
// recover; see o.Check for how much of the file is checked.
func Open(path string, o Options) (*Store, error) {
	if path == "" {
		path = DefaultPath
	}
	o = o.withDefaults()
	exists, err := checkFile(path)
	if err != nil {
		return nil, err
	}
	if o.ReadOnly && !exists {
		return nil, fmt.Errorf("open state file %s read-only: %w", path, os.ErrNotExist)
	}
	db, err := openBolt(path, &bolt.Options{Timeout: o.Timeout, ReadOnly: o.ReadOnly})
	if err != nil {
		switch {
		case errors.Is(err, ErrCorrupt):
			return nil, err
		case errors.Is(err, berrors.ErrTimeout):
			return nil, &lockedError{path: path, pid: holderPID(path), cause: err}
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
			errors.Is(err, berrors.ErrVersionMismatch):
			return nil, &corruptError{path: path, what: "bbolt refuses its headers", cause: err}
		}
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	s := &Store{db: db, path: path, opts: o, u: contactUnit}
	if exists && (o.Check == CheckFull || o.Check == CheckAuto && fileSize(path) <= CheckAutoLimit) {
		// Before init: its Update must not write into a damaged file.
		if err := s.check(); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	if o.ReadOnly {
		if err := s.initReadOnly(); err != nil {
			_ = db.Close()
			return nil, err
		}
		return s, nil
	}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&^fileMode != 0 {
		if err := os.Chmod(path, fileMode); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open state file %s: restrict mode to 0600: %w", path, err)
		}
	}
	// The pid file is only an operator hint for a later lock error; failing to
	// write it (e.g. a read-only directory for the sidecar) must not stop a run.
	_ = os.WriteFile(pidPath(path), []byte(strconv.Itoa(os.Getpid())+"\n"), fileMode)
	return s, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// init checks the schema version, runs migrations and creates missing
// buckets, all in one Update so a crash leaves either the old or the new file.
func (s *Store) init() error {
	err := s.update(func(tx *bolt.Tx) error {
		version, fresh, err := readSchemaVersion(tx, s.path)
		if err != nil {
			return err
		}
		if version > SchemaVersion {
			return &newerSchemaError{path: s.path, version: version}
		}
		if !fresh {
			for v := version; v < SchemaVersion; v++ {
				if err := migrations[v](tx); err != nil {
					return fmt.Errorf("migrate state file %s from schema v%d to v%d: %w", s.path, v, v+1, err)
				}
			}
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if s.keys, err = loadKeyTable(tx); err != nil {
			return err
		}
		want := []byte(strconv.Itoa(SchemaVersion))
		if !bytes.Equal(tx.Bucket(bucketMeta).Get(keySchemaVersion), want) {
			return tx.Bucket(bucketMeta).Put(keySchemaVersion, want)
		}
		return nil
	})
	if err != nil {
		var nse *newerSchemaError
		if errors.As(err, &nse) || errors.Is(err, ErrNotStateFile) || errors.Is(err, ErrCorrupt) {
			return err
		}
		return fmt.Errorf("initialise state file %s: %w", s.path, err)
	}
	return nil
}

// initReadOnly checks, without writing, that the file has this build's
// schema, and loads the interned value names.
func (s *Store) initReadOnly() error {
	return s.view(func(tx *bolt.Tx) error {
		version, fresh, err := readSchemaVersion(tx, s.path)
		switch {
		case err != nil:
			return err
		case version > SchemaVersion:
			return &newerSchemaError{path: s.path, version: version}
		case fresh || version < SchemaVersion || tx.Bucket(bucketMeta) == nil:
			return fmt.Errorf("state file %s has schema version %d, not %d: open it once read-write (any clvsync run) to upgrade it",
				s.path, version, SchemaVersion)
		}
		s.keys, err = loadKeyTable(tx)
		return err
	})
}

// readSchemaVersion reports the file's schema version. fresh is true for a
// bbolt file without any bucket. A file without schema_version whose buckets
// are all known is schema v0.
func readSchemaVersion(tx *bolt.Tx, path string) (version int, fresh bool, err error) {
	if meta := tx.Bucket(bucketMeta); meta != nil {
		if raw := meta.Get(keySchemaVersion); raw != nil {
			v, err := strconv.Atoi(string(raw))
			if err != nil || v < 0 {
				return 0, false, fmt.Errorf("state file %s has an unreadable schema_version %q: %w", path, raw, ErrNotStateFile)
			}
			return v, false, nil
		}
	}
	known := make(map[string]bool, len(allBuckets))
	for _, b := range allBuckets {
		known[string(b)] = true
	}
	var n int
	var unknown string
	_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		n++
		if !known[string(name)] && unknown == "" {
			unknown = string(name)
		}
		return nil
	})
	if unknown != "" {
		return 0, false, fmt.Errorf("state file %s is a bbolt database but not one clvsync wrote (unknown bucket %q): %w", path, unknown, ErrNotStateFile)
	}
	return 0, n == 0, nil
}

// migrateV0toV1 rewrites v0 cursors (bare RFC 3339 values) as JSON records.
func migrateV0toV1(tx *bolt.Tx) error {
	b := tx.Bucket(bucketCursors)
	if b == nil {
		return nil
	}
	type kv struct{ k, v []byte }
	var updates []kv
	err := b.ForEach(func(k, v []byte) error {
		if len(v) > 0 && v[0] == '{' {
			return nil
		}
		t, err := time.Parse(time.RFC3339Nano, string(v))
		if err != nil {
			return fmt.Errorf("cursor %q: %w", k, err)
		}
		enc, err := encodeCursor(Cursor{Name: string(k), Time: t})
		if err != nil {
			return err
		}
		updates = append(updates, kv{bytes.Clone(k), enc})
		return nil
	})
	if err != nil {
		return err
	}
	for _, u := range updates {
		if err := b.Put(u.k, u.v); err != nil {
			return err
		}
	}
	return nil
}

// migrateV1toV2 changes nothing in place. Schema v2 stores deals, contacts,
// computed and written records and history points in a binary encoding (see
// codec.go) that is about a third of v1's JSON; it still reads v1's JSON
// records, which start with '{', and rewrites each in the binary form when
// it next changes. A full sync rewrites all deals and contacts. The version
// bump keeps a v1 build from misreading binary records: it refuses the file
// as newer.
func migrateV1toV2(*bolt.Tx) error { return nil }

// migrateV2toV3 changes nothing in place: schema v3 adds the company unit's
// buckets (company_computed, company_written, company_history,
// company_failures), which Open creates empty. The version bump keeps a v2
// build, which would refuse them as unknown buckets, from calling the file
// foreign: it refuses it as newer.
func migrateV2toV3(*bolt.Tx) error { return nil }

// migrateV3toV4 changes nothing in place: schema v4 adds the dirty and
// company_dirty buckets, which Open creates empty, and which every change
// to a deal, contact or company keeps from then on. An empty dirty bucket is
// safe: a run computes every customer until one has (sync's compute basis).
// The bump keeps a v3 build, which would change records without marking
// them, from using the file: it refuses it as newer.
func migrateV3toV4(*bolt.Tx) error { return nil }

// ReleaseMapped releases the pages of the state file mapped into this
// process. bbolt maps the file read-only and reads records straight from the
// mapping, so every page a scan or an update touches stays in the process's
// resident set (RSS) until the mapping goes; a run touches the whole file.
// Released pages stay in the kernel's page cache and are mapped again,
// without disk I/O, when next read. It is a no-op on systems other than
// Linux.
func (s *Store) ReleaseMapped() error {
	return s.view(func(tx *bolt.Tx) error {
		releaseMapped(tx)
		return nil
	})
}

// TrimMapped is ReleaseMapped for loops that call it often: it releases
// only when the process's resident file-backed memory is above
// mappedBudget. Each release costs the pages mapped again, folio by folio,
// when next read (releasing after every 100 customers cost a 300k full
// computation about 40 s); checking the budget costs a read of
// /proc/self/statm.
func (s *Store) TrimMapped() error {
	return s.view(func(tx *bolt.Tx) error {
		trimMapped(tx)
		return nil
	})
}

// mappedBudget is the resident file-backed memory above which trimMapped
// releases the state file's mapped pages.
const mappedBudget = 32 << 20

// trimMapped runs releaseMapped when the resident file-backed memory is
// above mappedBudget (or cannot be read).
func trimMapped(tx *bolt.Tx) {
	if n, ok := residentFile(); ok && n < mappedBudget {
		return
	}
	releaseMapped(tx)
}

// recordTouched counts a record read or written and checks the mapped
// pages every trimEvery records, within whatever transaction touched it.
// Each lookup maps the pages on its path, and the kernel maps up to 64 kB
// of the file around each (fault-around): a transaction over many records,
// or a loop of lookups, would otherwise map megabytes between the checks
// its callers make (at 300k contacts, an incremental pull's 200-deal
// transaction mapped 10 MB, and 16 customers' lookups 12-16 MB).
func recordTouched(tx *bolt.Tx) {
	if recordsTouched.Add(1)%trimEvery == 0 {
		trimMapped(tx)
	}
}

var recordsTouched atomic.Uint64

// trimEvery is how many records recordTouched counts between checks: a
// check is a read of /proc/self/statm (3.4 µs: BenchmarkFileResident).
const trimEvery = 32

// residentFile is fileResident, a variable for tests.
var residentFile = fileResident

// releaseMapped runs inside a transaction: an open transaction keeps bbolt
// from remapping the file (it takes the mapping's write lock), so the range
// released is the live mapping. Failure is harmless (the pages stay mapped)
// and is ignored.
func releaseMapped(tx *bolt.Tx) {
	_ = dropMapped(tx.DB().Info().Data, int(tx.Size()))
}

// scanRelease is how many records a scan inside one transaction reads
// between checks of the mapped pages (MissingContacts and
// MissingCompanies read whole buckets in one View). At 20,000, the scan
// at the end of every pull mapped 65 MB between two checks at 300k
// contacts (a check costs a read of /proc/self/statm).
const scanRelease = 2_000

// Close releases the file and its lock and removes the pid sidecar. It is
// safe to call more than once.
func (s *Store) Close() error {
	if s.unitView {
		return nil
	}
	s.closeOnce.Do(func() {
		// Remove the sidecar while we still hold the lock, so we never delete
		// the pid file of a process that opened the file after us.
		if raw, err := os.ReadFile(pidPath(s.path)); err == nil &&
			strings.TrimSpace(string(raw)) == strconv.Itoa(os.Getpid()) {
			_ = os.Remove(pidPath(s.path))
		}
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close state file %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// Path returns the state file's path.
func (s *Store) Path() string { return s.path }

func pidPath(path string) string { return path + ".pid" }

// holderPID returns the pid recorded in the sidecar if that process is alive,
// else 0.
func holderPID(path string) int {
	raw, err := os.ReadFile(pidPath(path))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return 0
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return 0
	}
	if err := p.Signal(syscall.Signal(0)); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0
	}
	return pid
}

type lockedError struct {
	path  string
	pid   int
	cause error
}

func (e *lockedError) Error() string {
	who := "pid unknown"
	if e.pid > 0 {
		who = "pid " + strconv.Itoa(e.pid)
	}
	return fmt.Sprintf("state file %s is in use by another clvsync process (%s)", e.path, who)
}

func (e *lockedError) Unwrap() []error { return []error{ErrLocked, e.cause} }

type newerSchemaError struct {
	path    string
	version int
}

func (e *newerSchemaError) Error() string {
	return fmt.Sprintf("state file %s has schema version %d; this clvsync understands up to %d: upgrade clvsync",
		e.path, e.version, SchemaVersion)
}

func (e *newerSchemaError) Unwrap() error { return ErrNewerSchema }
