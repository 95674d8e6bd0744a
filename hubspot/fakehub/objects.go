package fakehub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// objectJSON is spec schema SimplePublicObject(WithAssociations). A nil
// property value encodes as null (search results).
type objectJSON struct {
	ID           string                      `json:"id"`
	Properties   map[string]*string          `json:"properties"`
	CreatedAt    string                      `json:"createdAt"`
	UpdatedAt    string                      `json:"updatedAt"`
	Archived     bool                        `json:"archived"`
	ArchivedAt   string                      `json:"archivedAt,omitempty"`
	Associations map[string]*v3AssocList     `json:"associations,omitempty"`
	URL          string                      `json:"url,omitempty"`
	History      map[string][]map[string]any `json:"propertiesWithHistory,omitempty"`
}

type v3AssocList struct {
	Results []v3Assoc `json:"results"`
	Paging  *paging   `json:"paging,omitempty"`
}

type v3Assoc struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

type nextPage struct {
	After string `json:"after"`
	Link  string `json:"link,omitempty"`
}

type paging struct {
	Next *nextPage `json:"next,omitempty"`
}

type listResponse struct {
	Results []*objectJSON `json:"results"`
	Paging  *paging       `json:"paging,omitempty"`
}

type searchResponse struct {
	Total   int           `json:"total"`
	Results []*objectJSON `json:"results"`
	Paging  *paging       `json:"paging,omitempty"`
}

type batchResponse struct {
	CompletedAt string          `json:"completedAt"`
	Status      string          `json:"status"`
	StartedAt   string          `json:"startedAt"`
	Results     any             `json:"results"`
	Errors      []standardError `json:"errors,omitempty"`
	NumErrors   int             `json:"numErrors,omitempty"`
}

func (h *Hub) batchResp(rc *reqCtx, results any, errs []standardError) response {
	br := &batchResponse{StartedAt: rc.started.UTC().Format(isoMillis), CompletedAt: time.Now().UTC().Format(isoMillis),
		Status: "COMPLETE", Results: results, Errors: errs, NumErrors: len(errs)}
	status := http.StatusOK
	if len(errs) > 0 {
		status = http.StatusMultiStatus
	}
	return jsonResp(status, br)
}

// objectTypeParam resolves the {objectType} path value (or the fixed type
// of v3 routes with the type in the path).
func (h *Hub) objectTypeParam(rc *reqCtx) (objType, response, bool) {
	name := rc.r.PathValue("objectType")
	t, ok := parseObjType(name)
	if !ok {
		return 0, h.badObjectType(name), false
	}
	return t, response{}, true
}

// render builds the JSON of rec. props nil means "all set properties".
// withNulls lists every requested property, null when empty (search).
func (h *Hub) render(t objType, rec *record, props []int, withNulls bool) *objectJSON {
	s := h.schemas[t]
	o := &objectJSON{ID: strconv.FormatInt(rec.id, 10), CreatedAt: fmtMS(rec.created), UpdatedAt: fmtMS(rec.updated),
		Archived: rec.archivedAt != 0,
		URL:      fmt.Sprintf("https://app.hubspot.com/contacts/%d/record/%s/%d", h.cfg.PortalID, typeInfo[t].id, rec.id)}
	if rec.archivedAt != 0 {
		o.ArchivedAt = fmtMS(rec.archivedAt)
	}
	if props == nil {
		o.Properties = make(map[string]*string, 16)
		for i := range s.props {
			if v, ok := h.value(s, rec, i); ok && v != "" {
				o.Properties[s.props[i].Name] = &v
			}
		}
		return o
	}
	o.Properties = make(map[string]*string, len(props))
	for _, i := range props {
		v, ok := h.value(s, rec, i)
		if ok && v != "" {
			o.Properties[s.props[i].Name] = &v
		} else if withNulls {
			o.Properties[s.props[i].Name] = nil
		}
	}
	return o
}

