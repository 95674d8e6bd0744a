package fakehub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
)

// Search limits (hubspot-api.md §3).
const (
	maxSearchLimit   = 200
	maxSearchResults = 10000
	maxFilterGroups  = 5 // the docs' 5; the spec text says 6 (facts file wins)
	maxGroupFilters  = 6
	maxTotalFilters  = 18
	maxQueryBody     = 3000
)

type searchFilter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        *string  `json:"value"`
	HighValue    *string  `json:"highValue"`
	Values       []string `json:"values"`
}

type searchRequest struct {
	FilterGroups []struct {
		Filters []searchFilter `json:"filters"`
	} `json:"filterGroups"`
	Sorts      []json.RawMessage `json:"sorts"`
	Properties []string          `json:"properties"`
	Limit      flexInt           `json:"limit"`
	After      json.RawMessage   `json:"after"`
	Query      string            `json:"query"`
}

// compiled filter
// timeOps are the operators compare answers.
var timeOps = map[string]bool{"EQ": true, "NEQ": true, "LT": true, "LTE": true, "GT": true, "GTE": true, "BETWEEN": true, "IN": true, "NOT_IN": true}

type cfilter struct {
	idx    int
	kind   string // number, time, bool, enum, string
	op     string
	num    []decimal.Decimal
	ms     []int64
	str    []string
	fold   bool
	hasVal bool
}

func kindOf(p *propertyDef) string {
	switch {
	case p.Name == "hs_object_id" || p.Type == "number":
		return "number"
	case p.Type == "datetime" || p.Type == "date":
		return "time"
	case p.Type == "enumeration":
		return "enum"
	case p.Type == "bool":
		return "bool"
	}
	return "string"
}

