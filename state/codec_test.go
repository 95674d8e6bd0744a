package state

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	bolt "go.etcd.io/bbolt"
)

func TestCodec_RoundTrip(t *testing.T) {
	keys := &keyTable{index: map[string]uint64{}}
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	old := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC) // before 1970: negative seconds
	cases := []struct {
		name      string
		in, empty binaryRecord
	}{
		{"deal", &dealRecord{Amount: decimal.NewNullDecimal(decimal.RequireFromString("-1234.5678")), Currency: "EUR",
			HomeAmount: decimal.NullDecimal{}, CloseDate: at, CreatedAt: old, Stage: "closedwon", Pipeline: "default",
			Won: true, ContactIDs: []string{"1", "22"}, PrimaryContactID: "22", CompanyIDs: []string{"9"},
			PrimaryCompanyID: "9", ModifiedAt: at, Warnings: []string{"amount \"1,200\" had a thousands separator"}}, &dealRecord{}},
		{"empty deal", &dealRecord{}, &dealRecord{}},
		{"contact", &contactRecord{Email: "zoë@example.com", Name: "Zoë Ångström", CreatedAt: at, Source: "ORGANIC_SEARCH",
			CompanyID: "7", MergedIDs: []string{"3", "4"}, ModifiedAt: at, Stub: true}, &contactRecord{}},
		{"result", &resultRecord{RunID: 1 << 40, Values: map[string]string{"tier": "gold", "total": "1200", "explain": ""},
			CLV: decimal.RequireFromString("1234.5678901234"), Tier: "gold", Segment: "Champions"}, &resultRecord{}},
		{"history", &historyRecord{At: at, CLV: decimal.RequireFromString("0"), Tier: "low"}, &historyRecord{}},
		{"written", &writtenRecord{Values: map[string]string{"tier": "gold"}, At: at,
			Since: map[string]time.Time{"tier": at, "rfm_segment": old}}, &writtenRecord{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := encoder{buf: []byte{binFormat}, keys: keys}
			c.in.encode(&e)
			if err := decodeRecord([]byte("k"), e.buf, c.empty, keys); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.in, c.empty) {
				t.Errorf("round trip:\n got %+v\nwant %+v", c.empty, c.in)
			}
			// Equal records encode to equal bytes (putIfChanged relies on it),
			// whatever the map iteration order.
			for range 5 {
				e2 := encoder{buf: []byte{binFormat}, keys: keys}
				c.in.encode(&e2)
				if string(e2.buf) != string(e.buf) {
					t.Fatal("encoding is not deterministic")
				}
			}
		})
	}
}

