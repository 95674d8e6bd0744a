package fakehub

import (
	"net/http"
	"strings"
)

// objectScope returns the scope an object endpoint needs, e.g.
// "crm.objects.deals.read".
func objectScope(param, action string) func(rc *reqCtx) string {
	return func(rc *reqCtx) string {
		name := rc.r.PathValue(param)
		t, ok := parseObjType(name)
		if !ok {
			return ""
		}
		return "crm.objects." + t.String() + "." + action
	}
}

func schemaScope(action string) func(rc *reqCtx) string {
	return func(rc *reqCtx) string {
		t, ok := parseObjType(rc.r.PathValue("objectType"))
		if !ok {
			return ""
		}
		if action == "read" {
			return "crm.objects." + t.String() + ".read"
		}
		return "crm.schemas." + t.String() + ".write"
	}
}

func (h *Hub) routes() {
	h.mux = http.NewServeMux()
	type ep struct {
		method, path string
		scope        func(rc *reqCtx) string
		search       bool
		exempt       bool
		fn           handlerFunc
	}
	read, write := objectScope("objectType", "read"), objectScope("objectType", "write")
	objectEPs := []ep{
		{"GET", "/{objectType}", read, false, false, (*Hub).listObjects},
		{"POST", "/{objectType}", write, false, false, (*Hub).createObject},
		{"GET", "/{objectType}/{objectId}", read, false, false, (*Hub).getObject},
		{"PATCH", "/{objectType}/{objectId}", write, false, false, (*Hub).updateObject},
		{"DELETE", "/{objectType}/{objectId}", write, false, false, (*Hub).archiveObject},
		{"POST", "/{objectType}/search", read, true, true, (*Hub).searchObjects},
		{"POST", "/{objectType}/batch/read", read, false, false, (*Hub).batchRead},
		{"POST", "/{objectType}/batch/update", write, false, false, (*Hub).batchUpdate},
		{"POST", "/{objectType}/batch/create", write, false, false, (*Hub).batchCreate},
		{"POST", "/{objectType}/batch/archive", write, false, false, (*Hub).batchArchive},
		{"POST", "/{objectType}/merge", write, false, false, (*Hub).mergeObjects},
	}
	propEPs := []ep{
		{"GET", "/{objectType}", schemaScope("read"), false, false, (*Hub).listProperties},
		{"POST", "/{objectType}", schemaScope("write"), false, false, (*Hub).createProperty},
		{"GET", "/{objectType}/{propertyName}", schemaScope("read"), false, false, (*Hub).getProperty},
		{"PATCH", "/{objectType}/{propertyName}", schemaScope("write"), false, false, (*Hub).updateProperty},
		{"POST", "/{objectType}/batch/create", schemaScope("write"), false, false, (*Hub).batchCreateProperties},
		{"POST", "/{objectType}/batch/read", schemaScope("read"), false, false, (*Hub).batchReadProperties},
		{"GET", "/{objectType}/groups", schemaScope("read"), false, false, (*Hub).listGroups},
		{"POST", "/{objectType}/groups", schemaScope("write"), false, false, (*Hub).createGroup},
		{"GET", "/{objectType}/groups/{groupName}", schemaScope("read"), false, false, (*Hub).getGroup},
		{"PATCH", "/{objectType}/groups/{groupName}", schemaScope("write"), false, false, (*Hub).updateGroup},
	}
	pipeEPs := []ep{
		{"GET", "/{objectType}", read, false, false, (*Hub).listPipelines},
		{"GET", "/{objectType}/{pipelineId}", read, false, false, (*Hub).getPipeline},
		{"GET", "/{objectType}/{pipelineId}/stages", read, false, false, (*Hub).getPipeline},
	}
	assocRead := objectScope("fromObjectType", "read")
	v4ObjEPs := []ep{
		{"GET", "/{objectType}/{objectId}/associations/{toObjectType}", read, false, false, (*Hub).assocList},
		{"PUT", "/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}", write, false, false, h.assocPut(false)},
		{"PUT", "/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}", objectScope("fromObjectType", "write"), false, false, h.assocPut(true)},
		{"DELETE", "/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}", write, false, false, (*Hub).assocDelete},
	}
	reg := func(family, prefix string, eps []ep) {
		for _, e := range eps {
			h.handle(&route{pattern: e.method + " " + prefix + e.path, family: family, search: e.search, exempt: e.exempt || e.search,
				scope: e.scope, fn: e.fn})
		}
	}
	reg("v3", "/crm/v3/objects", objectEPs)
	reg("2026-09", "/crm/objects/2026-09", objectEPs)
	reg("v3", "/crm/v3/properties", propEPs)
	reg("2026-09", "/crm/properties/2026-09", propEPs)
	reg("v3", "/crm/v3/pipelines", pipeEPs)
	reg("2026-09", "/crm/pipelines/2026-09", pipeEPs)
	reg("v4", "/crm/v4/objects", v4ObjEPs)
	reg("2026-09", "/crm/objects/2026-09", v4ObjEPs[1:]) // 2026-09 has no single-record association GET
	assocEPs := []ep{{"POST", "/{fromObjectType}/{toObjectType}/batch/read", assocRead, false, true, (*Hub).assocBatchRead}}
	reg("v4", "/crm/v4/associations", assocEPs)
	reg("2026-09", "/crm/associations/2026-09", assocEPs)
	acct := []ep{
		{"GET", "/details", nil, false, false, (*Hub).accountDetails},
		{"GET", "/api-usage/daily/private-apps", nil, false, false, (*Hub).dailyUsage},
	}
	reg("v3", "/account-info/v3", acct)
	reg("2026-09", "/account-info/2026-09", acct)
	h.mux.HandleFunc("/", h.unknownRoute)
}

// unknownRoute answers paths fakehub does not serve the way HubSpot
// answers unknown API paths: 404 with an error body (no auth check).
func (h *Hub) unknownRoute(w http.ResponseWriter, r *http.Request) {
	rc := &reqCtx{r: r}
	msg := "Unable to route " + r.Method + " " + r.URL.Path
	if strings.HasPrefix(r.URL.Path, "/crm/") {
		msg = "No route found for " + r.Method + " " + r.URL.Path
	}
	h.write(w, rc, h.errorResp(http.StatusNotFound, "OBJECT_NOT_FOUND", msg), false)
}