// requestedProps turns property names into indexes, ignoring unknown ones;
// no names means the type's default properties.
func (h *Hub) requestedProps(t objType, names []string) []int {
	s := h.schemas[t]
	if len(names) == 0 {
		names = s.defaults
	}
	out := make([]int, 0, len(names))
	seen := map[int]bool{}
	for _, n := range names {
		if _, i, ok := s.lookup(strings.TrimSpace(n)); ok && !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

func queryList(q url.Values, key string) []string {
	var out []string
	for _, v := range q[key] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func assocTypeName(from, to objType) string {
	return typeInfo[from].singular + "_to_" + typeInfo[to].singular
}

func (h *Hub) listObjects(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	q := rc.r.URL.Query()
	limit := 10
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return h.validationError(fmt.Sprintf("Unable to parse limit %q as an integer", v), nil)
		}
		limit = min(max(n, 1), 100)
	}
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return h.validationError(fmt.Sprintf("Invalid paging cursor: %s", v), nil)
		}
		after = n
	}
	archived := q.Get("archived") == "true"
	var assocTypes []objType
	for _, a := range queryList(q, "associations") {
		if at, ok := parseObjType(a); ok && !containsType(assocTypes, at) {
			assocTypes = append(assocTypes, at)
		}
	}

	h.mu.RLock()
	defer h.mu.RUnlock()
	props := h.requestedProps(t, queryList(q, "properties"))
	st := h.objects[t]
	i := sort.Search(len(st.recs), func(i int) bool { return st.recs[i].id >= after })
	out := &listResponse{Results: make([]*objectJSON, 0, limit)}
	for ; i < len(st.recs); i++ {
		rec := &st.recs[i]
		if rec.mergedInto != 0 || (rec.archivedAt != 0) != archived {
			continue
		}
		if len(out.Results) == limit {
			nq := rc.r.URL.Query()
			nq.Set("after", strconv.FormatInt(rec.id, 10))
			out.Paging = &paging{Next: &nextPage{After: strconv.FormatInt(rec.id, 10),
				Link: requestBase(rc.r) + rc.r.URL.Path + "?" + nq.Encode()}}
			break
		}
		o := h.render(t, rec, props, false)
		h.attachV3Assocs(rc, t, rec, o, assocTypes)
		out.Results = append(out.Results, o)
	}
	return jsonResp(http.StatusOK, out)
}

func containsType(ts []objType, t objType) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// attachV3Assocs adds the v3 associations map, 100 per type then paged.
func (h *Hub) attachV3Assocs(rc *reqCtx, t objType, rec *record, o *objectJSON, types []objType) {
	for _, at := range types {
		var list []v3Assoc
		for _, e := range rec.assoc {
			if e.t == at {
				list = append(list, v3Assoc{ID: strconv.FormatInt(e.to, 10), Type: assocTypeName(t, at)})
			}
		}
		if len(list) == 0 {
			continue
		}
		if o.Associations == nil {
			o.Associations = map[string]*v3AssocList{}
		}
		al := &v3AssocList{Results: list}
		if len(list) > 100 {
			al.Results = list[:100]
			tok := encodeCursor(100)
			al.Paging = &paging{Next: &nextPage{After: tok,
				Link: fmt.Sprintf("%s/crm/v4/objects/%s/%d/associations/%s?after=%s", requestBase(rc.r), typeInfo[t].plural, rec.id, typeInfo[at].plural, tok)}}
		}
		o.Associations[typeInfo[at].plural] = al
	}
}

// lookupForRead finds a record for GET, following merges (a merged-away id
// answers with the survivor, as reported in hubspot-api.md §10).
func (h *Hub) lookupForRead(t objType, id string, idProperty string) *record {
	st := h.objects[t]
	if idProperty != "" && idProperty != "hs_object_id" {
		s := h.schemas[t]
		_, pi, ok := s.lookup(idProperty)
		if !ok {
			return nil
		}
		for i := range st.recs {
			if v, ok := h.value(s, &st.recs[i], pi); ok && strings.EqualFold(v, id) && st.recs[i].mergedInto == 0 {
				return &st.recs[i]
			}
		}
		return nil
	}
	rec := st.findStr(id)
	for n := 0; rec != nil && rec.mergedInto != 0 && n < 100; n++ {
		rec = st.find(rec.mergedInto)
	}
	return rec
}

