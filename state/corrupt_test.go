package state

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// openCorruptEnv makes the test binary a child that opens the state file it
// names, reads everything, and prints one line: "OK <fingerprint>",
// "CORRUPT <error>" or "ERROR <error>". A crash (SIGSEGV, panic) shows as a
// non-zero exit without such a line.
const openCorruptEnv = "CLVSYNC_STATE_TEST_OPEN_CORRUPT"

func init() {
	path := os.Getenv(openCorruptEnv)
	if path == "" {
		return
	}
	// A damaged file must not make us allocate the machine away: fail fast.
	debug.SetMemoryLimit(1 << 30)
	_ = syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: 4 << 30, Max: 4 << 30})
	fp, err := openAndFingerprint(path)
	switch {
	case err == nil:
		fmt.Println("OK", fp)
	case errors.Is(err, ErrCorrupt):
		fmt.Println("CORRUPT", strings.ReplaceAll(err.Error(), "\n", " "))
	default:
		fmt.Println("ERROR", strings.ReplaceAll(err.Error(), "\n", " "))
	}
	os.Exit(0)
}

// openAndFingerprint opens path with default options and reads every
// contact, customer, result and run into a hash.
func openAndFingerprint(path string) (string, error) {
	s, err := Open(path, Options{Timeout: time.Second})
	if err != nil {
		return "", err
	}
	defer s.Close()
	h := sha256.New()
	n, err := s.Counts()
	if err != nil {
		return "", err
	}
	n.FileSize = 0
	fmt.Fprintf(h, "%+v\n", n)
	if err := s.ForEachContact(func(c Contact) error { _, err := fmt.Fprintf(h, "%+v\n", c); return err }); err != nil {
		return "", err
	}
	if err := s.ForEachCustomer(func(c Contact, ds []Deal) error { _, err := fmt.Fprintf(h, "%s %+v\n", c.ID, ds); return err }); err != nil {
		return "", err
	}
	if err := s.ForEachResult(func(r Result) error { _, err := fmt.Fprintf(h, "%+v\n", r); return err }); err != nil {
		return "", err
	}
	runs, err := s.Runs(0)
	if err != nil {
		return "", err
	}
	for _, r := range runs {
		fmt.Fprintf(h, "%d %s %s\n", r.ID, r.Mode, r.Outcome)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// buildStateFile writes a state file with enough data for branch pages,
// many leaf pages and a freelist, and returns its bytes.
// It also writes path+".prev", the file as it was one transaction before
// the end: bbolt falls back to that state when the newest meta page is
// damaged.
func buildStateFile(t testing.TB, path string) []byte {
	t.Helper()
	s, err := Open(path, Options{})
	must(t, err)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for round := 0; round < 3; round++ { // rewrites leave freed pages behind
		var deals []Deal
		var contacts []Contact
		var results []Result
		for i := 0; i < 600; i++ {
			cid := fmt.Sprintf("c%05d", i)
			contacts = append(contacts, Contact{ID: cid, Email: cid + "@example.com", Name: "Name " + cid + strconv.Itoa(round), CreatedAt: at})
			deals = append(deals, Deal{ID: fmt.Sprintf("d%05d", i), Amount: decimal.NewNullDecimal(decimal.NewFromInt(int64(100 + i + round))),
				CloseDate: at, Stage: "closedwon", Won: true, ContactIDs: []string{cid}, ModifiedAt: at})
			results = append(results, Result{ContactID: cid, Values: map[string]string{"clv_total": strconv.Itoa(i + round)},
				CLV: decimal.NewFromInt(int64(i + round)), Tier: "top"})
		}
		must(t, s.PutContacts(contacts))
		must(t, s.PutDeals(deals))
		run, err := s.BeginRun(Run{Mode: "full", Start: at})
		must(t, err)
		must(t, s.PutResults(run.ID, at, results))
		run.Outcome = OutcomeOK
		run.End = at.Add(time.Minute)
		if round == 2 {
			prev, err := os.ReadFile(path)
			must(t, err)
			must(t, os.WriteFile(path+".prev", prev, 0o600))
		}
		must(t, s.FinishRun(run))
	}
	must(t, s.Close())
	raw, err := os.ReadFile(path)
	must(t, err)
	return raw
}

// fileLayout is what the corruption table needs to aim at pages.
type fileLayout struct {
	pageSize              int
	freelist              int
	branches, leaves      []int
	metaPgidOff, metaRoot int
}

func layoutOf(t testing.TB, raw []byte) fileLayout {
	t.Helper()
	ps := int(binary.NativeEndian.Uint32(raw[24:28]))
	l := fileLayout{pageSize: ps, freelist: int(binary.NativeEndian.Uint64(raw[48:56])), metaPgidOff: 56, metaRoot: 32}
	for id := 2; (id+1)*ps <= len(raw); id++ {
		p := raw[id*ps:]
		if binary.NativeEndian.Uint64(p[0:8]) != uint64(id) {
			continue // overflow continuation or free page
		}
		switch binary.NativeEndian.Uint16(p[8:10]) {
		case 0x01:
			l.branches = append(l.branches, id)
		case 0x02:
			l.leaves = append(l.leaves, id)
		}
	}
	if len(l.branches) == 0 || len(l.leaves) < 3 {
		t.Fatalf("test file has %d branch and %d leaf pages; need more data", len(l.branches), len(l.leaves))
	}
	return l
}

func TestStore_OpenCorrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process per case")
	}
	dir := t.TempDir()
	orig := buildStateFile(t, dir+"/orig.db")
	want, err := openAndFingerprint(dir + "/orig.db")
	must(t, err)
	prev, err := openAndFingerprint(dir + "/orig.db.prev")
	must(t, err)
	l := layoutOf(t, orig)
	ps := l.pageSize
	page := func(b []byte, id int) []byte { return b[id*ps : (id+1)*ps] }
	flip := func(off int) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= 0xff; return b }
	}
	zero := func(ids ...int) func([]byte) []byte {
		return func(b []byte) []byte {
			for _, id := range ids {
				clear(page(b, id))
			}
			return b
		}
	}
	put64 := func(off int, v uint64) func([]byte) []byte {
		return func(b []byte) []byte { binary.NativeEndian.PutUint64(b[off:], v); return b }
	}
	put16 := func(off int, v uint16) func([]byte) []byte {
		return func(b []byte) []byte { binary.NativeEndian.PutUint16(b[off:], v); return b }
	}
	trunc := func(n int) func([]byte) []byte { return func(b []byte) []byte { return b[:n] } }
	both := func(fs ...func([]byte) []byte) func([]byte) []byte {
		return func(b []byte) []byte {
			for _, f := range fs {
				b = f(b)
			}
			return b
		}
	}
	branch, leaf, leaf2, last := l.branches[0], l.leaves[0], l.leaves[len(l.leaves)/2], len(orig)/ps-1
	// A leaf page's elements start after the 16-byte header: flags u32,
	// pos u32, ksize u32, vsize u32 each; a branch element is pos u32, ksize
	// u32, pgid u64.
	cases := []struct {
		name string
		mut  func([]byte) []byte
		// anyData: the damage is inside a record's bytes, which carry no
		// checksum, so reading different data is acceptable; crashing is not.
		anyData bool
	}{
		{"empty file", trunc(0), false},
		{"truncated to 100 bytes", trunc(100), false},
		{"truncated to one page", trunc(ps), false},
		{"truncated to two pages", trunc(2 * ps), false},
		{"truncated to three pages", trunc(3 * ps), false},
		{"truncated to half", trunc(len(orig) / 2 / ps * ps), false},
		{"truncated mid-page", trunc(len(orig)/2 + 123), false},
		{"last page cut off", trunc(len(orig) - ps), false},
		{"last byte cut off", trunc(len(orig) - 1), false},
		{"meta0 magic flipped", flip(16), false},
		{"meta1 magic flipped", flip(ps + 16), false},
		{"both meta magics flipped", both(flip(16), flip(ps+16)), false},
		{"meta0 checksum flipped", flip(72), false},
		{"both meta checksums flipped", both(flip(72), flip(ps+72)), false},
		{"both metas claim a huge high-water mark", both(put64(l.metaPgidOff, 1<<40), put64(ps+l.metaPgidOff, 1<<40)), false},
		{"meta0 zeroed", zero(0), false},
		{"both meta pages zeroed", zero(0, 1), false},
		{"freelist page zeroed", zero(l.freelist), false},
		{"freelist count huge", put16(l.freelist*ps+10, 0xfffe), false},
		{"freelist ids out of range", put64(l.freelist*ps+16, 1<<50), false},
		{"freelist page marked as leaf", put16(l.freelist*ps+8, 0x02), false},
		{"branch page zeroed", zero(branch), false},
		{"branch element points far away", put64(branch*ps+16+8, 1<<40), false},
		{"branch element count huge", put16(branch*ps+10, 0xffff), false},
		{"leaf page zeroed", zero(leaf), false},
		{"leaf element count huge", put16(leaf*ps+10, 0xffff), false},
		{"leaf element pos far away", func(b []byte) []byte {
			binary.NativeEndian.PutUint32(b[leaf2*ps+16+4:], 1<<30)
			return b
		}, false},
		{"leaf page overflow huge", func(b []byte) []byte {
			binary.NativeEndian.PutUint32(b[leaf2*ps+12:], 1<<30)
			return b
		}, false},
		{"leaf page filled with 0xff", func(b []byte) []byte {
			copy(page(b, leaf2), bytes.Repeat([]byte{0xff}, ps))
			return b
		}, false},
		{"last page zeroed", zero(last), true},
		{"byte flipped inside leaf data", flip(leaf2*ps + ps - 7), true},
	}
	exe, err := os.Executable()
	must(t, err)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := fmt.Sprintf("%s/case%02d.db", dir, i)
			must(t, os.WriteFile(path, tc.mut(bytes.Clone(orig)), 0o600))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), openCorruptEnv+"="+path)
			out, err := cmd.CombinedOutput()
			line := string(out)
			if i := strings.IndexByte(line, '\n'); i >= 0 {
				line = line[:i]
			}
			switch {
			case err != nil:
				t.Fatalf("open crashed (%v):\n%.600s", err, out)
			case strings.HasPrefix(line, "CORRUPT "):
				msg := line
				if !strings.Contains(msg, path) || !strings.Contains(msg, "backup") || !strings.Contains(msg, "resync") {
					t.Errorf("error does not name the file and the recovery: %s", msg)
				}
			case line == "OK "+want, line == "OK "+prev:
			case tc.anyData && (strings.HasPrefix(line, "OK ") || strings.HasPrefix(line, "ERROR ")):
			default:
				t.Errorf("want ErrCorrupt or the original data, got %s", line)
			}
		})
	}
}
