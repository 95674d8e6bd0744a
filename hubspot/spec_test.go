package hubspot

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// specRouter is one loaded OpenAPI file.
type specRouter struct {
	name   string
	router routers.Router
}

// loadSpec loads testdata/openapi/<name>.json (copies of HubSpot's official
// specs, see SOURCES.txt there) and applies the documented exceptions.
func loadSpec(t testing.TB, name string) specRouter {
	t.Helper()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	doc, err := loader.LoadFromFile(filepath.Join("testdata", "openapi", name+".json"))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	// Route on paths alone; the specs name https://api.hubapi.com.
	doc.Servers = openapi3.Servers{{URL: "/"}}

	// Exception: the spec types search sorts as strings and requires after
	// on every page. HubSpot's docs (hubspot-api.md §3) send sorts as
	// {propertyName, direction} objects and leave after out of the first
	// request; the client follows the docs.
	if s := doc.Components.Schemas["PublicObjectSearchRequest"]; s != nil && s.Value != nil {
		s.Value.Properties["sorts"].Value.Items = openapi3.NewSchemaRef("", &openapi3.Schema{
			Type:     &openapi3.Types{openapi3.TypeObject},
			Required: []string{"propertyName", "direction"},
			Properties: openapi3.Schemas{
				"propertyName": openapi3.NewSchemaRef("", openapi3.NewStringSchema()),
				"direction":    openapi3.NewSchemaRef("", openapi3.NewStringSchema().WithEnum("ASCENDING", "DESCENDING")),
			},
		})
		var req []string
		for _, r := range s.Value.Required {
			if r != "after" {
				req = append(req, r)
			}
		}
		s.Value.Required = req
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router %s: %v", name, err)
	}
	return specRouter{name: name, router: r}
}

// conformance validates every request it receives against the specs of one
// path family and answers with a body every client type can decode.
type conformance struct {
	t       testing.TB
	objects map[string]specRouter // by object type
	others  []specRouter
	legacy  bool

	mu       sync.Mutex
	failures []string
	hits     map[string]int // "spec METHOD route" -> count
}

func newConformance(t testing.TB, version string) *conformance {
	c := &conformance{t: t, objects: map[string]specRouter{}, hits: map[string]int{}, legacy: version == VersionV3}
	if c.legacy {
		c.objects["contacts"] = loadSpec(t, "v3-contacts")
		c.objects["deals"] = loadSpec(t, "v3-deals")
		c.objects["companies"] = loadSpec(t, "v3-companies")
		c.others = []specRouter{loadSpec(t, "v4-associations"), loadSpec(t, "v3-properties"),
			loadSpec(t, "v3-pipelines"), loadSpec(t, "v3-account-info")}
	} else {
		for _, typ := range []string{"contacts", "deals", "companies"} {
			c.objects[typ] = loadSpec(t, "2026-09-"+typ)
		}
		c.others = []specRouter{loadSpec(t, "2026-09-associations"), loadSpec(t, "2026-09-properties"),
			loadSpec(t, "2026-09-pipelines"), loadSpec(t, "2026-09-account-info")}
	}
	return c
}

func (c *conformance) fail(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures = append(c.failures, fmt.Sprintf(format, args...))
}

