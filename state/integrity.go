package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// CheckMode says how thoroughly Open checks the file's structure.
type CheckMode int

const (
	// CheckAuto checks the meta pages and the file size always, and walks
	// every page (bbolt's consistency check) when the file is at most
	// CheckAutoLimit bytes.
	CheckAuto CheckMode = iota
	// CheckFull always walks every page.
	CheckFull
	// CheckMeta checks only the meta pages and the file size.
	CheckMeta
)

// CheckAutoLimit is the largest file CheckAuto walks in full on Open (about
// a quarter of a second of reading on a laptop).
const CheckAutoLimit = 64 << 20

// recoverHint is the way out an operator is given with every ErrCorrupt.
const recoverHint = "restore the last backup (see `clvsync backup` and docs/operations.md#recovering-from-a-corrupt-state-file), " +
	"or move the file aside and start a full resync into a new file (`clvsync run --full`)"

// corruptError is the error for a damaged state file; it wraps ErrCorrupt.
type corruptError struct {
	path, what string
	cause      error
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("state file %s is corrupt: %s; to recover, %s", e.path, e.what, recoverHint)
}

func (e *corruptError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrCorrupt}
	}
	return []error{ErrCorrupt, e.cause}
}

func corrupt(path, format string, args ...any) error {
	return &corruptError{path: path, what: fmt.Sprintf(format, args...)}
}

// bbolt's on-disk layout (go.etcd.io/bbolt/internal/common, file format
// version 2), in native byte order. A page starts with a 16-byte header:
// id u64, flags u16, count u16, overflow u32. The two meta pages (ids 0 and
// 1) continue with magic u32, version u32, pageSize u32, flags u32, root
// bucket {root pgid u64, sequence u64}, freelist pgid u64, high-water pgid
// u64, txid u64 and an FNV-64a checksum of the meta bytes before it.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16
	metaSize         = 64
	flagBranch       = 0x01
	flagLeaf         = 0x02
	flagFreelist     = 0x10
	noFreelist       = ^uint64(0)
	offMagic         = pageHeaderSize
	offVersion       = offMagic + 4
	offPageSize      = offVersion + 4
	offRoot          = offPageSize + 8
	offFreelist      = offRoot + 16
	offPgid          = offFreelist + 8
	offTxid          = offPgid + 8
	offChecksum      = offTxid + 8
	minPageSize      = 1024
	maxPageSizeShift = 14 // bbolt looks for the second meta page up to 1024<<14
)

type metaPage struct {
	pageSize                   int
	root, freelist, pgid, txid uint64
	hasMagic, valid            bool
}

func parseMeta(b []byte) metaPage {
	var m metaPage
	if len(b) < pageHeaderSize+metaSize {
		return m
	}
	ne := binary.NativeEndian
	m.hasMagic = ne.Uint32(b[offMagic:]) == boltMagic
	m.pageSize = int(ne.Uint32(b[offPageSize:]))
	m.root, m.freelist = ne.Uint64(b[offRoot:]), ne.Uint64(b[offFreelist:])
	m.pgid, m.txid = ne.Uint64(b[offPgid:]), ne.Uint64(b[offTxid:])
	h := fnv.New64a()
	h.Write(b[offMagic:offChecksum])
	m.valid = m.hasMagic && ne.Uint32(b[offVersion:]) == boltVersion &&
		ne.Uint64(b[offChecksum:]) == h.Sum64() && m.pageSize >= minPageSize
	return m
}

func readMetaAt(f *os.File, off int64) metaPage {
	b := make([]byte, pageHeaderSize+metaSize+8)
	n, _ := f.ReadAt(b, off)
	return parseMeta(b[:n])
}

