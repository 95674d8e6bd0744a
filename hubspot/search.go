package hubspot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Search filter operators.
const (
	OpEQ             = "EQ"
	OpNEQ            = "NEQ"
	OpLT             = "LT"
	OpLTE            = "LTE"
	OpGT             = "GT"
	OpGTE            = "GTE"
	OpBetween        = "BETWEEN"
	OpIn             = "IN"
	OpNotIn          = "NOT_IN"
	OpHasProperty    = "HAS_PROPERTY"
	OpNotHasProperty = "NOT_HAS_PROPERTY"
)

// Sort directions.
const (
	Ascending  = "ASCENDING"
	Descending = "DESCENDING"
)

// Search request limits from HubSpot's docs.
const (
	maxFilterGroups    = 5
	maxFiltersPerGroup = 6
	maxFilters         = 18
)

// ErrSearchCap is returned when paging a single search would pass HubSpot's
// 10,000-result cap; use ModifiedSince or narrow the filters.
var ErrSearchCap = errors.New("hubspot: search results are capped at 10000 per query")

// Filter is one search condition. Timestamps are epoch-millisecond strings.
type Filter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        string   `json:"value,omitempty"`
	HighValue    string   `json:"highValue,omitempty"`
	Values       []string `json:"values,omitempty"`
}

// FilterGroup ANDs its filters; groups are ORed.
type FilterGroup struct {
	Filters []Filter `json:"filters"`
}

// Sort orders search results. HubSpot allows one sort per request.
type Sort struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

// SearchRequest is the body of a CRM search.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/search
type SearchRequest struct {
	FilterGroups []FilterGroup
	// Sorts holds at most one sort.
	Sorts      []Sort
	Properties []string
	// Limit is the page size, 1..200; 0 means 200.
	Limit int
	// After is the cursor from SearchPage.NextAfter.
	After string
	// Query is HubSpot's free-text query.
	Query string
}

// searchBody is the wire form. The official spec types sorts as strings
// and marks every field required; we follow HubSpot's docs (hubspot-api.md
// §3): sorts are {propertyName, direction} objects and after is omitted on
// the first page. filterGroups, properties and limit are always sent.
type searchBody struct {
	FilterGroups []FilterGroup `json:"filterGroups"`
	Sorts        []Sort        `json:"sorts"`
	Properties   []string      `json:"properties"`
	Limit        int           `json:"limit"`
	After        string        `json:"after,omitempty"`
	Query        string        `json:"query,omitempty"`
}

func (r SearchRequest) body() (searchBody, error) {
	b := searchBody{FilterGroups: r.FilterGroups, Sorts: r.Sorts, Properties: nonNil(r.Properties),
		Limit: r.Limit, After: r.After, Query: r.Query}
	if b.FilterGroups == nil {
		b.FilterGroups = []FilterGroup{}
	}
	if b.Sorts == nil {
		b.Sorts = []Sort{}
	}
	switch {
	case b.Limit < 0 || b.Limit > MaxSearchLimit:
		return b, fmt.Errorf("limit %d out of range 1..%d", b.Limit, MaxSearchLimit)
	case b.Limit == 0:
		b.Limit = MaxSearchLimit
	}
	if len(b.Sorts) > 1 {
		return b, fmt.Errorf("%d sorts, HubSpot allows one", len(b.Sorts))
	}
	if len(b.FilterGroups) > maxFilterGroups {
		return b, fmt.Errorf("%d filter groups, at most %d", len(b.FilterGroups), maxFilterGroups)
	}
	n := 0
	for _, g := range b.FilterGroups {
		if len(g.Filters) > maxFiltersPerGroup {
			return b, fmt.Errorf("%d filters in one group, at most %d", len(g.Filters), maxFiltersPerGroup)
		}
		n += len(g.Filters)
	}
	if n > maxFilters {
		return b, fmt.Errorf("%d filters, at most %d", n, maxFilters)
	}
	if len(b.Query) > 3000 {
		return b, fmt.Errorf("query of %d characters, at most 3000", len(b.Query))
	}
	if a, err := strconv.Atoi(b.After); err == nil && a >= MaxSearchResults {
		return b, ErrSearchCap
	}
	return b, nil
}

