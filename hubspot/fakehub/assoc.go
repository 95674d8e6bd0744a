package fakehub

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
)

// Association batch read limit (hubspot-api.md §5, changelog C3).
const maxAssocBatch = 1000

type assocType struct {
	Category string  `json:"category"`
	TypeID   int     `json:"typeId"`
	Label    *string `json:"label"`
}

type assocTo struct {
	ToObjectID string      `json:"toObjectId"`
	Types      []assocType `json:"associationTypes"`
}

type assocResult struct {
	From   idInput   `json:"from"`
	To     []assocTo `json:"to"`
	Paging *paging   `json:"paging,omitempty"`
}

// encodeCursor makes an opaque paging token from an offset.
func encodeCursor(off int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(off)))
}

func decodeCursor(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 3 || string(b[:2]) != "o:" {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[2:]))
	return n, err == nil && n >= 0
}

var primaryLabel = "Primary"

func (h *Hub) assocTypes(from, to objType, primary bool) []assocType {
	out := []assocType{{Category: "HUBSPOT_DEFINED", TypeID: typeIDFor(from, to, false)}}
	if primary {
		out = append(out, assocType{Category: "HUBSPOT_DEFINED", TypeID: typeIDFor(from, to, true), Label: &primaryLabel})
	}
	return out
}

// assocPage returns one page of rec's associations to type to.
func (h *Hub) assocPage(from objType, rec *record, to objType, off, size int) ([]assocTo, int) {
	var out []assocTo
	n := 0
	for _, e := range rec.assoc {
		if e.t != to {
			continue
		}
		if tr := h.objects[to].find(e.to); tr == nil || !tr.live() {
			continue
		}
		if n >= off+size {
			return out, off + size
		}
		if n >= off {
			out = append(out, assocTo{ToObjectID: strconv.FormatInt(e.to, 10), Types: h.assocTypes(from, to, e.primary)})
		}
		n++
	}
	return out, -1
}

func (h *Hub) assocBatchRead(rc *reqCtx) response {
	from, ok1 := parseObjType(rc.r.PathValue("fromObjectType"))
	to, ok2 := parseObjType(rc.r.PathValue("toObjectType"))
	if !ok1 {
		return h.badObjectType(rc.r.PathValue("fromObjectType"))
	}
	if !ok2 {
		return h.badObjectType(rc.r.PathValue("toObjectType"))
	}
	var in struct {
		Inputs []struct {
			ID    string `json:"id"`
			After string `json:"after"`
		} `json:"inputs"`
	}
	if resp, ok := h.decode(rc, &in); !ok {
		return resp
	}
	if resp, ok := h.checkBatchSize(len(in.Inputs), maxAssocBatch); !ok {
		return resp
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	results := []assocResult{}
	var errs []standardError
	for _, x := range in.Inputs {
		off, ok := decodeCursor(x.After)
		if !ok {
			return h.validationError(fmt.Sprintf("Invalid paging cursor %q for id %s", x.After, x.ID), nil)
		}
		rec := h.objects[from].findStr(x.ID)
		var list []assocTo
		next := -1
		if rec != nil && rec.live() {
			list, next = h.assocPage(from, rec, to, off, h.cfg.AssociationPageSize)
		}
		if len(list) == 0 {
			errs = append(errs, standardError{Status: "error", Category: "OBJECT_NOT_FOUND",
				Message: fmt.Sprintf("No %s is associated with %s %s.", typeInfo[to].singular, typeInfo[from].singular, x.ID),
				Context: map[string][]string{"fromObjectId": {x.ID}}})
			continue
		}
		r := assocResult{From: idInput{ID: x.ID}, To: list}
		if next >= 0 {
			r.Paging = &paging{Next: &nextPage{After: encodeCursor(next)}}
		}
		results = append(results, r)
	}
	return h.batchResp(rc, results, errs)
}

// assocList is GET /crm/v4/objects/{type}/{id}/associations/{toType}.
func (h *Hub) assocList(rc *reqCtx) response {
	from, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	to, ok := parseObjType(rc.r.PathValue("toObjectType"))
	if !ok {
		return h.badObjectType(rc.r.PathValue("toObjectType"))
	}
	q := rc.r.URL.Query()
	limit := 500
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return h.validationError(fmt.Sprintf("Unable to parse limit %q as an integer", v), nil)
		}
		limit = min(max(n, 1), 500)
	}
	off, ok := decodeCursor(q.Get("after"))
	if !ok {
		return h.validationError("Invalid paging cursor", nil)
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	id := rc.r.PathValue("objectId")
	rec := h.objects[from].findStr(id)
	if rec == nil || !rec.live() {
		return h.objectNotFound(id)
	}
	list, next := h.assocPage(from, rec, to, off, limit)
	out := struct {
		Results []assocTo `json:"results"`
		Paging  *paging   `json:"paging,omitempty"`
	}{Results: list}
	if out.Results == nil {
		out.Results = []assocTo{}
	}
	if next >= 0 {
		out.Paging = &paging{Next: &nextPage{After: encodeCursor(next)}}
	}
	return jsonResp(http.StatusOK, out)
}