// checkFile looks at an existing file before bbolt maps it: bbolt trusts
// its meta page and crashes (SIGSEGV, SIGBUS or a panic) on a file shorter
// than the meta page claims. exists is false when there is no file yet.
func checkFile(path string) (exists bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("open state file %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return true, fmt.Errorf("open state file %s: %w", path, err)
	}
	if fi.IsDir() {
		return true, fmt.Errorf("state file %s is a directory: %w", path, ErrNotStateFile)
	}
	size := fi.Size()
	if size == 0 {
		// An empty file is not a new state file: something (a full disk, a
		// copy that failed) lost its content.
		return true, corrupt(path, "the file is empty (0 bytes)")
	}
	m0 := readMetaAt(f, 0)
	var m1 metaPage
	if m0.valid {
		m1 = readMetaAt(f, int64(m0.pageSize))
	} else {
		for i := 0; i <= maxPageSizeShift; i++ {
			if m := readMetaAt(f, minPageSize<<i); m.valid || (m.hasMagic && !m1.hasMagic) {
				m1 = m
				if m.valid {
					break
				}
			}
		}
	}
	if !m0.valid && !m1.valid {
		if !m0.hasMagic && !m1.hasMagic && !looksLikeBolt(f, size) {
			return true, fmt.Errorf("state file %s is not a bbolt database: %w", path, ErrNotStateFile)
		}
		return true, corrupt(path, "both meta pages (the file's headers) are damaged")
	}
	// bbolt uses the valid meta page with the higher transaction id.
	m := m0
	if !m0.valid || (m1.valid && m1.txid > m0.txid) {
		m = m1
	}
	ps := uint64(m.pageSize)
	switch {
	case m.pgid < 2:
		return true, corrupt(path, "its header claims %d pages", m.pgid)
	case m.pgid > uint64(size)/ps: // not m.pgid*ps > size: that can overflow
		return true, corrupt(path, "it is truncated: its header says %d pages of %d bytes but the file has %d bytes",
			m.pgid, ps, size)
	case m.root < 2 || m.root >= m.pgid:
		return true, corrupt(path, "its header names root page %d of %d", m.root, m.pgid)
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.pgid):
		return true, corrupt(path, "its header names freelist page %d of %d", m.freelist, m.pgid)
	}
	if err := checkPageHeader(f, path, m.root, ps, m.pgid, flagBranch|flagLeaf, "root"); err != nil {
		return true, err
	}
	if m.freelist != noFreelist {
		if err := checkPageHeader(f, path, m.freelist, ps, m.pgid, flagFreelist, "freelist"); err != nil {
			return true, err
		}
		if err := checkFreelist(f, path, m.freelist, ps, m.pgid); err != nil {
			return true, err
		}
	}
	return true, nil
}

// checkFreelist checks that the freelist's page ids fit in its pages and
// lie between the meta pages and the high-water mark. A count of 0xFFFF
// means the real count is the first 8-byte element.
func checkFreelist(f *os.File, path string, id, ps, pgid uint64) error {
	var h [pageHeaderSize]byte
	if _, err := f.ReadAt(h[:], int64(id*ps)); err != nil {
		return corrupt(path, "cannot read the freelist page %d: %v", id, err)
	}
	ne := binary.NativeEndian
	count, skip := uint64(ne.Uint16(h[10:])), uint64(0)
	room := ((uint64(ne.Uint32(h[12:]))+1)*ps - pageHeaderSize) / 8
	if count == 0xFFFF {
		var c [8]byte
		if _, err := f.ReadAt(c[:], int64(id*ps+pageHeaderSize)); err != nil {
			return corrupt(path, "cannot read the freelist page %d: %v", id, err)
		}
		count, skip = ne.Uint64(c[:]), 1
	}
	if count > room-skip {
		return corrupt(path, "the freelist claims %d free pages but has room for %d", count, room-skip)
	}
	buf := make([]byte, count*8)
	if _, err := f.ReadAt(buf, int64(id*ps+pageHeaderSize+skip*8)); err != nil {
		return corrupt(path, "cannot read the freelist: %v", err)
	}
	for i := uint64(0); i < count; i++ {
		if free := ne.Uint64(buf[i*8:]); free < 2 || free >= pgid {
			return corrupt(path, "the freelist names page %d, outside 2..%d", free, pgid-1)
		}
	}
	return nil
}

