package state

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestStore_PutResults(t *testing.T) {
	t.Run("latest result and history", func(t *testing.T) {
		s := newStore(t)
		r := Result{ContactID: "1", Values: map[string]string{"clv": "12.30", "tier": "gold"}, CLV: decimal.RequireFromString("12.3"), Tier: "gold", Segment: "loyal"}
		must(t, s.PutResults(7, t0, []Result{r}))
		got, ok, err := s.Result("1")
		must(t, err)
		if !ok || !got.CLV.Equal(r.CLV) || !reflect.DeepEqual(got.Values, r.Values) || got.Tier != "gold" || got.Segment != "loyal" {
			t.Errorf("got %+v", got)
		}
		h, err := s.History("1")
		must(t, err)
		if len(h) != 1 || h[0].RunID != 7 || !h[0].At.Equal(t0) || !h[0].CLV.Equal(r.CLV) || h[0].Tier != "gold" {
			t.Errorf("history %+v", h)
		}
		if _, ok, _ := s.Result("2"); ok {
			t.Error("result 2 found")
		}
		if err := s.PutResults(8, t0, []Result{{ContactID: ""}}); !errors.Is(err, ErrInvalidID) {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("history retention keeps the newest, oldest first", func(t *testing.T) {
		s := newStore(t, Options{HistoryRetention: 3})
		for run := uint64(1); run <= 300; run++ { // crosses a byte boundary of the BE run id
			must(t, s.PutResults(run, t0.Add(time.Duration(run)*time.Hour), []Result{{ContactID: "1", CLV: decimal.NewFromInt(int64(run))}, {ContactID: "12"}}))
		}
		h, _ := s.History("1")
		var runs []uint64
		for _, p := range h {
			runs = append(runs, p.RunID)
		}
		if !slices.Equal(runs, []uint64{298, 299, 300}) || !h[2].CLV.Equal(decimal.NewFromInt(300)) {
			t.Errorf("runs = %v", runs)
		}
		if h, _ := s.History("12"); len(h) != 3 {
			t.Errorf("contact 12 has %d points", len(h))
		}
	})
}

func TestStore_ForEachResult(t *testing.T) {
	s := newStore(t)
	var rs []Result
	for i := range 1001 {
		rs = append(rs, Result{ContactID: fmt.Sprintf("%05d", i), CLV: decimal.NewFromInt(int64(i))})
	}
	must(t, s.PutResults(1, t0, rs))
	var got []string
	must(t, s.ForEachResult(func(r Result) error {
		got = append(got, r.ContactID)
		return s.PutWritten([]Written{{ContactID: r.ContactID}}) // may write
	}))
	if len(got) != 1001 || !slices.IsSorted(got) {
		t.Errorf("got %d results", len(got))
	}
}

func TestStore_PutWritten(t *testing.T) {
	s := newStore(t)
	w := Written{ContactID: "1", Values: map[string]string{"clv": "10.00"}, At: t0, Since: map[string]time.Time{"tier": t0.Add(-time.Hour)}}
	must(t, s.PutWritten([]Written{w, {ContactID: "2"}}))
	got, ok, err := s.Written("1")
	must(t, err)
	if !ok || !reflect.DeepEqual(got, w) {
		t.Errorf("got %+v\nwant %+v", got, w)
	}
	if _, ok, _ := s.Written("3"); ok {
		t.Error("3 found")
	}
	var ids []string
	must(t, s.ForEachWritten(func(w Written) error { ids = append(ids, w.ContactID); return nil }))
	if !slices.Equal(ids, []string{"1", "2"}) {
		t.Errorf("ids = %v", ids)
	}

	// An accepted write clears the contact's failure, and only its own.
	must(t, s.PutFailures([]Failure{{ContactID: "1", Category: "X"}, {ContactID: "5", Category: "Y"}}))
	must(t, s.PutWritten([]Written{{ContactID: "1", Values: map[string]string{"clv": "11.00"}}}))
	fs, err := s.Failures()
	must(t, err)
	if len(fs) != 1 || fs[0].ContactID != "5" {
		t.Errorf("failures after the write = %+v, want only contact 5", fs)
	}

	// Concurrent calls (committed together) all land.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.PutWritten([]Written{{ContactID: fmt.Sprintf("c%d", i), Values: map[string]string{"clv": "1"}}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range 8 {
		if _, ok, _ := s.Written(fmt.Sprintf("c%d", i)); !ok {
			t.Errorf("concurrent write c%d lost", i)
		}
	}
}

func TestStore_PutFailures(t *testing.T) {
	s := newStore(t)
	must(t, s.PutFailures([]Failure{{ContactID: "2", Category: "VALIDATION_ERROR", Message: "bad", At: t0}, {ContactID: "1", Attempts: 5}}))
	must(t, s.PutFailures([]Failure{{ContactID: "2", Category: "RATE_LIMIT", At: t0}}))
	fs, err := s.Failures()
	must(t, err)
	want := []Failure{{ContactID: "1", Attempts: 5}, {ContactID: "2", Category: "RATE_LIMIT", At: t0, Attempts: 2}}
	if !reflect.DeepEqual(fs, want) {
		t.Errorf("got %+v", fs)
	}
	must(t, s.ClearFailures([]string{"1", "9"}))
	if fs, _ := s.Failures(); len(fs) != 1 || fs[0].ContactID != "2" {
		t.Errorf("after clear: %+v", fs)
	}
}

func TestStore_BeginRun(t *testing.T) {
	t.Run("assigns ids and marks crashed runs interrupted", func(t *testing.T) {
		s := newStore(t)
		r1, err := s.BeginRun(Run{Mode: "full"})
		must(t, err)
		if r1.ID != 1 || r1.Outcome != OutcomeRunning || r1.Start.IsZero() {
			t.Errorf("r1 = %+v", r1)
		}
		// r1 is "killed": no FinishRun.
		if last, ok, _ := s.LastRun(); !ok || last.ID != 1 || last.Outcome != OutcomeRunning {
			t.Errorf("LastRun = %+v", last)
		}
		r2, err := s.BeginRun(Run{Mode: "incremental", DryRun: true, Start: t0})
		must(t, err)
		if r2.ID != 2 || !r2.Start.Equal(t0) {
			t.Errorf("r2 = %+v", r2)
		}
		runs, _ := s.Runs(0)
		if len(runs) != 2 || runs[0].ID != 2 || runs[1].Outcome != OutcomeInterrupted || runs[1].Mode != "full" || !runs[0].DryRun {
			t.Errorf("runs = %+v", runs)
		}
	})
}

func TestStore_FinishRun(t *testing.T) {
	t.Run("stores outcome and caps warnings", func(t *testing.T) {
		s := newStore(t)
		r, err := s.BeginRun(Run{Mode: "full", Start: t0})
		must(t, err)
		r.Outcome, r.End, r.Error = OutcomeFailed, t0.Add(time.Minute), "boom"
		r.Counts = map[string]int64{"deals": 3}
		r.APICalls, r.RateLimited = 10, 1
		r.Warnings = strings.Split(strings.Repeat("w,", 300), ",")
		must(t, s.FinishRun(r))
		got, ok, err := s.LastRun()
		must(t, err)
		r.Warnings = r.Warnings[:MaxRunWarnings]
		if !ok || !reflect.DeepEqual(got, r) {
			t.Errorf("got %+v", got)
		}
		if err := s.FinishRun(Run{ID: 99}); err == nil {
			t.Error("finishing an unknown run succeeded")
		}
	})

	t.Run("run retention", func(t *testing.T) {
		s := newStore(t, Options{RunRetention: 3})
		for range 5 {
			r, err := s.BeginRun(Run{})
			must(t, err)
			r.Outcome = OutcomeOK
			must(t, s.FinishRun(r))
		}
		runs, _ := s.Runs(0)
		var ids []uint64
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
		if !slices.Equal(ids, []uint64{5, 4, 3}) {
			t.Errorf("ids = %v", ids)
		}
		if runs, _ := s.Runs(2); len(runs) != 2 || runs[0].ID != 5 {
			t.Errorf("Runs(2) = %+v", runs)
		}
	})

	t.Run("no runs", func(t *testing.T) {
		s := newStore(t)
		if _, ok, err := s.LastRun(); ok || err != nil {
			t.Errorf("LastRun = %v %v", ok, err)
		}
	})
}

func TestStore_Meta(t *testing.T) {
	s := newStore(t)
	if v, err := s.Meta("mapping_hash"); v != "" || err != nil {
		t.Errorf("absent = %q %v", v, err)
	}
	must(t, s.SetMeta("mapping_hash", "abc"))
	if v, _ := s.Meta("mapping_hash"); v != "abc" {
		t.Errorf("v = %q", v)
	}
	if err := s.SetMeta("schema_version", "9"); err == nil {
		t.Error("schema_version writable")
	}
	if err := s.SetMeta("", "x"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("err = %v", err)
	}
}

func TestStore_SetCursors(t *testing.T) {
	s := newStore(t)
	if c, err := s.Cursor("deals"); err != nil || c != (Cursor{Name: "deals"}) {
		t.Errorf("absent = %+v %v", c, err)
	}
	must(t, s.SetCursors(Cursor{Name: "deals", Time: t0.In(time.FixedZone("X", 7200))}, Cursor{Name: "deals.full", After: "42"}))
	c, _ := s.Cursor("deals")
	if !c.Time.Equal(t0) || c.Time.Location() != time.UTC {
		t.Errorf("c = %+v", c)
	}
	if c, _ := s.Cursor("deals.full"); c.After != "42" || !c.Time.IsZero() {
		t.Errorf("c = %+v", c)
	}
}

func TestStore_Reopen(t *testing.T) {
	path := tempPath(t)
	s, err := Open(path, Options{})
	must(t, err)
	must(t, s.PutDeals([]Deal{{ID: "1", HomeAmount: dec("9.99"), ContactIDs: []string{"a"}, CompanyIDs: []string{"x"}}}, Cursor{Name: "deals", Time: t0}))
	must(t, s.PutContacts([]Contact{{ID: "a", Email: "a@example.com"}}))
	must(t, s.PutCompanies([]Company{{ID: "x", Name: "X"}}))
	must(t, s.PutResults(1, t0, []Result{{ContactID: "a", CLV: decimal.RequireFromString("9.99")}}))
	must(t, s.PutWritten([]Written{{ContactID: "a", Values: map[string]string{"clv": "9.99"}, At: t0}}))
	must(t, s.PutFailures([]Failure{{ContactID: "a", Attempts: 1}}))
	r, err := s.BeginRun(Run{})
	must(t, err)
	must(t, s.SetMeta("mapping_hash", "h"))
	before, _ := s.Counts()
	must(t, s.Close())

	s = MustOpen(t, path, Options{})
	after, _ := s.Counts()
	if after != before {
		t.Errorf("counts %+v -> %+v", before, after)
	}
	if d := mustDeal(t, s, "1"); !d.HomeAmount.Decimal.Equal(decimal.RequireFromString("9.99")) {
		t.Errorf("deal %+v", d)
	}
	if c, _ := s.Cursor("deals"); !c.Time.Equal(t0) {
		t.Error("cursor lost")
	}
	if c, _, _ := s.Contact("a"); c.Email != "a@example.com" {
		t.Error("contact lost")
	}
	if w, _, _ := s.Written("a"); w.Values["clv"] != "9.99" {
		t.Error("written lost")
	}
	if last, _, _ := s.LastRun(); last.ID != r.ID {
		t.Error("run lost")
	}
	if v, _ := s.Meta("mapping_hash"); v != "h" {
		t.Error("meta lost")
	}
	if next, _ := s.BeginRun(Run{}); next.ID != r.ID+1 {
		t.Errorf("next run id %d", next.ID)
	}
}

// BenchmarkStore_PutDeals writes 300k deals in pages of 100 (one Update per
// page, each with a cursor), like a full sync. Run with -benchtime=1x.
func BenchmarkStore_PutDeals(b *testing.B) {
	const total, page = 300_000, 100
	for b.Loop() {
		b.StopTimer()
		path := tempPath(b)
		s, err := Open(path, Options{})
		must(b, err)
		b.StartTimer()
		start := time.Now()
		for p := 0; p < total/page; p++ {
			deals := make([]Deal, page)
			for i := range deals {
				n := p*page + i
				deals[i] = Deal{ID: fmt.Sprintf("%d", 10_000_000+n), Amount: dec("1234.56"), Currency: "EUR",
					HomeAmount: dec("1350.10"), CloseDate: t0, CreatedAt: t0, Stage: "closedwon", Pipeline: "default",
					Won: true, ContactIDs: []string{fmt.Sprintf("%d", 500_000+n/3)}, CompanyIDs: []string{fmt.Sprintf("%d", 900_000+n/10)},
					ModifiedAt: t0}
			}
			must(b, s.PutDeals(deals, Cursor{Name: "deals.full", After: deals[page-1].ID}))
		}
		elapsed := time.Since(start)
		b.StopTimer()
		must(b, s.Close())
		fi, err := os.Stat(path)
		must(b, err)
		b.ReportMetric(float64(elapsed.Nanoseconds())/total, "ns/deal")
		b.ReportMetric(float64(fi.Size())/(1<<20), "MB")
		b.StartTimer()
	}
}
