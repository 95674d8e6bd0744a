package sync

import (
	"context"
	"iter"
	"time"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
)

// The interfaces below are everything a run uses of HubSpot and of the state
// file. hubspot's services and *state.Store satisfy them (checked in
// api_test.go); tests give a Runner in-memory fakes instead.

// Objects is what a run uses of one CRM object type: deals, contacts or
// companies (*hubspot.ObjectsService).
type Objects interface {
	Pages(ctx context.Context, opts hubspot.ListOptions) iter.Seq2[*hubspot.Page, error]
	ModifiedSinceWhere(ctx context.Context, since time.Time, properties []string, extra ...hubspot.Filter) iter.Seq2[hubspot.Object, error]
	BatchRead(ctx context.Context, ids, properties []string) ([]hubspot.Object, error)
	BatchUpdate(ctx context.Context, inputs []hubspot.UpdateInput) (*hubspot.BatchUpdateResult, error)
}

// Associations reads the associations of many records at once
// (*hubspot.AssociationsService).
type Associations interface {
	BatchRead(ctx context.Context, from, to string, ids []string) (map[string][]hubspot.Association, error)
}

// Pipelines lists the pipelines of an object type (*hubspot.PipelinesService).
type Pipelines interface {
	List(ctx context.Context, objectType string) ([]hubspot.Pipeline, error)
}

// Properties reads and creates the output properties and their group
// (*hubspot.PropertiesService).
type Properties interface {
	ListGroups(ctx context.Context, objectType string) ([]hubspot.PropertyGroup, error)
	CreateGroup(ctx context.Context, objectType string, in hubspot.PropertyGroupCreate) (*hubspot.PropertyGroup, error)
	List(ctx context.Context, objectType string, archived bool) ([]hubspot.Property, error)
	Update(ctx context.Context, objectType, name string, in hubspot.PropertyUpdate) (*hubspot.Property, error)
	BatchCreate(ctx context.Context, objectType string, in []hubspot.PropertyCreate) ([]hubspot.Property, error)
}

// Account reads the portal's account details (*hubspot.AccountService).
type Account interface {
	Details(ctx context.Context) (*hubspot.AccountDetails, error)
}

// HubSpot is the part of the HubSpot API a run uses, one small interface per
// service. NewHubSpot builds it from a *hubspot.Client.
type HubSpot struct {
	Deals, Contacts, Companies Objects
	Associations               Associations
	Pipelines                  Pipelines
	Properties                 Properties
	// Account, when set, gives the portal id the state file is checked
	// against and the currencies the mapping is checked against.
	Account Account
	// Stats returns the client's call counters; nil counts nothing.
	Stats func() hubspot.Stats
	// Rates returns the general and search request rates the client may
	// use (requests per second); nil: unknown, and a run never trades
	// searches for listing calls.
	Rates func() (general, search float64)
}

// NewHubSpot returns the services of c that a run uses.
func NewHubSpot(c *hubspot.Client) HubSpot {
	return HubSpot{Deals: c.Deals, Contacts: c.Contacts, Companies: c.Companies, Associations: c.Associations,
		Pipelines: c.Pipelines, Properties: c.Properties, Account: c.Account, Stats: c.Stats, Rates: c.Rates}
}

func (h HubSpot) stats() hubspot.Stats {
	if h.Stats == nil {
		return hubspot.Stats{}
	}
	return h.Stats()
}

// RunLog records runs.
type RunLog interface {
	BeginRun(r state.Run) (state.Run, error)
	FinishRun(r state.Run) error
}

// Cursors keeps the sync cursors and the meta values.
type Cursors interface {
	Cursor(name string) (state.Cursor, error)
	SetCursors(cursors ...state.Cursor) error
	Meta(key string) (string, error)
	// ReadMeta calls fn with a meta value in place, valid during the call.
	ReadMeta(key string, fn func(v []byte) error) error
	SetMeta(key, value string) error
	// Portal returns the HubSpot portal the state file belongs to; ok is
	// false before the first run recorded it.
	Portal() (id int64, ok bool, err error)
	// CheckPortal records the portal on first use and refuses another one
	// (state.ErrWrongPortal).
	CheckPortal(id int64) error
}

// Records keeps the deals, contacts and companies pulled from HubSpot.
type Records interface {
	ResetData() error
	PutDeals(deals []state.Deal, cursors ...state.Cursor) error
	// PutListedDeals stores a full listing's deals without index entries;
	// RebuildIndexes makes them (a no-op when none are missing).
	PutListedDeals(deals []state.Deal, cursors ...state.Cursor) error
	RebuildIndexes() error
	DeleteDeals(ids []string, cursors ...state.Cursor) error
	// UpdateDeals edits stored deals in one transaction: change sees each
	// deal as stored and says whether to store its edit.
	UpdateDeals(ids []string, change func(*state.Deal) bool) (int, error)
	DealsOfContact(contactID string) ([]state.Deal, error)
	ForEachDeal(fn func(state.Deal) error) error
	Deal(id string) (state.Deal, bool, error)
	Contact(id string) (state.Contact, bool, error)
	PutContacts(cs []state.Contact, cursors ...state.Cursor) error
	DeleteContacts(ids []string, cursors ...state.Cursor) error
	MergeContacts(survivor string, merged []string, cursors ...state.Cursor) error
	MissingContacts(limit int) ([]string, error)
	Company(id string) (state.Company, bool, error)
	PutCompanies(cs []state.Company, cursors ...state.Cursor) error
	DeleteCompanies(ids []string, cursors ...state.Cursor) error
	MissingCompanies(limit int) ([]string, error)
	ForEachCustomer(fn func(c state.Contact, deals []state.Deal) error) error
	// Customer is one customer of ForEachCustomer's, by id.
	Customer(id string) (c state.Contact, deals []state.Deal, ok bool, err error)
	// Dirty lists the customers whose inputs changed since FinishCompute
	// last cleared them (all: every customer).
	Dirty() (ids []string, all bool, err error)
}

// Results keeps computed values, their history, what was written to HubSpot
// and the writes HubSpot refused.
type Results interface {
	PutResults(runID uint64, at time.Time, rs []state.Result) error
	// FinishCompute stores the last results, clears the dirty marks of the
	// customers computed and sets meta values, in one transaction.
	FinishCompute(runID uint64, at time.Time, rs []state.Result, ids []string, all bool, meta map[string]string) error
	// StoreComputed stores results, deletes the results of customers no
	// longer customers and sets meta values, in one transaction.
	StoreComputed(runID uint64, at time.Time, rs []state.Result, dropped []string, meta map[string]string) error
	Result(id string) (state.Result, bool, error)
	Written(id string) (state.Written, bool, error)
	History(id string) ([]state.HistoryPoint, error)
	ForEachHistory(fn func(contactID string, points []state.HistoryPoint) error) error
	ForEachWritten(fn func(state.Written) error) error
	ForEachResultWritten(fn func(r state.Result, w state.Written, ok bool) error) error
	PutWritten(ws []state.Written) error
	Failures() ([]state.Failure, error)
	PutFailures(fs []state.Failure) error
	ClearFailures(ids []string) error
}

// Store is everything a run uses of the state file (*state.Store).
type Store interface {
	RunLog
	Cursors
	Records
	Results
	// ReleaseMapped drops the process's mappings of state file pages
	// between phases.
	ReleaseMapped() error
	// TrimMapped releases them only above a budget, for loops.
	TrimMapped() error
}