// walkPages reads every page reachable from the root bucket straight from
// the file, with bounds-checked slices, and checks each page header, its
// element table and its children before bbolt trusts them: bbolt's own
// checker allocates per page of a claimed overflow (a damaged header can
// claim a billion) and reads keys at whatever offsets a page names.
func walkPages(f *os.File, path string, ps, pgid, root uint64) error {
	seen := make(map[uint64]bool)
	ne := binary.NativeEndian
	var visit func(id uint64, depth int) error
	var elems func(p []byte, where string, depth int) error
	visit = func(id uint64, depth int) error {
		if id < 2 || id >= pgid || seen[id] || depth > 64 {
			return corrupt(path, "page %d is referenced out of range, twice or too deep", id)
		}
		seen[id] = true
		var h [pageHeaderSize]byte
		if _, err := f.ReadAt(h[:], int64(id*ps)); err != nil {
			return corrupt(path, "cannot read page %d: %v", id, err)
		}
		overflow := uint64(ne.Uint32(h[12:]))
		if ne.Uint64(h[0:]) != id || id+overflow >= pgid {
			return corrupt(path, "page %d has a damaged header", id)
		}
		p := make([]byte, (overflow+1)*ps)
		if _, err := f.ReadAt(p, int64(id*ps)); err != nil {
			return corrupt(path, "cannot read page %d: %v", id, err)
		}
		return elems(p, fmt.Sprintf("page %d", id), depth)
	}
	elems = func(p []byte, where string, depth int) error {
		flags, count := ne.Uint16(p[8:]), int(ne.Uint16(p[10:]))
		const leafElem, branchElem = 16, 16
		if pageHeaderSize+count*leafElem > len(p) {
			return corrupt(path, "%s claims %d elements", where, count)
		}
		for i := 0; i < count; i++ {
			e := p[pageHeaderSize+i*leafElem:]
			off := pageHeaderSize + i*leafElem
			switch flags {
			case flagBranch:
				pos, ksize := int(ne.Uint32(e[0:])), int(ne.Uint32(e[4:]))
				if off+pos+ksize > len(p) || pos < 0 {
					return corrupt(path, "%s element %d lies outside the page", where, i)
				}
				if err := visit(ne.Uint64(e[8:]), depth+1); err != nil {
					return err
				}
			case flagLeaf:
				eflags, pos := ne.Uint32(e[0:]), int(ne.Uint32(e[4:]))
				ksize, vsize := int(ne.Uint32(e[8:])), int(ne.Uint32(e[12:]))
				end := off + pos + ksize + vsize
				if end > len(p) || pos < 0 || end < off {
					return corrupt(path, "%s element %d lies outside the page", where, i)
				}
				if eflags&1 == 0 { // not a bucket
					continue
				}
				v := p[off+pos+ksize : end]
				if len(v) < 16 {
					return corrupt(path, "%s element %d is a damaged bucket", where, i)
				}
				if r := ne.Uint64(v); r != 0 {
					if err := visit(r, depth+1); err != nil {
						return err
					}
				} else if len(v) < 16+pageHeaderSize {
					return corrupt(path, "%s element %d is a damaged inline bucket", where, i)
				} else if err := elems(v[16:], where+" (inline bucket)", depth+1); err != nil {
					return err
				}
			default:
				return corrupt(path, "%s has type %#x, not a branch or leaf", where, flags)
			}
		}
		if count == 0 && flags != flagBranch && flags != flagLeaf {
			return corrupt(path, "%s has type %#x, not a branch or leaf", where, flags)
		}
		return nil
	}
	return visit(root, 0)
}

// checkPageHeader checks that page id says it is page id, has one of the
// flags in want, and (with its overflow pages) ends below the high-water
// mark.
func checkPageHeader(f *os.File, path string, id, ps, pgid uint64, want uint16, what string) error {
	var h [pageHeaderSize]byte
	if _, err := f.ReadAt(h[:], int64(id*ps)); err != nil {
		return corrupt(path, "cannot read the %s page %d: %v", what, id, err)
	}
	ne := binary.NativeEndian
	gotID, flags, overflow := ne.Uint64(h[0:]), ne.Uint16(h[8:]), uint64(ne.Uint32(h[12:]))
	if gotID != id || flags&want == 0 || id+overflow >= pgid {
		return corrupt(path, "the %s page %d is damaged (id %d, flags %#x, overflow %d)", what, id, gotID, flags, overflow)
	}
	return nil
}