// Every truncation of a valid record, and arbitrary bytes, fail with an
// error, never a panic or a silently short record.
func TestCodec_Corrupt(t *testing.T) {
	keys := &keyTable{index: map[string]uint64{}}
	rec := &writtenRecord{Values: map[string]string{"tier": "gold", "total": "12"}, At: time.Now().UTC(),
		Since: map[string]time.Time{"tier": time.Now().UTC()}}
	e := encoder{buf: []byte{binFormat}, keys: keys}
	rec.encode(&e)
	for n := 1; n < len(e.buf); n++ {
		err := decodeRecord([]byte("k"), e.buf[:n], &writtenRecord{}, keys)
		if !errors.Is(err, errCorrupt) {
			t.Fatalf("truncated to %d bytes: err = %v", n, err)
		}
	}
	extra := append(append([]byte{}, e.buf...), 0)
	if err := decodeRecord([]byte("k"), extra, &writtenRecord{}, keys); !errors.Is(err, errCorrupt) {
		t.Errorf("trailing byte: err = %v", err)
	}
	// A key number the table does not have.
	unknown := &keyTable{index: map[string]uint64{}}
	if err := decodeRecord([]byte("k"), e.buf, &writtenRecord{}, unknown); !errors.Is(err, errCorrupt) {
		t.Errorf("unknown key number: err = %v", err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	keys := &keyTable{index: map[string]uint64{"a": 0}, names: []string{"a"}}
	f.Add([]byte{binFormat, 1, 0, 1, 'x'})
	f.Add([]byte(`{"amount":"1"}`))
	f.Add([]byte{binFormat, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, v := range []any{&dealRecord{}, &contactRecord{}, &resultRecord{}, &historyRecord{}, &writtenRecord{}} {
			_ = decodeRecord([]byte("k"), raw, v, keys)
		}
	})
}

// Records written by schema v1 (JSON) are read as they are, and rewritten
// in the binary form, smaller, when they next change.
func TestStore_ReadsV1Records(t *testing.T) {
	path := tempPath(t)
	rawBolt(t, path, func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		puts := []struct{ bucket, key, value string }{
			{"meta", "schema_version", "1"},
			{"deals", "9", `{"amount":"10.5","currency":"EUR","home_amount":"11.55","close_date":"2025-01-02T00:00:00Z","stage":"closedwon","won":true,"contacts":["1"]}`},
			{"contact_deals", "1\x009", ""},
			{"contacts", "1", `{"email":"a@b.c","created_at":"2024-05-06T07:08:09Z","source":"PAID_SEARCH"}`},
			{"computed", "1", `{"run_id":3,"values":{"tier":"gold","total":"11.55"},"clv":"11.55","tier":"gold"}`},
			{"written", "1", `{"values":{"tier":"gold"},"at":"2025-01-03T00:00:00Z","since":{"tier":"2025-01-03T00:00:00Z"}}`},
			{"history", "1\x00\x00\x00\x00\x00\x00\x00\x00\x03", `{"at":"2025-01-03T00:00:00Z","clv":"11.55","tier":"gold"}`},
		}
		for _, p := range puts {
			if err := tx.Bucket([]byte(p.bucket)).Put([]byte(p.key), []byte(p.value)); err != nil {
				return err
			}
		}
		return nil
	})
	s := MustOpen(t, path, Options{})
	d, ok, err := s.Deal("9")
	must(t, err)
	if !ok || d.HomeAmount.Decimal.String() != "11.55" || d.Currency != "EUR" || !d.Won || d.CloseDate.Year() != 2025 {
		t.Errorf("v1 deal = %+v", d)
	}
	c, _, err := s.Contact("1")
	must(t, err)
	if c.Email != "a@b.c" || c.Source != "PAID_SEARCH" {
		t.Errorf("v1 contact = %+v", c)
	}
	r, _, err := s.Result("1")
	must(t, err)
	if r.RunID != 3 || r.Values["total"] != "11.55" || r.Tier != "gold" {
		t.Errorf("v1 result = %+v", r)
	}
	w, _, err := s.Written("1")
	must(t, err)
	if w.Values["tier"] != "gold" || w.Since["tier"].Day() != 3 {
		t.Errorf("v1 written = %+v", w)
	}
	h, err := s.History("1")
	must(t, err)
	if len(h) != 1 || h[0].RunID != 3 || h[0].CLV.String() != "11.55" {
		t.Errorf("v1 history = %+v", h)
	}

	before := rawValue(t, s, "deals", "9")
	d.Stage = "won again"
	must(t, s.PutDeals([]Deal{d}))
	after := rawValue(t, s, "deals", "9")
	if after[0] != binFormat || len(after) >= len(before) {
		t.Errorf("rewritten deal: %d bytes starting %q, v1 JSON had %d", len(after), after[:1], len(before))
	}
	d2, _, err := s.Deal("9")
	must(t, err)
	d.Stage = "won again"
	if !reflect.DeepEqual(d, d2) {
		t.Errorf("after rewrite:\n got %+v\nwant %+v", d2, d)
	}
}

func rawValue(t *testing.T, s *Store, bucket, key string) []byte {
	t.Helper()
	var out []byte
	must(t, s.db.View(func(tx *bolt.Tx) error {
		out = append([]byte(nil), tx.Bucket([]byte(bucket)).Get([]byte(key))...)
		return nil
	}))
	return out
}

// Output names are interned in meta/value_keys; a reopened store reads the
// records back, and names interned by a failed transaction are saved by the
// next one that uses them.
func TestStore_KeyTable(t *testing.T) {
	path := tempPath(t)
	s := MustOpen(t, path, Options{})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	must(t, s.PutResults(1, at, []Result{{ContactID: "1", Values: map[string]string{"tier": "gold", "total": "5"}}}))
	// This call fails validation after "orders" was interned for contact 2.
	err := s.PutResults(2, at, []Result{{ContactID: "2", Values: map[string]string{"orders": "3"}}, {ContactID: ""}})
	if err == nil {
		t.Fatal("PutResults with an empty id succeeded")
	}
	must(t, s.PutWritten([]Written{{ContactID: "3", Values: map[string]string{"orders": "3"}, At: at}}))
	if err := s.PutWritten([]Written{{ContactID: "4", Values: map[string]string{"bad\nname": "x"}}}); !errors.Is(err, ErrInvalidID) {
		t.Errorf("newline in a value name: err = %v", err)
	}
	must(t, s.Close())

	s = MustOpen(t, path, Options{})
	r, _, err := s.Result("1")
	must(t, err)
	if r.Values["tier"] != "gold" || r.Values["total"] != "5" {
		t.Errorf("result after reopen = %+v", r.Values)
	}
	w, _, err := s.Written("3")
	must(t, err)
	if w.Values["orders"] != "3" {
		t.Errorf("written after reopen = %+v", w.Values)
	}
	names, _ := s.Meta("value_keys")
	if strings.Count(names, "\n") != 2 {
		t.Errorf("value_keys = %q, want 3 names", names)
	}
}

func TestStore_ForEachHistoryAndResultWritten(t *testing.T) {
	s := newStore(t, Options{HistoryRetention: 3})
	const n = chunkSize*2 + 7 // crosses two chunk boundaries
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for run := uint64(1); run <= 4; run++ {
		rs := make([]Result, n)
		for i := range rs {
			rs[i] = Result{ContactID: fmt.Sprintf("c%04d", i), Values: map[string]string{"total": fmt.Sprint(i)},
				CLV: decimal.NewFromInt(int64(i) * int64(run))}
		}
		must(t, s.PutResults(run, at.AddDate(0, 0, int(run)), rs))
	}
	var ws []Written
	for i := 0; i < n; i += 3 {
		ws = append(ws, Written{ContactID: fmt.Sprintf("c%04d", i), Values: map[string]string{"total": "w"}, At: at})
	}
	must(t, s.PutWritten(ws))

	seen := 0
	must(t, s.ForEachHistory(func(id string, ps []HistoryPoint) error {
		if want := fmt.Sprintf("c%04d", seen); id != want {
			t.Fatalf("contact %d = %s, want %s", seen, id, want)
		}
		if len(ps) != 3 || ps[0].RunID != 2 || ps[2].RunID != 4 || !ps[2].CLV.Equal(decimal.NewFromInt(int64(seen)*4)) {
			t.Fatalf("%s points = %+v", id, ps)
		}
		seen++
		return nil
	}))
	if seen != n {
		t.Errorf("history of %d contacts, want %d", seen, n)
	}

	seen = 0
	must(t, s.ForEachResultWritten(func(r Result, w Written, ok bool) error {
		i := seen
		seen++
		if r.ContactID != fmt.Sprintf("c%04d", i) || r.RunID != 4 {
			t.Fatalf("result %d = %+v", i, r)
		}
		if ok != (i%3 == 0) || (ok && (w.ContactID != r.ContactID || w.Values["total"] != "w")) {
			t.Fatalf("written of %s = %+v, %v", r.ContactID, w, ok)
		}
		return nil
	}))
	if seen != n {
		t.Errorf("%d results, want %d", seen, n)
	}
	stop := errors.New("stop")
	if err := s.ForEachResultWritten(func(Result, Written, bool) error { return stop }); err != stop {
		t.Errorf("error from fn = %v", err)
	}
}