func (h *Hub) objectNotFound(id string) response {
	return jsonResp(http.StatusNotFound, &apiError{Status: "error", Message: "Object not found.  objectId are usually numeric.",
		CorrelationID: h.correlationID(), Context: map[string][]string{"id": {id}}, Category: "OBJECT_NOT_FOUND"})
}

func (h *Hub) getObject(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	q := rc.r.URL.Query()
	id := rc.r.PathValue("objectId")
	h.mu.RLock()
	defer h.mu.RUnlock()
	rec := h.lookupForRead(t, id, q.Get("idProperty"))
	if rec == nil || (rec.archivedAt != 0) != (q.Get("archived") == "true") {
		return h.objectNotFound(id)
	}
	o := h.render(t, rec, h.requestedProps(t, queryList(q, "properties")), false)
	var types []objType
	for _, a := range queryList(q, "associations") {
		if at, ok := parseObjType(a); ok && !containsType(types, at) {
			types = append(types, at)
		}
	}
	h.attachV3Assocs(rc, t, rec, o, types)
	return jsonResp(http.StatusOK, o)
}

// prepareWrite validates property values and returns them by index.
func (h *Hub) prepareWrite(t objType, props map[string]string) (map[int]string, []propertyProblem) {
	s := h.schemas[t]
	out := make(map[int]string, len(props))
	var problems []propertyProblem
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p, i, ok := s.lookup(n)
		if !ok {
			problems = append(problems, propertyProblem{Message: fmt.Sprintf("Property %q does not exist", n), Error: "PROPERTY_DOESNT_EXIST", Name: n})
			continue
		}
		if p.ModificationMetadata.ReadOnlyValue {
			problems = append(problems, propertyProblem{Message: fmt.Sprintf("%q is a read only property; its value cannot be set.", n), Error: "READ_ONLY_VALUE", Name: n})
			continue
		}
		v, prob := s.normalize(p, props[n])
		if prob != nil {
			problems = append(problems, *prob)
			continue
		}
		out[i] = v
	}
	return out, problems
}

// applyWrite stores validated values on rec and stamps it. It returns the
// values that changed, for webhooks.
func (h *Hub) applyWrite(t objType, rec *record, vals map[int]string, now int64) map[int]string {
	h.touch(rec)
	s := h.schemas[t]
	changed := map[int]string{}
	for i, v := range vals {
		if old, _ := getProp(rec.props, i); old != v && s.derive[i] != derivedCreated {
			changed[i] = v
		}
	}
	for i, v := range vals {
		if s.derive[i] == derivedCreated {
			if ms, ok := parseTimeValue(v); ok {
				rec.created = ms
			}
			delete(vals, i)
		}
	}
	if len(vals) > 0 {
		rec.props = setProps(rec.props, vals)
	}
	rec.updated = max(now, rec.updated+1)
	h.countWrite(t)
	return changed
}

type assocInput struct {
	To struct {
		ID string `json:"id"`
	} `json:"to"`
	Types []struct {
		Category string `json:"associationCategory"`
		TypeID   int    `json:"associationTypeId"`
	} `json:"types"`
}

type createInput struct {
	Properties         map[string]string `json:"properties"`
	Associations       []assocInput      `json:"associations"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId"`
}

// assocTypeIDs maps HUBSPOT_DEFINED type ids to (from, to, primary).
var assocTypeIDs = map[int]struct {
	from, to objType
	primary  bool
}{
	3: {typeDeal, typeContact, false}, 4: {typeContact, typeDeal, false},
	5: {typeDeal, typeCompany, true}, 341: {typeDeal, typeCompany, false},
	6: {typeCompany, typeDeal, true}, 342: {typeCompany, typeDeal, false},
	1: {typeContact, typeCompany, true}, 279: {typeContact, typeCompany, false},
	2: {typeCompany, typeContact, true}, 280: {typeCompany, typeContact, false},
}

