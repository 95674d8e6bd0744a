package fakehub

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"time"
)

func (h *Hub) listProperties(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	archived := rc.r.URL.Query().Get("archived") == "true"
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := []propertyDef{}
	for _, p := range h.schemas[t].props {
		if p.Archived == archived {
			out = append(out, h.propView(t, p))
		}
	}
	return jsonResp(http.StatusOK, map[string]any{"results": out})
}

// propView copies p, filling in options that come from pipelines.
func (h *Hub) propView(t objType, p *propertyDef) propertyDef {
	v := *p
	s := h.schemas[t]
	if p.Name == "pipeline" || p.Name == "dealstage" {
		v.Options = []option{}
		for i, id := range s.optionValues(p) {
			label := id
			if st := s.stage(id); st != nil {
				label = st.Label
			}
			for _, pl := range s.pipelines {
				if pl.ID == id {
					label = pl.Label
				}
			}
			v.Options = append(v.Options, option{Label: label, Value: id, DisplayOrder: i})
		}
	}
	return v
}

func (h *Hub) getProperty(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	name := rc.r.PathValue("propertyName")
	h.mu.RLock()
	defer h.mu.RUnlock()
	p, _, ok := h.schemas[t].lookup(name)
	if !ok {
		return h.notFound(fmt.Sprintf("Unable to find property %s for object type %s", name, typeInfo[t].id))
	}
	return jsonResp(http.StatusOK, h.propView(t, p))
}

type propertyInput struct {
	Name                 *string   `json:"name"`
	Label                *string   `json:"label"`
	Type                 *string   `json:"type"`
	FieldType            *string   `json:"fieldType"`
	GroupName            *string   `json:"groupName"`
	Description          *string   `json:"description"`
	Options              *[]option `json:"options"`
	DisplayOrder         *int      `json:"displayOrder"`
	Hidden               *bool     `json:"hidden"`
	FormField            *bool     `json:"formField"`
	HasUniqueValue       *bool     `json:"hasUniqueValue"`
	DataSensitivity      *string   `json:"dataSensitivity"`
	NumberDisplayHint    *string   `json:"numberDisplayHint"`
	ShowCurrencySymbol   *bool     `json:"showCurrencySymbol"`
	CurrencyPropertyName *string   `json:"currencyPropertyName"`
	ExternalOptions      *bool     `json:"externalOptions"`
}

// apiUserID is the user id fakehub stamps on definitions written via the API.
const apiUserID = "76070032"

var propNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// checkTypePair validates type/fieldType (hubspot-api.md §8).
func checkTypePair(typ, field string) string {
	allowed, ok := validFieldTypes[typ]
	if !ok {
		return fmt.Sprintf("%q is not a valid property type. Valid types: bool, date, datetime, enumeration, number, phone_number, string", typ)
	}
	if !contains(allowed, field) {
		return fmt.Sprintf("fieldType %q is not valid for type %q; valid fieldTypes: %v", field, typ, allowed)
	}
	return ""
}

func checkOptions(opts []option) string {
	seen := map[string]bool{}
	for _, o := range opts {
		if o.Label == "" || o.Value == "" {
			return "Every option needs a label and a value"
		}
		if seen[o.Value] {
			return fmt.Sprintf("Duplicate option value %q", o.Value)
		}
		seen[o.Value] = true
	}
	return ""
}