// SearchPage is one page of search results.
type SearchPage struct {
	Total   int      `json:"total"`
	Results []Object `json:"results"`
	Paging  *Paging  `json:"paging,omitempty"`
}

// NextAfter returns the cursor for the next page, or "" on the last page.
func (p *SearchPage) NextAfter() string { return p.Paging.nextAfter() }

// Search runs one search request (one page). Search has its own rate limit
// (5 requests per second per token) and never returns archived objects.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/search
func (s *ObjectsService) Search(ctx context.Context, req SearchRequest) (*SearchPage, error) {
	body, err := req.body()
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", s.objectType, err)
	}
	var page SearchPage
	if err := s.c.do(ctx, call{endpoint: "objects.search", method: http.MethodPost,
		path: s.c.paths.objects(s.objectType, "search"), body: body, out: &page, search: true}); err != nil {
		return nil, fmt.Errorf("search %s: %w", s.objectType, err)
	}
	return &page, nil
}

// SearchPages iterates over the pages of one search. It stops with
// ErrSearchCap instead of asking for results past 10,000, ends at an empty
// page even if it carries paging.next, and stops with an error when HubSpot
// hands out a cursor it has handed out before.
func (s *ObjectsService) SearchPages(ctx context.Context, req SearchRequest) iter.Seq2[*SearchPage, error] {
	return func(yield func(*SearchPage, error) bool) {
		seen := map[string]bool{req.After: true}
		for {
			page, err := s.Search(ctx, req)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(page, nil) {
				return
			}
			next := page.NextAfter()
			if next == "" || len(page.Results) == 0 {
				return
			}
			if seen[next] {
				yield(nil, fmt.Errorf("search %s: paging cursor %q repeated; stopping instead of looping", s.objectType, next))
				return
			}
			seen[next] = true
			req.After = next
		}
	}
}

// ModifiedProperty returns the last-modified property searches filter on:
// lastmodifieddate for contacts, hs_lastmodifieddate for everything else
// (a contacts search on hs_lastmodifieddate silently returns nothing).
func (s *ObjectsService) ModifiedProperty() string {
	if s.objectType == "contacts" || s.objectType == "0-1" {
		return "lastmodifieddate"
	}
	return "hs_lastmodifieddate"
}

// ModifiedSince iterates, in ascending modified-time order, over every
// object modified at or after since, walking past search's 10,000-result
// cap. Each object is yielded once per modified time: if a record changes
// again during the walk it is yielded again with its newer state, so treat
// rows as upserts. The modified property and hs_object_id are always
// requested in addition to properties.
//
// The walk is keyset-paged: every request asks for modified >= the last
// row's modified time (sorted ascending) instead of following HubSpot's
// offset cursor, so it never reaches the cap, and records that move while
// we page cannot shift others out of view. Rows at the boundary timestamp
// that were already yielded (up to 100) are left out of the next request
// with hs_object_id NOT_IN in a second filter group, so records written in
// one batch, which share a timestamp, are read once (if HubSpot refuses
// that request with a 400, the walk re-reads them instead and skips the
// duplicates). When a full page shares one
// timestamp, the walk pages that timestamp by hs_object_id (modified = T
// and hs_object_id > last id, sorted by id) before moving on; if HubSpot
// stops making progress the iterator yields an error instead of looping.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/search
func (s *ObjectsService) ModifiedSince(ctx context.Context, since time.Time, properties []string) iter.Seq2[Object, error] {
	return s.ModifiedSinceWhere(ctx, since, properties)
}

