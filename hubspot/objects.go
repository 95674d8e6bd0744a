package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Batch and page size limits HubSpot enforces; the client rejects larger
// requests before sending them.
const (
	MaxListLimit         = 100  // objects per list page
	MaxSearchLimit       = 200  // objects per search page
	MaxBatchSize         = 100  // inputs per object batch read/update
	MaxAssociationsBatch = 1000 // ids per association batch read
	MaxSearchResults     = 10000
)

// Object is a CRM record (deal, contact, company, ...). All property values
// are strings, as HubSpot sends them; a property HubSpot returns as null
// (search does that for requested but empty properties) is "".
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/understanding-the-crm
type Object struct {
	ID           string                     `json:"id"`
	Properties   map[string]string          `json:"properties"`
	CreatedAt    time.Time                  `json:"createdAt"`
	UpdatedAt    time.Time                  `json:"updatedAt"`
	Archived     bool                       `json:"archived"`
	ArchivedAt   *time.Time                 `json:"archivedAt,omitempty"`
	Associations map[string]AssociationList `json:"associations,omitempty"`
	URL          string                     `json:"url,omitempty"`
}

// AssociationList is the v3-shaped association data that list and get
// return inline (at most 100 per record per page; use
// AssociationsService.BatchRead for complete data).
type AssociationList struct {
	Results []AssociationRef `json:"results"`
	Paging  *Paging          `json:"paging,omitempty"`
}

// AssociationRef is one inline association: the other record's id and a
// type such as "deal_to_contact".
type AssociationRef struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// Paging is HubSpot's paging block; Next is nil on the last page.
type Paging struct {
	Next *NextPage `json:"next,omitempty"`
}

// NextPage holds the cursor for the next page. Link is informational.
type NextPage struct {
	After string `json:"after"`
	Link  string `json:"link,omitempty"`
}

func (p *Paging) nextAfter() string {
	if p == nil || p.Next == nil {
		return ""
	}
	return p.Next.After
}

// Page is one page of a list call.
type Page struct {
	Results []Object `json:"results"`
	Paging  *Paging  `json:"paging,omitempty"`
}

// NextAfter returns the cursor for the next page, or "" on the last page.
func (p *Page) NextAfter() string { return p.Paging.nextAfter() }

// ListOptions selects a page of objects. The zero value lists the first
// page of 100 unarchived objects with HubSpot's default properties.
type ListOptions struct {
	// Limit is the page size, 1..100; 0 means 100.
	Limit int
	// After is the cursor from Page.NextAfter.
	After string
	// Properties to return; unknown names are ignored by HubSpot.
	Properties []string
	// Associations names object types whose associated ids to return inline.
	Associations []string
	// Archived returns only archived objects when true.
	Archived bool
}

// GetOptions selects what Get returns.
type GetOptions struct {
	Properties   []string
	Associations []string
	Archived     bool
}

// ObjectsService serves one CRM object type. Client.Deals, Client.Contacts
// and Client.Companies are ready-made; Client.Objects makes others.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/deals
type ObjectsService struct {
	c          *Client
	objectType string
}

// ObjectType returns the object type this service serves, e.g. "deals".
func (s *ObjectsService) ObjectType() string { return s.objectType }

// singular returns "deal" for "deals", for error messages.
func (s *ObjectsService) singular() string { return strings.TrimSuffix(s.objectType, "s") }

func (o ListOptions) query() (url.Values, error) {
	switch {
	case o.Limit < 0 || o.Limit > MaxListLimit:
		return nil, fmt.Errorf("limit %d out of range 1..%d", o.Limit, MaxListLimit)
	case o.Limit == 0:
		o.Limit = MaxListLimit
	}
	q := url.Values{"limit": {strconv.Itoa(o.Limit)}}
	if o.After != "" {
		q.Set("after", o.After)
	}
	if len(o.Properties) > 0 {
		q.Set("properties", strings.Join(o.Properties, ","))
	}
	if len(o.Associations) > 0 {
		q.Set("associations", strings.Join(o.Associations, ","))
	}
	if o.Archived {
		q.Set("archived", "true")
	}
	return q, nil
}