// typeIDFor returns the HUBSPOT_DEFINED type id for an association.
func typeIDFor(from, to objType, primary bool) int {
	for id, a := range assocTypeIDs {
		if a.from == from && a.to == to && a.primary == primary {
			return id
		}
	}
	return 0
}

// checkAssocs validates inline associations of a create.
func (h *Hub) checkAssocs(t objType, as []assocInput) (response, bool) {
	for _, a := range as {
		if len(a.Types) == 0 {
			return h.validationError("associations[].types must not be empty", nil), false
		}
		for _, ty := range a.Types {
			spec, ok := assocTypeIDs[ty.TypeID]
			if !ok || spec.from != t || (ty.Category != "" && ty.Category != "HUBSPOT_DEFINED") {
				return h.validationError(fmt.Sprintf("association type id %d (%s) is not valid for %s", ty.TypeID, ty.Category, typeInfo[t].plural), nil), false
			}
			if r := h.objects[spec.to].findStr(a.To.ID); r == nil || !r.live() {
				return h.validationError(fmt.Sprintf("%s %s does not exist", typeInfo[spec.to].upper, a.To.ID), map[string][]string{"id": {a.To.ID}}), false
			}
		}
	}
	return response{}, true
}

// emailTaken returns the id of a live contact with this email, or 0.
func (h *Hub) emailTaken(email string) int64 {
	if email == "" {
		return 0
	}
	s := h.schemas[typeContact]
	idx := s.byName["email"]
	st := h.objects[typeContact]
	for i := range st.recs {
		if st.recs[i].live() {
			if v, ok := getProp(st.recs[i].props, idx); ok && strings.EqualFold(v, email) {
				return st.recs[i].id
			}
		}
	}
	return 0
}

// createLocked creates one record; h.mu must be held for writing.
func (h *Hub) createLocked(t objType, in createInput, vals map[int]string) *record {
	now := h.nowMS()
	id := h.newID()
	st := h.objects[t]
	st.recs = append(st.recs, record{id: id, created: now, updated: now})
	rec := &st.recs[len(st.recs)-1]
	h.touchNew(rec)
	h.applyWrite(t, rec, vals, now)
	rec.updated = now
	h.notify(webhookEvent{SubscriptionType: typeInfo[t].singular + ".creation", ObjectID: id, ChangeFlag: "NEW"})
	for _, a := range in.Associations {
		for _, ty := range a.Types {
			spec := assocTypeIDs[ty.TypeID]
			to, _ := strconv.ParseInt(a.To.ID, 10, 64)
			h.associate(t, id, spec.to, to, spec.primary)
		}
	}
	return h.objects[t].find(id)
}

