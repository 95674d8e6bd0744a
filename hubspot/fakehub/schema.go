package fakehub

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// option is an enumeration option (spec schema Option).
type option struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	Description  string `json:"description,omitempty"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

type modMeta struct {
	Archivable         bool  `json:"archivable"`
	ReadOnlyDefinition bool  `json:"readOnlyDefinition"`
	ReadOnlyOptions    *bool `json:"readOnlyOptions,omitempty"`
	ReadOnlyValue      bool  `json:"readOnlyValue"`
}

// propertyDef is a property definition (spec schema Property).
type propertyDef struct {
	UpdatedAt            string   `json:"updatedAt,omitempty"`
	CreatedAt            string   `json:"createdAt,omitempty"`
	Name                 string   `json:"name"`
	Label                string   `json:"label"`
	Type                 string   `json:"type"`
	FieldType            string   `json:"fieldType"`
	Description          string   `json:"description"`
	GroupName            string   `json:"groupName"`
	Options              []option `json:"options"`
	CreatedUserID        string   `json:"createdUserId,omitempty"`
	UpdatedUserID        string   `json:"updatedUserId,omitempty"`
	DisplayOrder         int      `json:"displayOrder"`
	Calculated           bool     `json:"calculated"`
	ExternalOptions      bool     `json:"externalOptions"`
	Archived             bool     `json:"archived"`
	HasUniqueValue       bool     `json:"hasUniqueValue"`
	Hidden               bool     `json:"hidden"`
	HubspotDefined       bool     `json:"hubspotDefined,omitempty"`
	NumberDisplayHint    string   `json:"numberDisplayHint,omitempty"`
	ShowCurrencySymbol   bool     `json:"showCurrencySymbol,omitempty"`
	CurrencyPropertyName string   `json:"currencyPropertyName,omitempty"`
	ModificationMetadata modMeta  `json:"modificationMetadata"`
	FormField            bool     `json:"formField"`
	DataSensitivity      string   `json:"dataSensitivity"`
}

// propertyGroup is spec schema PropertyGroup.
type propertyGroup struct {
	Name         string `json:"name"`
	Label        string `json:"label"`
	DisplayOrder int    `json:"displayOrder"`
	Archived     bool   `json:"archived"`
}

// pipelineStage and pipeline are spec schemas PipelineStage and Pipeline.
type pipelineStage struct {
	Label            string            `json:"label"`
	DisplayOrder     int               `json:"displayOrder"`
	Metadata         map[string]string `json:"metadata"`
	ID               string            `json:"id"`
	CreatedAt        string            `json:"createdAt"`
	UpdatedAt        string            `json:"updatedAt"`
	WritePermissions string            `json:"writePermissions"`
	Archived         bool              `json:"archived"`
}

type pipeline struct {
	Label        string          `json:"label"`
	DisplayOrder int             `json:"displayOrder"`
	ID           string          `json:"id"`
	Stages       []pipelineStage `json:"stages"`
	CreatedAt    string          `json:"createdAt"`
	UpdatedAt    string          `json:"updatedAt"`
	Archived     bool            `json:"archived"`
}

// derivation says how a read-only property gets its value.
type derivation int

const (
	stored derivation = iota
	derivedID
	derivedCreated
	derivedUpdated
	derivedHomeAmount
	derivedClosedWon
	derivedClosed
	derivedStageProbability
	derivedNever // exists but never has a value (contacts' hs_lastmodifieddate)
)

// schema is the property catalogue of one object type.
type schema struct {
	t         objType
	props     []*propertyDef
	derive    []derivation
	byName    map[string]int
	groups    []*propertyGroup
	pipelines []*pipeline
	defaults  []string // returned when no properties are requested
}

func (s *schema) lookup(name string) (*propertyDef, int, bool) {
	i, ok := s.byName[name]
	if !ok || s.props[i].Archived {
		return nil, 0, false
	}
	return s.props[i], i, true
}

func (s *schema) add(p *propertyDef, d derivation) int {
	if p.Options == nil {
		p.Options = []option{}
	}
	if p.DataSensitivity == "" {
		p.DataSensitivity = "non_sensitive"
	}
	s.props = append(s.props, p)
	s.derive = append(s.derive, d)
	s.byName[p.Name] = len(s.props) - 1
	return len(s.props) - 1
}

const hsCreated = "2020-06-30T15:57:38.191Z"
const hsUpdated = "2024-09-05T17:14:04.747Z"

func hsProp(name, label, typ, field, group string, readOnly bool, opts ...option) *propertyDef {
	calc := field == "calculation_equation"
	return &propertyDef{
		UpdatedAt: hsUpdated, CreatedAt: hsCreated, Name: name, Label: label, Type: typ, FieldType: field,
		Description: label + ".", GroupName: group, Options: opts, Calculated: calc,
		HubspotDefined: true, FormField: !readOnly && typ == "string",
		ModificationMetadata: modMeta{Archivable: false, ReadOnlyDefinition: true, ReadOnlyValue: readOnly},
	}
}

func opts(values ...string) []option {
	out := make([]option, len(values))
	for i, v := range values {
		out[i] = option{Label: title(strings.ToLower(strings.ReplaceAll(v, "_", " "))),
			Value: v, DisplayOrder: i}
	}
	return out
}

// AnalyticsSources are the hs_analytics_source option values.
var AnalyticsSources = []string{"ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA",
	"REFERRALS", "OTHER_CAMPAIGNS", "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL", "AI_REFERRALS"}

func defaultPipeline() *pipeline {
	const epoch = "1970-01-01T00:00:00Z"
	type st struct {
		id, label, closed, prob string
	}
	stages := []st{
		{"appointmentscheduled", "Appointment Scheduled", "false", "0.2"},
		{"qualifiedtobuy", "Qualified To Buy", "false", "0.4"},
		{"presentationscheduled", "Presentation Scheduled", "false", "0.6"},
		{"decisionmakerboughtin", "Decision Maker Bought-In", "false", "0.8"},
		{"contractsent", "Contract Sent", "false", "0.9"},
		{"closedwon", "Closed Won", "true", "1.0"},
		{"closedlost", "Closed Lost", "true", "0.0"},
	}
	p := &pipeline{Label: "Sales Pipeline", ID: "default", CreatedAt: epoch, UpdatedAt: epoch}
	for i, s := range stages {
		p.Stages = append(p.Stages, pipelineStage{Label: s.label, DisplayOrder: i,
			Metadata: map[string]string{"isClosed": s.closed, "probability": s.prob}, ID: s.id,
			CreatedAt: epoch, UpdatedAt: epoch, WritePermissions: "CRM_PERMISSIONS_ENFORCEMENT"})
	}
	return p
}

func newSchema(t objType, cfg Config) *schema {
	s := &schema{t: t, byName: map[string]int{}}
	info := "contactinformation"
	switch t {
	case typeCompany:
		info = "companyinformation"
	case typeDeal:
		info = "dealinformation"
	}
	s.groups = []*propertyGroup{{Name: info, Label: title(typeInfo[t].singular) + " information", DisplayOrder: -1}}
	if t == typeDeal {
		s.groups = append(s.groups, &propertyGroup{Name: "deal_activity", Label: "Deal activity", DisplayOrder: -1})
	}
	s.add(hsProp("hs_object_id", "Record ID", "number", "number", info, true), derivedID)
	s.add(hsProp("createdate", "Create Date", "datetime", "date", info, false), derivedCreated)
	s.add(hsProp("hs_merged_object_ids", "Merged "+title(typeInfo[t].singular)+" IDs", "enumeration", "checkbox", info, true), stored)
	switch t {
	case typeContact:
		s.add(hsProp("email", "Email", "string", "text", info, false), stored)
		s.add(hsProp("firstname", "First Name", "string", "text", info, false), stored)
		s.add(hsProp("lastname", "Last Name", "string", "text", info, false), stored)
		s.add(hsProp("phone", "Phone Number", "string", "phonenumber", info, false), stored)
		s.add(hsProp("company", "Company Name", "string", "text", info, false), stored)
		s.add(hsProp("website", "Website URL", "string", "text", info, false), stored)
		s.add(hsProp("lastmodifieddate", "Last Modified Date", "datetime", "date", info, true), derivedUpdated)
		s.add(hsProp("hs_lastmodifieddate", "Object last modified date/time", "datetime", "date", info, true), derivedNever)
		s.add(hsProp("hs_analytics_source", "Original Traffic Source", "enumeration", "select", "analyticsinformation", true, opts(AnalyticsSources...)...), stored)
		s.add(hsProp("associatedcompanyid", "Primary Associated Company ID", "number", "number", info, false), stored)
		s.add(hsProp("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", info, false, opts("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist", "other")...), stored)
		s.groups = append(s.groups, &propertyGroup{Name: "analyticsinformation", Label: "Web analytics history", DisplayOrder: -1})
		s.defaults = []string{"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"}
	case typeCompany:
		s.add(hsProp("name", "Company name", "string", "text", info, false), stored)
		s.add(hsProp("domain", "Company Domain Name", "string", "text", info, false), stored)
		s.add(hsProp("industry", "Industry", "string", "text", info, false), stored)
		s.add(hsProp("country", "Country/Region", "string", "text", info, false), stored)
		s.add(hsProp("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", info, true), derivedUpdated)
		s.defaults = []string{"createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"}
	case typeDeal:
		s.pipelines = []*pipeline{defaultPipeline()}
		s.add(hsProp("dealname", "Deal Name", "string", "text", info, false), stored)
		amt := hsProp("amount", "Amount", "number", "number", info, false)
		amt.NumberDisplayHint, amt.ShowCurrencySymbol, amt.CurrencyPropertyName = "currency", true, "deal_currency_code"
		s.add(amt, stored)
		var cur []string
		for _, c := range []string{"USD", "EUR", "GBP", "CAD"} {
			if _, ok := cfg.ExchangeRates[c]; ok {
				cur = append(cur, c)
			}
		}
		for c := range cfg.ExchangeRates {
			if !contains(cur, c) {
				cur = append(cur, c)
			}
		}
		s.add(hsProp("deal_currency_code", "Currency", "enumeration", "select", info, false, opts(cur...)...), stored)
		s.add(hsProp("amount_in_home_currency", "Amount in company currency", "number", "calculation_equation", info, true), derivedHomeAmount)
		s.add(hsProp("closedate", "Close Date", "datetime", "date", info, false), stored)
		pl := hsProp("pipeline", "Pipeline", "enumeration", "select", "deal_activity", false)
		pl.ExternalOptions = true
		s.add(pl, stored)
		ds := hsProp("dealstage", "Deal Stage", "enumeration", "radio", "deal_activity", false)
		ds.ExternalOptions = true
		s.add(ds, stored)
		s.add(hsProp("hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox", info, true), derivedClosedWon)
		s.add(hsProp("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox", info, true), derivedClosed)
		s.add(hsProp("hs_deal_stage_probability", "Deal Stage Probability", "number", "number", info, true), derivedStageProbability)
		s.add(hsProp("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", info, true), derivedUpdated)
		s.defaults = []string{"amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id", "pipeline"}
	}
	return s
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// stage finds a deal stage by id across pipelines.
func (s *schema) stage(id string) *pipelineStage {
	for _, p := range s.pipelines {
		for i := range p.Stages {
			if p.Stages[i].ID == id {
				return &p.Stages[i]
			}
		}
	}
	return nil
}

// value returns property idx of rec, computing derived properties.
func (h *Hub) value(s *schema, rec *record, idx int) (string, bool) {
	switch s.derive[idx] {
	case derivedID:
		return fmt.Sprint(rec.id), true
	case derivedCreated:
		return fmtMS(rec.created), true
	case derivedUpdated:
		return fmtMS(rec.updated), true
	case derivedNever:
		return "", false
	case derivedHomeAmount:
		amt, ok := getProp(rec.props, s.byName["amount"])
		if !ok {
			return "", false
		}
		d, err := decimal.NewFromString(amt)
		if err != nil {
			return "", false
		}
		cur, _ := getProp(rec.props, s.byName["deal_currency_code"])
		if cur == "" {
			cur = h.cfg.HomeCurrency
		}
		rate, ok := h.cfg.ExchangeRates[cur]
		if !ok {
			return "", false
		}
		home, ok := h.cfg.ExchangeRates[h.cfg.HomeCurrency]
		if !ok || home.IsZero() {
			home = decimal.NewFromInt(1)
		}
		return d.Mul(rate).DivRound(home, 6).Round(2).String(), true
	case derivedStageProbability:
		st, _ := getProp(rec.props, s.byName["dealstage"])
		if stage := s.stage(st); stage != nil && stage.Metadata["probability"] != "" {
			return stage.Metadata["probability"], true
		}
		return "", false
	case derivedClosedWon, derivedClosed:
		st, _ := getProp(rec.props, s.byName["dealstage"])
		stage := s.stage(st)
		closed, won := false, false
		if stage != nil {
			closed = stage.Metadata["isClosed"] == "true"
			won = closed && stage.Metadata["probability"] == "1.0"
		}
		if s.derive[idx] == derivedClosed {
			return fmt.Sprint(closed), true
		}
		return fmt.Sprint(won), true
	}
	return getProp(rec.props, idx)
}

var numberRe = regexp.MustCompile(`^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$`)

// normalize validates a written value against its property definition and
// returns the value to store, or a problem.
func (s *schema) normalize(p *propertyDef, v string) (string, *propertyProblem) {
	if v == "" {
		return "", nil
	}
	bad := func(code, msg string) (string, *propertyProblem) {
		return "", &propertyProblem{Message: msg, Error: code, Name: p.Name}
	}
	switch p.Type {
	case "number":
		if !numberRe.MatchString(v) {
			return bad("INVALID_FLOAT", fmt.Sprintf("%s was not a valid number.", v))
		}
	case "bool":
		if v != "true" && v != "false" {
			return bad("INVALID_OPTION", fmt.Sprintf("%s was not one of the allowed options: [true, false]", v))
		}
	case "date":
		ms, ok := parseTimeValue(v)
		if !ok {
			return bad("INVALID_DATE", fmt.Sprintf("%s was not a valid date.", v))
		}
		if ms%86400000 != 0 {
			return bad("INVALID_DATE", fmt.Sprintf("%s is at %s UTC, not midnight!", v, time.UnixMilli(ms).UTC().Format("15:04:05.000")))
		}
		return time.UnixMilli(ms).UTC().Format("2006-01-02"), nil
	case "datetime":
		ms, ok := parseTimeValue(v)
		if !ok {
			return bad("INVALID_DATETIME", fmt.Sprintf("%s was not a valid date/time.", v))
		}
		return fmtMS(ms), nil
	case "enumeration":
		allowed := s.optionValues(p)
		if p.Name == "hs_merged_object_ids" {
			return v, nil
		}
		parts := []string{v}
		if p.FieldType == "checkbox" {
			parts = strings.Split(strings.TrimPrefix(v, ";"), ";")
		}
		for _, part := range parts {
			if !contains(allowed, part) {
				return bad("INVALID_OPTION", fmt.Sprintf("%s was not one of the allowed options: [%s]", part, strings.Join(allowed, ", ")))
			}
		}
	}
	return v, nil
}

func (s *schema) optionValues(p *propertyDef) []string {
	switch p.Name {
	case "pipeline":
		var out []string
		for _, pl := range s.pipelines {
			out = append(out, pl.ID)
		}
		return out
	case "dealstage":
		var out []string
		for _, pl := range s.pipelines {
			for _, st := range pl.Stages {
				out = append(out, st.ID)
			}
		}
		return out
	}
	out := make([]string, len(p.Options))
	for i, o := range p.Options {
		out[i] = o.Value
	}
	return out
}

// validFieldTypes lists the allowed fieldType values per type (hubspot-api.md §8).
var validFieldTypes = map[string][]string{
	"bool":         {"booleancheckbox", "calculation_equation"},
	"enumeration":  {"booleancheckbox", "checkbox", "radio", "select", "calculation_equation"},
	"date":         {"date"},
	"datetime":     {"date"},
	"string":       {"text", "textarea", "file", "html", "phonenumber", "calculation_equation"},
	"number":       {"number", "calculation_equation"},
	"phone_number": {"phonenumber", "text"},
}

// title upper-cases the first letter of each space-separated word.
func title(s string) string {
	b := []byte(s)
	for i := range b {
		if (i == 0 || b[i-1] == ' ') && b[i] >= 'a' && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}