// newProperty validates a PropertyCreate; h.mu must be held.
func (h *Hub) newProperty(t objType, in propertyInput, now string) (*propertyDef, response, bool) {
	s := h.schemas[t]
	var missing []string
	for _, f := range []struct {
		name string
		v    *string
	}{{"name", in.Name}, {"label", in.Label}, {"type", in.Type}, {"fieldType", in.FieldType}, {"groupName", in.GroupName}} {
		if f.v == nil || *f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, h.validationError(fmt.Sprintf("Missing required fields: %v", missing), map[string][]string{"missingFields": missing}), false
	}
	if !propNameRe.MatchString(*in.Name) {
		return nil, h.validationError(fmt.Sprintf("Property name %q is invalid: use lowercase letters, digits and underscores, starting with a letter", *in.Name), nil), false
	}
	if _, ok := s.byName[*in.Name]; ok {
		return nil, h.errorResp(http.StatusConflict, "OBJECT_ALREADY_EXISTS", fmt.Sprintf("Property named '%s' already exists.", *in.Name)), false
	}
	if msg := checkTypePair(*in.Type, *in.FieldType); msg != "" {
		return nil, h.validationError(msg, nil), false
	}
	if !h.groupExists(t, *in.GroupName) {
		return nil, h.validationError(fmt.Sprintf("Property group %q does not exist", *in.GroupName), nil), false
	}
	p := &propertyDef{Name: *in.Name, Label: *in.Label, Type: *in.Type, FieldType: *in.FieldType, GroupName: *in.GroupName,
		DisplayOrder: -1, CreatedAt: now, UpdatedAt: now, DataSensitivity: "non_sensitive",
		CreatedUserID: apiUserID, UpdatedUserID: apiUserID,
		ModificationMetadata: modMeta{Archivable: true}}
	if in.Options != nil {
		p.Options = *in.Options
	}
	if *in.Type == "enumeration" && len(p.Options) == 0 && *in.FieldType != "booleancheckbox" {
		return nil, h.validationError("Enumeration properties need options", nil), false
	}
	if msg := checkOptions(p.Options); msg != "" {
		return nil, h.validationError(msg, nil), false
	}
	applyOptional(p, in)
	if in.HasUniqueValue != nil {
		p.HasUniqueValue = *in.HasUniqueValue
	}
	if in.DataSensitivity != nil && *in.DataSensitivity != "" {
		p.DataSensitivity = *in.DataSensitivity
	}
	return p, response{}, true
}

func applyOptional(p *propertyDef, in propertyInput) {
	if in.Description != nil {
		p.Description = *in.Description
	}
	if in.DisplayOrder != nil {
		p.DisplayOrder = *in.DisplayOrder
	}
	if in.Hidden != nil {
		p.Hidden = *in.Hidden
	}
	if in.FormField != nil {
		p.FormField = *in.FormField
	}
	if in.NumberDisplayHint != nil {
		p.NumberDisplayHint = *in.NumberDisplayHint
	}
	if in.ShowCurrencySymbol != nil {
		p.ShowCurrencySymbol = *in.ShowCurrencySymbol
	}
	if in.CurrencyPropertyName != nil {
		p.CurrencyPropertyName = *in.CurrencyPropertyName
	}
	if in.ExternalOptions != nil {
		p.ExternalOptions = *in.ExternalOptions
	}
	// Options get displayOrder by position when not given, as HubSpot does.
	for i := range p.Options {
		if p.Options[i].DisplayOrder == 0 && i > 0 {
			p.Options[i].DisplayOrder = i
		}
	}
}

func (h *Hub) groupExists(t objType, name string) bool {
	for _, g := range h.schemas[t].groups {
		if g.Name == name && !g.Archived {
			return true
		}
	}
	return false
}