func (h *Hub) createObject(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	var in createInput
	if resp, ok := h.decode(rc, &in); !ok {
		return resp
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	vals, problems := h.prepareWrite(t, in.Properties)
	if len(problems) > 0 {
		return h.invalidProperties(problems)
	}
	if resp, ok := h.checkAssocs(t, in.Associations); !ok {
		return resp
	}
	if t == typeContact {
		if id := h.emailTaken(in.Properties["email"]); id != 0 {
			return h.errorResp(http.StatusConflict, "CONFLICT", fmt.Sprintf("Contact already exists. Existing ID: %d", id))
		}
	}
	rec := h.createLocked(t, in, vals)
	return jsonResp(http.StatusCreated, h.render(t, rec, nil, false))
}

func (h *Hub) updateObject(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	var in struct {
		Properties map[string]string `json:"properties"`
	}
	if resp, ok := h.decode(rc, &in); !ok {
		return resp
	}
	id := rc.r.PathValue("objectId")
	h.mu.Lock()
	defer h.mu.Unlock()
	rec := h.lookupForRead(t, id, rc.r.URL.Query().Get("idProperty"))
	if rec == nil || !rec.live() {
		return h.objectNotFound(id)
	}
	vals, problems := h.prepareWrite(t, in.Properties)
	if len(problems) > 0 {
		return h.invalidProperties(problems)
	}
	h.notifyProps(t, rec, h.applyWrite(t, rec, vals, h.nowMS()))
	if t == typeContact {
		h.countContactUpdate()
	}
	return jsonResp(http.StatusOK, h.render(t, rec, nil, false))
}

func (h *Hub) archiveObject(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if rec := h.objects[t].findStr(rc.r.PathValue("objectId")); rec != nil && rec.live() {
		h.archiveLocked(t, rec)
	}
	return response{status: http.StatusNoContent}
}

// archiveLocked moves rec to the recycle bin. Per hubspot-api.md §10 this
// does not change the last-modified time; archivedAt holds the deletion time.
func (h *Hub) archiveLocked(t objType, rec *record) {
	h.touch(rec)
	rec.archivedAt = max(h.nowMS(), rec.updated)
	h.notify(webhookEvent{SubscriptionType: typeInfo[t].singular + ".deletion", ObjectID: rec.id, ChangeFlag: "DELETED"})
}

type idInput struct {
	ID string `json:"id"`
}

func (h *Hub) batchArchive(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	var in struct {
		Inputs []idInput `json:"inputs"`
	}
	if resp, ok := h.decode(rc, &in); !ok {
		return resp
	}
	if resp, ok := h.checkBatchSize(len(in.Inputs), 100); !ok {
		return resp
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, x := range in.Inputs {
		if rec := h.objects[t].findStr(x.ID); rec != nil && rec.live() {
			h.archiveLocked(t, rec)
		}
	}
	return response{status: http.StatusNoContent}
}

func (h *Hub) checkBatchSize(n, max int) (response, bool) {
	if n > max {
		return h.validationError(fmt.Sprintf("Batch input size is limited to %d records. Provided input size: %d", max, n), nil), false
	}
	return response{}, true
}

func (h *Hub) notFoundBatchError(t objType, ids []string) standardError {
	return standardError{Status: "error", Category: "OBJECT_NOT_FOUND",
		Message: fmt.Sprintf("Could not get some %s objects, they may be deleted or not exist. Check that ids are valid.", typeInfo[t].upper),
		Context: map[string][]string{"ids": ids}}
}

func (h *Hub) batchRead(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	var in struct {
		Inputs     []idInput `json:"inputs"`
		Properties []string  `json:"properties"`
		IDProperty string    `json:"idProperty"`
	}
	if resp, ok := h.decode(rc, &in); !ok {
		return resp
	}
	if resp, ok := h.checkBatchSize(len(in.Inputs), 100); !ok {
		return resp
	}
	archived := rc.r.URL.Query().Get("archived") == "true"
	h.mu.RLock()
	defer h.mu.RUnlock()
	props := h.requestedProps(t, in.Properties)
	results := make([]*objectJSON, 0, len(in.Inputs))
	var missing []string
	seen := map[int64]bool{}
	for _, x := range in.Inputs {
		rec := h.lookupForRead(t, x.ID, in.IDProperty)
		if rec == nil || (rec.archivedAt != 0) != archived {
			missing = append(missing, x.ID)
			continue
		}
		if seen[rec.id] {
			continue
		}
		seen[rec.id] = true
		results = append(results, h.render(t, rec, props, false))
	}
	var errs []standardError
	if len(missing) > 0 {
		errs = append(errs, h.notFoundBatchError(t, missing))
	}
	return h.batchResp(rc, results, errs)
}

func (h *Hub) batchUpdate(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	var in struct {
		Inputs []struct {
			ID         string            `json:"id"`
			IDProperty string            `json:"idProperty"`
			Properties map[string]string `json:"properties"`
		} `json:"inputs"`
	}
	if resp, ok := h.decode(rc, &in); !ok {
		return resp
	}
	if resp, ok := h.checkBatchSize(len(in.Inputs), 100); !ok {
		return resp
	}
	seen := map[string]bool{}
	var dups []string
	for _, x := range in.Inputs {
		if seen[x.ID] && !contains(dups, x.ID) {
			dups = append(dups, x.ID)
		}
		seen[x.ID] = true
	}
	if len(dups) > 0 {
		return h.validationError(fmt.Sprintf("Duplicate IDs found in batch input: [%s]. IDs must be unique", strings.Join(dups, ", ")),
			map[string][]string{"ids": dups})
	}
	ids := make([]string, len(in.Inputs))
	for i, x := range in.Inputs {
		ids[i] = x.ID
	}
	if rejected := h.rejectedIDs(ids); len(rejected) > 0 {
		return h.validationError(fmt.Sprintf("Record(s) %s failed the portal's validation rules", strings.Join(rejected, ", ")),
			map[string][]string{"ids": rejected})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	vals := make([]map[int]string, len(in.Inputs))
	var problems []propertyProblem
	for i, x := range in.Inputs {
		v, p := h.prepareWrite(t, x.Properties)
		vals[i] = v
		problems = append(problems, p...)
	}
	if len(problems) > 0 {
		return h.invalidProperties(problems)
	}
	now := h.nowMS()
	results := make([]*objectJSON, 0, len(in.Inputs))
	var missing []string
	for i, x := range in.Inputs {
		var rec *record
		if x.IDProperty != "" && x.IDProperty != "hs_object_id" {
			rec = h.lookupForRead(t, x.ID, x.IDProperty)
		} else {
			rec = h.objects[t].findStr(x.ID)
		}
		if rec != nil && rec.mergedInto != 0 && !h.cfg.BatchUpdateMergedAsError {
			continue // hubspot-api.md §4: merged-away ids are silently left out
		}
		if rec == nil || !rec.live() {
			missing = append(missing, x.ID)
			continue
		}
		h.notifyProps(t, rec, h.applyWrite(t, rec, vals[i], now))
		if t == typeContact {
			h.countContactUpdate()
		}
		results = append(results, h.render(t, rec, nil, false))
	}
	var errs []standardError
	if len(missing) > 0 {
		errs = append(errs, h.notFoundBatchError(t, missing))
	}
	return h.batchResp(rc, results, errs)
}

func (h *Hub) batchCreate(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	var in struct {
		Inputs []createInput `json:"inputs"`
	}
	if resp, ok := h.decode(rc, &in); !ok {
		return resp
	}
	if resp, ok := h.checkBatchSize(len(in.Inputs), 100); !ok {
		return resp
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	vals := make([]map[int]string, len(in.Inputs))
	var problems []propertyProblem
	traced := true
	for i, x := range in.Inputs {
		v, p := h.prepareWrite(t, x.Properties)
		vals[i] = v
		problems = append(problems, p...)
		if x.ObjectWriteTraceID == "" {
			traced = false
		}
		if resp, ok := h.checkAssocs(t, x.Associations); !ok {
			return resp
		}
	}
	if len(problems) > 0 {
		return h.invalidProperties(problems)
	}
	var errs []standardError
	skip := make([]bool, len(in.Inputs))
	if t == typeContact {
		for i, x := range in.Inputs {
			id := h.emailTaken(x.Properties["email"])
			if id == 0 {
				continue
			}
			if !traced {
				return h.errorResp(http.StatusConflict, "CONFLICT", "Contact already exists")
			}
			skip[i] = true
			errs = append(errs, standardError{Status: "error", Category: "CONFLICT",
				Message: fmt.Sprintf("Contact already exists. Existing ID: %d", id),
				Context: map[string][]string{"objectWriteTraceId": {x.ObjectWriteTraceID}, "existingId": {strconv.FormatInt(id, 10)}}})
		}
	}
	results := make([]*objectJSON, 0, len(in.Inputs))
	for i, x := range in.Inputs {
		if !skip[i] {
			results = append(results, h.render(t, h.createLocked(t, x, vals[i]), nil, false))
		}
	}
	r := h.batchResp(rc, results, errs)
	if r.status == http.StatusOK {
		r.status = http.StatusCreated
	}
	return r
}

func (h *Hub) mergeObjects(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	var in struct {
		PrimaryObjectID string `json:"primaryObjectId"`
		ObjectIDToMerge string `json:"objectIdToMerge"`
	}
	if resp, ok := h.decode(rc, &in); !ok {
		return resp
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	rec, err := h.mergeLocked(t, in.PrimaryObjectID, in.ObjectIDToMerge, h.nowMS())
	if err != "" {
		return h.validationError(err, nil)
	}
	return jsonResp(http.StatusOK, h.render(t, rec, nil, false))
}

// mergeLocked merges merged into primary and returns the record that holds
// the result. By default (HubSpot's current behaviour for contacts and
// companies) it creates a new record with a new id: the primary's values
// win, the merged record fills the gaps, both records' associations move to
// it, hs_merged_object_ids lists both old ids (and any they had absorbed),
// and both old ids resolve to it. Deals, and every type when
// Config.MergeKeepsPrimaryID is set, keep the legacy behaviour: the primary
// survives under its own id.
func (h *Hub) mergeLocked(t objType, primary, merged string, now int64) (*record, string) {
	st := h.objects[t]
	if primary == merged {
		return nil, "Cannot merge an object with itself"
	}
	p, m := h.lookupForRead(t, primary, ""), h.lookupForRead(t, merged, "") // old ids resolve to their merge result
	if p != nil && m != nil && p.id == m.id {
		return nil, "Cannot merge an object with itself"
	}
	if p == nil || !p.live() {
		return nil, fmt.Sprintf("Object %s to merge into does not exist or is archived", primary)
	}
	if m == nil || !m.live() {
		return nil, fmt.Sprintf("Object %s to merge does not exist or is archived", merged)
	}
	h.touch(p)
	h.touch(m)
	pid, mid := p.id, m.id
	s := h.schemas[t]
	mi := s.byName["hs_merged_object_ids"]
	var ids []string
	pids, _ := getProp(p.props, mi)
	mids, _ := getProp(m.props, mi)
	newRecord := t != typeDeal && !h.cfg.MergeKeepsPrimaryID
	for _, x := range []string{pids, mids} {
		if x != "" {
			ids = append(ids, strings.Split(x, ";")...)
		}
	}
	if newRecord {
		ids = append(ids, strconv.FormatInt(pid, 10))
	}
	ids = append(ids, strconv.FormatInt(mid, 10))
	upd := map[int]string{mi: strings.Join(ids, ";")}
	have := map[int]bool{}
	for _, e := range decodeProps(p.props, nil) {
		have[e.k] = true
		if newRecord {
			upd[e.k] = e.v
		}
	}
	upd[mi] = strings.Join(ids, ";")
	for _, e := range decodeProps(m.props, nil) {
		if !have[e.k] && e.k != mi && s.props[e.k].Name != "email" {
			upd[e.k] = e.v
		}
	}
	moved := 0
	for _, e := range decodeProps(m.props, nil) {
		if !have[e.k] && e.k != mi {
			moved++
		}
	}
	sid := pid // survivor
	if newRecord {
		sid = h.newID()
		created := min(p.created, m.created)
		st.recs = append(st.recs, record{id: sid, created: created, updated: now}) // may move p and m
		sv := st.find(sid)
		h.touchNew(sv)
		sv.props = setProps("", upd)
	} else {
		p.props = setProps(p.props, upd)
	}
	// Associations: the primary's come first, so its primary flags win.
	gone := []int64{mid}
	if newRecord {
		gone = []int64{pid, mid}
	}
	h.quiet = true
	defer func() { h.quiet = false }()
	for _, old := range gone {
		edges := append([]edge(nil), st.find(old).assoc...)
		for _, e := range edges {
			h.disassociate(t, old, e.t, e.to)
			h.associate(t, sid, e.t, e.to, e.primary && !h.hasPrimary(t, sid, e.t))
		}
	}
	for _, old := range gone {
		r := st.find(old)
		r.mergedInto = sid
		r.archivedAt = now
	}
	sv := st.find(sid)
	sv.updated = max(now, sv.updated)
	h.countWrite(t)
	h.notify(webhookEvent{SubscriptionType: typeInfo[t].singular + ".merge", ObjectID: sid, PrimaryObjectID: pid,
		MergedObjectIDs: []int64{mid}, NewObjectID: sid, NumberOfPropertiesMoved: moved})
	return sv, ""
}

func (h *Hub) hasPrimary(t objType, id int64, to objType) bool {
	if r := h.objects[t].find(id); r != nil {
		for _, e := range r.assoc {
			if e.t == to && e.primary {
				return true
			}
		}
	}
	return false
}

// associate links two records in both directions (idempotent).
func (h *Hub) associate(ft objType, from int64, tt objType, to int64, primary bool) {
	a, b := h.objects[ft].find(from), h.objects[tt].find(to)
	if a == nil || b == nil {
		return
	}
	if !hasEdge(a, tt, to, primary) {
		h.notifyAssoc(ft, from, tt, to, primary, false)
	}
	addEdge(a, edge{to: to, t: tt, primary: primary})
	// Primary is directional for deal/contact→company; the reverse side
	// carries it too (company→deal 6, company→contact 2).
	b = h.objects[tt].find(to)
	addEdge(b, edge{to: from, t: ft, primary: primary})
	if ft == typeContact && tt == typeCompany && primary {
		a = h.objects[ft].find(from)
		a.props = setProps(a.props, map[int]string{h.schemas[typeContact].byName["associatedcompanyid"]: strconv.FormatInt(to, 10)})
	}
}

// hasEdge reports whether r already has this association (with the
// primary flag if primary is asked for).
func hasEdge(r *record, t objType, to int64, primary bool) bool {
	for _, e := range r.assoc {
		if e.t == t && e.to == to {
			return e.primary || !primary
		}
	}
	return false
}

func addEdge(r *record, e edge) {
	for i := range r.assoc {
		if r.assoc[i].to == e.to && r.assoc[i].t == e.t {
			r.assoc[i].primary = r.assoc[i].primary || e.primary
			return
		}
	}
	r.assoc = append(r.assoc, e)
}

func (h *Hub) disassociate(ft objType, from int64, tt objType, to int64) {
	rm := func(r *record, t objType, id int64) {
		if r == nil {
			return
		}
		out := r.assoc[:0]
		for _, e := range r.assoc {
			if !(e.t == t && e.to == id) {
				out = append(out, e)
			}
		}
		r.assoc = out
	}
	if a := h.objects[ft].find(from); a != nil && hasEdge(a, tt, to, false) {
		h.notifyAssoc(ft, from, tt, to, false, true)
	}
	rm(h.objects[ft].find(from), tt, to)
	rm(h.objects[tt].find(to), ft, from)
}

// rawJSON is a helper to accept numbers or strings.
type flexInt struct {
	set bool
	n   int
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("cannot parse %s as an integer", string(b))
	}
	f.set, f.n = true, n
	return nil
}

var _ json.Unmarshaler = (*flexInt)(nil)

// touch records what search sees of rec before a write, when
// Config.SearchLag is set: the last version already indexed stays visible
// to search until the lag has passed since the latest write.
func (h *Hub) touch(rec *record) {
	if h.cfg.SearchLag <= 0 || !h.seeded {
		return
	}
	now := h.cfg.Clock().UnixMilli()
	if rec.idx == nil || now >= rec.idx.until {
		rec.idx = &indexed{props: rec.props, updated: rec.updated, archivedAt: rec.archivedAt, mergedInto: rec.mergedInto, exists: true}
	}
	rec.idx.until = now + h.cfg.SearchLag.Milliseconds()
}

// touchNew hides a just-created record from search for Config.SearchLag.
func (h *Hub) touchNew(rec *record) {
	if h.cfg.SearchLag <= 0 || !h.seeded {
		return
	}
	rec.idx = &indexed{until: h.cfg.Clock().UnixMilli() + h.cfg.SearchLag.Milliseconds()}
}

// searchView returns the version of rec search sees now, or nil.
func (h *Hub) searchView(rec *record, now int64) *record {
	if rec.idx == nil || now >= rec.idx.until {
		return rec
	}
	if !rec.idx.exists {
		return nil
	}
	v := *rec
	v.props, v.updated, v.archivedAt, v.mergedInto = rec.idx.props, rec.idx.updated, rec.idx.archivedAt, rec.idx.mergedInto
	return &v
}