// List returns one page of objects. Pass page.NextAfter() as opts.After to
// continue, or use Pages/All.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/deals
func (s *ObjectsService) List(ctx context.Context, opts ListOptions) (*Page, error) {
	q, err := opts.query()
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.objectType, err)
	}
	var page Page
	if err := s.c.do(ctx, call{endpoint: "objects.list", method: http.MethodGet,
		path: s.c.paths.objects(s.objectType), query: q, out: &page}); err != nil {
		return nil, fmt.Errorf("list %s: %w", s.objectType, err)
	}
	return &page, nil
}

// Pages iterates over list pages, starting at opts.After, until the last
// page or the first error (yielded once, then the iteration ends). opts is a
// copy: the caller's value never changes. Use it to checkpoint page cursors.
func (s *ObjectsService) Pages(ctx context.Context, opts ListOptions) iter.Seq2[*Page, error] {
	return func(yield func(*Page, error) bool) {
		seen := map[string]bool{}
		for {
			page, err := s.List(ctx, opts)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(page, nil) {
				return
			}
			next := page.NextAfter()
			if next == "" || len(page.Results) == 0 {
				// An empty page ends the listing even if it names a next
				// cursor: following it could only loop.
				return
			}
			if seen[next] {
				yield(nil, fmt.Errorf("list %s: paging cursor %q repeated", s.objectType, next))
				return
			}
			seen[next] = true
			opts.After = next
		}
	}
}

// All iterates over every object of every page.
func (s *ObjectsService) All(ctx context.Context, opts ListOptions) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		for page, err := range s.Pages(ctx, opts) {
			if err != nil {
				yield(Object{}, err)
				return
			}
			for _, o := range page.Results {
				if !yield(o, nil) {
					return
				}
			}
		}
	}
}

// Get returns one object. A missing id returns an error matching ErrNotFound.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/deals
func (s *ObjectsService) Get(ctx context.Context, id string, opts GetOptions) (*Object, error) {
	if id == "" {
		return nil, fmt.Errorf("get %s: empty id", s.singular())
	}
	q := url.Values{}
	if len(opts.Properties) > 0 {
		q.Set("properties", strings.Join(opts.Properties, ","))
	}
	if len(opts.Associations) > 0 {
		q.Set("associations", strings.Join(opts.Associations, ","))
	}
	if opts.Archived {
		q.Set("archived", "true")
	}
	var obj Object
	if err := s.c.do(ctx, call{endpoint: "objects.get", method: http.MethodGet,
		path: s.c.paths.objects(s.objectType, id), query: q, out: &obj}); err != nil {
		return nil, fmt.Errorf("get %s %s: %w", s.singular(), id, err)
	}
	return &obj, nil
}

// AssociationSpec names an association type for writes.
type AssociationSpec struct {
	// Category is HUBSPOT_DEFINED, USER_DEFINED or INTEGRATOR_DEFINED.
	Category string `json:"associationCategory"`
	// TypeID is the association type, e.g. 3 for deal → contact.
	TypeID int `json:"associationTypeId"`
}

// AssociationInput associates a new object with an existing one.
type AssociationInput struct {
	// ToID is the existing object's id.
	ToID string
	// Types are the association types to create (at least one).
	Types []AssociationSpec
}

type createBody struct {
	Properties   map[string]string `json:"properties"`
	Associations []createAssoc     `json:"associations"`
}

type createAssoc struct {
	To    objectID          `json:"to"`
	Types []AssociationSpec `json:"types"`
}

type objectID struct {
	ID string `json:"id"`
}

// Create creates an object with the given properties, associated inline
// with existing objects. Create is not retried after a 5xx or network
// error, since HubSpot may have created the object already.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/deals
func (s *ObjectsService) Create(ctx context.Context, properties map[string]string, assocs []AssociationInput) (*Object, error) {
	body := createBody{Properties: properties, Associations: []createAssoc{}}
	if body.Properties == nil {
		body.Properties = map[string]string{}
	}
	for _, a := range assocs {
		if a.ToID == "" || len(a.Types) == 0 {
			return nil, fmt.Errorf("create %s: association needs a ToID and at least one type", s.singular())
		}
		body.Associations = append(body.Associations, createAssoc{To: objectID{a.ToID}, Types: a.Types})
	}
	var obj Object
	if err := s.c.do(ctx, call{endpoint: "objects.create", method: http.MethodPost,
		path: s.c.paths.objects(s.objectType), body: body, out: &obj, unsafe: true}); err != nil {
		return nil, fmt.Errorf("create %s: %w", s.singular(), err)
	}
	return &obj, nil
}