// looksLikeBolt reports whether some page after the meta pages carries a
// bbolt page header (its own id and a known type) at a common page size:
// the file is a bbolt database whose headers were lost, not some other file.
func looksLikeBolt(f *os.File, size int64) bool {
	for _, ps := range []int64{4096, 8192, 16384, 65536} {
		for id := int64(2); id < 64 && (id+1)*ps <= size; id++ {
			var h [pageHeaderSize]byte
			if _, err := f.ReadAt(h[:], id*ps); err != nil {
				break
			}
			flags := binary.NativeEndian.Uint16(h[8:])
			if binary.NativeEndian.Uint64(h[0:]) == uint64(id) &&
				(flags == flagBranch || flags == flagLeaf || flags == flagFreelist) {
				return true
			}
		}
	}
	return false
}

// guard runs fn and turns a panic or a memory fault inside it (bbolt reads
// pages straight from the mapped file and trusts what it finds) into an
// error wrapping ErrCorrupt. It must run in the goroutine that touches the
// file.
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &corruptError{path: path, what: fmt.Sprintf("bbolt cannot read it (%v)", r)}
		}
	}()
	return fn()
}

// openBolt opens the file with bbolt under guard. When bbolt panics half
// way, the file it opened is closed, which releases its lock.
func openBolt(path string, o *bolt.Options) (*bolt.DB, error) {
	var file *os.File
	o.OpenFile = func(name string, flag int, mode os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, mode)
		if file == nil {
			file = f
		}
		return f, err
	}
	var db *bolt.DB
	err := guard(path, func() (err error) {
		db, err = bolt.Open(path, fileMode, o)
		return err
	})
	if errors.Is(err, ErrCorrupt) && file != nil {
		_ = file.Close()
	}
	return db, err
}

// check walks every bucket and key in one read transaction and runs bbolt's
// consistency check (every page reachable once, none both used and free,
// keys in order). The walk comes first, in this goroutine under guard: it
// touches every page, so a damaged page faults here, where it can be
// recovered, rather than in bbolt's checker goroutine.
func (s *Store) check() error {
	return s.view(func(tx *bolt.Tx) error {
		f, err := os.Open(s.path)
		if err != nil {
			return fmt.Errorf("check state file %s: %w", s.path, err)
		}
		defer f.Close()
		// tx.ID() is the meta page this transaction reads.
		m0, m1 := readMetaAt(f, 0), readMetaAt(f, int64(tx.DB().Info().PageSize))
		m := m0
		if !m0.valid || (m1.valid && m1.txid > m0.txid) {
			m = m1
		}
		if m.txid != uint64(tx.ID()) {
			m = m0
		}
		if err := walkPages(f, s.path, uint64(m.pageSize), m.pgid, m.root); err != nil {
			return err
		}
		var walk func(b *bolt.Bucket) error
		walk = func(b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if v == nil {
					if child := b.Bucket(k); child != nil {
						return walk(child)
					}
				}
				return nil
			})
		}
		if err := tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) }); err != nil {
			return err
		}
		var errs []error
		for err := range tx.Check() {
			if len(errs) < 5 {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return &corruptError{path: s.path, what: "bbolt's consistency check failed", cause: errors.Join(errs...)}
		}
		return nil
	})
}

// Check walks the whole file: every bucket and key, and bbolt's consistency
// check. It returns an error wrapping ErrCorrupt when the file is damaged.
// It reads the whole file; Open runs it itself for files up to
// CheckAutoLimit bytes.
func (s *Store) Check() error { return s.check() }

// view is db.View under guard.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	return guard(s.path, func() error { return s.db.View(fn) })
}

// update is db.Update under guard. bbolt rolls the transaction back when fn
// panics, so the store stays usable for reads of undamaged pages.
func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	return guard(s.path, func() error {
		err := s.db.Update(func(tx *bolt.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			// The pages the transaction read (and the lookups since the
			// last release) need not stay resident: a run's updates reach
			// all over the file. bbolt writes through the file, never
			// through the mapping, so the mapped data stays valid.
			trimMapped(tx)
			return nil
		})
		if err == nil {
			// The commit read the header of every page it freed through
			// the mapping (bbolt's freelist): at 300k contacts, deleting
			// 88 contacts mapped 120 MB there, which stayed until the
			// next check.
			_ = s.db.View(func(tx *bolt.Tx) error {
				trimMapped(tx)
				return nil
			})
		}
		return err
	})
}
