package sync

import (
	"context"
	"iter"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
)

// The production types satisfy the interfaces a run uses.
var (
	_ Objects      = (*hubspot.ObjectsService)(nil)
	_ Associations = (*hubspot.AssociationsService)(nil)
	_ Pipelines    = (*hubspot.PipelinesService)(nil)
	_ Properties   = (*hubspot.PropertiesService)(nil)
	_ Store        = (*state.Store)(nil)
)

// memStore is an in-memory Store for unit tests: it keeps cursors, meta
// and companies; any other method panics through the nil embedded Store,
// so a test notices when the code under test needs more.
type memStore struct {
	Store
	cursors   map[string]state.Cursor
	meta      map[string]string
	companies map[string]state.Company
	puts      int // PutCompanies calls
	portal    int64
}

func newMemStore() *memStore {
	return &memStore{cursors: map[string]state.Cursor{}, meta: map[string]string{}, companies: map[string]state.Company{}}
}

func (m *memStore) ReleaseMapped() error                     { return nil } // nothing mapped
func (m *memStore) TrimMapped() error                        { return nil }
func (m *memStore) Cursor(name string) (state.Cursor, error) { return m.cursors[name], nil }
func (m *memStore) Meta(key string) (string, error)          { return m.meta[key], nil }
func (m *memStore) SetCursors(cs ...state.Cursor) error {
	for _, c := range cs {
		m.cursors[c.Name] = c
	}
	return nil
}
func (m *memStore) Company(id string) (state.Company, bool, error) {
	c, ok := m.companies[id]
	return c, ok, nil
}
func (m *memStore) PutCompanies(cs []state.Company, cursors ...state.Cursor) error {
	m.puts++
	for _, c := range cs {
		m.companies[c.ID] = c
	}
	return m.SetCursors(cursors...)
}

// fakeObjects serves a fixed search result; other methods panic.
type fakeObjects struct {
	Objects
	modified []hubspot.Object
	since    time.Time // the since of the last search
}

func (f *fakeObjects) ModifiedSinceWhere(_ context.Context, since time.Time, _ []string, _ ...hubspot.Filter) iter.Seq2[hubspot.Object, error] {
	f.since = since
	return func(yield func(hubspot.Object, error) bool) {
		for _, o := range f.modified {
			if !yield(o, nil) {
				return
			}
		}
	}
}

func TestRunner_Plan(t *testing.T) {
	cfg := config.DefaultConfig()
	last := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name    string
		force   bool
		prepare func(*memStore)
		full    bool
		resume  bool
		reason  string
	}{
		{name: "first run", full: true, reason: "first run"},
		{name: "incremental", prepare: func(m *memStore) {
			m.meta[metaInputHash] = cfg.InputHash()
			m.cursors[cursorDeals] = state.Cursor{Name: cursorDeals, Time: last}
		}, reason: "incremental since 2026-10-01T00:00:00Z"},
		{name: "forced", force: true, prepare: func(m *memStore) {
			m.cursors[cursorDeals] = state.Cursor{Name: cursorDeals, Time: last}
		}, full: true, reason: "requested with --full"},
		{name: "mapping changed", prepare: func(m *memStore) {
			m.meta[metaInputHash] = "older"
			m.cursors[cursorDeals] = state.Cursor{Name: cursorDeals, Time: last}
		}, full: true, reason: "the deal or contact mapping changed since the data was stored"},
		{name: "interrupted full sync", prepare: func(m *memStore) {
			m.cursors[cursorDealsFull] = state.Cursor{Name: cursorDealsFull, Time: last, After: "123"}
		}, full: true, resume: true, reason: "continuing an interrupted full sync"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemStore()
			if tt.prepare != nil {
				tt.prepare(m)
			}
			r := &Runner{Store: m, Config: cfg}
			p, err := r.plan(tt.force)
			if err != nil {
				t.Fatal(err)
			}
			if p.Full != tt.full || p.Resume != tt.resume || p.Reason != tt.reason {
				t.Errorf("plan = %+v, want full %v resume %v reason %q", p, tt.full, tt.resume, tt.reason)
			}
		})
	}
}

// TestRunner_IncrementalCompanies runs the incremental-search loop on
// fakes: only stored companies are updated, in chunks that each carry the
// cursor, which ends at the newest modified time seen (an unknown company's
// included), and the search starts the overlap before the cursor.
func TestRunner_IncrementalCompanies(t *testing.T) {
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	m := newMemStore()
	m.cursors[cursorCompanies] = state.Cursor{Name: cursorCompanies, Time: start}
	var objs []hubspot.Object
	n := 2*incrementalChunk + 10
	for i := range n {
		id := strconv.Itoa(i)
		if i%2 == 0 {
			m.companies[id] = state.Company{ID: id, Name: "old"}
		}
		at := start.Add(time.Duration(i+1) * time.Minute)
		objs = append(objs, hubspot.Object{ID: id, UpdatedAt: at, Properties: map[string]string{"name": "new " + id}})
	}
	search := &fakeObjects{modified: objs}
	cfg := config.DefaultConfig()
	r := &Runner{Client: HubSpot{Companies: search}, Store: m, Config: cfg, Logger: slog.New(slog.DiscardHandler)}
	var sum Summary
	if err := r.incrementalCompanies(context.Background(), &sum); err != nil {
		t.Fatal(err)
	}
	if want := start.Add(-time.Duration(cfg.Schedule.OverlapSkew)); !search.since.Equal(want) {
		t.Errorf("searched since %v, want %v", search.since, want)
	}
	if sum.Pulled.Companies != n/2 || len(m.companies) != n/2 {
		t.Errorf("pulled %d, stored %d; want %d of each", sum.Pulled.Companies, len(m.companies), n/2)
	}
	if m.companies["0"].Name != "new 0" {
		t.Errorf("company 0 not updated: %+v", m.companies["0"])
	}
	if m.puts != 2 {
		t.Errorf("%d store calls, want 2 (a full chunk and the rest)", m.puts)
	}
	if got, want := m.cursors[cursorCompanies].Time, start.Add(time.Duration(n)*time.Minute); !got.Equal(want) {
		t.Errorf("cursor at %v, want %v", got, want)
	}
}

func (m *memStore) Portal() (int64, bool, error) { return m.portal, m.portal != 0, nil }

func (m *memStore) CheckPortal(id int64) error {
	if m.portal != 0 && m.portal != id {
		return state.ErrWrongPortal
	}
	m.portal = id
	return nil
}