// Update sets properties on one object; "" clears a value.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/deals
func (s *ObjectsService) Update(ctx context.Context, id string, properties map[string]string) (*Object, error) {
	if id == "" {
		return nil, fmt.Errorf("update %s: empty id", s.singular())
	}
	var obj Object
	if err := s.c.do(ctx, call{endpoint: "objects.update", method: http.MethodPatch,
		path: s.c.paths.objects(s.objectType, id), body: updateBody{Properties: properties}, out: &obj}); err != nil {
		return nil, fmt.Errorf("update %s %s: %w", s.singular(), id, err)
	}
	return &obj, nil
}

type updateBody struct {
	Properties map[string]string `json:"properties"`
}

// Archive moves an object to the recycle bin (HubSpot's delete).
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/deals
func (s *ObjectsService) Archive(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("archive %s: empty id", s.singular())
	}
	if err := s.c.do(ctx, call{endpoint: "objects.archive", method: http.MethodDelete,
		path: s.c.paths.objects(s.objectType, id)}); err != nil {
		return fmt.Errorf("archive %s %s: %w", s.singular(), id, err)
	}
	return nil
}

// Merge merges mergeID into primaryID and returns the surviving object.
// For contacts and companies HubSpot now mints a new record: the returned
// id differs from both inputs, and both old ids resolve to it. Merge is not
// retried after a 5xx, a network error or a cut body, since HubSpot may
// have merged already.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/contacts
func (s *ObjectsService) Merge(ctx context.Context, primaryID, mergeID string) (*Object, error) {
	if primaryID == "" || mergeID == "" || primaryID == mergeID {
		return nil, fmt.Errorf("merge %s: need two distinct ids (got %q, %q)", s.objectType, primaryID, mergeID)
	}
	var obj Object
	body := struct {
		Primary string `json:"primaryObjectId"`
		Merge   string `json:"objectIdToMerge"`
	}{primaryID, mergeID}
	if err := s.c.do(ctx, call{endpoint: "objects.merge", method: http.MethodPost,
		path: s.c.paths.objects(s.objectType, "merge"), body: body, out: &obj, unsafe: true}); err != nil {
		return nil, fmt.Errorf("merge %s %s into %s: %w", s.singular(), mergeID, primaryID, err)
	}
	return &obj, nil
}

// RecordError is one record's failure inside a batch call.
type RecordError struct {
	// ID is the input id that failed.
	ID string
	// Category is HubSpot's error category, e.g. OBJECT_NOT_FOUND, or
	// CategoryMissingFromResults when HubSpot answered 2xx without the id.
	Category string
	// Message is HubSpot's message (or the client's, for missing ids).
	Message string
}

// CategoryMissingFromResults marks a batch input that HubSpot neither
// returned nor reported as an error (reported for merged-away ids).
const CategoryMissingFromResults = "MISSING_FROM_RESULTS"

// batchResponse is the 200/207 body of object batch endpoints.
type batchResponse struct {
	Status    string       `json:"status"`
	Results   []Object     `json:"results"`
	NumErrors int          `json:"numErrors"`
	Errors    []batchError `json:"errors"`
}

type batchError struct {
	Status      string                     `json:"status"`
	Category    string                     `json:"category"`
	SubCategory string                     `json:"subCategory"`
	Message     string                     `json:"message"`
	Context     map[string]json.RawMessage `json:"context"`
}

func (e batchError) ids() []string {
	var ids []string
	if raw, ok := e.Context["ids"]; ok {
		_ = json.Unmarshal(raw, &ids) // best effort; HubSpot may send [""]
	}
	return ids
}

func checkBatchIDs(ids []string) error {
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id == "" {
			return errors.New("empty id in batch")
		}
		if seen[id] {
			return fmt.Errorf("duplicate id %s in batch", id)
		}
		seen[id] = true
	}
	return nil
}