func (h *Hub) searchObjects(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	var in searchRequest
	if len(rc.body) > 0 && len(rc.body) > maxQueryBody*4 {
		return h.validationError("The request body is too large.", nil)
	}
	if resp, ok := h.decode(rc, &in); !ok {
		return resp
	}
	if len(in.Query) > maxQueryBody {
		return h.validationError("query must be at most 3000 characters", nil)
	}
	limit := 10
	if in.Limit.set {
		limit = in.Limit.n
	}
	if limit > maxSearchLimit {
		return h.validationError(fmt.Sprintf("limit must be less than or equal to %d", maxSearchLimit), nil)
	}
	if limit < 1 {
		limit = 10
	}
	offset := 0
	if len(in.After) > 0 && string(in.After) != "null" {
		s := strings.Trim(string(in.After), `"`)
		if s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return h.validationError(fmt.Sprintf("Invalid paging cursor: %s", s), nil)
			}
			offset = n
		}
	}
	if offset >= maxSearchResults {
		return h.validationError(fmt.Sprintf("Paging past %d results is not supported: after=%d. Narrow the search with filters.", maxSearchResults, offset), nil)
	}
	if len(in.FilterGroups) > maxFilterGroups {
		return h.validationError(fmt.Sprintf("Too many filter groups (%d). The maximum number of filter groups is %d.", len(in.FilterGroups), maxFilterGroups), nil)
	}
	total := 0
	for _, g := range in.FilterGroups {
		if len(g.Filters) > maxGroupFilters {
			return h.validationError(fmt.Sprintf("Too many filters in a filter group (%d). The maximum number of filters per group is %d.", len(g.Filters), maxGroupFilters), nil)
		}
		total += len(g.Filters)
	}
	if total > maxTotalFilters {
		return h.validationError(fmt.Sprintf("Too many filters (%d). The maximum number of filters across all groups is %d.", total, maxTotalFilters), nil)
	}
	if len(in.Sorts) > 1 {
		return h.validationError("Only one sort is allowed.", nil)
	}

	h.mu.RLock()
	defer h.mu.RUnlock()
	s := h.schemas[t]
	groups := make([][]cfilter, 0, len(in.FilterGroups))
	for _, g := range in.FilterGroups {
		var cg []cfilter
		for _, f := range g.Filters {
			cf, msg := compileFilter(s, f)
			if msg != "" {
				return h.validationError(msg, nil)
			}
			cg = append(cg, cf)
		}
		groups = append(groups, cg)
	}
	sortIdx, desc := -1, false
	if len(in.Sorts) == 1 {
		name, d := parseSort(in.Sorts[0])
		_, i, ok := s.lookup(name)
		if !ok {
			return h.validationError(fmt.Sprintf("Property %q does not exist and cannot be sorted on", name), nil)
		}
		sortIdx, desc = i, d
	}
	query := strings.ToLower(strings.TrimSpace(in.Query))
	var textIdx []int
	if query != "" {
		for _, n := range []string{"email", "firstname", "lastname", "name", "domain", "dealname", "phone"} {
			if _, i, ok := s.lookup(n); ok {
				textIdx = append(textIdx, i)
			}
		}
	}

	st := h.objects[t]
	var matches []*record
	nowMS := h.cfg.Clock().UnixMilli()
	for i := range st.recs {
		rec := h.searchView(&st.recs[i], nowMS) // search lags writes by Config.SearchLag
		if rec == nil || !rec.live() {
			continue // archived records never appear in search
		}
		if len(groups) > 0 {
			any := false
			for _, g := range groups {
				all := true
				for _, f := range g {
					if !h.matchFilter(s, rec, f) {
						all = false
						break
					}
				}
				if all {
					any = true
					break
				}
			}
			if !any {
				continue
			}
		}
		if query != "" {
			hit := false
			for _, i := range textIdx {
				if v, ok := h.value(s, rec, i); ok && strings.Contains(strings.ToLower(v), query) {
					hit = true
					break
				}
			}
			if !hit {
				continue
			}
		}
		matches = append(matches, rec)
	}
	if sortIdx >= 0 {
		kind := kindOf(s.props[sortIdx])
		type keyed struct {
			rec  *record
			has  bool
			num  float64
			str  string
			time int64
		}
		ks := make([]keyed, len(matches))
		for i, rec := range matches {
			if d := s.derive[sortIdx]; d == derivedCreated || d == derivedUpdated {
				k := keyed{rec: rec, has: true, time: rec.updated}
				if d == derivedCreated {
					k.time = rec.created
				}
				ks[i] = k
				continue
			}
			v, ok := h.value(s, rec, sortIdx)
			k := keyed{rec: rec, has: ok && v != ""}
			switch kind {
			case "number":
				k.num, _ = strconv.ParseFloat(v, 64)
			case "time":
				k.time, _ = parseTimeValue(v)
			default:
				k.str = strings.ToLower(v)
			}
			ks[i] = k
		}
		slices.SortFunc(ks, func(a, b keyed) int { // ties go by id: a total order
			if a.has != b.has { // records without a value sort last
				if a.has {
					return -1
				}
				return 1
			}
			c := 0
			switch kind {
			case "number":
				c = cmpOrdered(a.num, b.num)
			case "time":
				c = cmpOrdered(a.time, b.time)
			default:
				c = strings.Compare(a.str, b.str)
			}
			if desc {
				c = -c
			}
			if c == 0 {
				c = cmpOrdered(a.rec.id, b.rec.id)
			}
			return c
		})
		for i := range ks {
			matches[i] = ks[i].rec
		}
	}
	props := h.requestedProps(t, in.Properties)
	out := &searchResponse{Total: len(matches), Results: []*objectJSON{}}
	end := min(offset+limit, len(matches))
	for i := offset; i < end; i++ {
		out.Results = append(out.Results, h.render(t, matches[i], props, true))
	}
	if end < len(matches) {
		out.Paging = &paging{Next: &nextPage{After: strconv.Itoa(end)}}
	}
	return jsonResp(http.StatusOK, out)
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseSort accepts the documented object form and the spec's string form
// ("createdate" or "-createdate").
func parseSort(raw json.RawMessage) (string, bool) {
	var obj struct {
		PropertyName string `json:"propertyName"`
		Direction    string `json:"direction"`
	}
	if err := json.Unmarshal(raw, &obj); err == nil && obj.PropertyName != "" {
		return obj.PropertyName, strings.EqualFold(obj.Direction, "DESCENDING")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if n, ok := strings.CutPrefix(s, "-"); ok {
			return n, true
		}
		return s, false
	}
	return "", false
}