// ModifiedSinceWhere is ModifiedSince restricted by extra filters, ANDed
// with the modified-date window (at most 4, so every request stays within
// HubSpot's 6 filters per group).
func (s *ObjectsService) ModifiedSinceWhere(ctx context.Context, since time.Time, properties []string, extra ...Filter) iter.Seq2[Object, error] {
	if len(extra) > maxFiltersPerGroup-2 {
		return func(yield func(Object, error) bool) {
			yield(Object{}, fmt.Errorf("%s modified since: %d extra filters, at most %d", s.objectType, len(extra), maxFiltersPerGroup-2))
		}
	}
	modProp := s.ModifiedProperty()
	props := slices.Clone(properties)
	for _, p := range []string{modProp, "hs_object_id"} {
		if !slices.Contains(props, p) {
			props = append(props, p)
		}
	}
	return func(yield func(Object, error) bool) {
		w := &walk{s: s, ctx: ctx, prop: modProp, props: props, yield: yield, extra: extra,
			lower: since.UnixMilli(), boundary: map[string]bool{}, boundaryTS: -1}
		w.run()
	}
}

// walk holds the state of one ModifiedSince iteration.
type walk struct {
	s     *ObjectsService
	ctx   context.Context
	prop  string
	props []string
	extra []Filter // ANDed with the window
	yield func(Object, error) bool

	lower      int64 // window's lower bound (epoch ms)
	strict     bool  // lower bound is exclusive (GT), after a timestamp was exhausted
	boundaryTS int64 // timestamp of the last yielded row
	boundary   map[string]bool
	stopped    bool
	noSkip     bool // HubSpot refused a NOT_IN window: do not ask again
}

// maxSkipIDs bounds the ids a window leaves out at its boundary timestamp.
const maxSkipIDs = 100

// skipSeen reports whether the next window can leave out the rows already
// yielded at its lower bound: records written in one batch often share a
// timestamp, and re-reading them would cost up to half of every page.
func (w *walk) skipSeen() bool {
	return !w.noSkip && !w.strict && w.boundaryTS == w.lower && len(w.boundary) > 0 &&
		len(w.boundary) <= maxSkipIDs && 2*(len(w.extra)+2) <= maxFilters
}

// window is the next request's filter groups: modified >= lower (> after a
// timestamp was exhausted), or, when skipSeen, modified > lower OR
// (modified = lower AND hs_object_id NOT_IN the ids yielded at lower).
func (w *walk) window() []FilterGroup {
	if !w.skipSeen() {
		op := OpGTE
		if w.strict {
			op = OpGT
		}
		return []FilterGroup{{Filters: append([]Filter{{PropertyName: w.prop, Operator: op, Value: ms(w.lower)}}, w.extra...)}}
	}
	seen := make([]string, 0, len(w.boundary))
	for id := range w.boundary {
		seen = append(seen, id)
	}
	slices.SortFunc(seen, cmpID)
	return []FilterGroup{
		{Filters: append([]Filter{{PropertyName: w.prop, Operator: OpGT, Value: ms(w.lower)}}, w.extra...)},
		{Filters: append([]Filter{{PropertyName: w.prop, Operator: OpEQ, Value: ms(w.lower)},
			{PropertyName: "hs_object_id", Operator: OpNotIn, Values: seen}}, w.extra...)},
	}
}

// isValidationError reports a 400 from HubSpot.
func isValidationError(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusBadRequest
}

func (w *walk) fail(err error) {
	if !w.stopped {
		w.stopped = true
		w.yield(Object{}, fmt.Errorf("%s modified since: %w", w.s.objectType, err))
	}
}

// emit yields o unless it was already yielded at timestamp ts.
func (w *walk) emit(o Object, ts int64) bool {
	if ts == w.boundaryTS && w.boundary[o.ID] {
		return true
	}
	if ts != w.boundaryTS {
		w.boundaryTS = ts
		clear(w.boundary)
	}
	w.boundary[o.ID] = true
	if !w.yield(o, nil) {
		w.stopped = true
		return false
	}
	return true
}

func (w *walk) rowTime(o Object) (int64, error) {
	if v := o.Properties[w.prop]; v != "" {
		if t, err := parseHubSpotTime(v); err == nil {
			return t, nil
		}
	}
	if !o.UpdatedAt.IsZero() {
		return o.UpdatedAt.UnixMilli(), nil
	}
	return 0, fmt.Errorf("object %s has no usable %s", o.ID, w.prop)
}

