package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Property is a property definition.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/properties
type Property struct {
	Name                 string                `json:"name"`
	Label                string                `json:"label"`
	Type                 string                `json:"type"`
	FieldType            string                `json:"fieldType"`
	Description          string                `json:"description"`
	GroupName            string                `json:"groupName"`
	Options              []Option              `json:"options"`
	DisplayOrder         int                   `json:"displayOrder"`
	Calculated           bool                  `json:"calculated"`
	ExternalOptions      bool                  `json:"externalOptions"`
	HasUniqueValue       bool                  `json:"hasUniqueValue"`
	Hidden               bool                  `json:"hidden"`
	HubspotDefined       bool                  `json:"hubspotDefined"`
	FormField            bool                  `json:"formField"`
	Archived             bool                  `json:"archived"`
	DataSensitivity      string                `json:"dataSensitivity,omitempty"`
	CalculationFormula   string                `json:"calculationFormula,omitempty"`
	ReferencedObjectType string                `json:"referencedObjectType,omitempty"`
	ModificationMetadata *ModificationMetadata `json:"modificationMetadata,omitempty"`
	CreatedAt            *time.Time            `json:"createdAt,omitempty"`
	UpdatedAt            *time.Time            `json:"updatedAt,omitempty"`
	ArchivedAt           *time.Time            `json:"archivedAt,omitempty"`
}

// ModificationMetadata says what may be changed about a property.
type ModificationMetadata struct {
	Archivable         bool `json:"archivable"`
	ReadOnlyDefinition bool `json:"readOnlyDefinition"`
	ReadOnlyOptions    bool `json:"readOnlyOptions"`
	ReadOnlyValue      bool `json:"readOnlyValue"`
}