func (c *conformance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
		c.fail("%s %s: Authorization %q", r.Method, r.URL.Path, got)
	}
	if len(body) > 0 && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		c.fail("%s %s: Content-Type %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}

	candidates := c.others
	// Exception: the v3 deals spec names deals by type id (/crm/v3/objects/0-3);
	// the client uses the documented alias /crm/v3/objects/deals.
	routed := r.Clone(r.Context())
	segs := strings.Split(r.URL.Path, "/") // "", "crm", "objects"|"v3", ...
	var typ string
	switch {
	case c.legacy && len(segs) > 4 && segs[2] == "v3" && segs[3] == "objects":
		typ = segs[4]
		if typ == "deals" {
			segs[4] = "0-3"
			routed.URL.Path = strings.Join(segs, "/")
			routed.URL.RawPath = ""
		}
	case !c.legacy && len(segs) > 4 && segs[2] == "objects":
		typ = segs[4]
	}
	if s, ok := c.objects[typ]; ok && !strings.Contains(r.URL.Path, "/associations/") {
		candidates = append([]specRouter{s}, candidates...)
	}
	var found bool
	for _, s := range candidates {
		routed.Body = io.NopCloser(bytes.NewReader(body))
		route, params, err := s.router.FindRoute(routed)
		if err != nil {
			continue
		}
		found = true
		c.mu.Lock()
		c.hits[s.name+" "+r.Method+" "+route.Path]++
		c.mu.Unlock()
		err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
			Request: routed, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
		})
		if err != nil {
			c.fail("%s %s (%s %s): %v\nbody: %s", r.Method, r.URL.RequestURI(), s.name, route.Path, err, body)
		}
		break
	}
	if !found {
		c.fail("%s %s: no route in any %v spec", r.Method, r.URL.Path, map[bool]string{true: "v3", false: "2026-09"}[c.legacy])
	}
	if r.Method == http.MethodDelete {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	resp := `{"id":"1","properties":{},"results":[],"status":"COMPLETE","name":"n","label":"l"}`
	if strings.HasSuffix(r.URL.Path, "/batch/read") && strings.Contains(r.URL.Path, "associations") && !bytes.Contains(body, []byte(`"after"`)) {
		// First association page of id 1 has more, so the follow-up request (with after) is validated too.
		resp = `{"status":"COMPLETE","results":[{"from":{"id":"1"},"to":[{"toObjectId":"2","associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":3,"label":null}]}],"paging":{"next":{"after":"MjA="}}}]}`
	}
	writeJSON(w, http.StatusOK, []byte(resp))
}