func (w *walk) run() {
	for !w.stopped {
		page, err := w.s.Search(w.ctx, SearchRequest{
			FilterGroups: w.window(),
			Sorts:        []Sort{{PropertyName: w.prop, Direction: Ascending}},
			Properties:   w.props, Limit: MaxSearchLimit,
		})
		if err != nil && w.skipSeen() && isValidationError(err) {
			// HubSpot refused the NOT_IN window (a limit we do not
			// know): fall back to re-reading the boundary timestamp.
			w.noSkip = true
			continue
		}
		if err != nil {
			w.fail(err)
			return
		}
		maxTS, allAtLower := w.lower, len(page.Results) > 0
		for _, o := range page.Results {
			ts, err := w.rowTime(o)
			if err != nil {
				w.fail(err)
				return
			}
			if ts < w.lower || (w.strict && ts == w.lower) {
				w.fail(fmt.Errorf("search returned %s %s at %d ms, outside the window starting at %d ms; no progress", w.s.singular(), o.ID, ts, w.lower))
				return
			}
			if ts < maxTS {
				w.fail(fmt.Errorf("search results are not sorted ascending by %s", w.prop))
				return
			}
			maxTS = ts
			allAtLower = allAtLower && ts == w.lower
			if !w.emit(o, ts) {
				return
			}
		}
		if len(page.Results) == 0 || (len(page.Results) < MaxSearchLimit && page.NextAfter() == "") {
			// Last page of the window: done. An empty page ends the walk
			// even with paging.next, since the next request would be
			// the same one again.
			return
		}
		if allAtLower {
			// A full page at one timestamp: page through it by id.
			if !w.byID(w.lower) {
				return
			}
			w.strict = true
			continue
		}
		w.lower, w.strict = maxTS, false
	}
}

// byID yields every object at exactly ts, paging by hs_object_id.
func (w *walk) byID(ts int64) bool {
	lastID := ""
	for !w.stopped {
		filters := []Filter{{PropertyName: w.prop, Operator: OpEQ, Value: ms(ts)}}
		if lastID != "" {
			filters = append(filters, Filter{PropertyName: "hs_object_id", Operator: OpGT, Value: lastID})
		}
		page, err := w.s.Search(w.ctx, SearchRequest{
			FilterGroups: []FilterGroup{{Filters: append(filters, w.extra...)}},
			Sorts:        []Sort{{PropertyName: "hs_object_id", Direction: Ascending}},
			Properties:   w.props, Limit: MaxSearchLimit,
		})
		if err != nil {
			w.fail(err)
			return false
		}
		for _, o := range page.Results {
			if lastID != "" && !idLess(lastID, o.ID) {
				w.fail(fmt.Errorf("search by hs_object_id made no progress at %s=%d ms (id %s after %s); more than %d records share one timestamp and HubSpot ignores the id window",
					w.prop, ts, o.ID, lastID, MaxSearchLimit))
				return false
			}
			if rts, err := w.rowTime(o); err != nil || rts != ts {
				w.fail(fmt.Errorf("search for %s=%d ms returned %s %s at another time", w.prop, ts, w.s.singular(), o.ID))
				return false
			}
			lastID = o.ID
			if !w.emit(o, ts) {
				return false
			}
		}
		if len(page.Results) == 0 || (len(page.Results) < MaxSearchLimit && page.NextAfter() == "") {
			return true
		}
	}
	return false
}

// cmpID orders numeric record ids (shorter is smaller, then by digits).
func cmpID(a, b string) int {
	return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
}

// idLess reports whether record id a comes before b.
func idLess(a, b string) bool { return cmpID(a, b) < 0 }

func ms(t int64) string { return strconv.FormatInt(t, 10) }

// parseHubSpotTime reads a datetime property: ISO 8601 (as search returns
// it) or epoch milliseconds.
func parseHubSpotTime(v string) (int64, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UnixMilli(), nil
	}
	return strconv.ParseInt(v, 10, 64)
}