// Option is one enumeration option. Value is what the API reads and writes.
// DisplayOrder and Hidden are always sent (the 2026-09 spec requires them).
type Option struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	Description  string `json:"description,omitempty"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

// PropertyCreate defines a new property. Name, Label, Type, FieldType and
// GroupName are required; enumerations need Options.
type PropertyCreate struct {
	Name                 string   `json:"name"`
	Label                string   `json:"label"`
	Type                 string   `json:"type"`
	FieldType            string   `json:"fieldType"`
	GroupName            string   `json:"groupName"`
	Description          string   `json:"description,omitempty"`
	DisplayOrder         *int     `json:"displayOrder,omitempty"`
	Options              []Option `json:"options,omitempty"`
	Hidden               bool     `json:"hidden,omitempty"`
	FormField            bool     `json:"formField,omitempty"`
	HasUniqueValue       bool     `json:"hasUniqueValue,omitempty"`
	ExternalOptions      bool     `json:"externalOptions,omitempty"`
	DataSensitivity      string   `json:"dataSensitivity,omitempty"`
	CalculationFormula   string   `json:"calculationFormula,omitempty"`
	ReferencedObjectType string   `json:"referencedObjectType,omitempty"`
	// NumberDisplayHint is how HubSpot shows a number: currency, duration,
	// formatted, percentage, probability or unformatted.
	NumberDisplayHint string `json:"numberDisplayHint,omitempty"`
	// ShowCurrencySymbol shows the portal's currency symbol beside a number.
	ShowCurrencySymbol bool `json:"showCurrencySymbol,omitempty"`
}

// PropertyUpdate changes a property; zero fields are left unchanged.
// Options, when non-nil, replaces the whole option list.
type PropertyUpdate struct {
	Label              string   `json:"label,omitempty"`
	Description        string   `json:"description,omitempty"`
	GroupName          string   `json:"groupName,omitempty"`
	Type               string   `json:"type,omitempty"`
	FieldType          string   `json:"fieldType,omitempty"`
	DisplayOrder       *int     `json:"displayOrder,omitempty"`
	Hidden             *bool    `json:"hidden,omitempty"`
	FormField          *bool    `json:"formField,omitempty"`
	CalculationFormula string   `json:"calculationFormula,omitempty"`
	Options            []Option `json:"options,omitempty"`
}

// PropertyGroup is a property group.
type PropertyGroup struct {
	Name         string `json:"name"`
	Label        string `json:"label"`
	DisplayOrder int    `json:"displayOrder"`
	Archived     bool   `json:"archived"`
}

// PropertyGroupCreate defines a new group. DisplayOrder -1 places it after
// the positively ordered groups.
type PropertyGroupCreate struct {
	Name         string `json:"name"`
	Label        string `json:"label"`
	DisplayOrder *int   `json:"displayOrder,omitempty"`
}

// PropertyGroupUpdate changes a group; zero fields are left unchanged.
type PropertyGroupUpdate struct {
	Label        string `json:"label,omitempty"`
	DisplayOrder *int   `json:"displayOrder,omitempty"`
}

// PropertiesService reads and writes property and group definitions.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/properties
type PropertiesService struct{ c *Client }

// List returns the object type's properties (archived ones instead when
// archived is true).
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/properties
func (s *PropertiesService) List(ctx context.Context, objectType string, archived bool) ([]Property, error) {
	q := url.Values{}
	if archived {
		q.Set("archived", "true")
	}
	var resp struct {
		Results []Property `json:"results"`
	}
	if err := s.c.do(ctx, call{endpoint: "properties.list", method: http.MethodGet,
		path: s.c.paths.properties(objectType), query: q, out: &resp}); err != nil {
		return nil, fmt.Errorf("list %s properties: %w", objectType, err)
	}
	return resp.Results, nil
}

// Get returns one property; a missing one matches ErrNotFound.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/properties
func (s *PropertiesService) Get(ctx context.Context, objectType, name string) (*Property, error) {
	if name == "" {
		return nil, fmt.Errorf("get %s property: empty name", objectType)
	}
	var p Property
	if err := s.c.do(ctx, call{endpoint: "properties.get", method: http.MethodGet,
		path: s.c.paths.properties(objectType, name), out: &p}); err != nil {
		return nil, fmt.Errorf("get %s property %s: %w", objectType, name, err)
	}
	return &p, nil
}

// Create creates a property and returns its definition.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/properties
func (s *PropertiesService) Create(ctx context.Context, objectType string, in PropertyCreate) (*Property, error) {
	if in.Name == "" || in.Label == "" || in.Type == "" || in.FieldType == "" || in.GroupName == "" {
		return nil, fmt.Errorf("create %s property %q: name, label, type, fieldType and groupName are required", objectType, in.Name)
	}
	if in.Type == "enumeration" && len(in.Options) == 0 && !in.ExternalOptions {
		return nil, fmt.Errorf("create %s property %s: enumeration needs options", objectType, in.Name)
	}
	var p Property
	if err := s.c.do(ctx, call{endpoint: "properties.create", method: http.MethodPost,
		path: s.c.paths.properties(objectType), body: in, out: &p}); err != nil {
		return nil, fmt.Errorf("create %s property %s: %w", objectType, in.Name, err)
	}
	return &p, nil
}

// BatchCreate creates several properties in one request and returns the
// ones HubSpot created. A 207 answer reports the inputs it refused as a
// *BatchCreateError listing them; the created ones are still returned.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/properties
func (s *PropertiesService) BatchCreate(ctx context.Context, objectType string, in []PropertyCreate) ([]Property, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > MaxBatchSize {
		return nil, fmt.Errorf("batch create %s properties: %d inputs, HubSpot takes at most %d", objectType, len(in), MaxBatchSize)
	}
	for _, p := range in {
		if p.Name == "" || p.Label == "" || p.Type == "" || p.FieldType == "" || p.GroupName == "" {
			return nil, fmt.Errorf("batch create %s property %q: name, label, type, fieldType and groupName are required", objectType, p.Name)
		}
	}
	var out struct {
		Results []Property    `json:"results"`
		Errors  []ErrorDetail `json:"errors"`
	}
	if err := s.c.do(ctx, call{endpoint: "properties.batch_create", method: http.MethodPost,
		path: s.c.paths.properties(objectType, "batch", "create"), body: map[string]any{"inputs": in}, out: &out}); err != nil {
		return nil, fmt.Errorf("batch create %d %s properties: %w", len(in), objectType, err)
	}
	if len(out.Errors) > 0 {
		msgs := make([]string, len(out.Errors))
		for i, e := range out.Errors {
			msgs[i] = e.Message
		}
		return out.Results, &BatchCreateError{Messages: msgs}
	}
	return out.Results, nil
}

// BatchCreateError lists the properties a batch create refused.
type BatchCreateError struct{ Messages []string }

func (e *BatchCreateError) Error() string {
	return fmt.Sprintf("%d properties not created: %s", len(e.Messages), strings.Join(e.Messages, "; "))
}

// Update changes a property (including its options) and returns the result.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/properties
func (s *PropertiesService) Update(ctx context.Context, objectType, name string, in PropertyUpdate) (*Property, error) {
	if name == "" {
		return nil, fmt.Errorf("update %s property: empty name", objectType)
	}
	var p Property
	if err := s.c.do(ctx, call{endpoint: "properties.update", method: http.MethodPatch,
		path: s.c.paths.properties(objectType, name), body: in, out: &p}); err != nil {
		return nil, fmt.Errorf("update %s property %s: %w", objectType, name, err)
	}
	return &p, nil
}

// ListGroups returns the object type's property groups.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/properties
func (s *PropertiesService) ListGroups(ctx context.Context, objectType string) ([]PropertyGroup, error) {
	var resp struct {
		Results []PropertyGroup `json:"results"`
	}
	if err := s.c.do(ctx, call{endpoint: "properties.list_groups", method: http.MethodGet,
		path: s.c.paths.properties(objectType, "groups"), out: &resp}); err != nil {
		return nil, fmt.Errorf("list %s property groups: %w", objectType, err)
	}
	return resp.Results, nil
}

// GetGroup returns one property group; a missing one matches ErrNotFound.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/properties
func (s *PropertiesService) GetGroup(ctx context.Context, objectType, name string) (*PropertyGroup, error) {
	if name == "" {
		return nil, fmt.Errorf("get %s property group: empty name", objectType)
	}
	var g PropertyGroup
	if err := s.c.do(ctx, call{endpoint: "properties.get_group", method: http.MethodGet,
		path: s.c.paths.properties(objectType, "groups", name), out: &g}); err != nil {
		return nil, fmt.Errorf("get %s property group %s: %w", objectType, name, err)
	}
	return &g, nil
}

// CreateGroup creates a property group.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/properties
func (s *PropertiesService) CreateGroup(ctx context.Context, objectType string, in PropertyGroupCreate) (*PropertyGroup, error) {
	if in.Name == "" || in.Label == "" {
		return nil, errors.New("create property group: name and label are required")
	}
	var g PropertyGroup
	if err := s.c.do(ctx, call{endpoint: "properties.create_group", method: http.MethodPost,
		path: s.c.paths.properties(objectType, "groups"), body: in, out: &g}); err != nil {
		return nil, fmt.Errorf("create %s property group %s: %w", objectType, in.Name, err)
	}
	return &g, nil
}

// UpdateGroup changes a property group.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/properties
func (s *PropertiesService) UpdateGroup(ctx context.Context, objectType, name string, in PropertyGroupUpdate) (*PropertyGroup, error) {
	if name == "" {
		return nil, fmt.Errorf("update %s property group: empty name", objectType)
	}
	var g PropertyGroup
	if err := s.c.do(ctx, call{endpoint: "properties.update_group", method: http.MethodPatch,
		path: s.c.paths.properties(objectType, "groups", name), body: in, out: &g}); err != nil {
		return nil, fmt.Errorf("update %s property group %s: %w", objectType, name, err)
	}
	return &g, nil
}