type labelsBetween struct {
	FromObjectTypeID string   `json:"fromObjectTypeId"`
	FromObjectID     string   `json:"fromObjectId"`
	ToObjectTypeID   string   `json:"toObjectTypeId"`
	ToObjectID       string   `json:"toObjectId"`
	Labels           []string `json:"labels"`
}

// assocPut is PUT .../associations/{toObjectType}/{toObjectId} (labelled)
// and .../associations/default/{toObjectType}/{toObjectId}.
func (h *Hub) assocPut(def bool) handlerFunc {
	return func(h *Hub, rc *reqCtx) response {
		name := rc.r.PathValue("objectType")
		if def {
			name = rc.r.PathValue("fromObjectType")
		}
		from, ok := parseObjType(name)
		if !ok {
			return h.badObjectType(name)
		}
		to, ok := parseObjType(rc.r.PathValue("toObjectType"))
		if !ok {
			return h.badObjectType(rc.r.PathValue("toObjectType"))
		}
		idName := "objectId"
		if def {
			idName = "fromObjectId"
		}
		fromID, toID := rc.r.PathValue(idName), rc.r.PathValue("toObjectId")
		primary := false
		var labels []string
		if !def {
			var specs []struct {
				Category string `json:"associationCategory"`
				TypeID   int    `json:"associationTypeId"`
			}
			if resp, ok := h.decode(rc, &specs); !ok {
				return resp
			}
			for _, sp := range specs {
				a, ok := assocTypeIDs[sp.TypeID]
				if !ok || a.from != from || a.to != to {
					return h.validationError(fmt.Sprintf("association type id %d is not valid between %s and %s", sp.TypeID, typeInfo[from].plural, typeInfo[to].plural), nil)
				}
				if a.primary {
					primary = true
					labels = append(labels, primaryLabel)
				}
			}
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		// Merged-away ids resolve to the merge result, as on GET.
		fr, tr := h.lookupForRead(from, fromID, ""), h.lookupForRead(to, toID, "")
		if fr == nil || !fr.live() {
			return h.objectNotFound(fromID)
		}
		if tr == nil || !tr.live() {
			return h.objectNotFound(toID)
		}
		h.associate(from, fr.id, to, tr.id, primary)
		if def {
			now := rc.started.UTC().Format(isoMillis)
			type spec struct {
				Category string `json:"associationCategory"`
				TypeID   int    `json:"associationTypeId"`
			}
			return jsonResp(http.StatusOK, map[string]any{"status": "COMPLETE", "startedAt": now, "completedAt": now,
				"results": []map[string]any{{"from": idInput{fromID}, "to": idInput{toID},
					"associationSpec": spec{"HUBSPOT_DEFINED", typeIDFor(from, to, false)}}}})
		}
		if labels == nil {
			labels = []string{}
		}
		return jsonResp(http.StatusCreated, labelsBetween{FromObjectTypeID: typeInfo[from].id, FromObjectID: fromID,
			ToObjectTypeID: typeInfo[to].id, ToObjectID: toID, Labels: labels})
	}
}

func (h *Hub) assocDelete(rc *reqCtx) response {
	from, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	to, ok := parseObjType(rc.r.PathValue("toObjectType"))
	if !ok {
		return h.badObjectType(rc.r.PathValue("toObjectType"))
	}
	a, _ := strconv.ParseInt(rc.r.PathValue("objectId"), 10, 64)
	b, _ := strconv.ParseInt(rc.r.PathValue("toObjectId"), 10, 64)
	h.mu.Lock()
	h.disassociate(from, a, to, b)
	h.mu.Unlock()
	return response{status: http.StatusNoContent}
}