// BatchRead returns the objects with the given ids (at most 100). Ids that
// HubSpot does not find (a 207 with OBJECT_NOT_FOUND) are simply absent from
// the result; callers diff. The batch endpoint cannot return associations.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/deals
func (s *ObjectsService) BatchRead(ctx context.Context, ids, properties []string) ([]Object, error) {
	if len(ids) > MaxBatchSize {
		return nil, fmt.Errorf("batch read %s: %d ids, at most %d per batch", s.objectType, len(ids), MaxBatchSize)
	}
	if err := checkBatchIDs(ids); err != nil {
		return nil, fmt.Errorf("batch read %s: %w", s.objectType, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	body := struct {
		Inputs                []objectID `json:"inputs"`
		Properties            []string   `json:"properties"`
		PropertiesWithHistory []string   `json:"propertiesWithHistory"`
	}{Properties: nonNil(properties), PropertiesWithHistory: []string{}}
	for _, id := range ids {
		body.Inputs = append(body.Inputs, objectID{id})
	}
	var resp batchResponse
	if err := s.c.do(ctx, call{endpoint: "objects.batch_read", method: http.MethodPost,
		path: s.c.paths.objects(s.objectType, "batch", "read"), body: body, out: &resp}); err != nil {
		return nil, fmt.Errorf("batch read %d %s: %w", len(ids), s.objectType, err)
	}
	return resp.Results, nil
}

// UpdateInput is one record of a batch update, addressed by record id.
type UpdateInput struct {
	ID         string            `json:"id"`
	Properties map[string]string `json:"properties"`
}

// BatchUpdateResult reports a batch update per record.
type BatchUpdateResult struct {
	// Updated holds the records HubSpot updated.
	Updated []Object
	// Failed holds every input id that was not updated: those named by a
	// 207's errors, and those missing from results altogether.
	Failed []RecordError
}

// BatchUpdate updates up to 100 records and reports success and failure
// per record (200 and 207 multi-status). An input id missing from HubSpot's
// results is reported as failed, never dropped. When HubSpot rejects the
// whole batch (400, e.g. an unknown property), the error is an *APIError and
// nothing was written; callers can bisect the batch to find the culprit.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/deals
func (s *ObjectsService) BatchUpdate(ctx context.Context, inputs []UpdateInput) (*BatchUpdateResult, error) {
	if len(inputs) > MaxBatchSize {
		return nil, fmt.Errorf("batch update %s: %d inputs, at most %d per batch", s.objectType, len(inputs), MaxBatchSize)
	}
	ids := make([]string, len(inputs))
	for i, in := range inputs {
		ids[i] = in.ID
	}
	if err := checkBatchIDs(ids); err != nil {
		return nil, fmt.Errorf("batch update %s: %w", s.objectType, err)
	}
	if len(inputs) == 0 {
		return &BatchUpdateResult{}, nil
	}
	body := struct {
		Inputs []UpdateInput `json:"inputs"`
	}{Inputs: make([]UpdateInput, len(inputs))}
	for i, in := range inputs {
		if in.Properties == nil {
			in.Properties = map[string]string{}
		}
		body.Inputs[i] = in
	}
	var resp batchResponse
	if err := s.c.do(ctx, call{endpoint: "objects.batch_update", method: http.MethodPost,
		path: s.c.paths.objects(s.objectType, "batch", "update"), body: body, out: &resp}); err != nil {
		return nil, fmt.Errorf("batch update %d %s: %w", len(inputs), s.objectType, err)
	}
	return s.c.reconcile(ids, resp), nil
}

// reconcile maps a batch response back onto the input ids.
func (c *Client) reconcile(ids []string, resp batchResponse) *BatchUpdateResult {
	res := &BatchUpdateResult{}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	done := make(map[string]bool, len(ids))
	for _, o := range resp.Results {
		if want[o.ID] && !done[o.ID] {
			done[o.ID] = true
			res.Updated = append(res.Updated, o)
		}
	}
	// Errors naming input ids explain those ids; errors naming none (HubSpot
	// sends context.ids [""] for malformed ids) explain whatever is left.
	var unnamed []batchError
	for _, e := range resp.Errors {
		named := false
		for _, id := range e.ids() {
			if want[id] && !done[id] {
				done[id] = true
				named = true
				res.Failed = append(res.Failed, RecordError{ID: id, Category: e.Category, Message: c.redact(e.Message)})
			}
		}
		if !named {
			unnamed = append(unnamed, e)
		}
	}
	for _, id := range ids {
		if done[id] {
			continue
		}
		re := RecordError{ID: id, Category: CategoryMissingFromResults,
			Message: "not in batch response (merged, deleted or invalid id?)"}
		if len(unnamed) > 0 {
			re.Category, re.Message = unnamed[0].Category, c.redact(unnamed[0].Message)
		}
		res.Failed = append(res.Failed, re)
	}
	return res
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