func (h *Hub) createProperty(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	var in propertyInput
	if resp, ok := h.decode(rc, &in); !ok {
		return resp
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	p, resp, ok := h.newProperty(t, in, h.cfg.Clock().UTC().Format(isoMillis))
	if !ok {
		return resp
	}
	h.schemas[t].add(p, stored)
	r := jsonResp(http.StatusCreated, h.propView(t, p))
	r.header = http.Header{"Location": {requestBase(rc.r) + rc.r.URL.Path + "/" + p.Name}}
	return r
}

func (h *Hub) batchCreateProperties(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	var in struct {
		Inputs []propertyInput `json:"inputs"`
	}
	if resp, ok := h.decode(rc, &in); !ok {
		return resp
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.cfg.Clock().UTC().Format(isoMillis)
	var created []*propertyDef
	for _, x := range in.Inputs {
		p, resp, ok := h.newProperty(t, x, now)
		if !ok {
			// Roll back what this batch added: the batch fails as a whole.
			s := h.schemas[t]
			for _, c := range created {
				delete(s.byName, c.Name)
			}
			s.props = s.props[:len(s.props)-len(created)]
			s.derive = s.derive[:len(s.derive)-len(created)]
			return resp
		}
		h.schemas[t].add(p, stored)
		created = append(created, p)
	}
	out := make([]propertyDef, len(created))
	for i, p := range created {
		out[i] = h.propView(t, p)
	}
	r := h.batchResp(rc, out, nil)
	if rc.route.family == "v3" {
		r.status = http.StatusCreated // the 2026-09 spec lists 200 for batch/create
	}
	return r
}

func (h *Hub) batchReadProperties(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	var in struct {
		Inputs []struct {
			Name string `json:"name"`
		} `json:"inputs"`
	}
	if resp, ok := h.decode(rc, &in); !ok {
		return resp
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := []propertyDef{}
	for _, x := range in.Inputs {
		if p, _, ok := h.schemas[t].lookup(x.Name); ok {
			out = append(out, h.propView(t, p))
		}
	}
	return h.batchResp(rc, out, nil)
}

func (h *Hub) updateProperty(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	var in propertyInput
	if resp, ok := h.decode(rc, &in); !ok {
		return resp
	}
	name := rc.r.PathValue("propertyName")
	h.mu.Lock()
	defer h.mu.Unlock()
	p, _, ok := h.schemas[t].lookup(name)
	if !ok {
		return h.notFound(fmt.Sprintf("Unable to find property %s for object type %s", name, typeInfo[t].id))
	}
	if p.HubspotDefined && p.ModificationMetadata.ReadOnlyDefinition && (in.Type != nil || in.FieldType != nil || in.Options != nil) {
		return h.validationError(fmt.Sprintf("Property %s is a HubSpot-defined property; its definition cannot be changed", name), nil)
	}
	typ, field := p.Type, p.FieldType
	if in.Type != nil {
		typ = *in.Type
	}
	if in.FieldType != nil {
		field = *in.FieldType
	}
	if msg := checkTypePair(typ, field); msg != "" {
		return h.validationError(msg, nil)
	}
	if in.GroupName != nil && !h.groupExists(t, *in.GroupName) {
		return h.validationError(fmt.Sprintf("Property group %q does not exist", *in.GroupName), nil)
	}
	if in.Options != nil {
		if msg := checkOptions(*in.Options); msg != "" {
			return h.validationError(msg, nil)
		}
		p.Options = *in.Options
	}
	p.Type, p.FieldType = typ, field
	if in.Label != nil {
		p.Label = *in.Label
	}
	if in.GroupName != nil {
		p.GroupName = *in.GroupName
	}
	applyOptional(p, in)
	now := h.cfg.Clock().UTC().Format(isoMillis)
	if p.CreatedAt == "" {
		p.CreatedAt = now
	}
	p.UpdatedAt = now
	p.UpdatedUserID = apiUserID
	return jsonResp(http.StatusOK, h.propView(t, p))
}

func (h *Hub) listGroups(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := []propertyGroup{}
	for _, g := range h.schemas[t].groups {
		if !g.Archived {
			out = append(out, *g)
		}
	}
	return jsonResp(http.StatusOK, map[string]any{"results": out})
}

func (h *Hub) getGroup(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	name := rc.r.PathValue("groupName")
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, g := range h.schemas[t].groups {
		if g.Name == name && !g.Archived {
			return jsonResp(http.StatusOK, *g)
		}
	}
	return h.notFound(fmt.Sprintf("Unable to find property group %s for object type %s", name, typeInfo[t].id))
}

func (h *Hub) createGroup(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	var in struct {
		Name         string `json:"name"`
		Label        string `json:"label"`
		DisplayOrder *int   `json:"displayOrder"`
	}
	if resp, ok := h.decode(rc, &in); !ok {
		return resp
	}
	if in.Name == "" || in.Label == "" {
		return h.validationError("Property groups need a name and a label", nil)
	}
	if !propNameRe.MatchString(in.Name) {
		return h.validationError(fmt.Sprintf("Property group name %q is invalid", in.Name), nil)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.schemas[t]
	if h.groupExists(t, in.Name) {
		return h.errorResp(http.StatusConflict, "OBJECT_ALREADY_EXISTS", fmt.Sprintf("Property group named '%s' already exists.", in.Name))
	}
	g := &propertyGroup{Name: in.Name, Label: in.Label, DisplayOrder: len(s.groups) + 1}
	if in.DisplayOrder != nil && *in.DisplayOrder >= 0 {
		g.DisplayOrder = *in.DisplayOrder
	}
	s.groups = append(s.groups, g)
	r := jsonResp(http.StatusCreated, *g)
	r.header = http.Header{"Location": {requestBase(rc.r) + rc.r.URL.Path + "/" + g.Name}}
	return r
}

func (h *Hub) updateGroup(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	var in struct {
		Label        *string `json:"label"`
		DisplayOrder *int    `json:"displayOrder"`
	}
	if resp, ok := h.decode(rc, &in); !ok {
		return resp
	}
	name := rc.r.PathValue("groupName")
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, g := range h.schemas[t].groups {
		if g.Name == name && !g.Archived {
			if in.Label != nil {
				g.Label = *in.Label
			}
			if in.DisplayOrder != nil {
				g.DisplayOrder = *in.DisplayOrder
			}
			return jsonResp(http.StatusOK, *g)
		}
	}
	return h.notFound(fmt.Sprintf("Unable to find property group %s for object type %s", name, typeInfo[t].id))
}

func (h *Hub) listPipelines(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := []pipeline{}
	for _, p := range h.schemas[t].pipelines {
		out = append(out, *p)
	}
	return jsonResp(http.StatusOK, map[string]any{"results": out})
}

func (h *Hub) getPipeline(rc *reqCtx) response {
	t, resp, ok := h.objectTypeParam(rc)
	if !ok {
		return resp
	}
	id := rc.r.PathValue("pipelineId")
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, p := range h.schemas[t].pipelines {
		if p.ID == id {
			if rc.r.PathValue("stages") == "" && len(rc.r.URL.Path) > 7 && rc.r.URL.Path[len(rc.r.URL.Path)-7:] == "/stages" {
				return jsonResp(http.StatusOK, map[string]any{"results": p.Stages})
			}
			return jsonResp(http.StatusOK, *p)
		}
	}
	return h.notFound(fmt.Sprintf("Unable to find pipeline %s", id))
}

func (h *Hub) accountDetails(rc *reqCtx) response {
	var extra []string
	for c := range h.cfg.ExchangeRates {
		if c != h.cfg.HomeCurrency {
			extra = append(extra, c)
		}
	}
	sort.Strings(extra)
	if extra == nil {
		extra = []string{}
	}
	return jsonResp(http.StatusOK, map[string]any{
		"portalId": h.cfg.PortalID, "accountType": "STANDARD", "timeZone": "US/Eastern",
		"companyCurrency": h.cfg.HomeCurrency, "additionalCurrencies": extra, "utcOffset": "-04:00",
		"utcOffsetMilliseconds": -14400000, "uiDomain": "app.hubspot.com", "dataHostingLocation": "na1",
	})
}

func (h *Hub) dailyUsage(rc *reqCtx) response {
	used, limit, reset := h.limit.daily()
	return jsonResp(http.StatusOK, map[string]any{"results": []map[string]any{{
		"name": "private-apps-api-calls-daily", "usageLimit": limit, "currentUsage": used,
		"collectedAt": time.Now().UTC().Format(isoMillis), "resetsAt": reset.UTC().Format(isoMillis), "fetchStatus": "SUCCESS",
	}}})
}