// TestClient_SpecConformance sends every request the client can make, in
// both path families, to a server that validates them against HubSpot's
// official OpenAPI specs.
func TestClient_SpecConformance(t *testing.T) {
	for _, version := range []string{Version202609, VersionV3} {
		t.Run(version, func(t *testing.T) {
			conf := newConformance(t, version)
			c, mux := setup(t, func(o *Options) { o.APIVersion = version; o.MaxRetries = -1 })
			mux.Handle("/", conf)
			ctx := context.Background()
			must := func(what string, err error) {
				t.Helper()
				if err != nil {
					t.Errorf("%s: %v", what, err)
				}
			}
			seven := 7
			for _, s := range []*ObjectsService{c.Contacts, c.Deals, c.Companies} {
				_, err := s.List(ctx, ListOptions{Limit: 50, After: "abc", Properties: []string{"email", "amount"},
					Associations: []string{"contacts", "companies"}, Archived: true})
				must("list", err)
				_, err = s.List(ctx, ListOptions{})
				must("list default", err)
				_, err = s.Get(ctx, "123", GetOptions{Properties: []string{"a", "b"}, Associations: []string{"deals"}, Archived: true})
				must("get", err)
				_, err = s.Create(ctx, map[string]string{"name": "x"}, []AssociationInput{{ToID: "9", Types: []AssociationSpec{{Category: "HUBSPOT_DEFINED", TypeID: 3}}}})
				must("create", err)
				_, err = s.Create(ctx, nil, nil)
				must("create bare", err)
				_, err = s.Update(ctx, "123", map[string]string{"name": "y", "empty": ""})
				must("update", err)
				must("archive", s.Archive(ctx, "123"))
				_, err = s.Merge(ctx, "1", "2")
				must("merge", err)
				_, err = s.Search(ctx, SearchRequest{
					FilterGroups: []FilterGroup{
						{Filters: []Filter{{PropertyName: "amount", Operator: OpBetween, Value: "1", HighValue: "9"}}},
						{Filters: []Filter{{PropertyName: "dealstage", Operator: OpIn, Values: []string{"a", "b"}}, {PropertyName: "x", Operator: OpHasProperty}}},
					},
					Sorts: []Sort{{PropertyName: "createdate", Direction: Descending}}, Properties: []string{"amount"},
					Limit: 200, After: "200", Query: "acme",
				})
				must("search", err)
				_, err = s.Search(ctx, SearchRequest{})
				must("search bare", err)
				for _, err := range s.ModifiedSince(ctx, time.Unix(1700000000, 0), []string{"amount"}) {
					must("modified since", err)
				}
				_, err = s.BatchRead(ctx, []string{"1", "2"}, []string{"amount"})
				must("batch read", err)
				_, err = s.BatchRead(ctx, []string{"1"}, nil)
				must("batch read bare", err)
				_, err = s.BatchUpdate(ctx, []UpdateInput{{ID: "1", Properties: map[string]string{"a": "b"}}, {ID: "2"}})
				must("batch update", err)
			}
			_, err := c.Associations.BatchRead(ctx, "deals", "contacts", []string{"1", "2"})
			must("associations batch read", err)
			must("default association", c.Associations.CreateDefault(ctx, "deals", "1", "contacts", "2"))

			_, err = c.Properties.List(ctx, "contacts", true)
			must("properties list", err)
			_, err = c.Properties.Get(ctx, "contacts", "lifetime_value")
			must("properties get", err)
			_, err = c.Properties.Create(ctx, "contacts", PropertyCreate{Name: "lifetime_value", Label: "LTV", Type: "number",
				FieldType: "number", GroupName: "clv", Description: "d", DisplayOrder: &seven, FormField: true, DataSensitivity: "non_sensitive"})
			must("properties create", err)
			_, err = c.Properties.Create(ctx, "contacts", PropertyCreate{Name: "tier", Label: "Tier", Type: "enumeration",
				FieldType: "select", GroupName: "clv", Options: []Option{{Label: "Gold", Value: "gold"}, {Label: "Silver", Value: "silver", DisplayOrder: 1, Hidden: true}}})
			must("properties create enum", err)
			hidden := false
			_, err = c.Properties.Update(ctx, "contacts", "tier", PropertyUpdate{Label: "Tier 2", Hidden: &hidden,
				Options: []Option{{Label: "Bronze", Value: "bronze", Description: "b"}}})
			must("properties update", err)
			_, err = c.Properties.ListGroups(ctx, "contacts")
			must("groups list", err)
			_, err = c.Properties.GetGroup(ctx, "contacts", "clv")
			must("groups get", err)
			minus1 := -1
			_, err = c.Properties.CreateGroup(ctx, "contacts", PropertyGroupCreate{Name: "clv", Label: "CLV", DisplayOrder: &minus1})
			must("groups create", err)
			_, err = c.Properties.UpdateGroup(ctx, "contacts", "clv", PropertyGroupUpdate{Label: "CLV 2"})
			must("groups update", err)
			_, err = c.Pipelines.List(ctx, "deals")
			must("pipelines", err)
			_, err = c.Account.Details(ctx)
			must("account details", err)
			_, err = c.Account.DailyUsage(ctx)
			must("account usage", err)

			conf.mu.Lock()
			defer conf.mu.Unlock()
			for _, f := range conf.failures {
				t.Error(f)
			}
			var routes []string
			for k := range conf.hits {
				routes = append(routes, k)
			}
			sort.Strings(routes)
			// 3 object specs × 9 operations (list, create, get, update,
			// archive, merge, search, batch read, batch update) + 2
			// associations + 8 properties + 1 pipelines + 2 account.
			if len(routes) != 3*9+13 {
				t.Errorf("only %d spec routes exercised:\n%s", len(routes), strings.Join(routes, "\n"))
			}
		})
	}
}