func compileFilter(s *schema, f searchFilter) (cfilter, string) {
	p, idx, ok := s.lookup(f.PropertyName)
	if !ok {
		return cfilter{}, fmt.Sprintf("There was a problem with the request: property %q does not exist on %s.", f.PropertyName, typeInfo[s.t].plural)
	}
	cf := cfilter{idx: idx, kind: kindOf(p), op: f.Operator}
	var raw []string
	switch f.Operator {
	case "HAS_PROPERTY", "NOT_HAS_PROPERTY":
		return cf, ""
	case "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN":
		if f.Value == nil {
			return cf, fmt.Sprintf("Filter on %q with operator %s requires a value.", f.PropertyName, f.Operator)
		}
		raw = []string{*f.Value}
	case "BETWEEN":
		if f.Value == nil || f.HighValue == nil {
			return cf, fmt.Sprintf("Filter on %q with operator BETWEEN requires value and highValue.", f.PropertyName)
		}
		raw = []string{*f.Value, *f.HighValue}
	case "IN", "NOT_IN":
		if len(f.Values) == 0 {
			return cf, fmt.Sprintf("Filter on %q with operator %s requires values.", f.PropertyName, f.Operator)
		}
		raw = f.Values
	default:
		return cf, fmt.Sprintf("Invalid operator %q.", f.Operator)
	}
	if strings.HasSuffix(f.Operator, "CONTAINS_TOKEN") {
		cf.kind = "string"
	}
	for _, v := range raw {
		switch cf.kind {
		case "number":
			d, err := decimal.NewFromString(v)
			if err != nil {
				return cf, fmt.Sprintf("%s is not a valid number for property %q.", v, f.PropertyName)
			}
			cf.num = append(cf.num, d)
		case "time":
			ms, ok := parseTimeValue(v)
			if !ok {
				return cf, fmt.Sprintf("%s is not a valid timestamp for property %q.", v, f.PropertyName)
			}
			cf.ms = append(cf.ms, ms)
		case "enum":
			cf.str = append(cf.str, v) // enumeration filters are case-sensitive
		default:
			cf.str = append(cf.str, strings.ToLower(v))
			cf.fold = true
		}
	}
	return cf, ""
}

// compare answers a comparison operator op (timeOps) for a value that
// cmp(i) compares with the filter's value i of n.
func compare(op string, cmp func(i int) int, n int) bool {
	switch op {
	case "EQ":
		return cmp(0) == 0
	case "NEQ":
		return cmp(0) != 0
	case "LT":
		return cmp(0) < 0
	case "LTE":
		return cmp(0) <= 0
	case "GT":
		return cmp(0) > 0
	case "GTE":
		return cmp(0) >= 0
	case "BETWEEN":
		return cmp(0) >= 0 && cmp(1) <= 0
	case "IN", "NOT_IN":
		in := false
		for i := range n {
			if cmp(i) == 0 {
				in = true
				break
			}
		}
		return in == (op == "IN")
	}
	return false
}

func (h *Hub) matchFilter(s *schema, rec *record, f cfilter) bool {
	if f.kind == "time" && timeOps[f.op] {
		// The created and modified dates are kept as epoch ms: compared
		// as they are, not formatted and parsed back for every record (a
		// search over a million deals took most of a second).
		ms := int64(-1)
		switch s.derive[f.idx] {
		case derivedCreated:
			ms = rec.created
		case derivedUpdated:
			ms = rec.updated
		}
		if ms >= 0 {
			return compare(f.op, func(i int) int { return cmpOrdered(ms, f.ms[i]) }, len(f.ms))
		}
	}
	v, ok := h.value(s, rec, f.idx)
	has := ok && v != ""
	switch f.op {
	case "HAS_PROPERTY":
		return has
	case "NOT_HAS_PROPERTY":
		return !has
	}
	if !has {
		return f.op == "NEQ" || f.op == "NOT_IN" || f.op == "NOT_CONTAINS_TOKEN"
	}
	// cmp(i) compares the record value with filter value i.
	var cmp func(i int) int
	switch f.kind {
	case "number":
		d, err := decimal.NewFromString(v)
		if err != nil {
			return false
		}
		cmp = func(i int) int { return d.Cmp(f.num[i]) }
	case "time":
		ms, ok := parseTimeValue(v)
		if !ok {
			return false
		}
		cmp = func(i int) int { return cmpOrdered(ms, f.ms[i]) }
	default:
		if f.fold {
			v = strings.ToLower(v)
		}
		cmp = func(i int) int { return strings.Compare(v, f.str[i]) }
	}
	n := max(len(f.num), len(f.ms), len(f.str))
	switch f.op {
	case "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN":
		return compare(f.op, cmp, n)
	case "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN":
		tok := strings.Trim(f.str[0], "*")
		c := strings.Contains(v, tok)
		return c == (f.op == "CONTAINS_TOKEN")
	}
	return false
}
